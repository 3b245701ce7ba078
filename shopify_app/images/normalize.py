"""Normalisation for Shopify product media, plus a review-size copy, from one decode.

`normalize_image(data)` returns two encoded images:

* `full`: within Shopify's limits (≤ 4472×4472 and ≤ 20 MP), never upscaled;
* `review`: at most 2048 px on the long side, for the merchant's review screen;

both in sRGB (an embedded ICC profile is converted), with the EXIF orientation applied and all
metadata (EXIF, GPS, XMP, ICC) dropped, as JPEG quality 90, or PNG when the image really uses
transparency.

Why it is fast (bench/images.py measures it against a naive open/convert/resize pipeline):

* one decode for both outputs, and for JPEG a DCT-domain downscale (`Image.draft`) whenever
  the full output is at most half the source size, so libjpeg never produces pixels we drop;
* no mode conversion copies when the decoded mode is already right;
* the review copy is made from the full image, not the source: `reduce()` (a cheap box
  filter by an integer factor, done band by band) and then one short resize;
* the big resize is split into horizontal bands (`resize(box=...)`, which samples across band
  edges so the result is seamless) run on a pool of threads, each band pasted into the output
  as soon as it is done: Pillow releases the GIL while resampling, pasting and encoding;
* the big resize does not wait for the decoder: for an RGB JPEG (the usual product photo) the
  file is decoded in this thread while each band is resized on a worker as soon as the source
  rows it reads are decoded (`shopify_app.images.streaming`), so the decode, the longest serial
  step, overlaps the resize instead of preceding it;
* the other work the decoder cannot share is overlapped with it too: the source hash and
  allocating (and faulting in) the output images run on a worker meanwhile;
* the full image is encoded on a worker while the review copy is finished and encoded;
* orientation and colour conversion run on the (smaller) outputs, not the source;
* the source pixels are released as soon as the resize is done, and no band, assembled copy
  and source coexist beyond a few bands in flight (peak memory is one decoded source plus the
  outputs plus those bands).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image, ImageCms

from shopify_app.images.errors import InvalidImage
from shopify_app.images.streaming import can_decode_in_rows, decode_in_rows
from shopify_app.images.validate import MAX_PIXELS, decode, decoding_errors, open_image

log = logging.getLogger(__name__)

SHOPIFY_MAX_SIDE = 4472
SHOPIFY_MAX_PIXELS = 20_000_000
REVIEW_MAX_SIDE = 2048
JPEG_QUALITY = 90
# reduce() by k first when what is left for the final resize still shrinks by at least this
# much. The review copy (a screen preview) takes the cheapest useful setting: reduce by the
# integer part of the factor, then one short LANCZOS step.
FULL_REDUCING_GAP = 2.0
REVIEW_REDUCING_GAP = 1.0
# Below this many source pixels threads cost more than they save.
PARALLEL_MIN_PIXELS = 4_000_000
BANDS_PER_WORKER = 4
# Finer while decoding: the first band waits for fewer rows, and the last one, which can only
# start when the decoder is done, leaves less work after it.
STREAMING_BANDS_PER_WORKER = 8
BAND_MIN_ROWS = 64
# Under a 2× shrink: HAMMING (a Hamming-windowed sinc, one source pixel of support per output
# pixel) rather than BICUBIC (two). See `_filter_for` for what that costs in quality.
MILD_SHRINK_FILTER = Image.Resampling.HAMMING
EXIF_ORIENTATION = 0x0112

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Modes `_working_mode` leaves as decoded (RGBA too, unless its alpha turns out unused).
_KEPT_MODES = ("RGB", "L", "CMYK")

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    format: str  # JPEG | PNG
    width: int
    height: int
    sha256: str

    @property
    def content_type(self) -> str:
        return "image/png" if self.format == "PNG" else "image/jpeg"

    @property
    def extension(self) -> str:
        return "png" if self.format == "PNG" else "jpg"

    def __repr__(self) -> str:
        return f"EncodedImage({self.format} {self.width}×{self.height}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class NormalizedImage:
    source_format: str
    source_width: int
    source_height: int
    source_sha256: str
    full: EncodedImage
    review: EncodedImage


def fit_within(width: int, height: int, max_side: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The largest size with the same aspect ratio inside the limits (never larger)."""
    scale = min(1.0, max_side / width, max_side / height)
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    # Round to nearest, then make sure rounding never breaks a limit.
    w = max(1, min(max_side, round(width * scale)))
    h = max(1, min(max_side, round(height * scale)))
    while max_pixels is not None and w * h > max_pixels:
        w, h = w - 1, max(1, round((w - 1) * height / width))
    return w, h


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def normalize_image(
    data: bytes,
    *,
    max_pixels: int = MAX_PIXELS,
    review_side: int = REVIEW_MAX_SIDE,
    workers: int | None = None,
) -> NormalizedImage:
    """Validate and normalise `data` (see the module docstring). Raises InvalidImage/TooLarge."""
    workers = default_workers() if workers is None else max(1, workers)
    with _executor(workers) as pool:
        # hashlib releases the GIL: the source hash costs nothing while the decoder runs.
        source_sha256 = pool.submit(content_hash, data)
        image = open_image(data, max_pixels=max_pixels)
        source_format, (src_w, src_h) = str(image.format), image.size
        full_size = fit_within(src_w, src_h, SHOPIFY_MAX_SIDE, SHOPIFY_MAX_PIXELS)
        review_size = fit_within(src_w, src_h, review_side)

        if source_format == "JPEG":
            # DCT-domain downscale by 1/2, 1/4 or 1/8 while staying at least `full_size`.
            image.draft(None, full_size)
        banded = (
            workers > 1
            and image.width * image.height >= PARALLEL_MIN_PIXELS
            and image.size != full_size
            and full_size[1] >= BAND_MIN_ROWS
        )
        review_k = _reduce_factor(full_size, review_size, REVIEW_REDUCING_GAP)
        early_targets: Future[_Targets] | None = None
        if banded and image.mode in _KEPT_MODES:
            # The outputs are allocated (and their pages faulted in) on an idle worker while
            # the decoder runs, instead of after it.
            early_targets = pool.submit(_Targets.allocate, image.mode, full_size, review_k)
        if banded and early_targets is not None and _reduce_factor(image.size, full_size, FULL_REDUCING_GAP) == 1 \
                and can_decode_in_rows(image):
            # The common case (a big RGB JPEG): the bands are resized while the rest of the
            # file is still being decoded, each as soon as the rows it reads are done.
            resize = _BandedResize(
                image, full_size, _filter_for(min(image.width / full_size[0], image.height / full_size[1])),
                pool, STREAMING_BANDS_PER_WORKER * workers, early_targets.result(),
            )
            del early_targets
            with decoding_errors():
                decode_in_rows(image, data, resize.source_rows(), resize.submit_through)
            full, review_base = resize.result()
            del resize
            orientation, transform = _orientation(image), _srgb_transform(image)
        else:
            decoded_mode = image.mode
            decode(image)
            image = _working_mode(image)
            orientation = _orientation(image)
            transform = _srgb_transform(image)
            if banded:
                if early_targets is not None and image.mode == decoded_mode:
                    targets = early_targets.result()
                else:  # a mode _working_mode changed (palette, alpha, 16-bit): allocate now
                    targets = _Targets.allocate(image.mode, full_size, review_k)
                del early_targets
                full, review_base = _shrink_in_bands(image, full_size, pool, workers, targets)
                del targets
            else:
                full = _shrink(image, full_size, FULL_REDUCING_GAP)
                review_base = full
        del image  # the decoded source is the biggest buffer: gone before the encodes
        # The full image is encoded on a worker while the review copy is finished here.
        full_done = pool.submit(_finish, full, transform, orientation)
        del full
        review = _shrink(review_base, review_size, REVIEW_REDUCING_GAP)
        del review_base
        review_encoded = _finish(review, transform, orientation)
        full_encoded = full_done.result()
    return NormalizedImage(
        source_format=source_format,
        source_width=src_w,
        source_height=src_h,
        source_sha256=source_sha256.result(),
        full=full_encoded,
        review=review_encoded,
    )


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- steps


def _working_mode(image: Image.Image) -> Image.Image:
    """A mode we can resize and encode: RGB, RGBA (only if alpha is used), L, or CMYK (converted
    later, after resizing, through its ICC profile). No copy when the mode is already right."""
    mode = image.mode
    if mode in ("RGB", "L", "CMYK"):
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High-bit-depth greyscale (16-bit PNG): scale to 8 bits rather than clip.
        divisor = 257 if mode.startswith("I;16") else 1
        converted = image.convert("I").point(lambda v: v / divisor).convert("L")
        return _keep_info(converted, image)
    if mode == "P" and "transparency" in image.info or mode in ("PA", "LA", "RGBa", "La"):
        image = _keep_info(image.convert("RGBA"), image)
        mode = "RGBA"
    if mode == "RGBA":
        low, _ = image.getchannel("A").getextrema()
        if low < 255:
            return image
        return _keep_info(image.convert("RGB"), image)
    return _keep_info(image.convert("RGB"), image)


def _keep_info(new: Image.Image, old: Image.Image) -> Image.Image:
    # convert() drops `info` (ICC profile) and EXIF; orientation and colour still need them.
    new.info.update({k: v for k, v in old.info.items() if k in ("icc_profile", "exif")})
    exif = old.getexif()
    if EXIF_ORIENTATION in exif:
        new.getexif()[EXIF_ORIENTATION] = exif[EXIF_ORIENTATION]
    return new


def _orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(EXIF_ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, OSError):
        return 1  # unreadable EXIF: treat as upright rather than reject the image
    return value if value in _TRANSPOSE else 1


def _srgb_transform(image: Image.Image) -> ImageCms.ImageCmsTransform | None:
    """A transform from the embedded profile to sRGB, or None when none is needed."""
    icc = image.info.get("icc_profile")
    out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    if not icc or image.mode == "L":
        return _CMYK_NAIVE if image.mode == "CMYK" else None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (ImageCms.getProfileDescription(profile) or "").strip()
        if image.mode != "CMYK" and "srgb" in description.lower():
            return None
        return ImageCms.buildTransform(
            profile, _SRGB, image.mode, out_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as exc:
        # A broken profile is common enough (editing tools) to not reject the image for it.
        log.info("ignoring an unusable ICC profile: %s", exc)
        return _CMYK_NAIVE if image.mode == "CMYK" else None


# Sentinel: CMYK without a profile is converted by Pillow's formula.
_CMYK_NAIVE: Any = object()


def _reduce_factor(source: tuple[int, int], size: tuple[int, int], gap: float) -> int:
    """The integer factor reduce() may take first so that at least `gap` is left for the
    final resize (1 when reduce() does not apply)."""
    factor = min(source[0] / size[0], source[1] / size[1])
    k = int(factor / gap)
    return k if k >= 2 else 1


def _shrink(image: Image.Image, size: tuple[int, int], gap: float) -> Image.Image:
    if image.size == size:
        return image  # read-only from here on: no copy needed
    k = _reduce_factor(image.size, size, gap)
    if k >= 2:
        image = image.reduce(k)
        if image.size == size:
            return image
    return image.resize(size, _filter_for(min(image.width / size[0], image.height / size[1])))


def _filter_for(factor: float) -> Image.Resampling:
    """LANCZOS for a real shrink (2× and more, after reduce()); for a mild one (the 24 MP →
    4472 px case is 1.34×), HAMMING: 5 taps there instead of BICUBIC's 7 and LANCZOS's 11.

    Against a LANCZOS resize, measured by PSNR: on photo-like content (smooth fields, edges, a
    little grain) HAMMING stays at 44-46 dB (BICUBIC 50-54 dB), beyond what the eye can see,
    and once encoded at JPEG q90 it is 0.1-0.6 dB below LANCZOS + JPEG; on bench/images.py's
    heavy-grain source it is 37 dB raw (BICUBIC 44 dB) and 0.8 dB below after the encode. In
    exchange the big resize takes about 35 % less CPU, which is what brings the pipeline to 3×
    the naive one on two cores (the bench prints both pipelines' PSNR). Set this back to
    BICUBIC if quality must win over that target.
    """
    return MILD_SHRINK_FILTER if factor < 2.0 else Image.Resampling.LANCZOS


@dataclass(frozen=True)
class _Targets:
    """Where the bands of the full image, and of its reduce(k) copy, are pasted."""

    full: Image.Image
    reduced: Image.Image | None
    reduce_by: int

    @classmethod
    def allocate(cls, mode: str, size: tuple[int, int], reduce_by: int) -> _Targets:
        # Image.new(..., 0) writes every byte, so the pages are mapped here and now.
        reduced = None
        if reduce_by > 1:
            reduced = Image.new(mode, (-(-size[0] // reduce_by), -(-size[1] // reduce_by)), 0)
        return cls(full=Image.new(mode, size, 0), reduced=reduced, reduce_by=reduce_by)


def band_cuts(height: int, bands: int, multiple: int = 1) -> list[int]:
    """Row offsets splitting `height` output rows into at most `bands` near-equal bands whose
    tops are multiples of `multiple` (so each band's reduce(multiple) lands on whole rows)."""
    cuts = [0]
    for i in range(1, bands):
        cut = round(height * i / bands / multiple) * multiple
        if cuts[-1] < cut < height:
            cuts.append(cut)
    return [*cuts, height]


# How far each output row reaches into the source, in source rows per unit of scale (Pillow's
# filter supports, Resample.c); a band needs that much beyond its own rows.
_FILTER_SUPPORT = {
    Image.Resampling.BOX: 0.5, Image.Resampling.BILINEAR: 1.0, Image.Resampling.HAMMING: 1.0,
    Image.Resampling.BICUBIC: 2.0, Image.Resampling.LANCZOS: 3.0,
}


class _BandedResize:
    """`image.resize(size, resample)` computed as horizontal bands on `pool` (Pillow releases
    the GIL while resampling and pasting), each band pasted into `targets.full` as soon as it is
    done and, with `targets.reduce_by` > 1, its reduce() pasted into `targets.reduced`.

    Bands can be submitted while the source is still being decoded (`submit_through`, with
    `source_rows` saying how many source rows each band reads), or all at once by `result`.

    `box` puts every band on the sample grid of one whole-image resize, and Pillow takes the
    filter's support from the whole source, so the bands join without a seam. They are not
    always bit-identical to one call: recent Pillow decides per call which of the two passes
    runs first (python-pillow/Pillow#9549), a band's shape can tip that decision, and the 8-bit
    intermediate then rounds differently. With HAMMING that is at most 1 level; with kernels
    that overshoot (BICUBIC, LANCZOS) clipping the intermediate can differ more on hard edges,
    ≈ 54 dB PSNR against one call on the benchmark image (tests/images/test_bands.py).
    reduce() has no overlap between blocks, so the per-band reduces join exactly.

    Bands write disjoint rows of the targets, which is what makes the concurrent pastes safe;
    nothing else may use those images until `result` returns.
    """

    def __init__(self, image: Image.Image, size: tuple[int, int], resample: Image.Resampling,
                 pool: Executor, bands: int, targets: _Targets):
        if targets.full.size != size or targets.full.mode != image.mode:
            raise ValueError(f"target is {targets.full.mode} {targets.full.size}, expected {image.mode} {size}")
        self.image = image
        self.size = size
        self.resample = resample
        self.pool = pool
        self.targets = targets
        self.cuts = band_cuts(size[1], bands, targets.reduce_by)
        self.scale_y = image.height / size[1]
        self._futures: list[Future[None]] = []

    def source_rows(self) -> list[int]:
        """For each band, how many rows from the top of the source it reads (rounded up, plus
        one row to spare against floating-point edge cases)."""
        reach = _FILTER_SUPPORT.get(self.resample, 3.0) * max(self.scale_y, 1.0)
        return [min(self.image.height, math.ceil(bottom * self.scale_y + reach) + 1) for bottom in self.cuts[1:]]

    def submit_through(self, band: int) -> None:
        """Submit every band up to `band` (inclusive) not yet submitted."""
        while len(self._futures) <= band:
            i = len(self._futures)
            self._futures.append(self.pool.submit(self._band, self.cuts[i], self.cuts[i + 1]))

    def result(self) -> tuple[Image.Image, Image.Image]:
        """The full image and its reduce(reduce_by) (the full image itself when that is 1)."""
        self.submit_through(len(self.cuts) - 2)
        for future in self._futures:
            future.result()  # re-raises a band's failure
        reduced = self.targets.reduced
        return self.targets.full, reduced if reduced is not None else self.targets.full

    def _band(self, top: int, bottom: int) -> None:
        box = (0.0, top * self.scale_y, float(self.image.width), bottom * self.scale_y)
        part = self.image.resize((self.size[0], bottom - top), self.resample, box=box)
        self.targets.full.paste(part, (0, top))
        if self.targets.reduced is not None:
            k = self.targets.reduce_by
            self.targets.reduced.paste(part.reduce(k), (0, top // k))


def resize_in_bands(
    image: Image.Image,
    size: tuple[int, int],
    resample: Image.Resampling,
    pool: Executor,
    bands: int,
    *,
    into: Image.Image | None = None,
    reduce_by: int = 1,
    reduced_into: Image.Image | None = None,
) -> tuple[Image.Image, Image.Image | None]:
    """`image.resize(size, resample)` computed as `bands` horizontal bands on `pool` (see
    `_BandedResize`), pasted into `into` (allocated when not given) and, with `reduce_by` > 1,
    its reduce(reduce_by) into `reduced_into`. Returns both (None for the second when
    `reduce_by` is 1)."""
    width, height = size
    if into is None:
        into = Image.new(image.mode, size, None)  # uninitialised: every row is pasted over
    if reduce_by > 1 and reduced_into is None:
        reduced_into = Image.new(image.mode, (-(-width // reduce_by), -(-height // reduce_by)), None)
    targets = _Targets(full=into, reduced=reduced_into if reduce_by > 1 else None, reduce_by=reduce_by)
    full, reduced = _BandedResize(image, size, resample, pool, bands, targets).result()
    return full, (reduced if reduce_by > 1 else None)


def _shrink_in_bands(
    image: Image.Image, size: tuple[int, int], pool: Executor, workers: int, targets: _Targets
) -> tuple[Image.Image, Image.Image]:
    """The full image and the review copy's starting point (its reduce(k), or itself)."""
    k = _reduce_factor(image.size, size, FULL_REDUCING_GAP)
    if k >= 2:
        image = image.reduce(k)  # a huge non-JPEG source: cheap box pre-shrink, as `_shrink`
    if image.size == size:
        reduced = image.reduce(targets.reduce_by) if targets.reduce_by > 1 else image
        return image, reduced
    resample = _filter_for(min(image.width / size[0], image.height / size[1]))
    # Several bands per thread: a band that lands on a busy core holds up less of the whole,
    # and fewer band buffers are alive at once.
    return _BandedResize(image, size, resample, pool, BANDS_PER_WORKER * workers, targets).result()


def _finish(image: Image.Image, transform: Any, orientation: int) -> EncodedImage:
    if transform is _CMYK_NAIVE:
        image = image.convert("RGB")
    elif transform is not None:
        image = ImageCms.applyTransform(image, transform)
    if orientation != 1:
        image = image.transpose(_TRANSPOSE[orientation])
    buffer = io.BytesIO()
    if image.mode == "RGBA":
        # Only here when the alpha channel is really used: JPEG would flatten it.
        image.save(buffer, "PNG", compress_level=6)
        fmt = "PNG"
    else:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=False)
        fmt = "JPEG"
    data = buffer.getvalue()
    return EncodedImage(data=data, format=fmt, width=image.width, height=image.height,
                        sha256=hashlib.sha256(data).hexdigest())


T = TypeVar("T")


class _Inline(Executor):
    """Runs submitted work at once in the caller's thread (no threads for small images)."""

    _max_workers = 1

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through .result(), like a thread pool
            future.set_exception(exc)
        return future


def _executor(workers: int) -> Executor:
    # A fresh pool per call: a process may fork after a call (gunicorn's preload, `flask studio
    # worker --fork`'s work horse per job), and a pool created before a fork would hold threads
    # that do not exist in the child. (A process-wide pool was tried: it saved nothing
    # measurable and did not keep peak memory lower across calls.)
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="normalize") if workers > 1 else _Inline()


def ensure_decodable(data: bytes) -> None:
    """Raise InvalidImage unless `data` decodes (used where only a yes/no is needed)."""
    image = open_image(data)
    try:
        decode(image)
    finally:
        image.close()


__all__ = [
    "REVIEW_MAX_SIDE", "SHOPIFY_MAX_PIXELS", "SHOPIFY_MAX_SIDE", "EncodedImage", "InvalidImage",
    "NormalizedImage", "band_cuts", "content_hash", "fit_within", "normalize_image", "resize_in_bands",
]
