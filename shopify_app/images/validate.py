"""Pillow validation: only JPEG, PNG and WebP; a pixel cap; bombs and truncated files refused.

`open_image` reads the header only (cheap: the caller may still ask for a JPEG draft before
decoding); `decode` loads the pixels and turns every decoder failure into `InvalidImage`.
`validate_image` does both and returns what it found.
"""

from __future__ import annotations

import io
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

from shopify_app.images.errors import InvalidImage, TooLarge

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# 50 MP covers 48 MP phone photos. It is below Pillow's own decompression-bomb threshold
# (`Image.MAX_IMAGE_PIXELS`, ~89 MP), so an image we accept never trips Pillow's warning.
MAX_PIXELS = 50_000_000
MIN_SIDE = 16


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def open_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open `data` lazily (header only) after checking format and declared size."""
    if not data:
        raise InvalidImage("the file is empty", code="empty")
    with warnings.catch_warnings():
        # Pillow *warns* between MAX_IMAGE_PIXELS and twice that, and raises above. Both are
        # refusals here, whatever the process-wide warning filters say.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise TooLarge(
                "the image declares far too many pixels (a possible decompression bomb)",
                code="decompression_bomb",
            ) from None
        except UnidentifiedImageError:
            raise InvalidImage("not a JPEG, PNG or WebP image", code="unsupported_format") from None
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
            raise InvalidImage(f"the image header is corrupt ({exc})", code="corrupt") from None
    width, height = image.size
    if width * height > max_pixels:
        raise TooLarge(
            f"the image is {width}×{height} ({width * height / 1e6:.1f} MP); "
            f"the limit is {max_pixels / 1e6:.0f} MP",
            code="too_many_pixels",
        )
    if min(width, height) < MIN_SIDE:
        raise InvalidImage(f"the image is only {width}×{height} pixels", code="too_small")
    return image


def decode(image: Image.Image) -> None:
    """Load the pixels of an opened image; a truncated or corrupt file raises InvalidImage."""
    with decoding_errors():
        image.load()


@contextmanager
def decoding_errors() -> Iterator[None]:
    """Turn a decoder's failure inside the block into InvalidImage (truncated or corrupt)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a process-wide switch some libraries flip
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; truncated images would pass")
    try:
        yield
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise InvalidImage("the image file is truncated (incomplete download?)", code="truncated") from None
        raise InvalidImage(f"the image data is corrupt ({exc})", code="corrupt") from None
    except (SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"the image data is corrupt ({exc})", code="corrupt") from None


def validate_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Fully decode `data` once and say what it is; raises InvalidImage or TooLarge."""
    with open_image(data, max_pixels=max_pixels) as image:
        fmt = str(image.format)
        decode(image)
        return ImageInfo(format=fmt, width=image.width, height=image.height, mode=image.mode)
