"""Time the whole gate (edge + seam + texture + anatomy) on a 1024x576 plate; the budget is 150 ms.

Run: ``.venv/bin/python benchmarks/bench_gate.py [--repeat N]``. The plate is the astronaut photo
(which has a face) scaled to 1024x576 with an elliptical mask beside the face, so the anatomy
check runs its detector on a region that holds a face. Prints, per case, the wall-clock median
and spread and the median CPU time of this process (all threads), plus the load average: on a
shared machine the wall clock includes waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np
from skimage import data

from keyframe.config import GateConfig
from keyframe.gate import anatomy, edge, run_gate, seam, texture

BUDGET_MS = 150.0


def plate_and_mask() -> tuple[np.ndarray, np.ndarray]:
    plate = cv2.resize(data.astronaut()[40:328], (1024, 576), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros((576, 1024), np.uint8)
    cv2.ellipse(mask, (700, 330), (90, 70), 0, 0, 360, 1, -1)
    return plate, mask.astype(bool)


def timed(fn, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this process, all threads) milliseconds of each of ``repeat`` calls."""
    fn()  # warm-up (loads the face cascade)
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cv-threads", type=int, default=None, help="cv2.setNumThreads before timing (default: leave it)")
    args = parser.parse_args()
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    plate, mask = plate_and_mask()
    cfg = GateConfig()
    cases = {
        "gate, with mask": lambda: run_gate(plate, mask, cfg),
        "gate, no mask (whole plate)": lambda: run_gate(plate, None, cfg),
        "  edge": lambda: edge.score(plate, mask, cfg),
        "  seam": lambda: seam.score(plate, mask, cfg),
        "  texture": lambda: texture.score(plate, mask, cfg),
        "  anatomy": lambda: anatomy.score(plate, mask, cfg),
    }
    faces = anatomy.score(plate, None, cfg).details["faces_found"]
    print(f"1024x576 plate, faces found on the whole plate: {faces}; {args.repeat} runs each")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"OpenCV threads {cv2.getNumThreads()}")
    for name, fn in cases.items():
        wall, cpu = timed(fn, args.repeat)
        median = statistics.median(wall)
        flag = "" if name.startswith("  ") else ("  within budget" if median <= BUDGET_MS else "  OVER BUDGET")
        print(
            f"{name:30s} wall median {median:6.1f} ms (min {min(wall):6.1f}, max {max(wall):6.1f})  "
            f"cpu median {statistics.median(cpu):6.1f} ms{flag}"
        )

if __name__ == "__main__":
    main()
