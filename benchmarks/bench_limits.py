"""Benchmark of the input limits (issue 19): peak memory and time of hostile inputs, refused.

Builds the inputs the fuzzing probe found (a ~30 KB mp4 of 400 black 1080p frames, a PNG whose
chunk declares 0x7ffffff0 bytes, JSON polygons of 30,000 and 300,000 random points, a traced
outline of 50,000 points, a random polygon at the crossing limit on a 4K plate), runs each
``keyframe`` command in a fresh process under ``/usr/bin/time -v`` and prints exit code, peak
RSS and wall time, with ``keyframe --version`` measured in the same run as the bare baseline.

    .venv/bin/python benchmarks/bench_limits.py
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PLATE = ROOT / "fixtures" / "plates" / "coffee.png"
MASK = ROOT / "fixtures" / "masks" / "coffee.png"


def build(folder: Path) -> dict[str, Path]:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    bomb = folder / "bomb.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:s=1920x1080:r=25", "-frames:v", "400",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(bomb)], check=True)
    data = PLATE.read_bytes()
    iend = data.rindex(b"IEND") - 4
    png_bomb = folder / "bomb.png"
    png_bomb.write_bytes(data[:iend] + (0x7FFFFFF0).to_bytes(4, "big") + b"zTXt" + os.urandom(256 * 1024) + data[iend:])
    rng = np.random.default_rng(19)
    files = {"bomb.mp4": bomb, "bomb.png": png_bomb}
    for count in (30_000, 300_000):
        points = rng.uniform(0, [512, 288], size=(count, 2)).round(2)
        files[f"random{count}.json"] = folder / f"random{count}.json"
        files[f"random{count}.json"].write_text(json.dumps({"shapes": [{"type": "polygon", "points": points.tolist()}]}))
    angle = np.linspace(0, 2 * np.pi, 50_000, endpoint=False)
    outline = np.stack([256 + 120 * np.cos(angle) * (1 + 0.1 * np.sin(40 * angle)), 144 + 90 * np.sin(angle)], axis=1)
    files["outline50000.json"] = folder / "outline50000.json"
    files["outline50000.json"].write_text(json.dumps({"shapes": [{"type": "polygon", "points": outline.round(2).tolist()}]}))
    # the worst polygon accepted on a 4K plate: random points crossing each row ~1,000 times
    big = folder / "plate4k.png"
    import cv2

    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(PLATE)), (3840, 2160)))
    points = rng.uniform(0, [3840, 2160], size=(1_900, 2)).round(2)
    files["plate4k.png"] = big
    files["limit4k.json"] = folder / "limit4k.json"
    files["limit4k.json"].write_text(json.dumps({"shapes": [{"type": "polygon", "points": points.tolist()}]}))
    return files


def measure(args: list[str]) -> tuple[int, float, float, str]:
    """Exit code, peak RSS (MiB), wall seconds and the last stderr line of ``keyframe ARGS``."""
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "keyframe", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    said = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "mask:", "clip:"))]
    return proc.returncode, rss, seconds, (said[-1] if said else "")[:110]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        f = build(Path(tmp))
        runs = {
            "baseline: keyframe --version": ["--version"],
            "validate --clip bomb.mp4 (400 x 1080p, 30 KB)": ["validate", str(PLATE), "--clip", str(f["bomb.mp4"])],
            "check bomb.mp4": ["check", str(f["bomb.mp4"]), "--plate", str(PLATE), "--mask", str(MASK)],
            "validate bomb.png (chunk of 0x7ffffff0)": ["validate", str(f["bomb.png"])],
            "validate --mask random30000.json": ["validate", str(PLATE), "--mask", str(f["random30000.json"])],
            "validate --mask random300000.json": ["validate", str(PLATE), "--mask", str(f["random300000.json"])],
            "validate --mask outline50000.json (filled)": ["validate", str(PLATE), "--mask", str(f["outline50000.json"])],
            "validate 4K --mask limit4k.json (filled)": ["validate", str(f["plate4k.png"]), "--mask", str(f["limit4k.json"])],
        }
        print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}")
        print("| run | exit | peak RSS (MiB) | wall (s) | says |\n|---|---|---|---|---|")
        for name, args in runs.items():
            code, rss, wall, said = measure(args)
            print(f"| {name} | {code} | {rss:.0f} | {wall:.2f} | {said} |")


if __name__ == "__main__":
    main()
