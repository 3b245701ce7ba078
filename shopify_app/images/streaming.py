"""Decode a JPEG while the rows already decoded are put to work: `decode_in_rows`.

`Image.load()` decodes the whole file before any pixel can be read. For a 24 MP photo that is
the longest serial step of normalisation (about 40 % of it on two cores), and the other cores
wait through it. libjpeg produces rows top to bottom, so the resize could start on the top of
the image while the decoder is still on the bottom, if only it were known which rows are done.

`decode_in_rows` runs the loop `ImageFile.load` runs (the file fed to Pillow's JPEG decoder in
64 KiB chunks; the decoder releases the GIL while it works) and, between chunks, tells the
caller which of the row counts it asked about are complete. Pillow does not expose the
decoder's row counter, so rows are watched instead: an RGB image is stored four bytes per
pixel, and the decoder writes 255 into the fourth (padding) byte of every pixel it unpacks.
Before decoding, the padding byte of the last pixel of each watched row is set to 0; when it
reads 255, that row, and every row above it, is done. Only the watched pixels are read, one
per check.

It applies to what it is tested on (`can_decode_in_rows`): a JPEG, not yet loaded, that decodes
to RGB in one tile. Progressive JPEGs qualify but gain nothing (libjpeg hands over rows only
after the last scan): every watched row is reported at the end. Anything else is decoded by
`image.load()`. Errors are Pillow's own: `OSError("image file is truncated …")` when the data
ends first, the decoder's error otherwise (`validate.decoding_errors` turns both into
`InvalidImage`). `tests/images/test_streaming.py` checks the pixels against `image.load()` and
that every report comes only after its rows were decoded, so a Pillow upgrade that changes any
of this fails a test rather than an image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL import Image, ImageFile

CHUNK_BYTES = 65536
_DECODED = 255


def can_decode_in_rows(image: Image.Image) -> bool:
    tile = getattr(image, "tile", None)
    return (
        isinstance(image, ImageFile.ImageFile)
        and image.format == "JPEG"
        and image.mode == "RGB"
        and image._im is None
        and tile is not None
        and len(tile) == 1
        and tile[0].codec_name == "jpeg"
        and tile[0].extents == (0, 0, *image.size)
        and not ImageFile.LOAD_TRUNCATED_IMAGES
    )


def decode_in_rows(image: ImageFile.ImageFile, data: bytes, rows: Sequence[int],
                   on_rows: Callable[[int], None]) -> None:
    """Decode `image` (opened from `data`, header read, draft applied if any) into memory, as
    `image.load()` would. `rows` are row counts in increasing order; `on_rows(i)` is called in
    this thread, in order, once the first `rows[i]` rows of the image are decoded, and at the
    end for any not reported yet (only when the decode succeeded)."""
    if not can_decode_in_rows(image):
        raise ValueError("decode_in_rows takes an unloaded RGB JPEG")
    width, height = image.size
    if any(not 0 < r <= height for r in rows) or list(rows) != sorted(rows):
        raise ValueError(f"rows must be increasing counts within 1..{height}")
    tile = image.tile[0]
    image.load_prepare()  # allocates image.im, uninitialised
    core = image.im
    unset = Image.core.fill("RGB", (1, 1), 0)  # padding byte 0
    for r in rows:
        core.paste(unset, (width - 1, r - 1, width, r))
    probe = _Probe(image, width)
    if any(probe.done(r) for r in rows):
        raise RuntimeError("watched rows read as decoded before decoding: Pillow's layout changed")
    # From here the image counts as loaded: `resize` and friends, called by `on_rows` work on
    # other threads, must not start a decode of their own.
    image.tile = []
    image.readonly = 0

    decoder = Image._getdecoder(image.mode, tile.codec_name, tile.args, image.decoderconfig)
    err_code = -3
    next_row = 0
    try:
        decoder.setimage(core, tile.extents)
        view = memoryview(data)
        position = tile.offset
        pending = b""
        while True:
            chunk = view[position:position + CHUNK_BYTES]
            position += len(chunk)
            if not chunk:
                raise OSError(f"image file is truncated ({len(pending)} bytes not processed)")
            pending = pending + chunk
            consumed, err_code = decoder.decode(pending)
            while next_row < len(rows) and probe.done(rows[next_row]):
                on_rows(next_row)
                next_row += 1
            if consumed < 0:
                break
            pending = pending[consumed:]
    finally:
        decoder.cleanup()
        image.fp = None
    if err_code < 0:
        raise ImageFile._get_oserror(err_code, encoder=False)
    for i in range(next_row, len(rows)):
        on_rows(i)


class _Probe:
    """Reads the padding byte of a row's last pixel (a 1×1 crop, encoded raw as RGBX)."""

    def __init__(self, image: Image.Image, width: int):
        self._image = image
        self._x = width - 1

    def done(self, rows: int) -> bool:
        pixel = self._image._new(self._image.im.crop((self._x, rows - 1, self._x + 1, rows)))
        return pixel.tobytes("raw", "RGBX")[3] == _DECODED


__all__ = ["CHUNK_BYTES", "can_decode_in_rows", "decode_in_rows"]
