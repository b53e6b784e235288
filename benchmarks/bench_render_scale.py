"""Whole-process peak memory and time of ``keyframe render`` (camera) and ``keyframe compare``
against a bare decode + encode of the same clip, in the same run.

For each clip size the plate is a real ``skimage.data`` photo at that size (``scale_clips.py``,
cached in ``--work``). Each command runs as a separate process, in its build's folder; its peak
memory is measured three ways: the command's own process (Python, polled every 20 ms from
``/proc``), ``/usr/bin/time -v``'s maximum resident set (the largest single process of the tree:
Python or an ffmpeg child; x264 alone takes ~0.5 GiB at 1080p) and the peak of the whole tree's
summed RSS (Python plus its ffmpeg and Prefect server children at the same moment). ``--before DIR`` also runs the commands with
another checkout's ``keyframe`` (e.g. ``git archive main | tar -x -C DIR``) for a before/after.

    .venv/bin/python benchmarks/bench_render_scale.py --clips 1920x1080x121,1920x1080x241,3840x2160x121 \\
        --compare 1920x1080x121 --before /tmp/keyframe-main
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_clips import make  # noqa: E402


def _rss(pid: int) -> tuple[int, list[int]]:
    """RSS (bytes) of ``pid`` and its children's ids, from ``/proc`` (0 and none once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
        return (int(found.group(1)) * 1024 if found else 0), children
    except (OSError, ValueError):
        return 0, []


def _tree(pid: int) -> tuple[int, int]:
    """``(RSS of the command's own process, summed RSS of it and all its descendants)``; ``pid`` is ``time``'s."""
    own, total, stack = 0, 0, _rss(pid)[1]
    for depth, root in enumerate(list(stack)):
        own = max(own, _rss(root)[0]) if depth == 0 else own
    while stack:
        rss, children = _rss(stack.pop())
        total += rss
        stack += children
    return own, total


def measure(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Run ``command`` in ``cwd`` under ``/usr/bin/time -v``: wall s, the command's own peak RSS, the largest
    process's (``time``'s figure) and the whole tree's (GiB), and the exit code."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(["/usr/bin/time", "-v", "-o", f"/proc/self/fd/{log.fileno()}", *command], env=env,
                                   cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(log.fileno(),),
                                   text=True)
        own, tree, start = 0, 0, time.perf_counter()

        def poll() -> None:
            nonlocal own, tree
            while process.poll() is None:
                now_own, now_tree = _tree(process.pid)
                own, tree = max(own, now_own), max(tree, now_tree)
                time.sleep(0.02)

        watcher = threading.Thread(target=poll)
        watcher.start()
        stderr = process.communicate()[1]
        watcher.join()
        wall = time.perf_counter() - start
        log.seek(0)
        report = log.read()
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if process.returncode not in (0, 1):
        print(f"failed ({process.returncode}): {' '.join(command)}\n{stderr[-2000:]}", file=sys.stderr)
    return {"wall": wall, "own": own / 2**30, "rss": int(found.group(1)) / 2**20 if found else float("nan"),
            "tree": tree / 2**30, "rc": process.returncode}


def revision_b(folder: Path) -> Path:
    """Revision B of the compare: the plate with its masked region blurred (a soft fill)."""
    plate = cv2.imread(str(folder / "plate.png"))
    mask = cv2.imread(str(folder / "mask.png"), cv2.IMREAD_GRAYSCALE) > 0
    soft = cv2.GaussianBlur(plate, (0, 0), 6)
    plate[mask] = soft[mask]
    path = folder / "plate_b.png"
    cv2.imwrite(str(path), plate)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="1920x1080x121", help="comma-separated WIDTHxHEIGHTxFRAMES for render")
    parser.add_argument("--compare", default="", help="comma-separated WIDTHxHEIGHTxFRAMES for compare (rendered here)")
    parser.add_argument("--before", type=Path, help="another checkout to run the same commands with")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "keyframe-bench-scale")
    args = parser.parse_args()
    builds = {"after": ROOT, **({"before": args.before} if args.before else {})}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| command | clip | build | wall (s) | peak RSS, Python (GiB) | peak RSS, largest process (GiB) "
          "| peak RSS, process tree (GiB) | tree / bare |")
    print("|---|---|---|---|---|---|---|---|")
    jobs = [("render", spec) for spec in args.clips.split(",") if spec] + \
           [("compare", spec) for spec in args.compare.split(",") if spec]
    for kind, spec in jobs:
        width, height, frames = (int(v) for v in spec.split("x"))
        folder = args.work / spec
        if not (folder / "clip.mp4").is_file():
            make(folder, width, height, frames)
        out = folder / "bench"
        out.mkdir(exist_ok=True)
        (out / "render.yaml").write_text(f"render:\n  frames: {frames}\n")
        bare = measure([sys.executable, str(ROOT / "benchmarks" / "bare_codec.py"), str(folder / "clip.mp4"),
                        str(out / "bare.mp4")], dict(os.environ), ROOT)
        print(f"| bare decode + encode | {spec} | - | {bare['wall']:.1f} | {bare['own']:.3f} | {bare['rss']:.3f} "
              f"| {bare['tree']:.3f} | 1.00 |", flush=True)
        for build, path in builds.items():
            env = {**os.environ, "PYTHONPATH": str(path), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                   "PREFECT_HOME": tempfile.mkdtemp()}
            if kind == "render":
                command = [sys.executable, "-m", "keyframe", "render", str(folder / "plate.png"), "-o",
                           str(out / f"{build}.mp4"), "--config", str(out / "render.yaml")]
            else:
                command = [sys.executable, "-m", "keyframe", "compare", str(folder / "plate.png"), str(revision_b(folder)),
                           "-m", str(folder / "mask.png"), "-o", str(out / f"compare_{build}"), "--config",
                           str(out / "render.yaml")]
            run = measure(command, env, path)  # in its folder: ``python -m`` imports the current folder's package first
            print(f"| {kind} | {spec} | {build} | {run['wall']:.1f} | {run['own']:.3f} | {run['rss']:.3f} "
                  f"| {run['tree']:.3f} | {run['tree'] / bare['tree']:.2f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end; one run each")


if __name__ == "__main__":
    main()
