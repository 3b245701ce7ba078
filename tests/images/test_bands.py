"""Banded, threaded resizing: seamless, as good as one resize, and safe to run concurrently."""

from __future__ import annotations

import io
import itertools
import math
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw

from shopify_app.images import normalize as normalize_module
from shopify_app.images.normalize import band_cuts, normalize_image, resize_in_bands
from tests.images.conftest import encode

Resampling = Image.Resampling


def photo_like(size: tuple[int, int], seed: int = 7, grain: int = 6) -> Image.Image:
    """Smooth colour fields, hard edges and a little sensor-like grain: what a product photo
    gives the resampler (pure random noise would be a worst case no camera produces)."""
    rnd = random.Random(seed)
    w, h = size
    image = Image.frombytes("RGB", (32, 24), rnd.randbytes(32 * 24 * 3)).resize(size, Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = rnd.randrange(w), rnd.randrange(h), rnd.randrange(10, max(11, w // 6))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=tuple(rnd.randrange(256) for _ in range(3)), width=3)
    if grain:
        noise = Image.frombytes("L", size, rnd.randbytes(w * h)).point(lambda v: 128 + (v - 128) * grain // 128)
        image = ImageChops.add(image, Image.merge("RGB", (noise,) * 3), offset=-128)
    return image


def smooth(size: tuple[int, int]) -> Image.Image:
    """Sine waves (periods of a few dozen pixels, kept inside 28..228): smooth enough that no
    sample overshoots, steep enough that a band one row off would show by many levels."""
    w, h = size

    def wave(length: int, period: float) -> bytes:
        return bytes(round(128 + 100 * math.sin(2 * math.pi * i / period)) for i in range(length))

    across = Image.frombytes("L", (w, 1), wave(w, 37.0)).resize(size, Resampling.NEAREST)
    down = Image.frombytes("L", (1, h), wave(h, 53.0)).resize(size, Resampling.NEAREST)
    return Image.merge("RGB", (across, down, ImageChops.add(across, down, scale=2)))


def psnr(a: Image.Image, b: Image.Image) -> float:
    histogram = ImageChops.difference(a, b).histogram()
    mse = sum(count * (level % 256) ** 2 for level, count in enumerate(histogram)) / (a.width * a.height * 3)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def max_difference(a: Image.Image, b: Image.Image) -> int:
    return max(high for _, high in ImageChops.difference(a, b).getextrema())


@pytest.fixture(scope="module")
def pool() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(max_workers=3) as executor:
        yield executor


@pytest.mark.parametrize(
    ("height", "bands", "multiple"),
    [(2981, 8, 1), (2981, 8, 2), (1491, 4, 2), (100, 8, 3), (7, 8, 1), (5, 2, 4), (1, 4, 1)],
)
def test_band_cuts_cover_every_row_once_with_aligned_tops(height: int, bands: int, multiple: int) -> None:
    cuts = band_cuts(height, bands, multiple)
    assert cuts[0] == 0 and cuts[-1] == height
    assert all(a < b for a, b in itertools.pairwise(cuts))
    assert len(cuts) - 1 <= bands
    assert all(top % multiple == 0 for top in cuts[:-1])


def test_band_cuts_are_near_equal() -> None:
    cuts = band_cuts(2981, 8)
    heights = [b - a for a, b in itertools.pairwise(cuts)]
    assert len(heights) == 8 and max(heights) - min(heights) <= 1


@pytest.mark.parametrize(
    ("source", "size"),
    [((3000, 2000), (2236, 1491)), ((2000, 3000), (1491, 2236)), ((1237, 997), (1000, 806)), ((1800, 1800), (700, 700))],
)
@pytest.mark.parametrize("bands", [2, 8])
def test_bands_have_no_seam(pool: ThreadPoolExecutor, source: tuple[int, int], size: tuple[int, int], bands: int) -> None:
    # On content that cannot overshoot, a band joined in the wrong place, a missing row or a
    # filter cut off at a band edge would be a difference of many levels; rounding is ≤ 1.
    image = smooth(source)
    whole = image.resize(size, Resampling.BICUBIC)
    banded, _ = resize_in_bands(image, size, Resampling.BICUBIC, pool, bands)
    assert (banded.mode, banded.size) == (whole.mode, whole.size)
    assert max_difference(banded, whole) <= 1


@pytest.mark.parametrize("resample", [Resampling.BICUBIC, Resampling.LANCZOS, Resampling.HAMMING, Resampling.BILINEAR])
def test_bands_match_one_resize_on_a_photo(pool: ThreadPoolExecutor, resample: Resampling) -> None:
    # Pillow (12.x+) chooses per call whether the vertical pass runs first, so a band can round
    # its 8-bit intermediate differently from the whole-image call: never visibly (≥ 50 dB).
    # Kernels without negative lobes cannot clip the intermediate, so they stay within 1 level.
    image = photo_like((3000, 2000))
    whole = image.resize((2236, 1491), resample)
    banded, _ = resize_in_bands(image, (2236, 1491), resample, pool, 8)
    assert psnr(banded, whole) >= 50
    if resample in (Resampling.HAMMING, Resampling.BILINEAR):
        assert max_difference(banded, whole) <= 1


@pytest.mark.parametrize(("size", "k"), [((2236, 1491), 2), ((1001, 999), 3), ((640, 480), 2)])
def test_per_band_reduce_joins_exactly(pool: ThreadPoolExecutor, size: tuple[int, int], k: int) -> None:
    image = photo_like((size[0] * 4 // 3, size[1] * 4 // 3))
    full, reduced = resize_in_bands(image, size, Resampling.BICUBIC, pool, 8, reduce_by=k)
    assert reduced is not None
    expected = full.reduce(k)
    assert reduced.size == expected.size
    assert ImageChops.difference(reduced, expected).getbbox() is None


def test_a_target_of_the_wrong_shape_is_refused(pool: ThreadPoolExecutor) -> None:
    image = photo_like((400, 300), grain=0)
    with pytest.raises(ValueError, match="target"):
        resize_in_bands(image, (300, 225), Resampling.BICUBIC, pool, 2, into=Image.new("RGB", (300, 224)))


def test_a_failing_band_fails_the_resize(pool: ThreadPoolExecutor) -> None:
    image = photo_like((400, 300), grain=0)
    image.close()  # every band's resize now raises
    with pytest.raises(ValueError):
        resize_in_bands(image, (300, 225), Resampling.BICUBIC, pool, 4)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_serial_and_banded_normalisation_agree() -> None:
    data = encode(photo_like((5000, 3000)), "JPEG", quality=90)
    serial, banded = normalize_image(data, workers=1), normalize_image(data, workers=2)
    assert (serial.full.width, serial.full.height) == (banded.full.width, banded.full.height) == (4472, 2683)
    assert (serial.review.width, serial.review.height) == (banded.review.width, banded.review.height)
    assert psnr(decoded(serial.full.data), decoded(banded.full.data)) >= 40
    assert psnr(decoded(serial.review.data), decoded(banded.review.data)) >= 35
    assert serial.source_sha256 == banded.source_sha256


def test_concurrent_calls_give_the_same_bytes_as_calls_made_alone() -> None:
    # Several requests/jobs normalising at once (each with its own worker threads) must not
    # see each other's bands: every output is byte-identical to the same call made alone.
    inputs = [encode(photo_like((4600 + 100 * i, 2000), seed=i), "JPEG", quality=88) for i in range(4)]
    alone = [normalize_image(data, workers=2) for data in inputs]
    with ThreadPoolExecutor(max_workers=4) as callers:
        together = list(callers.map(lambda data: normalize_image(data, workers=2), inputs))
    for one, other in zip(alone, together, strict=True):
        assert (one.full.sha256, one.review.sha256) == (other.full.sha256, other.review.sha256)
    assert len({result.full.sha256 for result in together}) == len(inputs)


def test_quality_stays_within_a_decibel_of_lanczos() -> None:
    # The pipeline trades exactness for speed (HAMMING for the 1.2× shrink, reduce() for the
    # review copy); on a photo it must stay close to what LANCZOS + the same JPEG encode gives.
    data = encode(photo_like((5400, 3600)), "JPEG", quality=92)
    result = normalize_image(data)
    source = decoded(data)
    for output, allowance in ((result.full, 1.0), (result.review, 1.25)):
        reference = source.resize((output.width, output.height), Resampling.LANCZOS)
        lanczos_and_jpeg = psnr(decoded(encode(reference, "JPEG", quality=90)), reference)
        assert psnr(decoded(output.data), reference) >= lanczos_and_jpeg - allowance


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "CMYK", "L"])
def test_other_modes_are_banded_like_rgb(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # 4600×1000: enough pixels to go parallel and wider than Shopify's 4472 px, so it resizes.
    image = photo_like((4600, 1000), grain=0)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").rotate(90).resize(image.size))  # alpha in use
        data = encode(image, "PNG", compress_level=1)
    else:
        data = encode(image.convert(mode), "JPEG", quality=92)
    serial = normalize_image(data, workers=1)
    calls: list[str] = []

    class Spy(normalize_module._BandedResize):
        def __init__(self, image: Image.Image, *args: Any, **kwargs: Any) -> None:
            calls.append(image.mode)
            super().__init__(image, *args, **kwargs)

    monkeypatch.setattr(normalize_module, "_BandedResize", Spy)
    banded = normalize_image(data, workers=2)
    assert calls == [mode]
    assert (banded.full.width, banded.full.height) == (serial.full.width, serial.full.height) == (4472, 972)
    assert banded.full.format == serial.full.format == ("PNG" if mode == "RGBA" else "JPEG")
    a, b = decoded(serial.full.data), decoded(banded.full.data)
    assert a.mode == b.mode
    assert psnr(a.convert("RGB"), b.convert("RGB")) >= 40
    if mode == "RGBA":
        assert ImageChops.difference(a.getchannel("A"), b.getchannel("A")).getextrema()[1] <= 2
