"""Helpers for image-intake tests: small images built in memory, crafted headers, an ICC profile."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Sequence

import pytest
from PIL import Image

PUBLIC_IP = "93.184.216.34"


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def halves(size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    """An image whose left half is `left` and right half `right` (to see rotations)."""
    image = Image.new(mode, size, left)
    image.paste(Image.new(mode, (size[0] - size[0] // 2, size[1]), right), (size[0] // 2, 0))
    return image


def png_header_only(width: int, height: int, mode_bytes: bytes = b"\x08\x02\x00\x00\x00") -> bytes:
    """A PNG that *declares* `width`×`height` (RGB, 8-bit) with a tiny IDAT: what a
    decompression bomb looks like to a parser before it inflates anything."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">II", width, height) + mode_bytes
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def rgb_profile(description: str, primaries: Sequence[Sequence[float]]) -> bytes:
    """A minimal ICC v2 matrix/TRC RGB display profile (gamma 2.2) with the given D50
    primaries (rXYZ, gXYZ, bXYZ): enough for LittleCMS to build a transform from."""

    def xyz(values: Sequence[float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(_s15f16(v) for v in values)

    text = description.encode("ascii") + b"\x00"
    desc = (b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text
            + b"\x00" * 8 + b"\x00\x00\x00" + b"\x00" * 67)
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">I", 1) + struct.pack(">H", 0x0233) + b"\x00\x00"
    tags = [
        (b"desc", desc), (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(primaries[0])), (b"gXYZ", xyz(primaries[1])), (b"bXYZ", xyz(primaries[2])),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\x00" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\x00" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\x00" * 12 + b"acsp" + b"\x00" * 24 + struct.pack(">I", 0)
              + _s15f16(0.9642) + _s15f16(1.0) + _s15f16(0.8249) + b"\x00" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


class FakeResolver:
    """What each name resolves to; a name not listed fails the test (no real DNS, ever)."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise AssertionError(f"unexpected DNS lookup of {host}")
        return self.table[host]


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({"cdn.example.com": [PUBLIC_IP]})


@pytest.fixture
def small_png() -> bytes:
    return encode(Image.new("RGB", (64, 48), (200, 30, 30)), "PNG")


ImageFactory = Callable[..., bytes]
