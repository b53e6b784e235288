"""The floor the check is compared with, as a whole process: decode a clip, DIS flow + SSIM of each pair.

Full frames, OpenCV DIS with the check's preset (``fine``), scikit-image SSIM on grey float32,
frames decoded one at a time through imageio-ffmpeg (so its memory is the floor too).

    .venv/bin/python benchmarks/bare_loop.py CLIP [--preset fine]
"""

from __future__ import annotations

import argparse
import time

import cv2
import imageio_ffmpeg
import numpy as np
from skimage.metrics import structural_similarity

# keyframe's DIS presets (keyframe/track/flow.py): "fine" (the check's default) is FAST refined to
# full resolution (finest scale 0), "balanced" to half resolution (finest scale 1)
PRESETS = {"fine": (cv2.DISOPTICAL_FLOW_PRESET_FAST, 0), "balanced": (cv2.DISOPTICAL_FLOW_PRESET_FAST, 1), "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
           "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--preset", default="fine", choices=sorted(PRESETS))
    args = parser.parse_args()
    start = time.perf_counter()
    code, finest = PRESETS[args.preset]
    dis = cv2.DISOpticalFlow.create(code)
    if finest is not None:
        dis.setFinestScale(finest)
    reader = imageio_ffmpeg.read_frames(args.clip, pix_fmt="rgb24")
    width, height = next(reader)["size"]
    previous, pairs = None, 0
    for raw in reader:
        grey = cv2.cvtColor(np.frombuffer(raw, np.uint8).reshape(height, width, 3), cv2.COLOR_RGB2GRAY)
        if previous is not None:
            dis.calc(previous, grey, None)
            structural_similarity(previous.astype(np.float32) / 255, grey.astype(np.float32) / 255, data_range=1.0)
            pairs += 1
        previous = grey
    print(f"bare loop: {pairs} pairs of {width}x{height} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
