"""The built-in preview renderer (Pillow only): a studio mannequin, and a garment fitted onto it.

It is the embedded default provider, so the app works with no AI service configured; the UI
calls it a *preview renderer* and every portrait carries a label card saying so. It does not try
to depict ethnicity or age: the figure is a neutral mannequin whose proportions follow the body
type; the spec is printed on the card.

Everything is deterministic: the same spec, size and seed give the same bytes.

How it stays fast (a 1024×1536 PNG in a few tens of milliseconds): the silhouette is drawn as a
1-bit-deep mask at 2× and halved with `reduce(2)` (anti-aliasing for the price of a box
filter); blurs (shadow, rim shading) run on small copies that are scaled up; the backdrop is a
tiny gradient stretched to size; the PNG is written with fast compression (it is re-encoded by
image intake anyway).
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
SUPERSAMPLE_MAX_SIDE = 2048  # above this the mask is drawn at 1× and softened instead
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


def _limb(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], w0: float, w1: float) -> None:
    """A tapered capsule from `start` (width w0) to `end` (width w1)."""
    (x0, y0), (x1, y1) = start, end
    angle = math.atan2(y1 - y0, x1 - x0) + math.pi / 2
    dx, dy = math.cos(angle), math.sin(angle)
    draw.polygon([(x0 + dx * w0 / 2, y0 + dy * w0 / 2), (x1 + dx * w1 / 2, y1 + dy * w1 / 2),
                  (x1 - dx * w1 / 2, y1 - dy * w1 / 2), (x0 - dx * w0 / 2, y0 - dy * w0 / 2)], fill=255)
    for (x, y), r in (((x0, y0), w0 / 2), ((x1, y1), w1 / 2)):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def _silhouette(size: tuple[int, int], build: Build, rnd: random.Random, shift: float) -> tuple[Image.Image, Figure]:
    """The figure's mask (L, anti-aliased) on a canvas of `size`."""
    factor = 2 if max(size) <= SUPERSAMPLE_MAX_SIDE else 1
    big = (size[0] * factor, size[1] * factor)
    fig = Figure.place(big, build, shift)
    H, cx, top = fig.height, fig.center_x, fig.top
    mask = Image.new("L", big, 0)
    draw = ImageDraw.Draw(mask)

    def pt(x: float, y: float) -> tuple[float, float]:
        return cx + x * H, top + y * H

    tilt = rnd.uniform(-0.006, 0.006)
    # Head and neck.
    hx, hy = pt(tilt, 0.068)
    draw.ellipse((hx - 0.05 * H, hy - 0.066 * H, hx + 0.05 * H, hy + 0.066 * H), fill=255)
    _limb(draw, pt(0, 0.12), pt(0, 0.19), build.neck * 2 * H, build.neck * 2.2 * H)
    # Torso: one side as a smooth curve, mirrored.
    side = [(build.neck * 1.1, 0.160), (build.shoulder * 0.78, 0.170), (build.shoulder, 0.195),
            (build.chest, 0.262), (build.waist, 0.385), (build.hip, 0.470), (build.hip * 0.92, 0.525)]
    right = [pt(x, y) for x, y in _catmull_rom(side)]
    left = [(2 * cx - x, y) for x, y in reversed(right)]
    draw.polygon(right + left, fill=255)
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
        draw.ellipse((hx - r, hy - r * 0.4, hx + r, hy + r * 1.9), fill=255)
    # Legs from the hips to the ankles, with feet.
    for sign in (-1, 1):
        hip = pt(sign * build.hip * 0.47, 0.50)
        knee = pt(sign * build.hip * 0.36, 0.72)
        ankle = pt(sign * build.hip * 0.30, 0.945)
        _limb(draw, hip, knee, max(build.hip, build.thigh * 1.8) * H, build.thigh * 1.05 * H)
        _limb(draw, knee, ankle, build.thigh * 1.05 * H, 0.034 * H)
        fx, fy = ankle
        draw.ellipse((fx - 0.026 * H + sign * 0.01 * H, fy - 0.01 * H, fx + 0.026 * H + sign * 0.01 * H,
                      fy + 0.03 * H), fill=255)
    if factor == 2:
        mask = mask.reduce(2)
        fig = Figure.place(size, build, shift)
    else:
        mask = mask.filter(ImageFilter.GaussianBlur(0.7))
    return mask, fig


def _backdrop(size: tuple[int, int], rnd: random.Random) -> Image.Image:
    """A studio sweep: light wall fading into a slightly darker floor, with a soft vignette."""
    ramp, vignette = _ramp(size), _vignette(size)
    warm = rnd.randint(-3, 3)
    top = (BACKDROP_TOP[0] + warm, BACKDROP_TOP[1], BACKDROP_TOP[2] - warm)
    floor = (BACKDROP_FLOOR[0] + warm, BACKDROP_FLOOR[1], BACKDROP_FLOOR[2] - warm)
    backdrop = ImageOps.colorize(ramp, black=top, white=floor)  # type: ignore[arg-type]
    return Image.composite(Image.new("RGB", size, (150, 148, 145)), backdrop, vignette)


# Size-only layers are cached: a catalog renders many images at the same size. They are never
# modified in place (every operation below returns a new image).
@lru_cache(maxsize=8)
def _ramp(size: tuple[int, int]) -> Image.Image:
    return Image.linear_gradient("L").resize((8, 64)).resize(size, Image.Resampling.BILINEAR)


@lru_cache(maxsize=8)
def _vignette(size: tuple[int, int]) -> Image.Image:
    return Image.radial_gradient("L").resize(size, Image.Resampling.BILINEAR).point(lambda v: max(0, v - 120) // 5)


@lru_cache(maxsize=8)
def _key_light(size: tuple[int, int], strength: int = 10) -> Image.Image:
    """Light falling from the upper left: 255 there, a little darker to the lower right."""
    key = Image.linear_gradient("L").rotate(35, resample=Image.Resampling.BILINEAR, fillcolor=128)
    return key.resize(size, Image.Resampling.BILINEAR).point(lambda v: 255 - v // strength)


def _shade(mask: Image.Image, fig: Figure) -> Image.Image:
    """Per-pixel light (L, 255 = full light): darker towards the silhouette's edges (volume)
    and from the upper left to the lower right (a key light)."""
    w, h = mask.size
    small = mask.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.BILINEAR)
    radius = max(1.0, fig.height / 4 * 0.012)
    rim = small.filter(ImageFilter.GaussianBlur(radius)).resize((w, h), Image.Resampling.BILINEAR)
    rim = rim.point(lambda v: 170 + v * 85 // 255)
    return ImageChops.multiply(rim, _key_light((w, h)))


def _floor_shadow(size: tuple[int, int], fig: Figure) -> Image.Image:
    w, h = size
    small = Image.new("L", (max(1, w // 4), max(1, h // 4)), 0)
    d = ImageDraw.Draw(small)
    cx, cy = fig.center_x / 4, fig.ankle_y / 4 + fig.height * 0.035 / 4
    rx, ry = fig.hip_half * 1.7 / 4, fig.height * 0.018 / 4
    d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=120)
    return small.filter(ImageFilter.GaussianBlur(max(1.0, ry * 1.2))).resize(size, Image.Resampling.BILINEAR)


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


def render_figure(size: tuple[int, int], spec: PortraitSpec, seed: int) -> tuple[Image.Image, Image.Image, Figure]:
    """The studio figure without its label: (RGB image, figure mask, landmarks)."""
    rnd = random.Random(seed)
    build = build_for(spec.body_type, spec.gender)
    shift = rnd.uniform(-0.015, 0.015)
    backdrop = _backdrop(size, rnd)
    mask, fig = _silhouette(size, build, rnd, shift)
    shadow = _floor_shadow(size, fig)
    image = Image.composite(Image.new("RGB", size, (96, 92, 88)), backdrop, shadow)
    body = ImageChops.multiply(Image.new("RGB", size, MANNEQUIN), Image.merge("RGB", (_shade(mask, fig),) * 3))
    image.paste(body, (0, 0), mask)
    return image, mask, fig


def spec_lines(spec: PortraitSpec, build: Build, seed: int, size: tuple[int, int]) -> list[str]:
    gender = {"MALE": "Male", "FEMALE": "Female"}.get(spec.gender.upper(), spec.gender.title() or "Figure")
    lines = ["Preview renderer", f"{gender} · {build.name} build"]
    detail = " · ".join(p for p in (f"Age {spec.age_range}" if spec.age_range else "", spec.ethnicity[:28]) if p)
    if detail:
        lines.append(detail)
    lines.append(f"Seed {seed} · {size[0]} x {size[1]}")
    return lines


def render_portrait(size: tuple[int, int], spec: PortraitSpec, seed: int) -> Image.Image:
    image, _, _ = render_figure(size, spec, seed)
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
    """
    try:
        image = open_image(data)
        if image.format == "JPEG":
            image.draft("RGB", (max_side, max_side))
        decode(image)
    except ImageIntakeError as exc:
        raise GarmentError(f"the garment photo cannot be read: {exc.message}") from None
    alpha_in = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    rgb = image.convert("RGB")
    if max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        new = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(new, Image.Resampling.BILINEAR, reducing_gap=2.0)
        alpha_in = alpha_in.resize(new, Image.Resampling.BILINEAR) if alpha_in is not None else None

    if alpha_in is not None and alpha_in.getextrema()[0] < 250:
        alpha = alpha_in  # already cut out
    else:
        border = _border_colour(rgb)
        distance = ImageChops.difference(rgb, Image.new("RGB", rgb.size, border))
        r, g, b = distance.split()
        distance = ImageChops.lighter(ImageChops.lighter(r, g), b)
        candidate = distance.point(lambda v: 255 if v < 26 else 0)  # looks like background
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
        connected = dilate3(reach).resize(rgb.size, Image.Resampling.BILINEAR)
        background = ImageChops.darker(candidate, connected.point(lambda v: 255 if v > 60 else 0))
        alpha = erode3(ImageChops.invert(background)).filter(ImageFilter.GaussianBlur(1.2))
    box = alpha.point(lambda v: 255 if v > 60 else 0).getbbox()
    if box is None or (box[2] - box[0]) * (box[3] - box[1]) < 0.02 * rgb.width * rgb.height:
        raise GarmentError("no garment could be found in the photo; use a photo on a plain background")
    garment = rgb.crop(box)
    garment.putalpha(alpha.crop(box))
    return garment


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


def fit_garment(image: Image.Image, fig: Figure, garment: Image.Image, category: str) -> Image.Image:
    """Composite `garment` onto the figure's body in `image` (a copy is returned)."""
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
    out = image.copy()
    # A soft contact shadow under the garment, then the garment lit by the same key light.
    alpha = fitted.getchannel("A")
    offset = max(1, round(fig.height * 0.004))
    shadow = alpha.filter(ImageFilter.GaussianBlur(max(1.0, fig.height * 0.006))).point(lambda v: v * 70 // 255)
    out.paste(Image.new("RGB", size, (40, 36, 32)), (x + offset, y + offset * 2), shadow)
    lit = ImageChops.multiply(fitted.convert("RGB"), Image.merge("RGB", (_key_light(size, 12),) * 3))
    out.paste(lit, (x, y), alpha)
    return out


def try_on(
    size: tuple[int, int],
    garment_data: bytes,
    seed: int,
    category: str = "auto",
    figure_spec: PortraitSpec | None = None,
    person_data: bytes | None = None,
) -> Image.Image:
    """The garment fitted onto a figure at `size`: the preview figure for `figure_spec` (the
    exact figure of a preview portrait), else the person in `person_data`, located by removing
    its plain background."""
    garment = lift_garment(garment_data)
    if figure_spec is not None or person_data is None:
        spec = figure_spec or PortraitSpec(gender="FEMALE", body_type="average")
        image, _, fig = render_figure(size, spec, seed)
        out = fit_garment(image, fig, garment, category)
        _label_card(out, ["Preview renderer", "Try-on preview", f"Seed {seed} · {size[0]} x {size[1]}"])
        return out
    try:
        person_image = open_image(person_data)
        decode(person_image)
    except ImageIntakeError as exc:
        raise GarmentError(f"the model photo cannot be read: {exc.message}") from None
    person = ImageOps.fit(person_image.convert("RGB"), size, Image.Resampling.BILINEAR)
    return fit_garment(person, Figure.from_bbox(_person_bbox(person)), garment, category)


def _person_bbox(person: Image.Image) -> tuple[int, int, int, int]:
    """The bounding box of what differs from the photo's border colour (the person on a plain
    studio background); the middle of the frame when nothing stands out."""
    w, h = person.size
    small = person.reduce(max(1, min(w, h) // 256))
    border = _border_colour(small)
    r, g, b = ImageChops.difference(small, Image.new("RGB", small.size, border)).split()
    distance = ImageChops.lighter(ImageChops.lighter(r, g), b)
    mask = distance.point(lambda v: 255 if v > 26 else 0).filter(ImageFilter.MinFilter(3))
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
