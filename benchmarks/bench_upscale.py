"""Upscale benchmark: a 4096x4096 plate x2 with a tiny Real-ESRGAN Compact model, tiled; peak memory and time.

    .venv/bin/python benchmarks/bench_upscale.py [--size 4096] [--tiles 512] [--untiled-size 2048]

Each case runs in a fresh Python process so its peak resident memory (``ru_maxrss``) is its own:

- ``baseline``: read nothing, build the plate, and one bare ``cv2.resize`` Lanczos x2 of it (the
  least any x2 upscale of this plate must hold: the plate and its output);
- ``lanczos``: keyframe's default backend (detail restoration + back-projection), tiled (the
  default 512) and untiled;
- ``spandrel tile N``: the tiny Compact model (random weights, ``tests/tiny_upscale.py``: what
  tiling costs, not what a real model's convolutions cost) through :func:`keyframe.upscale.upscale`;
- ``spandrel untiled`` on a smaller plate (``--untiled-size``), to show what tiling saves.

"Memory added" is the peak resident memory during the upscale minus the peak before it (after
the imports and the plate were in memory; the tiny model adds a few kB); it and the time are printed as figures
and as ratios to the baseline of the same run, as a Markdown table for benchmarks/RESULTS.md. The plate is the coffee fixture resized (cubic) to size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path[:0] = [{root!r}, {tests!r}]
import cv2, torch
from keyframe.io import read_plate
from keyframe.config import UpscaleConfig
from keyframe.upscale import load_model, upscale
plate = cv2.resize(read_plate({plate!r}), ({size}, {size}), interpolation=cv2.INTER_CUBIC)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if {case!r} == "baseline":
    out = cv2.resize(plate, None, fx=2, fy=2, interpolation=cv2.INTER_LANCZOS4)
else:
    cfg = UpscaleConfig(**{cfg!r})
    model = load_model(cfg)
    start = time.perf_counter()
    out = upscale(plate, cfg, model=model).image
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "added_mib": (peak - before) / 1024, "peak_mib": peak / 1024, "shape": list(out.shape)}}))
"""


def run_case(case: str, size: int, cfg: dict, model: Path) -> dict:
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), plate=str(ROOT / "fixtures" / "plates" / "coffee.png"),
                        size=size, case=case, cfg={**cfg, "model": str(model)} if cfg.get("backend") == "spandrel" else cfg)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tiles", default="512")
    parser.add_argument("--untiled-size", type=int, default=2048, help="plate side for the untiled run (0: skip)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_upscale import save_tiny_compact

    with tempfile.TemporaryDirectory() as folder:
        model = save_tiny_compact(Path(folder) / "compact_x2.safetensors")
        cases = [("baseline", args.size, {}), ("lanczos tile 512", args.size, {"scale": 2}),
                 ("lanczos untiled", args.size, {"scale": 2, "tile": 0})]
        cases += [(f"spandrel tile {t}", args.size, {"backend": "spandrel", "tile": int(t)}) for t in args.tiles.split(",")]
        if args.untiled_size:
            cases.append(("spandrel untiled", args.untiled_size, {"backend": "spandrel", "tile": 0}))
        rows = [(name, size, run_case(name.split()[0], size, cfg, model)) for name, size, cfg in cases]
    base = rows[0][2]
    load = os.getloadavg()[0]
    print(f"`.venv/bin/python benchmarks/bench_upscale.py --size {args.size} --tiles {args.tiles} --untiled-size "
          f"{args.untiled_size}`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()} "
          f"({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}), load average {load:.1f}\n")
    print("| case | plate | seconds | x baseline | memory added (MiB) | x baseline | peak RSS (MiB) | output |")
    print("|---|---|---|---|---|---|---|---|")
    for name, size, r in rows:
        print(f"| {name} | {size}x{size} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.1f} | {r['added_mib']:.0f} | "
              f"{r['added_mib'] / base['added_mib']:.2f} | {r['peak_mib']:.0f} | {r['shape'][1]}x{r['shape'][0]} |")


if __name__ == "__main__":
    main()
