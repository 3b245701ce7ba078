"""Pillow validation: formats, pixel cap, decompression bombs, truncated and corrupt files."""

from __future__ import annotations

import pytest
from PIL import Image

from shopify_app.images.errors import InvalidImage, TooLarge
from shopify_app.images.validate import MAX_PIXELS, validate_image
from tests.images.conftest import encode, png_header_only


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_accepts_jpeg_png_and_webp(fmt: str, mime: str) -> None:
    info = validate_image(encode(Image.new("RGB", (120, 80), (10, 120, 200)), fmt))
    assert (info.format, info.width, info.height, info.content_type) == (fmt, 120, 80, mime)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_refuses_other_image_formats(fmt: str) -> None:
    with pytest.raises(InvalidImage) as caught:
        validate_image(encode(Image.new("RGB", (64, 64), (1, 2, 3)), fmt))
    assert caught.value.code == "unsupported_format"


@pytest.mark.parametrize("data", [b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"%PDF-1.7\n", b"\x00" * 32])
def test_refuses_things_that_are_not_images(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        validate_image(data)


def test_refuses_an_empty_file() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        validate_image(b"")


@pytest.mark.parametrize("side", [10_000, 20_000, 60_000])
def test_refuses_decompression_bombs_from_the_header_alone(side: int) -> None:
    # 100 MP sits in Pillow's *warning* band, 400 MP+ in its error band: both are refusals,
    # whatever the warning filters (pytest runs with -W error; production does not).
    with pytest.raises(TooLarge) as caught:
        validate_image(png_header_only(side, side))
    assert caught.value.code == "decompression_bomb"


def test_refuses_images_over_the_pixel_cap() -> None:
    with pytest.raises(TooLarge) as caught:
        validate_image(png_header_only(8000, 8000))  # 64 MP: under Pillow's threshold, over ours
    assert caught.value.code == "too_many_pixels"
    assert MAX_PIXELS == 50_000_000


def test_a_custom_pixel_cap() -> None:
    with pytest.raises(TooLarge, match="limit is 1 MP"):
        validate_image(encode(Image.new("RGB", (1200, 1000)), "PNG"), max_pixels=1_000_000)


def _detailed(size: tuple[int, int] = (400, 300)) -> Image.Image:
    return Image.radial_gradient("L").resize(size).convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_refuses_truncated_files(fmt: str) -> None:
    data = encode(_detailed(), fmt)
    with pytest.raises(InvalidImage) as caught:
        validate_image(data[: len(data) * 2 // 3])
    assert caught.value.code in ("truncated", "corrupt")
    assert "truncated" in caught.value.message or "corrupt" in caught.value.message


def test_a_truncated_jpeg_says_truncated() -> None:
    data = encode(_detailed(), "JPEG")
    with pytest.raises(InvalidImage, match="truncated") as caught:
        validate_image(data[: len(data) // 2])
    assert caught.value.code == "truncated"


def test_refuses_a_png_with_a_corrupt_body() -> None:
    data = bytearray(encode(_detailed(), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    with pytest.raises(InvalidImage):
        validate_image(bytes(data))


def test_refuses_tiny_images() -> None:
    with pytest.raises(InvalidImage, match="only 8×8"):
        validate_image(encode(Image.new("RGB", (8, 8)), "PNG"))
