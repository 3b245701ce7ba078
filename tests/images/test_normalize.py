"""Normalisation for Shopify: limits, orientation, metadata, colour, transparency, hashes."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from shopify_app.images.normalize import (
    REVIEW_MAX_SIDE,
    SHOPIFY_MAX_PIXELS,
    SHOPIFY_MAX_SIDE,
    content_hash,
    fit_within,
    normalize_image,
)
from tests.images.conftest import SRGB_D50, encode, halves, rgb_profile


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((6000, 4000), (4472, 2981)),
        ((4000, 6000), (2981, 4472)),
        ((5000, 5000), (4472, 4472)),
        ((4472, 100), (4472, 100)),
        ((1000, 800), (1000, 800)),
    ],
)
def test_fit_within_shopify_limits(size: tuple[int, int], expected: tuple[int, int]) -> None:
    fitted = fit_within(*size, SHOPIFY_MAX_SIDE, SHOPIFY_MAX_PIXELS)
    assert fitted == expected
    assert fitted[0] * fitted[1] <= SHOPIFY_MAX_PIXELS


def test_fit_within_a_pixel_budget() -> None:
    w, h = fit_within(4000, 3000, 10_000, 6_000_000)
    assert w * h <= 6_000_000
    assert abs(w / h - 4 / 3) < 0.01


def test_large_images_are_brought_within_shopify_limits_and_a_review_size() -> None:
    source = Image.linear_gradient("L").resize((5200, 3000)).convert("RGB")
    result = normalize_image(encode(source, "JPEG", quality=85))
    assert (result.full.width, result.full.height) == (4472, 2580)
    assert (result.review.width, result.review.height) == (2048, 1182)
    assert (result.source_width, result.source_height, result.source_format) == (5200, 3000, "JPEG")
    for encoded in (result.full, result.review):
        image = decoded(encoded.data)
        assert (image.format, image.size) == ("JPEG", (encoded.width, encoded.height))
        assert max(image.size) <= SHOPIFY_MAX_SIDE and image.width * image.height <= SHOPIFY_MAX_PIXELS
    assert max(result.review.width, result.review.height) == REVIEW_MAX_SIDE


def test_small_images_are_never_upscaled() -> None:
    result = normalize_image(encode(Image.new("RGB", (300, 200), (1, 2, 3)), "PNG"))
    assert (result.full.width, result.full.height) == (300, 200)
    assert (result.review.width, result.review.height) == (300, 200)


def test_draft_decoding_of_a_huge_jpeg_still_gives_the_exact_target_size() -> None:
    # 9600×4800 → at least 1/2 is free in the DCT domain; the result must still be exact.
    source = Image.linear_gradient("L").resize((9600, 4800)).convert("RGB")
    result = normalize_image(encode(source, "JPEG", quality=70))
    assert (result.full.width, result.full.height) == (4472, 2236)


def test_serial_and_parallel_give_the_same_picture() -> None:
    source = Image.radial_gradient("L").resize((5000, 3000)).convert("RGB")
    data = encode(source, "JPEG", quality=85)
    one, two = normalize_image(data, workers=1), normalize_image(data, workers=3)
    assert (one.full.width, one.full.height) == (two.full.width, two.full.height)
    a, b = decoded(one.full.data), decoded(two.full.data)
    for point in [(0, 0), (2236, 1290), (4000, 2500), (100, 1290)]:
        assert close(a.getpixel(point), b.getpixel(point), tolerance=3)


@pytest.mark.parametrize(
    ("orientation", "top_colour"),
    [(1, None), (3, None), (6, (220, 20, 20)), (8, (20, 20, 220))],
)
def test_exif_orientation_is_applied_then_stripped(orientation: int, top_colour: tuple[int, int, int] | None) -> None:
    red, blue = (220, 20, 20), (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPS
    data = encode(halves((300, 200), red, blue), "JPEG", quality=95, exif=exif.tobytes())
    result = normalize_image(data)
    image = decoded(result.full.data)
    rotated = orientation in (6, 8)
    assert image.size == ((200, 300) if rotated else (300, 200))
    if top_colour is not None:
        assert close(image.getpixel((100, 10)), top_colour)
    elif orientation == 3:
        assert close(image.getpixel((10, 100)), blue)  # upside down: right half now on the left
    else:
        assert close(image.getpixel((10, 100)), red)
    for data in (result.full.data, result.review.data):
        out = decoded(data)
        assert len(out.getexif()) == 0
        assert "exif" not in out.info and "icc_profile" not in out.info and "xmp" not in out.info


def test_an_orientation_on_a_png_is_applied_too() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(halves((300, 200), (220, 20, 20), (20, 20, 220)), "PNG", exif=exif.tobytes())
    image = decoded(normalize_image(data).full.data)
    assert image.size == (200, 300)
    assert close(image.getpixel((100, 10)), (220, 20, 20))


def test_an_embedded_profile_is_converted_to_srgb() -> None:
    # A profile whose red and green primaries are swapped: converted properly, stored red
    # pixels come out green. Ignoring the profile would leave them red.
    swapped = rgb_profile("Swapped RG test", (SRGB_D50[1], SRGB_D50[0], SRGB_D50[2]))
    data = encode(Image.new("RGB", (200, 100), (255, 0, 0)), "PNG", icc_profile=swapped)
    result = normalize_image(data)
    image = decoded(result.full.data)
    assert "icc_profile" not in image.info
    r, g, b = image.getpixel((50, 50))
    assert g > 200 and r < 60 and b < 60


def test_an_srgb_profile_is_left_alone_but_stripped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(Image.new("RGB", (200, 100), (200, 40, 40)), "JPEG", quality=95, icc_profile=srgb)
    image = decoded(normalize_image(data).full.data)
    assert "icc_profile" not in image.info
    assert close(image.getpixel((50, 50)), (200, 40, 40))


def test_cmyk_jpegs_become_rgb() -> None:
    data = encode(Image.new("CMYK", (200, 100), (255, 0, 0, 0)), "JPEG", quality=95)  # pure cyan
    image = decoded(normalize_image(data).full.data)
    assert image.mode == "RGB"
    assert close(image.getpixel((50, 50)), (0, 255, 255), tolerance=20)


def test_transparency_that_is_used_is_kept_as_png() -> None:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (100, 100), (30, 160, 40, 255)), (50, 50))
    result = normalize_image(encode(image, "PNG"))
    assert result.full.format == "PNG" and result.full.content_type == "image/png"
    out = decoded(result.full.data)
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((100, 100))[3] == 255


def test_an_unused_alpha_channel_is_dropped_for_jpeg() -> None:
    result = normalize_image(encode(Image.new("RGBA", (200, 200), (30, 160, 40, 255)), "PNG"))
    assert result.full.format == "JPEG" and result.full.extension == "jpg"


@pytest.mark.parametrize("mode", ["P", "L", "LA", "I;16", "1"])
def test_other_modes_are_normalised(mode: str) -> None:
    image = Image.new("RGB", (120, 90), (90, 90, 90)).convert(mode)
    result = normalize_image(encode(image, "PNG"))
    assert decoded(result.full.data).mode in ("RGB", "L", "RGBA")


def test_a_webp_is_normalised_to_jpeg() -> None:
    result = normalize_image(encode(Image.new("RGB", (300, 200), (10, 200, 30)), "WEBP", quality=90))
    assert result.source_format == "WEBP" and result.full.format == "JPEG"


def test_hashes_are_sha256_of_the_stored_bytes_and_deterministic() -> None:
    data = encode(Image.radial_gradient("L").resize((800, 600)).convert("RGB"), "PNG")
    first, second = normalize_image(data), normalize_image(data)
    assert first.full.sha256 == second.full.sha256 == content_hash(first.full.data)
    assert first.source_sha256 == content_hash(data)
    assert len(first.full.sha256) == 64
