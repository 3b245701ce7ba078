"""The built-in preview renderer (Pillow only): a studio mannequin, and a garment fitted onto it.

It is the embedded default provider, so the app works with no AI service configured; the UI
calls it a *preview renderer* and every portrait carries a label card saying so. It does not try
to depict ethnicity or age: the figure is a neutral mannequin whose proportions follow the body
type; the spec is printed on the card.

Everything is deterministic: the same spec, size and seed give the same bytes.

How it stays fast (bench/render.py: a 1024×1536 portrait renders in under 10 ms, a try-on in
about 20, then the encode): Pillow's full-canvas passes (resampling, compositing an RGB image
under a mask) cost milliseconds each, so each pixel of the canvas is written about once and
everything else works on less:

* smooth layers (wall, floor, vignette, shading) are made at 1/SMOOTH size; the backdrop is
  stretched with NEAREST (it changes by a level every few pixels, so this is what BILINEAR
  gives), the steeper figure shading and shadows with BILINEAR, each only over its own box;
* the silhouette is drawn at 2× in the figure's bounding box only (so at every canvas size)
  and halved with `reduce(2)` (anti-aliasing for the price of a box filter);
* the garment is lifted from its photo shrunk mostly by a whole factor (by the JPEG decoder,
  or `reduce`), and only the part holding the garment is eroded and feathered; the garment
  and its shadow are composited over their own boxes;
* the mannequins a worker drew last are kept (`render_figure`): a catalog model's try-ons all
  dress one figure;
* the PNG is written with fast compression (image intake re-encodes it anyway); try-ons are
  asked for as JPEG by the try-on step, which libjpeg-turbo writes in a few milliseconds.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

from shopify_app.images.errors import ImageIntakeError
from shopify_app.images.validate import decode, open_image

DEFAULT_SIZE = (1024, 1536)
MIN_SIDE, MAX_SIDE = 256, 4096
SUPERSAMPLE = 2  # the silhouette is drawn at 2× and halved: anti-aliasing for a box filter's price
SMOOTH = 4  # smooth layers (backdrop, shadows, shading) are made at 1/SMOOTH of the canvas
MANNEQUIN = (226, 219, 209)
BACKDROP_TOP = (241, 240, 238)
BACKDROP_FLOOR = (214, 211, 206)


class GarmentError(ValueError):
    """The garment photo cannot be used (not an image, or no garment found in it)."""


# ----------------------------------------------------------------------------- body types


@dataclass(frozen=True)
class Build:
    """Half-widths in figure heights (the figure is 1.0 tall)."""

    name: str
    shoulder: float
    chest: float
    waist: float
    hip: float
    limb: float  # upper-arm width
    thigh: float
    neck: float = 0.026


BUILDS: dict[str, Build] = {
    "slim": Build("Slim", shoulder=0.104, chest=0.082, waist=0.060, hip=0.088, limb=0.034, thigh=0.046),
    "athletic": Build("Athletic", shoulder=0.122, chest=0.098, waist=0.072, hip=0.092, limb=0.043, thigh=0.054),
    "average": Build("Average", shoulder=0.112, chest=0.092, waist=0.076, hip=0.098, limb=0.040, thigh=0.053),
    "curvy": Build("Curvy", shoulder=0.110, chest=0.102, waist=0.074, hip=0.120, limb=0.042, thigh=0.062),
    "plus-size": Build("Plus-size", shoulder=0.124, chest=0.122, waist=0.112, hip=0.134, limb=0.052, thigh=0.070),
}
ALIASES = {
    "slim": "slim", "slender": "slim", "thin": "slim", "lean": "slim", "petite": "slim", "skinny": "slim",
    "athletic": "athletic", "muscular": "athletic", "fit": "athletic", "sporty": "athletic", "toned": "athletic",
    "average": "average", "regular": "average", "medium": "average", "standard": "average", "normal": "average",
    "curvy": "curvy", "hourglass": "curvy", "pear": "curvy",
    "plus-size": "plus-size", "plus": "plus-size", "plussize": "plus-size", "full-figured": "plus-size",
    "fullfigured": "plus-size", "large": "plus-size", "heavy": "plus-size", "xl": "plus-size",
}


def build_for(body_type: str | None, gender: str | None = None) -> Build:
    """The build for a free-text body type ("Plus size", "athletic", "hourglass"…); unknown →
    average. A male figure gets broader shoulders and narrower hips."""
    key = (body_type or "").strip().lower().replace("_", "-").replace(" ", "-")
    build = BUILDS[ALIASES.get(key) or ALIASES.get(key.replace("-", "")) or "average"]
    if (gender or "").upper() == "MALE":
        return Build(build.name, shoulder=build.shoulder * 1.1, chest=build.chest * 1.02, waist=build.waist * 1.06,
                     hip=build.hip * 0.9, limb=build.limb * 1.08, thigh=build.thigh * 0.95, neck=build.neck * 1.15)
    return build


# ----------------------------------------------------------------------------- sizes


def output_size(
    width: int | None = None,
    height: int | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
) -> tuple[int, int]:
    """The canvas for a request: explicit width/height, else an aspect ratio ("2:3", "16:9")
    with a long side from `resolution` ("1K", "2K", "1536"), else 1024×1536."""
    ratio = _parse_ratio(aspect_ratio)
    if width and height:
        size = (int(width), int(height))
    else:
        long_side = _parse_resolution(resolution) or 1536
        if ratio is None:
            ratio = DEFAULT_SIZE[0] / DEFAULT_SIZE[1]
        if width:
            size = (int(width), round(int(width) / ratio))
        elif height:
            size = (round(int(height) * ratio), int(height))
        elif ratio <= 1:
            size = (round(long_side * ratio), long_side)
        else:
            size = (long_side, round(long_side / ratio))
    w, h = size
    scale = min(1.0, MAX_SIDE / max(w, h))
    w, h = max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))
    return min(w, MAX_SIDE), min(h, MAX_SIDE)


def _parse_ratio(value: str | None) -> float | None:
    if not value:
        return None
    text = value.strip().lower().replace("x", ":").replace("/", ":")
    named = {"portrait": 2 / 3, "square": 1.0, "landscape": 3 / 2}
    if text in named:
        return named[text]
    try:
        a, b = (float(p) for p in text.split(":"))
    except ValueError:
        return None
    return a / b if a > 0 and b > 0 and 0.2 <= a / b <= 5 else None


def _parse_resolution(value: str | None) -> int | None:
    if not value:
        return None
    text = value.strip().upper()
    try:
        if text.endswith("K"):
            return int(float(text[:-1]) * 1024)
        return int(text)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- the figure


@dataclass(frozen=True)
class Figure:
    """Where the figure's landmarks are on the canvas, in pixels."""

    center_x: float
    top: float
    height: float
    shoulder_y: float
    shoulder_half: float
    waist_y: float
    waist_half: float
    hip_y: float
    hip_half: float
    ankle_y: float

    @classmethod
    def place(cls, size: tuple[int, int], build: Build, shift: float = 0.0) -> Figure:
        w, h = size
        height = min(h * 0.82, w * 1.55)  # a wide canvas must still fit the figure's width
        top = h * 0.905 - height
        cx = w / 2 + shift * w
        return cls(
            center_x=cx, top=top, height=height,
            shoulder_y=top + 0.185 * height, shoulder_half=build.shoulder * height,
            waist_y=top + 0.385 * height, waist_half=build.waist * height,
            hip_y=top + 0.48 * height, hip_half=build.hip * height,
            ankle_y=top + 0.955 * height,
        )

    @classmethod
    def from_bbox(cls, bbox: tuple[int, int, int, int]) -> Figure:
        """Estimate landmarks from a standing person's bounding box (any portrait)."""
        left, top, right, bottom = bbox
        height = bottom - top
        half = min((right - left) / 2, 0.13 * height)
        return cls(
            center_x=(left + right) / 2, top=top, height=height,
            shoulder_y=top + 0.185 * height, shoulder_half=half * 0.92,
            waist_y=top + 0.385 * height, waist_half=half * 0.62,
            hip_y=top + 0.48 * height, hip_half=half * 0.8,
            ankle_y=top + 0.955 * height,
        )


def _catmull_rom(points: list[tuple[float, float]], steps: int = 8) -> list[tuple[float, float]]:
    """A smooth curve through `points` (endpoints repeated)."""
    out: list[tuple[float, float]] = []
    padded = [points[0], *points, points[-1]]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for s in range(steps):
            t = s / steps
            t2, t3 = t * t, t * t * t
            out.append(tuple(  # type: ignore[arg-type]
                0.5 * (2 * p1[k] + (-p0[k] + p2[k]) * t + (2 * p0[k] - 5 * p1[k] + 4 * p2[k] - p3[k]) * t2
                       + (-p0[k] + 3 * p1[k] - 3 * p2[k] + p3[k]) * t3)
                for k in (0, 1)
            ))
    out.append(points[-1])
    return out


def _limb(draw: _Shapes, start: tuple[float, float], end: tuple[float, float], w0: float, w1: float) -> None:
    """A tapered capsule from `start` (width w0) to `end` (width w1)."""
    (x0, y0), (x1, y1) = start, end
    angle = math.atan2(y1 - y0, x1 - x0) + math.pi / 2
    dx, dy = math.cos(angle), math.sin(angle)
    draw.polygon([(x0 + dx * w0 / 2, y0 + dy * w0 / 2), (x1 + dx * w1 / 2, y1 + dy * w1 / 2),
                  (x1 - dx * w1 / 2, y1 - dy * w1 / 2), (x0 - dx * w0 / 2, y0 - dy * w0 / 2)])
    for (x, y), r in (((x0, y0), w0 / 2), ((x1, y1), w1 / 2)):
        draw.ellipse((x - r, y - r, x + r, y + r))


class _Shapes:
    """The figure's polygons and ellipses, recorded rather than drawn, so that the mask is
    rasterised in the figure's own bounding box (about a third of the canvas) instead of on a
    full canvas that is mostly empty."""

    def __init__(self) -> None:
        self.polygons: list[list[tuple[float, float]]] = []
        self.ellipses: list[tuple[float, float, float, float]] = []

    def polygon(self, points: list[tuple[float, float]]) -> None:
        self.polygons.append(points)

    def ellipse(self, box: tuple[float, float, float, float]) -> None:
        self.ellipses.append(box)

    def bbox(self) -> tuple[float, float, float, float]:
        xs = [x for points in self.polygons for x, _ in points] + [x for b in self.ellipses for x in (b[0], b[2])]
        ys = [y for points in self.polygons for _, y in points] + [y for b in self.ellipses for y in (b[1], b[3])]
        return min(xs), min(ys), max(xs), max(ys)

    def draw(self, size: tuple[int, int], origin: tuple[int, int]) -> Image.Image:
        """An "L" mask of `size` whose top left corner is canvas point `origin`."""
        ox, oy = origin
        mask = Image.new("L", size, 0)
        draw = ImageDraw.Draw(mask)
        for points in self.polygons:
            draw.polygon([(x - ox, y - oy) for x, y in points], fill=255)
        for x0, y0, x1, y1 in self.ellipses:
            draw.ellipse((x0 - ox, y0 - oy, x1 - ox, y1 - oy), fill=255)
        return mask


@dataclass(frozen=True)
class Silhouette:
    """The figure's anti-aliased mask ("L") over `box`, a part of the canvas whose corners lie on
    the `SMOOTH`-pixel grid of the small layers."""

    mask: Image.Image
    box: tuple[int, int, int, int]
    figure: Figure


def _silhouette(size: tuple[int, int], build: Build, rnd: random.Random, shift: float) -> Silhouette:
    fig = Figure.place((size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), build, shift)
    H, cx, top = fig.height, fig.center_x, fig.top
    draw = _Shapes()

    def pt(x: float, y: float) -> tuple[float, float]:
        return cx + x * H, top + y * H

    tilt = rnd.uniform(-0.006, 0.006)
    # Head and neck.
    hx, hy = pt(tilt, 0.068)
    draw.ellipse((hx - 0.05 * H, hy - 0.066 * H, hx + 0.05 * H, hy + 0.066 * H))
    _limb(draw, pt(0, 0.12), pt(0, 0.19), build.neck * 2 * H, build.neck * 2.2 * H)
    # Torso: one side as a smooth curve, mirrored.
    side = [(build.neck * 1.1, 0.160), (build.shoulder * 0.78, 0.170), (build.shoulder, 0.195),
            (build.chest, 0.262), (build.waist, 0.385), (build.hip, 0.470), (build.hip * 0.92, 0.525)]
    right = [pt(x, y) for x, y in _catmull_rom(side)]
    left = [(2 * cx - x, y) for x, y in reversed(right)]
    draw.polygon(right + left)
    # Arms, hanging with a little gap from the torso; the seed sets their angle.
    for sign in (-1, 1):
        spread = rnd.uniform(0.012, 0.03)
        shoulder = pt(sign * (build.shoulder - build.limb * 0.45), 0.205)
        elbow = pt(sign * (max(build.chest, build.waist) + build.limb * 0.75 + spread * 0.5), 0.335)
        wrist = pt(sign * (build.hip + build.limb * 0.6 + spread), 0.475)
        _limb(draw, shoulder, elbow, build.limb * 2 * H * 0.5, build.limb * 0.8 * H)
        _limb(draw, elbow, wrist, build.limb * 0.8 * H, build.limb * 0.55 * H)
        hx, hy = wrist
        r = build.limb * 0.42 * H
        draw.ellipse((hx - r, hy - r * 0.4, hx + r, hy + r * 1.9))
    # Legs from the hips to the ankles, with feet.
    for sign in (-1, 1):
        hip = pt(sign * build.hip * 0.47, 0.50)
        knee = pt(sign * build.hip * 0.36, 0.72)
        ankle = pt(sign * build.hip * 0.30, 0.945)
        _limb(draw, hip, knee, max(build.hip, build.thigh * 1.8) * H, build.thigh * 1.05 * H)
        _limb(draw, knee, ankle, build.thigh * 1.05 * H, 0.034 * H)
        fx, fy = ankle
        draw.ellipse((fx - 0.026 * H + sign * 0.01 * H, fy - 0.01 * H, fx + 0.026 * H + sign * 0.01 * H,
                      fy + 0.03 * H))

    # The box, in canvas pixels, with a margin, on the small layers' grid.
    w, h = size
    left_, top_, right_, bottom_ = draw.bbox()
    x0 = max(0, (math.floor(left_ / SUPERSAMPLE) - 2) // SMOOTH * SMOOTH)
    y0 = max(0, (math.floor(top_ / SUPERSAMPLE) - 2) // SMOOTH * SMOOTH)
    x1 = min(w, -(-(math.ceil(right_ / SUPERSAMPLE) + 2) // SMOOTH) * SMOOTH)
    y1 = min(h, -(-(math.ceil(bottom_ / SUPERSAMPLE) + 2) // SMOOTH) * SMOOTH)
    k = SUPERSAMPLE
    mask = draw.draw(((x1 - x0) * k, (y1 - y0) * k), (x0 * k, y0 * k)).reduce(k)
    return Silhouette(mask, (x0, y0, x1, y1), Figure.place(size, build, shift))


# ----------------------------------------------------------------------------- smooth layers
#
# The backdrop, the vignette, the floor shadow and the figure's shading are smooth, so they are
# made at 1/SMOOTH of the canvas and stretched once: a few thousand pixels of work each instead
# of a full-canvas pass. Size-only layers are cached (a catalog renders many images at one
# size); they are small, and never modified in place.


def _small(size: tuple[int, int]) -> tuple[int, int]:
    return -(-size[0] // SMOOTH), -(-size[1] // SMOOTH)


@lru_cache(maxsize=8)
def _ramp(small: tuple[int, int]) -> Image.Image:
    return Image.linear_gradient("L").resize((8, 64)).resize(small, Image.Resampling.BILINEAR)


@lru_cache(maxsize=8)
def _vignette(small: tuple[int, int]) -> Image.Image:
    return Image.radial_gradient("L").resize(small, Image.Resampling.BILINEAR).point(lambda v: max(0, v - 120) // 5)


@lru_cache(maxsize=8)
def _key_light(size: tuple[int, int], strength: int = 10) -> Image.Image:
    """Light falling from the upper left: 255 there, a little darker to the lower right."""
    return _key_ramp().resize(size, Image.Resampling.BILINEAR).point(lambda v: 255 - v // strength)


@lru_cache(maxsize=1)
def _key_ramp() -> Image.Image:
    """A top-to-bottom gradient turned 35° counter-clockwise, 0 in the upper left corner and 255
    in the lower right: what `rotate(35)` makes of `linear_gradient`, but over the whole square
    (rotate() would fill the corners with one flat grey, a visible crease in the light), the
    ramp clamped at 0 and 255 where it runs past them."""
    column = Image.new("L", (1, 512), 255)
    column.paste(0, (0, 0, 1, 128))
    column.paste(Image.linear_gradient("L").resize((1, 256)), (0, 128))
    # Pixel (x, y) of a 64-pixel square reads the column at 255.5 plus its offset from the
    # middle along the turned axis, in the gradient's 256-pixel units (4 per pixel here).
    across, down = 4 * math.sin(math.radians(35)), 4 * math.cos(math.radians(35))
    return column.transform((64, 64), Image.Transform.AFFINE,
                            (0, 0, 0, across, down, 255.5 - 31.5 * (across + down)), Image.Resampling.BILINEAR)


def _studio(size: tuple[int, int], warm: int, fig: Figure) -> Image.Image:
    """The studio at full size: a light wall fading into a slightly darker floor, a soft
    vignette, the figure's shadow on the floor."""
    small = _small(size)
    top = (BACKDROP_TOP[0] + warm, BACKDROP_TOP[1], BACKDROP_TOP[2] - warm)
    floor = (BACKDROP_FLOOR[0] + warm, BACKDROP_FLOOR[1], BACKDROP_FLOOR[2] - warm)
    backdrop = ImageOps.colorize(_ramp(small), black=top, white=floor)  # type: ignore[arg-type]
    backdrop = Image.composite(Image.new("RGB", small, (150, 148, 145)), backdrop, _vignette(small))
    # Wall and floor change by about a level every few pixels: stretched with NEAREST they are
    # what BILINEAR makes of them (a few hundred pixels one level apart), for a tenth of the time.
    image = backdrop.resize(size, Image.Resampling.NEAREST, box=(0, 0, size[0] / SMOOTH, size[1] / SMOOTH))
    _floor_shadow(image, fig)
    return image


def _floor_shadow(image: Image.Image, fig: Figure) -> None:
    """The figure's soft shadow on the floor, onto `image`: a blurred ellipse, made small in a
    box of its own and stretched with BILINEAR (it darkens quickly), then laid on that box."""
    radius = max(1.0, fig.height * 0.018 / SMOOTH * 1.2)  # the blur, in small pixels
    cx, cy = fig.center_x / SMOOTH, (fig.ankle_y + fig.height * 0.035) / SMOOTH
    rx, ry = fig.hip_half * 1.7 / SMOOTH, fig.height * 0.018 / SMOOTH
    x0, y0 = math.floor(cx - rx - 3 * radius), math.floor(cy - ry - 3 * radius)
    x1, y1 = math.ceil(cx + rx + 3 * radius), math.ceil(cy + ry + 3 * radius)
    shadow = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(shadow).ellipse((cx - rx - x0, cy - ry - y0, cx + rx - x0, cy + ry - y0), fill=120)
    shadow = shadow.filter(ImageFilter.GaussianBlur(radius))
    shadow = shadow.resize((shadow.width * SMOOTH, shadow.height * SMOOTH), Image.Resampling.BILINEAR)
    x, y = x0 * SMOOTH, y0 * SMOOTH
    image.paste((96, 92, 88), (x, y, x + shadow.width, y + shadow.height), shadow)


def _lit_body(size: tuple[int, int], silhouette: Silhouette) -> Image.Image:
    """The mannequin's colour over the silhouette's box (RGB), lit per pixel: darker towards the
    silhouette's edges (volume) and from the upper left to the lower right (a key light). The
    light is worked out on the small grid and stretched; only the box is full size."""
    small = _small(size)
    x0, y0, x1, y1 = silhouette.box
    coverage = Image.new("L", small, 0)
    coverage.paste(silhouette.mask.reduce(SMOOTH), (x0 // SMOOTH, y0 // SMOOTH))
    rim = coverage.filter(ImageFilter.GaussianBlur(max(1.0, silhouette.figure.height / SMOOTH * 0.012)))
    light = ImageChops.multiply(rim.point(lambda v: 170 + v * 85 // 255), _key_light(small))
    light = light.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR,
                         box=(x0 / SMOOTH, y0 / SMOOTH, x1 / SMOOTH, y1 / SMOOTH))
    return Image.merge("RGB", [light.point(lambda v, c=c: (v * c + 127) // 255) for c in MANNEQUIN])


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _label_card(image: Image.Image, lines: list[str]) -> None:
    w, h = image.size
    size = max(11, round(min(w, h) * 0.022))
    font = _font(size)
    title = _font(round(size * 1.1))
    pad = round(size * 0.8)
    widths = [int(ImageDraw.Draw(image).textlength(line, font=title if i == 0 else font)) for i, line in enumerate(lines)]
    box_w = max(widths) + 2 * pad
    box_h = pad * 2 + round(size * 1.45) * len(lines)
    x0, y0 = round(w * 0.035), h - round(h * 0.03) - box_h
    card = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    d = ImageDraw.Draw(card)
    d.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=round(size * 0.6), fill=(255, 255, 255, 225),
                        outline=(200, 196, 190, 255), width=max(1, size // 12))
    y = pad
    for i, line in enumerate(lines):
        d.text((pad, y), line, font=title if i == 0 else font, fill=(40, 40, 42, 255) if i == 0 else (92, 90, 88, 255))
        y += round(size * 1.45)
    image.paste(card, (x0, y0), card)


# ----------------------------------------------------------------------------- renderer


@dataclass(frozen=True)
class PortraitSpec:
    gender: str
    body_type: str
    ethnicity: str = ""
    age_range: str = ""


def render_figure(size: tuple[int, int], spec: PortraitSpec, seed: int) -> tuple[Image.Image, Figure]:
    """The studio figure without its label: (RGB image, landmarks)."""
    build = build_for(spec.body_type, spec.gender)
    remembered = size[0] * size[1] <= MANNEQUIN_CACHE_MAX_PIXELS
    mannequin = _remembered_mannequin(size, build, seed) if remembered else _mannequin(size, build, seed)
    image = _studio(size, mannequin.warm, mannequin.figure)
    image.paste(mannequin.body, mannequin.box[:2], mannequin.mask)
    return image, mannequin.figure


@dataclass(frozen=True)
class Mannequin:
    """What a seed decides for a build at a size: the lit figure over its box (`body` under
    `mask`), its landmarks, and the backdrop's warmth."""

    body: Image.Image
    mask: Image.Image
    box: tuple[int, int, int, int]
    figure: Figure
    warm: int


def _mannequin(size: tuple[int, int], build: Build, seed: int) -> Mannequin:
    rnd = random.Random(seed)
    shift = rnd.uniform(-0.015, 0.015)
    warm = rnd.randint(-3, 3)
    silhouette = _silhouette(size, build, rnd, shift)
    return Mannequin(_lit_body(size, silhouette), silhouette.mask, silhouette.box, silhouette.figure, warm)


# Every try-on of a catalog model dresses the same figure (its identity keeps the seed), so the
# last few mannequins a worker drew are kept (they are only ever read): at most
# MANNEQUIN_CACHE_SIZE, for canvases up to MANNEQUIN_CACHE_MAX_PIXELS; a mannequin covers about
# a third of its canvas, at 5 bytes a pixel: 2.6 MB at 1024 × 1536, 7 MB at 2048 × 2048.
MANNEQUIN_CACHE_SIZE = 4  # one per image of a try-on task (the local provider renders up to 4)
MANNEQUIN_CACHE_MAX_PIXELS = 2048 * 2048


@lru_cache(maxsize=MANNEQUIN_CACHE_SIZE)
def _remembered_mannequin(size: tuple[int, int], build: Build, seed: int) -> Mannequin:
    return _mannequin(size, build, seed)


def clear_caches() -> None:
    """Forget every remembered mannequin and layer (the render benchmark's cold runs)."""
    for cached in (_remembered_mannequin, _ramp, _vignette, _key_light, _key_ramp, _font):
        cached.cache_clear()


def spec_lines(spec: PortraitSpec, build: Build, seed: int, size: tuple[int, int]) -> list[str]:
    gender = {"MALE": "Male", "FEMALE": "Female"}.get(spec.gender.upper(), spec.gender.title() or "Figure")
    lines = ["Preview renderer", f"{gender} · {build.name} build"]
    detail = " · ".join(p for p in (f"Age {spec.age_range}" if spec.age_range else "", spec.ethnicity[:28]) if p)
    if detail:
        lines.append(detail)
    lines.append(f"Seed {seed} · {size[0]} x {size[1]}")
    return lines


def render_portrait(size: tuple[int, int], spec: PortraitSpec, seed: int) -> Image.Image:
    image, _ = render_figure(size, spec, seed)
    _label_card(image, spec_lines(spec, build_for(spec.body_type, spec.gender), seed, size))
    return image


# ----------------------------------------------------------------------------- try-on


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    w, h = image.size
    strips = [image.crop((0, 0, w, 2)), image.crop((0, h - 2, w, h)), image.crop((0, 0, 2, h)), image.crop((w - 2, 0, w, h))]
    sample = Image.new("RGB", (sum(s.width * s.height for s in strips), 1))
    x = 0
    for s in strips:
        flat = s.resize((s.width * s.height, 1))
        sample.paste(flat, (x, 0))
        x += flat.width
    return _median_pixel(sample)


def _median_pixel(sample: Image.Image) -> tuple[int, int, int]:
    """`sorted(pixels)[n // 2]` of a one-row RGB image, from its distinct colours and their
    counts rather than by sorting every pixel in Python."""
    colours = sorted(sample.getcolors(sample.width) or [], key=lambda entry: entry[1])
    middle, seen = sample.width // 2, 0
    for count, colour in colours:
        seen += count
        if seen > middle:
            return colour  # type: ignore[return-value]
    raise AssertionError("unreachable: the counts add up to the sample's width")


def dilate3(mask: Image.Image) -> Image.Image:
    """`mask.filter(ImageFilter.MaxFilter(3))` for an "L" image (see `_rank3`)."""
    return _rank3(mask, ImageChops.lighter, 0)


def erode3(mask: Image.Image) -> Image.Image:
    """`mask.filter(ImageFilter.MinFilter(3))` for an "L" image (see `_rank3`)."""
    return _rank3(mask, ImageChops.darker, 255)


def _rank3(mask: Image.Image, pick: Callable[[Image.Image, Image.Image], Image.Image], outside: int) -> Image.Image:
    """A 3×3 max (or min) filter as the maximum (minimum) of shifted copies, across then down:
    the same pixels as Pillow's rank filter (outside the image counts as a value that never
    wins, just as the rank filter's replicated edge never does), but the rank filter sorts nine
    values per pixel, and the garment lift filters up to a few hundred times per photo."""

    def moved(image: Image.Image, dx: int, dy: int) -> Image.Image:
        out = Image.new("L", image.size, outside)
        out.paste(image, (dx, dy))
        return out

    across = pick(pick(mask, moved(mask, 1, 0)), moved(mask, -1, 0))
    return pick(pick(across, moved(across, 0, 1)), moved(across, 0, -1))


def lift_garment(data: bytes, max_side: int = 900) -> Image.Image:
    """The garment from its product photo, background removed, cropped to it (RGBA).

    The background is what matches the photo's border colour *and* is connected to the border
    (so a white print on a white shirt stays); the edge is feathered. Product photos on a
    plain studio background, the common case, come out clean.

    The lift is at most `max_side` pixels on the long side, and a larger photo's at least 2/3 of
    that: the photo is first shrunk by the whole factor bringing it nearest to `max_side` — by the
    JPEG decoder itself where it can (it scales by 1/2, 1/4 or 1/8 while decoding), else with
    `reduce` (an exact box filter), either several times cheaper than resampling — and only
    what is still over `max_side` then (at most 3/2) is resampled.
    """
    try:
        image = open_image(data)
        factor = round(max(image.size) / max_side)
        if image.format == "JPEG" and factor > 1:
            image.draft("RGB", (-(-image.width // factor), -(-image.height // factor)))
        decode(image)
    except ImageIntakeError as exc:
        raise GarmentError(f"the garment photo cannot be read: {exc.message}") from None
    alpha_in = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    factor = round(max(rgb.size) / max_side)  # what the decoder left to do
    if factor > 1:
        rgb = rgb.reduce(factor)
        alpha_in = alpha_in.reduce(factor) if alpha_in is not None else None
    if max(rgb.size) > max_side:  # by at most 3/2: BOX, an area average, is right and cheapest
        scale = max_side / max(rgb.size)
        new = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(new, Image.Resampling.BOX)
        alpha_in = alpha_in.resize(new, Image.Resampling.BOX) if alpha_in is not None else None

    if alpha_in is not None and alpha_in.getextrema()[0] < 250:
        alpha, origin = alpha_in, (0, 0)  # already cut out
    else:
        alpha, origin = _cut_out(rgb)
    found = alpha.point(lambda v: 255 if v > 60 else 0).getbbox()
    if found is None or (found[2] - found[0]) * (found[3] - found[1]) < 0.02 * rgb.width * rgb.height:
        raise GarmentError("no garment could be found in the photo; use a photo on a plain background")
    ox, oy = origin
    garment = rgb.crop((found[0] + ox, found[1] + oy, found[2] + ox, found[3] + oy))
    garment.putalpha(alpha.crop(found))
    return garment


FEATHER = 1.2  # the lifted garment's edge softness (Gaussian radius, in lift pixels)


def _cut_out(rgb: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
    """The garment's feathered alpha ("L") over a part of `rgb` that holds all of it, and
    where that part starts. Only that part is eroded and feathered: a garment fills half of a
    typical product photo."""
    border = _border_colour(rgb)
    # Looks like background: every channel within 26 of the border colour.
    near = [band.point([255 if abs(v - c) < 26 else 0 for v in range(256)])
            for band, c in zip(rgb.split(), border, strict=True)]
    candidate = ImageChops.darker(ImageChops.darker(near[0], near[1]), near[2])
    # Keep only background connected to the border: grow from the frame inside the
    # candidate region (geodesic dilation) on a small copy, then apply at full size.
    small_size = (max(8, rgb.width // 6), max(8, rgb.height // 6))
    small = candidate.resize(small_size, Image.Resampling.BOX).point(lambda v: 255 if v > 200 else 0)
    reach = Image.new("L", small_size, 0)
    ImageDraw.Draw(reach).rectangle((0, 0, small_size[0] - 1, small_size[1] - 1), outline=255, width=1)
    reach = ImageChops.darker(reach, small)
    for i in range(max(small_size)):
        grown = ImageChops.darker(dilate3(reach), small)
        if i % 6 == 5 and ImageChops.difference(grown, reach).getbbox() is None:
            break
        reach = grown
    # Grown by one small pixel, the reach covers the background's edge, which `candidate` then
    # draws at full size; NEAREST is enough to stretch it.
    connected = dilate3(reach).resize(rgb.size, Image.Resampling.NEAREST)
    garment = ImageChops.invert(ImageChops.darker(candidate, connected))
    box = garment.getbbox()
    if box is None:
        return garment, (0, 0)  # all background: the caller finds no garment
    margin = math.ceil(3 * FEATHER) + 1  # where the feathering reaches: zeros around the garment
    region = (max(0, box[0] - margin), max(0, box[1] - margin),
              min(rgb.width, box[2] + margin), min(rgb.height, box[3] + margin))
    alpha = erode3(garment.crop(region)).filter(ImageFilter.GaussianBlur(FEATHER))
    return alpha, region[:2]


def garment_colour(garment: Image.Image) -> tuple[int, int, int]:
    """The garment's dominant colour (median of its opaque pixels)."""
    small = garment.copy()
    small.thumbnail((64, 64))
    pixels = [p[:3] for p in small.get_flattened_data() if p[3] > 200]
    if not pixels:
        return (128, 128, 128)
    return tuple(sorted(channel)[len(channel) // 2] for channel in zip(*pixels, strict=True))  # type: ignore[return-value]


def _category(garment: Image.Image, category: str) -> str:
    if category in ("tops", "bottoms", "one-pieces"):
        return category
    return "one-pieces" if garment.height / garment.width > 1.45 else "tops"


def fit_garment(image: Image.Image, fig: Figure, garment: Image.Image, category: str) -> None:
    """Composite `garment` onto the figure's body in `image` (in place)."""
    kind = _category(garment, category)
    if kind == "bottoms":
        width = fig.hip_half * 2 * 1.18
        top = fig.waist_y - fig.height * 0.01
        max_h = fig.ankle_y - top
    elif kind == "one-pieces":
        width = fig.shoulder_half * 2 * 1.2
        top = fig.shoulder_y - fig.height * 0.03
        max_h = fig.ankle_y - top
    else:
        width = fig.shoulder_half * 2 * 1.45  # flat-lay tops include their sleeves
        top = fig.shoulder_y - fig.height * 0.035
        max_h = fig.hip_y + fig.height * 0.12 - top
    scale = min(width / garment.width, max_h / garment.height)
    size = (max(1, round(garment.width * scale)), max(1, round(garment.height * scale)))
    fitted = garment.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    x, y = round(fig.center_x - size[0] / 2), round(top)
    # A soft contact shadow under the garment, then the garment lit by the same key light.
    alpha = fitted.getchannel("A")
    offset = max(1, round(fig.height * 0.004))
    _contact_shadow(image, alpha, (x + offset, y + offset * 2), max(1.0, fig.height * 0.006))
    lit = ImageChops.multiply(fitted.convert("RGB"), Image.merge("RGB", (_key_light(size, 12),) * 3))
    image.paste(lit, (x, y), alpha)


def _contact_shadow(image: Image.Image, alpha: Image.Image, at: tuple[int, int], radius: float) -> None:
    """The shadow of a garment with coverage `alpha`, cast onto `image` at `at`: `alpha` blurred
    by `radius`, at half size (it is soft), on a canvas with room around the garment so the
    shadow fades out instead of stopping at the garment's box."""
    pad = math.ceil(1.5 * radius)  # three blur radii, in half-size pixels
    half = alpha.reduce(2)
    canvas = Image.new("L", (half.width + 2 * pad, half.height + 2 * pad), 0)
    canvas.paste(half, (pad, pad))
    shadow = canvas.filter(ImageFilter.GaussianBlur(radius / 2)).point(lambda v: v * 70 // 255)
    shadow = shadow.resize((shadow.width * 2, shadow.height * 2), Image.Resampling.BILINEAR)
    x, y = at[0] - 2 * pad, at[1] - 2 * pad
    image.paste((40, 36, 32), (x, y, x + shadow.width, y + shadow.height), shadow)


def try_on(
    size: tuple[int, int],
    garment: bytes | Image.Image,
    seed: int,
    category: str = "auto",
    figure_spec: PortraitSpec | None = None,
    person_data: bytes | None = None,
) -> Image.Image:
    """The garment fitted onto a figure at `size`: the preview figure for `figure_spec` (the
    exact figure of a preview portrait), else the person in `person_data`, located by removing
    its plain background. `garment` is the product photo, or the garment `lift_garment` already
    took from it (several images of one garment lift it once)."""
    if isinstance(garment, bytes):
        garment = lift_garment(garment)
    if figure_spec is not None or person_data is None:
        spec = figure_spec or PortraitSpec(gender="FEMALE", body_type="average")
        image, fig = render_figure(size, spec, seed)
        fit_garment(image, fig, garment, category)
        _label_card(image, ["Preview renderer", "Try-on preview", f"Seed {seed} · {size[0]} x {size[1]}"])
        return image
    try:
        person_image = open_image(person_data)
        decode(person_image)
    except ImageIntakeError as exc:
        raise GarmentError(f"the model photo cannot be read: {exc.message}") from None
    person = ImageOps.fit(person_image.convert("RGB"), size, Image.Resampling.BILINEAR)
    fit_garment(person, Figure.from_bbox(_person_bbox(person)), garment, category)
    return person


def _person_bbox(person: Image.Image) -> tuple[int, int, int, int]:
    """The bounding box of what differs from the photo's border colour (the person on a plain
    studio background); the middle of the frame when nothing stands out."""
    w, h = person.size
    small = person.reduce(max(1, min(w, h) // 256))
    border = _border_colour(small)
    r, g, b = ImageChops.difference(small, Image.new("RGB", small.size, border)).split()
    distance = ImageChops.lighter(ImageChops.lighter(r, g), b)
    mask = erode3(distance.point(lambda v: 255 if v > 26 else 0))
    # The person is the tall thing: keep columns where at least a fifth of the height differs
    # from the background (a label card or a prop is short), then the rows within them.
    columns = [x for x, v in enumerate(mask.resize((mask.width, 1), Image.Resampling.BOX).get_flattened_data()) if v > 50]
    box = None
    if columns:
        band = mask.crop((columns[0], 0, columns[-1] + 1, mask.height))
        rows = band.getbbox()
        if rows:
            box = (columns[0], rows[1], columns[-1] + 1, rows[3])
    fx, fy = w / small.width, h / small.height
    if box is None or (box[3] - box[1]) * fy < h * 0.3:
        return round(w * 0.3), round(h * 0.06), round(w * 0.7), round(h * 0.94)
    return round(box[0] * fx), round(box[1] * fy), round(box[2] * fx), round(box[3] * fy)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, "PNG", compress_level=1)
    else:
        image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def encode(image: Image.Image, output_format: str = "png") -> tuple[bytes, str]:
    """(bytes, content type): fast PNG (image intake re-encodes), or JPEG."""
    if output_format.lower() in ("jpeg", "jpg"):
        return _encode(image, "JPEG"), "image/jpeg"
    return _encode(image, "PNG"), "image/png"
