"""Image normalisation benchmark: our pipeline against a naive Pillow one, in the same run.

    .venv/bin/python bench/images.py [--runs 7] [--workers N]

A deterministic 24 MP JPEG (6000×4000, with gradients, noise, lines and rings so the encoder and
the resampler have real detail to work on) is normalised to Shopify's limits (≤ 4472 px,
≤ 20 MP → 4472×2981) and to a 2048 px review size, as JPEG quality 90, by

* `studio`: `shopify_app.images.normalize.normalize_image` (one decode, DCT-domain draft when it
  applies, the big resize in bands on worker threads, each band started as soon as the decoder
  has produced the rows it reads, the review copy from the full image by reduce() and one short
  resize, both encodes concurrent);
* `naive`: for each output, `Image.open`, `.convert("RGB")`, `.resize(size, LANCZOS)`, save.

Each pipeline runs in its own subprocess, so peak memory is that process's high-water mark
(`VmHWM`, or `ru_maxrss` off Linux) minus its baseline after loading the input:
Pillow allocates pixels outside Python's allocator, where tracemalloc cannot see them.
Prints the median wall and CPU milliseconds of `--runs` runs, the peak memory, the ratios, the
load average when the run started (a busy machine shows up there: our pipeline uses threads,
which only pay off on idle cores, so compare CPU time then), and the quality of both pipelines'
outputs as PSNR against an unencoded LANCZOS resize of the source.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageChops, ImageDraw

SOURCE_SIZE = (6000, 4000)
SHOPIFY_SIZE = (4472, 2981)
REVIEW_SIZE = (2048, 1365)


def make_source(seed: int = 24) -> bytes:
    """A detailed 24 MP JPEG, the same bytes on every run."""
    rnd = random.Random(seed)
    w, h = SOURCE_SIZE
    # Smooth colour fields (low-resolution noise, upscaled) ...
    base = Image.frombytes("RGB", (600, 400), rnd.randbytes(600 * 400 * 3)).resize(
        (w, h), Image.Resampling.BICUBIC
    )
    draw = ImageDraw.Draw(base)
    # ... hard edges ...
    for _ in range(400):
        x, y, r = rnd.randrange(w), rnd.randrange(h), rnd.randrange(20, 300)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=rnd.randrange(1, 8))
    for _ in range(300):
        colour = tuple(rnd.randrange(256) for _ in range(3))
        draw.line((rnd.randrange(w), rnd.randrange(h), rnd.randrange(w), rnd.randrange(h)), fill=colour, width=2)
    # ... and fine grain, like sensor noise.
    grain = Image.frombytes("L", (w, h), rnd.randbytes(w * h)).point(lambda v: 128 + (v - 128) // 6)
    base = ImageChops.overlay(base, Image.merge("RGB", (grain, grain, grain)))
    buffer = io.BytesIO()
    base.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def naive(data: bytes) -> list[bytes]:
    outputs = []
    for size in (SHOPIFY_SIZE, REVIEW_SIZE):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image = image.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        outputs.append(out.getvalue())
    return outputs


def studio(data: bytes, workers: int | None) -> list[bytes]:
    from shopify_app.images.normalize import normalize_image

    result = normalize_image(data, workers=workers)
    return [result.full.data, result.review.data]


def psnr(image: Image.Image, reference: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB over the RGB channels (higher is closer; ≥ 40 dB is
    generally invisible), without numpy: a histogram of absolute differences."""
    histogram = ImageChops.difference(image.convert("RGB"), reference).histogram()
    squared = sum(count * (level % 256) ** 2 for level, count in enumerate(histogram))
    mse = squared / (reference.width * reference.height * 3)
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def _max_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the process image and
    starts afresh at exec, unlike ru_maxrss, which exec inherits from the parent that built
    the (large) source image; elsewhere fall back to ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(pipeline: str, source: Path, workers: int | None) -> None:
    """Run the pipeline once per line read from stdin ("run"), answering each with its wall and
    CPU milliseconds; on "done", save the outputs and report peak memory."""
    data = source.read_bytes()
    if pipeline == "studio":
        import shopify_app.images.normalize  # noqa: F401 - import cost is not the pipeline's
    baseline = _max_rss_mb()
    outputs: list[bytes] = []
    first_peak = 0.0
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start, start_cpu = time.perf_counter(), time.process_time()
        outputs = naive(data) if pipeline == "naive" else studio(data, workers)
        wall, cpu = (time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000
        first_peak = first_peak or _max_rss_mb() - baseline
        print(json.dumps({"wall_ms": wall, "cpu_ms": cpu}), flush=True)
    peak = _max_rss_mb() - baseline
    sizes = []
    for name, encoded in zip(("full", "review"), outputs, strict=True):
        (source.parent / f"{pipeline}-{name}.jpg").write_bytes(encoded)
        with Image.open(io.BytesIO(encoded)) as image:
            sizes.append(image.size)
    print(json.dumps({"first_peak_mb": first_peak, "peak_mb": peak, "sizes": sizes}), flush=True)


class Child:
    """One pipeline in its own process (so its peak memory is its own), driven run by run."""

    def __init__(self, pipeline: str, source: Path, workers: int | None) -> None:
        command = [sys.executable, __file__, "--child", pipeline, "--source", str(source)]
        if workers is not None:
            command += ["--workers", str(workers)]
        self.pipeline = pipeline
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def _ask(self, line: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise SystemExit(f"the {self.pipeline} child died (exit {self.process.wait()})")
        return json.loads(answer)

    def run_once(self) -> None:
        timing = self._ask("run")
        self.walls.append(timing["wall_ms"])
        self.cpus.append(timing["cpu_ms"])

    def finish(self) -> dict:
        summary = self._ask("done")
        self.process.wait()
        return {
            "pipeline": self.pipeline,
            "timings_ms": [round(t) for t in self.walls],
            "median_ms": statistics.median(self.walls),
            "best_ms": min(self.walls),
            "median_cpu_ms": statistics.median(self.cpus),
            **summary,
        }


def measure(source: Path, runs: int, workers: int | None) -> tuple[dict, dict]:
    """Alternate the two pipelines run by run, so a change in the machine's load while the
    benchmark runs hits both alike instead of whichever happened to run second."""
    naive_child, studio_child = Child("naive", source, None), Child("studio", source, workers)
    for _ in range(runs):
        naive_child.run_once()
        studio_child.run_once()
    return naive_child.finish(), studio_child.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="threads for our pipeline (default: cores, max 4)")
    parser.add_argument("--child", choices=("naive", "studio"))
    parser.add_argument("--source", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.workers)
        return

    load_at_start = os.getloadavg()
    data = make_source()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source-24mp.jpg"
        source.write_bytes(data)
        print(f"source: {SOURCE_SIZE[0]}×{SOURCE_SIZE[1]} JPEG, {len(data) / 1e6:.1f} MB; "
              f"targets {SHOPIFY_SIZE[0]}×{SHOPIFY_SIZE[1]} (Shopify) + {REVIEW_SIZE[0]}×{REVIEW_SIZE[1]} (review); "
              f"{args.runs} runs each; {os.cpu_count()} CPUs; load average at start "
              f"{', '.join(f'{x:.2f}' for x in load_at_start)}")
        naive_result, studio_result = measure(source, args.runs, args.workers)
        if naive_result["sizes"] != studio_result["sizes"]:
            raise SystemExit(f"pipelines disagree on output sizes: {naive_result['sizes']} vs {studio_result['sizes']}")
        quality = _quality(source)
    for result in (naive_result, studio_result):
        name = result["pipeline"]
        print(f"{name:>7}: median {result['median_ms']:7.1f} ms wall, {result['median_cpu_ms']:7.1f} ms CPU"
              f"   peak +{result['first_peak_mb']:5.1f} MB (first image), +{result['peak_mb']:5.1f} MB (all runs)"
              f"   PSNR full {quality[name, 'full']:.2f} dB, review {quality[name, 'review']:.2f} dB")
        print(f"{'':>9}runs (ms wall): {result['timings_ms']}")
    speedup = naive_result["median_ms"] / studio_result["median_ms"]
    best_speedup = naive_result["best_ms"] / studio_result["best_ms"]
    cpu_ratio = naive_result["median_cpu_ms"] / studio_result["median_cpu_ms"]
    memory = studio_result["first_peak_mb"] / naive_result["first_peak_mb"]
    memory_all = studio_result["peak_mb"] / naive_result["peak_mb"]
    print(f"speed-up: {speedup:.2f}× faster than naive (median wall; {best_speedup:.2f}× best run against "
          f"best run), {cpu_ratio:.2f}× less CPU   "
          f"peak memory: {memory:.2f}× of naive (first image), {memory_all:.2f}× (all runs)")
    print("The first image is what a freshly started worker sees; 'all runs' is a long-lived worker "
          "(jobs run in the worker process), the allocator's fragmentation included.")
    print("PSNR is against an unencoded LANCZOS resize of the decoded source; the naive figure is "
          "what JPEG q90 alone costs.")
    print(f"load average at start {', '.join(f'{x:.2f}' for x in load_at_start)}, at end "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} (above ~0.5 the wall times are noisy: "
          "threads only pay off on idle cores, so compare CPU time on a busy machine)")


def _quality(source: Path) -> dict[tuple[str, str], float]:
    with Image.open(source) as decoded:
        decoded.load()
        references = {
            "full": decoded.resize(SHOPIFY_SIZE, Image.Resampling.LANCZOS),
            "review": decoded.resize(REVIEW_SIZE, Image.Resampling.LANCZOS),
        }
    scores = {}
    for pipeline in ("naive", "studio"):
        for name, reference in references.items():
            with Image.open(source.parent / f"{pipeline}-{name}.jpg") as output:
                scores[pipeline, name] = psnr(output, reference)
    return scores


if __name__ == "__main__":
    main()
