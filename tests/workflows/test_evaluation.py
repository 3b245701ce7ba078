"""Automatic checks: ΔE2000 against Sharma et al.'s published pairs, and each hold-back reason."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shopify_app.devshop.catalog import CATALOG, render_look
from shopify_app.providers import local_render
from shopify_app.workflows import evaluation

# (Lab 1, Lab 2, ΔE00) from Sharma, Wu & Dalal (2005), Table 1.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
]


@pytest.mark.parametrize("lab1, lab2, expected", SHARMA)
def test_delta_e_2000_matches_the_published_pairs(lab1, lab2, expected) -> None:  # noqa: ANN001
    assert evaluation.delta_e_2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert evaluation.delta_e_2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def _try_on(garment: bytes, size: tuple[int, int] = (1024, 1536)) -> bytes:
    return _jpeg(local_render.try_on(size, garment, 7, "auto", local_render.PortraitSpec("FEMALE", "athletic")))


def test_a_faithful_try_on_passes_every_check() -> None:
    garment = render_look(CATALOG[3].looks[0])  # olive linen shirt
    result = evaluation.evaluate(_try_on(garment), evaluation.Expectation(
        width=1024, height=1536, aspect_ratio="2:3", garment=garment))
    assert result.passed, result.held_reason
    assert result.scores["colour_delta_e"] < evaluation.MAX_MEAN_DELTA_E
    assert result.scores["width"] == 1024 and result.scores["size_error"] == 0


def test_the_wrong_garment_colour_is_held_back() -> None:
    rendered = _try_on(render_look(CATALOG[3].looks[0]))  # olive shirt rendered…
    mustard = render_look(CATALOG[10].looks[0])  # …for a mustard skirt
    result = evaluation.evaluate(rendered, evaluation.Expectation(garment=mustard))
    assert not result.passed and "colours differ" in (result.held_reason or "")


@pytest.mark.parametrize("expected, words", [
    (evaluation.Expectation(width=800, height=1200), "not the 800×1200"),
    (evaluation.Expectation(aspect_ratio="1:1"), "aspect ratio"),
])
def test_size_and_aspect_nonconformance_is_held_back(expected, words: str) -> None:  # noqa: ANN001
    result = evaluation.evaluate(_try_on(render_look(CATALOG[0].looks[0])), expected)
    assert not result.passed and words in (result.held_reason or "")


def test_blank_and_corrupt_images_are_held_back() -> None:
    blank = evaluation.evaluate(_jpeg(Image.new("RGB", (600, 900), (240, 240, 240))), evaluation.Expectation())
    assert not blank.passed and "blank" in (blank.held_reason or "")
    data = _try_on(render_look(CATALOG[0].looks[0]))
    corrupt = evaluation.evaluate(data[: len(data) // 3], evaluation.Expectation())
    assert not corrupt.passed and corrupt.scores["decode"] == 0
