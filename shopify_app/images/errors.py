"""The errors image intake raises, one family, each with a short stable `code`.

Callers map them to what they mean for their caller: an API answers 422 (or 413 for
`TooLarge`), a provider adapter treats an unusable *output* as a technical failure, a merchant
upload shows `message` as-is (it is written to be read by a person).
"""

from __future__ import annotations


class ImageIntakeError(Exception):
    code = "image_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UnsafeURL(ImageIntakeError):
    """The URL (or a redirect it led to) points somewhere we refuse to connect to."""

    code = "unsafe_url"


class TooLarge(ImageIntakeError):
    """More bytes (or pixels) than we accept."""

    code = "too_large"


class FetchFailed(ImageIntakeError):
    """The download did not complete: timeout, connection error, HTTP error status."""

    code = "fetch_failed"


class InvalidImage(ImageIntakeError):
    """Not an image we accept: wrong format, corrupt or truncated, a decompression bomb."""

    code = "invalid_image"
