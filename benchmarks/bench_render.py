"""Render benchmarks: the camera backend and the tiny SVD architecture on the CPU, every time.

    .venv/bin/python benchmarks/bench_render.py [--svd-arch tiny] [--compile] [--threads 1]

Prints a Markdown table for the "## Render" section of benchmarks/RESULTS.md and writes the raw
figures to out/bench_render/render.json (ignored by git). The full SVD-XT figures need a GPU:
``keyframe bench render --arch svd-xt --random-weights --compile`` on the GPU machine.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "out" / "bench_render"

from keyframe.config import RenderConfig  # noqa: E402
from keyframe.io import read_plate, write_clip, write_json_atomic  # noqa: E402
from keyframe.render import render  # noqa: E402
from benchmarks.render_harness import bench_options, run_bench  # noqa: E402
from keyframe.render.flops import ARCHS  # noqa: E402


def bench_camera(repeats: int = 5) -> list[dict]:
    """Median seconds to render 25 frames of a 512x288 fixture plate per move (every frame read: the
    camera renders a frame when it is read), and to encode the mp4 from an array."""
    plate = read_plate(ROOT / "fixtures" / "plates" / "coffee.png")
    rows = []
    for move in ("pan", "zoom", "rotate", "dolly"):
        cfg = RenderConfig(frames=25, camera={"move": move})
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = render(plate, cfg)
            frames = np.stack(list(result.frames))
            times.append(time.perf_counter() - start)
        rows.append({"name": f"camera {move}", "seconds": statistics.median(times)})
    out = OUT
    out.mkdir(parents=True, exist_ok=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        write_clip(out / "camera.mp4", frames, result.fps)
        times.append(time.perf_counter() - start)
    rows.append({"name": "mp4 write (25 x 512x288)", "seconds": statistics.median(times)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svd-arch", default="tiny", choices=sorted(ARCHS))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile on a CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    camera = bench_camera()
    defaults = ARCHS[args.svd_arch]["defaults"]
    width, height = (int(v) for v in defaults["size"].split("x"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    svd = run_bench(
        args.svd_arch,
        bench_options(device, compile_=args.compile, decode_chunk=defaults["decode_chunk"]),
        frames=defaults["frames"], size=(width, height), steps=defaults["steps"], repeats=args.repeats,
        compile_cache_dir=str(OUT / "inductor"), log=print,
    )
    machine = f"{platform.node()}, {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json_atomic(OUT / "render.json",
                      {"machine": machine, "created": created, "camera": camera, "svd": svd})
    print(f"\n{created}, {machine}\n")
    print("| camera backend | median s |\n|---|---|")
    for row in camera:
        print(f"| {row['name']} | {row['seconds']:.3f} |")
    print(f"\n{args.svd_arch} SVD, {svd['frames']} frames {width}x{height}, {svd['steps']} steps, {svd['device']}; "
          f"FLOPs per call {svd['flops']['total'] / 1e9:.2f} G\n")
    print("| option | first call s | median s | peak | TFLOP/s | max abs diff vs eager |\n|---|---|---|---|---|---|")
    for row in svd["rows"]:
        print(f"| {row['name']} | {row['first_s']:.2f} | {row['seconds']:.2f} | {row['peak_bytes'] / 2**30:.2f} GiB "
              f"({row['peak_kind']}) | {row['tflops']:.4f} | {row['max_abs_diff']} |")


if __name__ == "__main__":
    main()
