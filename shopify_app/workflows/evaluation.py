"""Automatic checks run on generated images before they are offered (`eval_enabled`).

Each check returns a score and whether it passed; `evaluate` runs them all and says why an
image is held back (the first failing check), so the merchant never reviews — and direct
publishing never pushes — an image that is blank, broken, the wrong shape, or the wrong colour.

| check      | score                                                      | fails when                  |
| ---------- | ---------------------------------------------------------- | --------------------------- |
| `decode`   | 1 when Pillow decodes the whole image                      | corrupt or truncated        |
| `size`     | the image's width × height against what was asked          | off by more than 2 %        |
| `aspect`   | relative error of width/height against the asked ratio     | off by more than 2 %        |
| `blank`    | luminance standard deviation (0..~128)                     | below 4: a flat image       |
| `colour`   | ΔE2000 between the garment's dominant colours and the      | mean ΔE above 22            |
|            | nearest dominant colours of the result                     |                             |

Colour fidelity works on dominant colours in CIE Lab: both images are shrunk (JPEG decodes at
1/8 scale in the DCT domain, so this is cheap), converted sRGB → Lab with LittleCMS
(`ImageCms`), and quantised by median cut *in Lab space*. The product photo's background (the
colour along its border) is dropped first, so what remains is the garment. Each garment colour
is matched to the closest result colour; the score is the weighted mean ΔE2000 (CIEDE2000,
Sharma et al. 2005). A ΔE of about 2 is a just-noticeable difference; 22 allows for the
lighting and shading a worn garment gets (the preview renderer scores 2–18 on the dev shop
catalog) while catching a red shirt rendered blue (40 and more).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageCms, ImageStat

SIZE_TOLERANCE = 0.02
ASPECT_TOLERANCE = 0.02
BLANK_STDDEV = 4.0
MAX_MEAN_DELTA_E = 22.0
ANALYSIS_SIDE = 128
GARMENT_COLOURS = 4
RESULT_COLOURS = 8
# A pixel within this ΔE of the product photo's border colour is background, not garment.
BACKGROUND_DELTA_E = 12.0

_LAB_TRANSFORM = ImageCms.buildTransformFromOpenProfiles(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
)
# Pillow's 8-bit LAB stores a* and b* as signed bytes; shifting them by 128 makes the channels
# monotonic, so median cut (which splits boxes along channel ranges) can work on them.
_SHIFT = [(v + 128) % 256 for v in range(256)]

Lab = tuple[float, float, float]


@dataclass
class Expectation:
    """What the job asked for."""

    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    garment: bytes | None = None  # the product photo, for colour fidelity


@dataclass
class EvalResult:
    scores: dict[str, Any] = field(default_factory=dict)
    held_reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.held_reason is None


def evaluate(data: bytes, expected: Expectation) -> EvalResult:
    result = EvalResult()
    try:
        image = _open(data)
    except Exception as exc:  # Pillow raises many types for broken files
        result.scores["decode"] = 0
        result.held_reason = f"The image could not be decoded ({type(exc).__name__})."
        return result
    result.scores["decode"] = 1
    width, height = image.info.get("full_size", image.size)
    result.scores["width"], result.scores["height"] = width, height
    reasons: list[str] = []

    if expected.width and expected.height:
        error = max(abs(width - expected.width) / expected.width, abs(height - expected.height) / expected.height)
        result.scores["size_error"] = round(error, 4)
        if error > SIZE_TOLERANCE:
            reasons.append(f"It is {width}×{height}, not the {expected.width}×{expected.height} asked for.")
    ratio = parse_ratio(expected.aspect_ratio)
    if ratio is not None:
        error = abs((width / height) / ratio - 1)
        result.scores["aspect_error"] = round(error, 4)
        if error > ASPECT_TOLERANCE:
            reasons.append(f"Its aspect ratio is {width}:{height}, not {expected.aspect_ratio}.")

    small = _thumbnail(image)
    stddev = ImageStat.Stat(small.convert("L")).stddev[0]
    result.scores["luma_stddev"] = round(stddev, 2)
    if stddev < BLANK_STDDEV:
        reasons.append("The image is blank (a flat colour).")

    if expected.garment is not None:
        try:
            garment = _thumbnail(_open(expected.garment))
        except Exception:
            garment = None
        if garment is not None:
            fidelity = colour_fidelity(garment, small)
            result.scores["colour_delta_e"] = round(fidelity, 2)
            if fidelity > MAX_MEAN_DELTA_E:
                reasons.append(
                    f"The garment's colours differ from the product photo (ΔE {fidelity:.0f}, "
                    f"limit {MAX_MEAN_DELTA_E:.0f})."
                )
    result.held_reason = " ".join(reasons) or None
    return result


def parse_ratio(value: str | None) -> float | None:
    if not value:
        return None
    try:
        if ":" in value:
            a, b = value.split(":", 1)
            ratio = float(a) / float(b)
        else:
            ratio = float(value)
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if math.isfinite(ratio) and ratio > 0 else None


# ----------------------------------------------------------------------------- colour


def colour_fidelity(garment_photo: Image.Image, result: Image.Image) -> float:
    """Weighted mean ΔE2000 from the garment's dominant colours to the result's nearest ones."""
    border = _border_lab(garment_photo)
    garment_colours = [
        (weight, lab) for weight, lab in dominant_colours(garment_photo, GARMENT_COLOURS + 2)
        if delta_e_2000(lab, border) > BACKGROUND_DELTA_E
    ][:GARMENT_COLOURS]
    if not garment_colours:
        return 0.0  # nothing but background: no garment colour to hold the result to
    result_colours = [lab for _, lab in dominant_colours(result, RESULT_COLOURS)]
    total = sum(weight for weight, _ in garment_colours)
    score = sum(
        weight * min(delta_e_2000(lab, other) for other in result_colours) for weight, lab in garment_colours
    )
    return score / total


def dominant_colours(image: Image.Image, count: int) -> list[tuple[float, Lab]]:
    """(share of pixels, Lab colour) of `image`'s dominant colours, largest first."""
    lab = ImageCms.applyTransform(image.convert("RGB"), _LAB_TRANSFORM)
    assert lab is not None
    l_channel, a_channel, b_channel = Image.frombytes("RGB", lab.size, lab.tobytes()).split()
    shifted = Image.merge("RGB", (l_channel, a_channel.point(_SHIFT), b_channel.point(_SHIFT)))
    quantised = shifted.quantize(count, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    colours = quantised.getcolors() or []
    pixels = sum(n for n, _ in colours) or 1
    out = []
    for n, index in sorted(colours, reverse=True):
        l_value, a_value, b_value = palette[3 * index: 3 * index + 3]
        out.append((n / pixels, (l_value * 100 / 255, a_value - 128.0, b_value - 128.0)))
    return out


def delta_e_2000(lab1: Lab, lab2: Lab) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - math.sqrt(c_bar7 / (c_bar7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dl = l2 - l1
    dc = c2p - c1p
    if c1p * c2p == 0:
        dh = 0.0
    elif abs(h2p - h1p) <= 180:
        dh = h2p - h1p
    elif h2p - h1p > 180:
        dh = h2p - h1p - 360
    else:
        dh = h2p - h1p + 360
    dH = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_bar = (l1 + l2) / 2
    c_bar = (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        h_bar = (h1p + h2p + 360) / 2
    else:
        h_bar = (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_bar - 30)) + 0.24 * math.cos(math.radians(2 * h_bar))
         + 0.32 * math.cos(math.radians(3 * h_bar + 6)) - 0.20 * math.cos(math.radians(4 * h_bar - 63)))
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    c_bar7 = c_bar ** 7
    r_c = 2 * math.sqrt(c_bar7 / (c_bar7 + 25 ** 7))
    s_l = 1 + (0.015 * (l_bar - 50) ** 2) / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dc / s_c) * (dH / s_h)
    )


# ----------------------------------------------------------------------------- helpers


def _open(data: bytes) -> Image.Image:
    """Decode `data` (raises on truncated or corrupt data), small when it is a JPEG; the full
    size from the header is kept in `info["full_size"]`."""
    image = Image.open(io.BytesIO(data))
    full_size = image.size
    if image.format == "JPEG":
        # Decode at 1/2..1/8 scale in the DCT domain: the checks only need a small picture.
        image.draft("RGB", (ANALYSIS_SIDE * 2, ANALYSIS_SIDE * 2))
    image.load()
    image.info["full_size"] = full_size
    return image


def _thumbnail(image: Image.Image) -> Image.Image:
    small = image.convert("RGB")
    small.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BOX)
    return small


def _border_lab(image: Image.Image) -> Lab:
    """The Lab colour along the image's border (a product photo's backdrop)."""
    w, h = image.size
    band = Image.new("RGB", (2 * (w + h), 2))
    band.paste(image.crop((0, 0, w, 2)).convert("RGB"), (0, 0))
    band.paste(image.crop((0, h - 2, w, h)).convert("RGB"), (w, 0))
    band.paste(image.crop((0, 0, 2, h)).convert("RGB").rotate(90, expand=True), (2 * w, 0))
    band.paste(image.crop((w - 2, 0, w, h)).convert("RGB").rotate(90, expand=True), (2 * w + h, 0))
    r, g, b = (int(v) for v in ImageStat.Stat(band).median)
    return dominant_colours(Image.new("RGB", (1, 1), (r, g, b)), 1)[0][1]
