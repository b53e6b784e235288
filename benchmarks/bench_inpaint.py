"""Time the inpaint stage per backend on a 1024x576 plate with a 200x200 and a 400x300 mask.

Run: ``.venv/bin/python benchmarks/bench_inpaint.py [--repeat N] [--backends telea,ns,biharmonic,diffusers]
[--textures synthesize,none] [--model DIR] [--steps N] [--resolution PX]``.

The plate is the coffee fixture scaled to 1024x576; each mask is a box of that size on the saucer
and table. Every timing is a whole ``keyframe.inpaint.inpaint`` call with the default config
(grow 6, feather 4, crop padding 32, seam match color+grain, alpha blend), once per ``inpaint.texture``
setting: crop, fill, seam matching, texture synthesis and paste-back. The last column is the wall
time over the same backend and mask with ``texture: none`` (the bare fill) in the same run. Prints the wall-clock median and spread and the median CPU time of this
process (all threads), plus the load average: on a shared machine the wall clock includes waiting
for a core, the CPU time does not.

``diffusers`` uses ``--model`` when given; without it, the tiny random-initialised pipeline from
``tests/tiny_sd.py`` (saved to a temp folder and loaded through the real loader), which times the
plumbing (crop, resize, VAE and UNet calls of a toy network), not a real model.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from keyframe.config import InpaintConfig  # noqa: E402
from keyframe.inpaint import inpaint, load_pipeline  # noqa: E402
from keyframe.io import read_plate  # noqa: E402

SIZE = (1024, 576)
MASKS = {"200x200": (300, 300, 200, 200), "400x300": (150, 250, 400, 300)}  # x, y, w, h


def plate_and_masks() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    plate = cv2.resize(read_plate(ROOT / "fixtures" / "plates" / "coffee.png"), SIZE, interpolation=cv2.INTER_CUBIC)
    masks = {}
    for name, (x, y, w, h) in MASKS.items():
        mask = np.zeros(SIZE[::-1], bool)
        mask[y : y + h, x : x + w] = True
        masks[name] = mask
    return plate, masks


def timed(fn, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this process, all threads) seconds of each of ``repeat`` calls, after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="telea,ns,biharmonic,diffusers")
    parser.add_argument("--textures", default="none,synthesize", help="inpaint.texture settings to time")
    parser.add_argument("--model", help="diffusers model folder (default: the tiny random test pipeline)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=512)
    args = parser.parse_args()

    plate, masks = plate_and_masks()
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| backend | texture | mask | wall median (s) | wall min-max (s) | CPU median (s) | vs texture none |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            model, repeat = None, args.repeat
            settings: dict = {}
            if backend == "diffusers":
                if args.model:
                    model = load_pipeline(args.model)
                else:
                    from tiny_sd import save_tiny_sd_inpaint

                    model = load_pipeline(save_tiny_sd_inpaint(Path(tmp) / "tiny-sd-inpaint"))
                settings = {"steps": args.steps, "resolution": args.resolution}
                repeat = max(1, min(repeat, 3))
            for name, mask in masks.items():
                bare = None
                for texture in args.textures.split(","):
                    cfg = InpaintConfig(backend=backend, texture=texture, **settings)
                    wall, cpu = timed(lambda: inpaint(plate, mask, cfg, seed=0, model=model), repeat)
                    median = statistics.median(wall)
                    bare = median if texture == "none" else bare
                    ratio = f"{median / bare:.2f}x" if bare else "-"
                    print(f"| {backend} | {texture} | {name} | {median:.3f} | {min(wall):.3f}-{max(wall):.3f} "
                          f"| {statistics.median(cpu):.3f} | {ratio} |", flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
