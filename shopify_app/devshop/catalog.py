"""The dev shop's seeded catalog and its product photos.

A dozen apparel products, each with variants and one or two "merchant" photos. There is no
network, so the photos are drawn with Pillow: a garment silhouette (tee, shirt, dress, hoodie,
jeans, skirt, jacket) in its colour or pattern on a light studio background, 1200x1500 JPEG.
Everything is deterministic: the same product always gets the same bytes.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field

from PIL import Image, ImageChops, ImageDraw, ImageFilter

WIDTH, HEIGHT = 1200, 1500

Point = tuple[float, float]


@dataclass(frozen=True)
class Look:
    """One photo: a garment kind in a colour and pattern."""

    garment: str
    color: tuple[int, int, int]
    pattern: str = "solid"  # solid | stripes | dots | check | denim
    accent: tuple[int, int, int] = (245, 245, 240)
    label: str = ""  # the colour name, used in alt text and variant options


@dataclass(frozen=True)
class SeedProduct:
    handle: str
    title: str
    product_type: str
    vendor: str
    description: str
    tags: tuple[str, ...]
    price: str
    sizes: tuple[str, ...]
    looks: tuple[Look, ...]  # one per colour; the first is the featured photo
    extra: dict[str, str] = field(default_factory=dict)


VENDOR = "Northwind Apparel"

CATALOG: tuple[SeedProduct, ...] = (
    SeedProduct("classic-crew-tee", "Classic Crew Tee", "T-Shirts", VENDOR,
                "A mid-weight cotton jersey tee with a ribbed crew neck.", ("tops", "cotton"), "24.00",
                ("S", "M", "L"),
                (Look("tee", (156, 160, 166), label="Heather Grey"),
                 Look("tee", (34, 36, 40), label="Black"))),
    SeedProduct("breton-stripe-tee", "Breton Stripe Tee", "T-Shirts", VENDOR,
                "Boat-neck striped tee in heavy cotton.", ("tops", "stripes"), "32.00",
                ("S", "M", "L"),
                (Look("tee", (28, 42, 84), "stripes", accent=(244, 242, 236), label="Navy Stripe"),)),
    SeedProduct("oxford-button-down", "Oxford Button-Down Shirt", "Shirts", VENDOR,
                "Washed oxford cloth with a button-down collar.", ("shirts", "cotton"), "58.00",
                ("S", "M", "L", "XL"),
                (Look("shirt", (150, 184, 220), "stripes", accent=(236, 242, 250), label="Blue Stripe"),)),
    SeedProduct("linen-camp-shirt", "Linen Camp Shirt", "Shirts", VENDOR,
                "Relaxed camp-collar shirt in breathable linen.", ("shirts", "linen"), "64.00",
                ("S", "M", "L"),
                (Look("shirt", (112, 118, 72), label="Olive"),)),
    SeedProduct("wrap-midi-dress", "Wrap Midi Dress", "Dresses", VENDOR,
                "A flowing wrap dress with a tie waist and polka dots.", ("dresses",), "98.00",
                ("XS", "S", "M", "L"),
                (Look("dress", (178, 84, 56), "dots", accent=(248, 226, 204), label="Terracotta Dot"),)),
    SeedProduct("satin-slip-dress", "Satin Slip Dress", "Dresses", VENDOR,
                "Bias-cut satin slip dress with adjustable straps.", ("dresses", "evening"), "120.00",
                ("XS", "S", "M"),
                (Look("dress", (24, 24, 28), label="Black"),
                 Look("dress", (122, 30, 52), label="Burgundy"))),
    SeedProduct("fleece-pullover-hoodie", "Fleece Pullover Hoodie", "Hoodies", VENDOR,
                "Brushed-back fleece hoodie with a kangaroo pocket.", ("hoodies", "fleece"), "72.00",
                ("S", "M", "L", "XL"),
                (Look("hoodie", (38, 84, 60), label="Forest Green"),)),
    SeedProduct("heavyweight-zip-hoodie", "Heavyweight Zip Hoodie", "Hoodies", VENDOR,
                "Full-zip hoodie in 400 gsm loopback cotton.", ("hoodies",), "84.00",
                ("S", "M", "L", "XL"),
                (Look("hoodie", (64, 66, 72), label="Charcoal"),)),
    SeedProduct("straight-leg-jeans", "Straight-Leg Jeans", "Jeans", VENDOR,
                "Rigid selvedge denim in a classic straight leg.", ("denim", "bottoms"), "110.00",
                ("28", "30", "32", "34"),
                (Look("jeans", (44, 62, 104), "denim", label="Indigo"),)),
    SeedProduct("pleated-midi-skirt", "Pleated Midi Skirt", "Skirts", VENDOR,
                "Knife-pleated midi skirt with an elastic waist.", ("skirts", "bottoms"), "68.00",
                ("XS", "S", "M", "L"),
                (Look("skirt", (214, 168, 52), label="Mustard"),)),
    SeedProduct("tartan-mini-skirt", "Tartan Mini Skirt", "Skirts", VENDOR,
                "A-line mini skirt in brushed wool tartan.", ("skirts", "wool"), "74.00",
                ("XS", "S", "M"),
                (Look("skirt", (150, 34, 40), "check", accent=(30, 50, 40), label="Red Tartan"),)),
    SeedProduct("waxed-field-jacket", "Waxed Field Jacket", "Jackets", VENDOR,
                "Waxed cotton field jacket with corduroy collar.", ("outerwear",), "220.00",
                ("S", "M", "L", "XL"),
                (Look("jacket", (168, 132, 86), label="Tan"),)),
    SeedProduct("quilted-puffer-jacket", "Quilted Puffer Jacket", "Jackets", VENDOR,
                "Lightweight quilted puffer with recycled fill.", ("outerwear",), "180.00",
                ("S", "M", "L"),
                (Look("jacket", (30, 40, 70), "check", accent=(46, 58, 94), label="Navy"),)),
)


def seed_product(handle: str) -> SeedProduct | None:
    return next((p for p in CATALOG if p.handle == handle), None)


# ----------------------------------------------------------------------------- drawing

def _shape(garment: str) -> tuple[list[Point], list[tuple[str, list[Point]]]]:
    """The outline of a garment in unit coordinates, plus detail strokes (kind, points)."""
    if garment == "tee":
        outline = [(0.42, 0.17), (0.30, 0.20), (0.15, 0.35), (0.23, 0.42), (0.31, 0.34),
                   (0.31, 0.80), (0.69, 0.80), (0.69, 0.34), (0.77, 0.42), (0.85, 0.35),
                   (0.70, 0.20), (0.58, 0.17), (0.54, 0.21), (0.50, 0.22), (0.46, 0.21)]
        details = [("line", [(0.42, 0.17), (0.46, 0.215), (0.50, 0.225), (0.54, 0.215), (0.58, 0.17)]),
                   ("line", [(0.23, 0.42), (0.15, 0.35)]), ("line", [(0.31, 0.78), (0.69, 0.78)])]
    elif garment == "shirt":
        outline = [(0.43, 0.15), (0.30, 0.19), (0.17, 0.70), (0.25, 0.72), (0.32, 0.36),
                   (0.31, 0.82), (0.50, 0.85), (0.69, 0.82), (0.68, 0.36), (0.75, 0.72),
                   (0.83, 0.70), (0.70, 0.19), (0.57, 0.15), (0.50, 0.19)]
        details = [("poly", [(0.43, 0.15), (0.50, 0.19), (0.46, 0.25), (0.40, 0.19)]),
                   ("poly", [(0.57, 0.15), (0.50, 0.19), (0.54, 0.25), (0.60, 0.19)]),
                   ("line", [(0.50, 0.19), (0.50, 0.85)]),
                   ("buttons", [(0.51, 0.28), (0.51, 0.38), (0.51, 0.48), (0.51, 0.58), (0.51, 0.68)]),
                   ("line", [(0.17, 0.66), (0.25, 0.68)]), ("line", [(0.83, 0.66), (0.75, 0.68)]),
                   ("line", [(0.36, 0.30), (0.45, 0.30), (0.45, 0.38), (0.36, 0.38), (0.36, 0.30)])]
    elif garment == "dress":
        outline = [(0.41, 0.12), (0.43, 0.12), (0.45, 0.22), (0.55, 0.22), (0.57, 0.12),
                   (0.59, 0.12), (0.62, 0.28), (0.60, 0.42), (0.75, 0.88), (0.50, 0.90),
                   (0.25, 0.88), (0.40, 0.42), (0.38, 0.28)]
        details = [("line", [(0.40, 0.42), (0.60, 0.42)]), ("line", [(0.45, 0.43), (0.40, 0.88)]),
                   ("line", [(0.55, 0.43), (0.60, 0.88)]), ("line", [(0.50, 0.43), (0.50, 0.89)])]
    elif garment == "hoodie":
        outline = [(0.40, 0.19), (0.37, 0.11), (0.43, 0.06), (0.57, 0.06), (0.63, 0.11),
                   (0.60, 0.19), (0.71, 0.22), (0.84, 0.72), (0.76, 0.75), (0.68, 0.38),
                   (0.69, 0.80), (0.31, 0.80), (0.32, 0.38), (0.24, 0.75), (0.16, 0.72),
                   (0.29, 0.22)]
        details = [("poly", [(0.44, 0.12), (0.56, 0.12), (0.55, 0.21), (0.50, 0.24), (0.45, 0.21)]),
                   ("line", [(0.47, 0.24), (0.46, 0.36)]), ("line", [(0.53, 0.24), (0.54, 0.36)]),
                   ("line", [(0.38, 0.56), (0.62, 0.56), (0.66, 0.72), (0.34, 0.72), (0.38, 0.56)]),
                   ("line", [(0.31, 0.75), (0.69, 0.75)]),
                   ("line", [(0.16, 0.68), (0.24, 0.71)]), ("line", [(0.84, 0.68), (0.76, 0.71)])]
    elif garment == "jeans":
        outline = [(0.33, 0.12), (0.67, 0.12), (0.69, 0.30), (0.71, 0.90), (0.54, 0.90),
                   (0.50, 0.40), (0.46, 0.90), (0.29, 0.90), (0.31, 0.30)]
        details = [("line", [(0.33, 0.16), (0.67, 0.16)]), ("line", [(0.50, 0.16), (0.50, 0.34)]),
                   ("stitch", [(0.34, 0.18), (0.40, 0.24), (0.44, 0.18)]),
                   ("stitch", [(0.66, 0.18), (0.60, 0.24), (0.56, 0.18)]),
                   ("buttons", [(0.50, 0.14)])]
    elif garment == "skirt":
        outline = [(0.36, 0.20), (0.64, 0.20), (0.66, 0.26), (0.77, 0.70), (0.50, 0.73),
                   (0.23, 0.70), (0.34, 0.26)]
        details = [("line", [(0.345, 0.25), (0.655, 0.25)])] + [
            ("line", [(0.38 + 0.04 * i, 0.26), (0.30 + 0.066 * i, 0.71)]) for i in range(7)]
    elif garment == "jacket":
        outline = [(0.42, 0.14), (0.29, 0.19), (0.16, 0.72), (0.25, 0.75), (0.32, 0.38),
                   (0.30, 0.84), (0.70, 0.84), (0.68, 0.38), (0.75, 0.75), (0.84, 0.72),
                   (0.71, 0.19), (0.58, 0.14), (0.50, 0.20)]
        details = [("poly", [(0.42, 0.14), (0.50, 0.20), (0.47, 0.36), (0.38, 0.20)]),
                   ("poly", [(0.58, 0.14), (0.50, 0.20), (0.53, 0.36), (0.62, 0.20)]),
                   ("line", [(0.50, 0.20), (0.50, 0.84)]),
                   ("line", [(0.34, 0.58), (0.45, 0.58), (0.45, 0.72), (0.34, 0.72), (0.34, 0.58)]),
                   ("line", [(0.55, 0.58), (0.66, 0.58), (0.66, 0.72), (0.55, 0.72), (0.55, 0.58)]),
                   ("line", [(0.16, 0.68), (0.25, 0.71)]), ("line", [(0.84, 0.68), (0.75, 0.71)])]
    else:
        raise ValueError(f"unknown garment {garment!r}")
    return outline, details


def _scale(points: list[Point]) -> list[tuple[int, int]]:
    return [(round(x * WIDTH), round(y * HEIGHT)) for x, y in points]


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, round(c * factor))) for c in color)  # type: ignore[return-value]


def _background() -> Image.Image:
    """A light studio sweep: a vertical gradient and a soft floor shadow."""
    top, bottom = (244, 242, 238), (226, 222, 215)
    gradient = Image.new("RGB", (1, HEIGHT))
    for y in range(HEIGHT):
        t = y / (HEIGHT - 1)
        gradient.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    return gradient.resize((WIDTH, HEIGHT))


def _pattern(look: Look) -> Image.Image:
    fill = Image.new("RGB", (WIDTH, HEIGHT), look.color)
    draw = ImageDraw.Draw(fill)
    if look.pattern == "stripes":
        for y in range(0, HEIGHT, 56):
            draw.rectangle([0, y, WIDTH, y + 22], fill=look.accent)
    elif look.pattern == "dots":
        for row, y in enumerate(range(0, HEIGHT, 70)):
            for x in range(35 * (row % 2), WIDTH, 70):
                draw.ellipse([x - 11, y - 11, x + 11, y + 11], fill=look.accent)
    elif look.pattern == "check":
        for x in range(0, WIDTH, 90):
            draw.rectangle([x, 0, x + 26, HEIGHT], fill=look.accent)
        for y in range(0, HEIGHT, 90):
            draw.rectangle([0, y, WIDTH, y + 26], fill=look.accent)
        for x in range(45, WIDTH, 90):
            draw.line([(x, 0), (x, HEIGHT)], fill=_shade(look.color, 1.35), width=3)
    elif look.pattern == "denim":
        for x in range(-HEIGHT, WIDTH, 9):
            draw.line([(x, 0), (x + HEIGHT, HEIGHT)], fill=_shade(look.color, 1.18), width=2)
    return fill


@functools.lru_cache(maxsize=64)
def render_look(look: Look) -> bytes:
    """A 1200x1500 JPEG of the garment on a studio background (cached per process)."""
    canvas = _background()
    outline, details = _shape(look.garment)
    points = _scale(outline)

    # Soft shadow under and behind the garment.
    shadow = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(shadow).polygon([(x + 18, y + 26) for x, y in points], fill=90)
    shadow = shadow.filter(ImageFilter.GaussianBlur(28))
    canvas.paste((120, 112, 100), mask=shadow)

    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).polygon(points, fill=255)
    canvas.paste(_pattern(look), mask=mask)

    # Volume: darken towards the garment's edges.
    edge = mask.filter(ImageFilter.GaussianBlur(40))
    darkness = ImageChops.subtract(mask, edge).point(lambda v: min(255, v * 2) // 3)
    canvas.paste((0, 0, 0), mask=ImageChops.multiply(darkness, Image.new("L", darkness.size, 120)))

    draw = ImageDraw.Draw(canvas)
    line_color = _shade(look.color, 0.62) if sum(look.color) > 150 else _shade(look.color, 2.2)
    for kind, raw in details:
        pts = _scale(raw)
        if kind == "line":
            draw.line(pts, fill=line_color, width=5, joint="curve")
        elif kind == "stitch":
            draw.line(pts, fill=(212, 142, 58), width=4, joint="curve")
        elif kind == "poly":
            draw.polygon(pts, fill=_shade(look.color, 0.88), outline=line_color, width=4)
        elif kind == "buttons":
            for x, y in pts:
                draw.ellipse([x - 10, y - 10, x + 10, y + 10], fill=(236, 232, 222), outline=line_color, width=2)
    draw.polygon(points, outline=_shade(look.color, 0.55), width=3)

    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=86, optimize=True)
    return out.getvalue()
