"""Benchmark of the consistency check: a 25-frame 1024x576 real-photo clip with known camera motion.

Prints the check's wall time (median of ``--repeat`` whole runs, LPIPS off, frames already decoded) and,
measured in the same run, a bare loop of OpenCV DIS flow + scikit-image SSIM over the same frames
(full frames, grey float32 for SSIM, DIS with the same preset), and their ratio. The check's
process CPU time is printed too: on a shared machine it varies far less than wall time.

    .venv/bin/python benchmarks/bench_check.py [--repeat 5] [--preset medium] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from clips import centroid, iou, known_clip  # noqa: E402

from keyframe.config import CheckConfig  # noqa: E402
from keyframe.io import read_mask, read_plate  # noqa: E402
from keyframe.track import check_clip  # noqa: E402
from keyframe.track.flow import DIS_PRESETS, DISFlow  # noqa: E402


def make_clip(name: str, frames: int):
    """The fixture plate upscaled to 1024x576 (mask too) and its known-motion clip."""
    plate = read_plate(ROOT / "fixtures" / "plates" / f"{name}.png")
    mask = read_mask(ROOT / "fixtures" / "masks" / f"{name}.png", plate.shape[:2])
    plate = cv2.resize(plate, (1024, 576), interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(mask.astype(np.uint8), (1024, 576), interpolation=cv2.INTER_NEAREST).astype(bool)
    return known_clip(plate, mask, n=frames, pan=(3.2, -1.4)), plate, mask


def bare_loop(frames: np.ndarray, preset: str) -> float:
    """DIS flow between consecutive full frames + SSIM of each pair (grey float32): the floor to compare with."""
    dis = DISFlow(preset)  # cv2.DISOpticalFlow with the check's preset; calling it is dis.calc(a, b)
    start = time.perf_counter()
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    for a, b in zip(greys, greys[1:]):
        dis(a, b)
        structural_similarity(a.astype(np.float32) / 255, b.astype(np.float32) / 255, data_range=1.0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--plate", default="astronaut")
    parser.add_argument("--preset", default=CheckConfig().dis_preset, choices=sorted(DIS_PRESETS))
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's own)")
    parser.add_argument("--search", type=int, default=CheckConfig().search_px, help="check.search_px")
    args = parser.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    clip, plate, mask = make_clip(args.plate, args.frames)
    frames, h0 = clip.frames, clip.transforms[0]
    cfg = CheckConfig(lpips="off", dis_preset=args.preset, search_px=args.search)
    check_clip(frames[:3], plate, mask, cfg, fps=7.0, plate_to_frame0=h0)  # warm-up (imports, first calls)
    checks, cpus, bares, verdicts = [], [], [], set()
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = check_clip(frames, plate, mask, cfg, fps=7.0, plate_to_frame0=h0)
        checks.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        bares.append(bare_loop(frames, args.preset))
        verdicts.add(result.verdict)
    check_s, bare_s = statistics.median(checks), statistics.median(bares)
    print(f"machine: {platform.processor() or platform.machine()}, {cv2.getNumberOfCPUs()} cores, "
          f"cv2 threads {cv2.getNumThreads()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"clip: {args.plate} {frames.shape[0]}x{frames.shape[2]}x{frames.shape[1]}, DIS preset {args.preset}, "
          f"verdict {sorted(verdicts)}")
    print(f"check (no LPIPS): median {check_s:.3f} s, best {min(checks):.3f} s  (runs: {', '.join(f'{c:.3f}' for c in checks)})")
    print(f"check CPU time (all threads, a load-independent figure): median {statistics.median(cpus):.3f} s")
    print(f"bare DIS+SSIM loop: median {bare_s:.3f} s, best {min(bares):.3f} s  (runs: {', '.join(f'{b:.3f}' for b in bares)})")
    errors = [np.linalg.norm(centroid(a) - centroid(b)) for a, b in zip(result.tracked_masks, clip.true_masks)]
    print(f"tracking: last-frame IoU {iou(result.tracked_masks[-1], clip.true_masks[-1]):.3f}, "
          f"median centroid error {np.median(errors):.2f} px")
    print(f"ratio check / bare: {check_s / bare_s:.2f}x")


if __name__ == "__main__":
    main()
