"""Real-photo clips of any size and length for the scale benchmarks, written frame by frame.

A ``skimage.data`` photo (astronaut by default) is scaled to the clip size and moved along a
known camera path: for up to 30 frames the pan + zoom + roll of ``tests/clips.py`` (3.2, -1.4
px/frame at 1024 wide), for longer clips a camera that sways back and forth (pan up to ~6
px/frame at 1080p, zoom and roll, period 120 frames) so the region stays in view; each frame is warped and
sent straight to the H.264 writer, so making a 4K clip never holds the clip in memory. Beside the
clip: ``plate.png``, ``mask.png`` (an ellipse on the subject) and the render sidecar
``clip.mp4.json`` with the exact ``plate_to_frame0``.

    .venv/bin/python benchmarks/scale_clips.py OUT_DIR --size 1920x1080 --frames 121
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from clips import camera_path, subject_ellipse, sway  # noqa: E402


def make(out: Path, width: int, height: int, frames: int, photo: str = "astronaut") -> Path:
    """Write ``clip.mp4``, ``clip.mp4.json``, ``plate.png`` and ``mask.png`` into ``out``; return the clip."""
    out.mkdir(parents=True, exist_ok=True)
    image = getattr(data, photo)()
    plate = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    mask = subject_ellipse((height, width))
    cv2.imwrite(str(out / "plate.png"), cv2.cvtColor(plate, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(out / "mask.png"), mask)
    scale = width / 1024  # the calibration path's speed in px/frame at 1024 wide, scaled to this size
    path = camera_path((height, width), frames, pan=(3.2 * scale, -1.4 * scale)) if frames <= 30 else \
        sway((height, width), frames)
    clip = out / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(clip), (width, height), fps=25.0, codec="libx264",
                                         pix_fmt_out="yuv420p", quality=8, macro_block_size=1,
                                         ffmpeg_log_level="error", output_params=["-preset", "veryfast"])
    writer.send(None)
    for h in path:
        frame = cv2.warpPerspective(plate, h, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    (out / "clip.mp4.json").write_text(json.dumps({"plate_to_frame0": path[0].tolist()}))
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1024x576")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--photo", default="astronaut")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(make(args.out, width, height, args.frames, args.photo))


if __name__ == "__main__":
    main()
