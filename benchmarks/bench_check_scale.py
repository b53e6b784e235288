"""Whole-process time and peak memory of ``keyframe check`` against the bare DIS + SSIM loop, same run.

For each clip size (made with ``scale_clips.py`` from a real ``skimage.data`` photo on a known
camera path, cached in ``--work``), alternately runs ``keyframe check CLIP --out DIR`` and
``bare_loop.py CLIP`` as separate processes under ``/usr/bin/time -v`` (after one uncounted
warm-up, with bytecode caching on as in an installation) and reports the median wall time,
the median CPU time (user + system, children included: ffmpeg counts) and the peak resident
memory of each, and the check / bare ratios.

    .venv/bin/python benchmarks/bench_check_scale.py --clips 1024x576x25 --repeat 5
    .venv/bin/python benchmarks/bench_check_scale.py --clips 1920x1080x121,1920x1080x241,3840x2160x121 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_clips import make  # noqa: E402


def measure(command: list[str]) -> dict[str, float]:
    """Run ``command`` under ``/usr/bin/time -v``: wall s, CPU s (user + sys), peak RSS GiB, exit code."""
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    report = done.stderr

    def field(name: str) -> str:
        return re.search(rf"{re.escape(name)}: (.+)", report).group(1).strip()

    parts = [float(p) for p in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    return {"wall": wall, "cpu": float(field("User time (seconds)")) + float(field("System time (seconds)")),
            "rss": int(field("Maximum resident set size (kbytes)")) / 2**20, "rc": done.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="1024x576x25", help="comma-separated WIDTHxHEIGHTxFRAMES")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "keyframe-bench-scale")
    parser.add_argument("--no-bare", action="store_true", help="time the check only")
    parser.add_argument("--check-args", default="", help="extra arguments for keyframe check")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached, not recompiled each run
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| clip | check wall (s) | bare wall (s) | wall ratio | check CPU (s) | bare CPU (s) | CPU ratio "
          "| check peak RSS (GiB) | bare peak RSS (GiB) | verdict (clean clip: pass) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.clips.split(","):
        width, height, frames = (int(v) for v in spec.split("x"))
        folder = args.work / spec
        clip = folder / "clip.mp4"
        if not clip.is_file():
            make(folder, width, height, frames)
        check = [sys.executable, "-m", "keyframe", "check", str(clip), "-p", str(folder / "plate.png"),
                 "-m", str(folder / "mask.png"), "-o", str(folder / "out"), *args.check_args.split()]
        bare = [sys.executable, str(ROOT / "benchmarks" / "bare_loop.py"), str(clip)]
        (folder / "out").mkdir(exist_ok=True)
        runs: dict[str, list[dict[str, float]]] = {"check": [], "bare": []}
        measure(check)  # warm-up, not counted: file cache, bytecode
        for _ in range(args.repeat):
            runs["check"].append(measure(check))
            if not args.no_bare:
                runs["bare"].append(measure(bare))
        if any(r["rc"] not in (0, 1) for r in runs["check"]):
            raise SystemExit(f"keyframe check failed on {spec}")
        report = json.loads((folder / "out" / "report.json").read_text())
        verdict = report["verdict"] + "".join(f" {r['code']}" for r in report["reasons"])

        def med(kind: str, key: str) -> float | None:
            return statistics.median(r[key] for r in runs[kind]) if runs[kind] else None

        def fmt(value: float | None, digits: int = 2) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        ratio = {k: (med("check", k) / med("bare", k)) if runs["bare"] else None for k in ("wall", "cpu")}
        print(f"| {spec} | {fmt(med('check', 'wall'))} | {fmt(med('bare', 'wall'))} | {fmt(ratio['wall'])} "
              f"| {fmt(med('check', 'cpu'))} | {fmt(med('bare', 'cpu'))} | {fmt(ratio['cpu'])} "
              f"| {fmt(med('check', 'rss'), 3)} | {fmt(med('bare', 'rss'), 3)} | {verdict} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end; medians of {args.repeat} alternating runs")


if __name__ == "__main__":
    main()
