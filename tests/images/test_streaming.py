"""Decoding a JPEG while its finished rows are resized: rows are only reported once final, bands
only read reported rows, and the result is the same as decoding first."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageFile

from shopify_app.images import normalize as normalize_module
from shopify_app.images import streaming
from shopify_app.images.errors import InvalidImage
from shopify_app.images.normalize import _BandedResize, _Targets, normalize_image
from shopify_app.images.streaming import can_decode_in_rows, decode_in_rows
from tests.images.conftest import encode
from tests.images.test_bands import photo_like

Resampling = Image.Resampling


def opened(data: bytes) -> ImageFile.ImageFile:
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, ImageFile.ImageFile)
    return image


def loaded(data: bytes, draft: tuple[int, int] | None = None) -> Image.Image:
    image = opened(data)
    if draft:
        image.draft(None, draft)
    image.load()
    return image


def identical(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.mode == b.mode and ImageChops.difference(a, b).getbbox() is None


@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
def test_pixels_are_those_of_load_and_rows_are_final_when_reported(subsampling: int) -> None:
    data = encode(photo_like((1200, 900)), "JPEG", quality=90, subsampling=subsampling)
    reference = loaded(data)
    image = opened(data)
    rows = [1, 17, 100, 450, 451, 899, 900]
    reported: list[int] = []

    def on_rows(i: int) -> None:
        # Called in the decoding thread, mid-decode: the rows it names must already be final.
        box = (0, 0, image.width, rows[i])
        assert identical(image.crop(box), reference.crop(box)), f"rows 0..{rows[i]} not final when reported"
        reported.append(i)

    decode_in_rows(image, data, rows, on_rows)
    assert reported == list(range(len(rows)))
    assert identical(image, reference)


def test_rows_are_reported_while_the_decoder_is_still_working(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 4096)
    data = encode(photo_like((1600, 1200)), "JPEG", quality=92)
    image = opened(data)
    last_row_done_at_first_report: list[bool] = []
    probe = streaming._Probe(image, image.width)

    def on_rows(i: int) -> None:
        if i == 0:
            last_row_done_at_first_report.append(probe.done(image.height))

    decode_in_rows(image, data, [200, image.height], on_rows)
    assert last_row_done_at_first_report == [False]


def test_a_progressive_jpeg_reports_everything_at_the_end_with_the_same_pixels() -> None:
    data = encode(photo_like((1000, 800)), "JPEG", quality=90, progressive=True)
    image = opened(data)
    assert can_decode_in_rows(image)
    reported: list[int] = []
    decode_in_rows(image, data, [100, 800], reported.append)
    assert reported == [0, 1]
    assert identical(image, loaded(data))


def test_a_draft_scaled_decode_streams_too() -> None:
    data = encode(photo_like((2400, 1600)), "JPEG", quality=90)
    image = opened(data)
    image.draft(None, (1000, 700))
    assert image.size == (1200, 800)
    decode_in_rows(image, data, [400, 800], lambda i: None)
    assert identical(image, loaded(data, draft=(1000, 700)))


def test_truncated_and_corrupt_files_fail_as_pillow_does() -> None:
    data = encode(photo_like((1200, 900)), "JPEG", quality=90)
    with pytest.raises(OSError, match="truncated"):
        decode_in_rows(opened(data[: len(data) // 2]), data[: len(data) // 2], [900], lambda i: None)
    reported: list[int] = []
    with pytest.raises(OSError):
        decode_in_rows(opened(data[:-2]), data[:-2], [900], reported.append)
    assert reported == []  # never "all done" for a decode that failed


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: opened(encode(photo_like((64, 64)), "PNG")), "not a JPEG"),
        (lambda: opened(encode(photo_like((64, 64)).convert("L"), "JPEG")), "greyscale"),
        (lambda: opened(encode(photo_like((64, 64)).convert("CMYK"), "JPEG")), "CMYK"),
        (lambda: loaded(encode(photo_like((64, 64)), "JPEG")), "already loaded"),
    ],
)
def test_only_unloaded_rgb_jpegs_qualify(make: Any, why: str) -> None:
    image = make()
    assert not can_decode_in_rows(image), why
    with pytest.raises(ValueError, match="unloaded RGB JPEG"):
        decode_in_rows(image, b"", [1], lambda i: None)


def test_rows_out_of_order_or_range_are_refused() -> None:
    data = encode(photo_like((200, 100)), "JPEG")
    for rows in ([50, 40], [0], [101]):
        with pytest.raises(ValueError, match="increasing"):
            decode_in_rows(opened(data), data, rows, lambda i: None)


@pytest.mark.parametrize("resample", [Resampling.HAMMING, Resampling.BICUBIC, Resampling.LANCZOS])
def test_a_band_reads_no_row_beyond_its_source_rows(resample: Resampling) -> None:
    # Garbage below each band's `source_rows` must not change that band: that is what lets
    # the band start before the rows below it are decoded.
    source = photo_like((1500, 1100))
    size = (1117, 819)
    with ThreadPoolExecutor(max_workers=2) as pool:
        plan = _BandedResize(source, size, resample, pool, 8, _Targets.allocate("RGB", size, 1))
        whole, _ = plan.result()
        noise = Image.effect_noise(source.size, 120).convert("RGB")
        for i, needed in enumerate(plan.source_rows()):
            if needed >= source.height:
                continue
            spoiled = source.copy()
            spoiled.paste(noise.crop((0, needed, source.width, source.height)), (0, needed))
            band = _BandedResize(spoiled, size, resample, pool, 8, _Targets.allocate("RGB", size, 1))
            top, bottom = band.cuts[i], band.cuts[i + 1]
            band._band(top, bottom)
            box = (0, top, size[0], bottom)
            assert identical(band.targets.full.crop(box), whole.crop(box)), f"band {i} read past row {needed}"


def test_normalisation_streams_big_rgb_jpegs_with_the_result_of_decoding_first(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(photo_like((5000, 3000)), "JPEG", quality=90)
    streamed = normalize_image(data, workers=2)
    calls: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        decode_in_rows(*args, **kwargs)

    monkeypatch.setattr(normalize_module, "decode_in_rows", spy)
    again = normalize_image(data, workers=2)
    assert calls == [1]
    monkeypatch.setattr(normalize_module, "can_decode_in_rows", lambda image: False)
    decoded_first = normalize_image(data, workers=2)
    assert len(calls) == 1
    assert streamed.full.sha256 == again.full.sha256
    for a, b in ((streamed.full, decoded_first.full), (streamed.review, decoded_first.review)):
        assert (a.width, a.height) == (b.width, b.height)
        # The bands are cut differently (finer while streaming); HAMMING bands differ by ≤ 1
        # level before the encode.
        difference = ImageChops.difference(Image.open(io.BytesIO(a.data)), Image.open(io.BytesIO(b.data)))
        assert max(high for _, high in difference.getextrema()) <= 12
        assert sum(difference.convert("L").histogram()[4:]) < a.width * a.height // 1000


@pytest.mark.parametrize("cut", ["truncated", "corrupt"])
def test_a_broken_big_jpeg_is_refused_with_a_clear_error(cut: str) -> None:
    data = encode(photo_like((5000, 3000)), "JPEG", quality=90)
    if cut == "truncated":
        broken = data[: len(data) * 2 // 3]
    else:  # a frame header in the middle of the entropy-coded data: libjpeg gives up
        middle = len(data) // 2
        broken = data[:middle] + b"\xff\xc0\x00\x02" + data[middle + 4:]
    with pytest.raises(InvalidImage) as caught:
        normalize_image(broken, workers=2)
    assert caught.value.code == cut
