"""The floor ``keyframe render`` and ``keyframe compare`` are compared with, as a whole process:
decode a clip and encode it again, a frame at a time, through imageio-ffmpeg alone.

Same encoder settings as keyframe's clips (libx264, ``medium``, quality 8, yuv420p), frames never
held (so its memory is the streaming floor: Python, numpy, one frame and the two ffmpeg processes).

    .venv/bin/python benchmarks/bare_codec.py CLIP OUT.mp4
"""

from __future__ import annotations

import argparse

import imageio_ffmpeg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("out")
    args = parser.parse_args()
    reader = imageio_ffmpeg.read_frames(args.clip, pix_fmt="rgb24")
    meta = next(reader)
    writer = imageio_ffmpeg.write_frames(args.out, meta["size"], fps=meta["fps"], codec="libx264", pix_fmt_out="yuv420p",
                                         quality=8, macro_block_size=1, ffmpeg_log_level="error",
                                         output_params=["-preset", "medium"])
    writer.send(None)
    for raw in reader:
        writer.send(raw)
    writer.close()


if __name__ == "__main__":
    main()
