"""Safe image intake: download (`fetch`), validate and normalise (`validate`, `normalize`),
store (`storage`). Provider outputs and merchant images go through the same path."""

from shopify_app.images.errors import FetchFailed, ImageIntakeError, InvalidImage, TooLarge, UnsafeURL

__all__ = ["FetchFailed", "ImageIntakeError", "InvalidImage", "TooLarge", "UnsafeURL"]
