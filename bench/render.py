"""Local renderer benchmark: a 1024×1536 portrait and try-on, encoded, against a bare encode.

    .venv/bin/python bench/render.py [--runs 9]

Issue 4 asks the `local` provider (the built-in Pillow renderer) for "a 1024×1536 output in well
under 150 ms". This prints, for the portrait (`render_portrait` + `encode`) and the try-on
(`try_on` with a flat-lay garment photo + `encode`), the median wall and CPU milliseconds of
`--runs` runs (after one warm-up run), and, measured in the same run as a baseline for this
machine's speed, what Pillow alone takes to encode a 1024×1536 image of the same kind (so a slow
or busy machine shows up as a slow baseline, not as a slow renderer).

Reported, not enforced: a timed test would fail on a slow CI machine for the wrong reason.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from shopify_app.providers.local_render import PortraitSpec, encode, render_portrait, try_on  # noqa: E402

SIZE = (1024, 1536)
TARGET_MS = 150.0


def garment_photo() -> bytes:
    """A flat-lay T-shirt on a plain studio background (what a product photo gives the renderer)."""
    image = Image.new("RGB", (1200, 1500), (248, 248, 246))
    draw = ImageDraw.Draw(image)
    draw.polygon([(375, 225), (495, 180), (600, 240), (705, 180), (825, 225), (1050, 420), (930, 540), (840, 465),
                  (840, 1250), (360, 1250), (360, 465), (270, 540), (150, 420)], fill=(30, 70, 170))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def measure(work: Callable[[int], object], runs: int) -> tuple[float, float]:
    work(0)  # warm-up: fonts, caches
    walls, cpus = [], []
    for seed in range(1, runs + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        work(seed)
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    spec = PortraitSpec("FEMALE", "average", "Black", "25-34")
    garment = garment_photo()
    reference = render_portrait(SIZE, spec, 0)  # the baseline encodes an image of the same kind

    print(f"{SIZE[0]}×{SIZE[1]} outputs, median of {args.runs} runs; load average at start "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    baseline_wall, baseline_cpu = measure(lambda seed: encode(reference.copy()), args.runs)
    print(f"  baseline (Pillow: encode only)   {baseline_wall:6.1f} ms wall  {baseline_cpu:6.1f} ms CPU")
    for name, work in (
        ("portrait (render + encode)", lambda seed: encode(render_portrait(SIZE, spec, seed))),
        ("try-on (lift, fit + encode)", lambda seed: encode(try_on(SIZE, garment, seed, figure_spec=spec))),
    ):
        wall, cpu = measure(work, args.runs)
        verdict = "met" if wall < TARGET_MS else "missed"
        print(f"  {name:<32} {wall:6.1f} ms wall  {cpu:6.1f} ms CPU   {wall / baseline_wall:4.1f}× the bare encode"
              f"   (target: well under {TARGET_MS:.0f} ms: {verdict})")


if __name__ == "__main__":
    main()
