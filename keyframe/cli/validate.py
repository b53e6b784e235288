"""``keyframe validate``: check a plate, its mask and a clip without running any stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import ConfigOption, JsonOption, app, config_from, info, print_json
from keyframe.io import read_clip, read_mask, read_plate


@app.command()
def validate(
    plate: Annotated[Path, typer.Argument(help="Plate image (PNG, JPEG, TIFF, WebP).")],
    mask: Annotated[Optional[Path], typer.Option("--mask", "-m", help="Edit mask (PNG or JSON shapes).")] = None,
    clip: Annotated[Optional[Path], typer.Option("--clip", help="Clip: video file, frame folder or pattern.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> int:
    """Check that inputs can be read and belong together; print what they are."""
    cfg = config_from(config)
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    found: dict = {"plate": {"path": str(plate), "width": pixels.shape[1], "height": pixels.shape[0],
                             "bit_depth": 16 if pixels.dtype.itemsize == 2 else 8}}
    if mask is not None:
        edit = read_mask(mask, pixels.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels,
                     max_points=cfg.io.max_mask_points, max_crossings=cfg.io.max_polygon_crossings)
        found["mask"] = {"path": str(mask), "coverage": round(float(edit.mean()), 6)}
    if clip is not None:
        frames = read_clip(clip, max_frames=cfg.io.max_clip_frames, max_pixels=cfg.io.max_pixels,
                           max_bytes=cfg.io.max_clip_bytes)
        width, height = frames.size
        found["clip"] = {"path": str(clip), "frames": len(frames.frames), "fps": frames.fps,
                         "width": width, "height": height}
    if as_json:
        print_json(found)
    else:
        for role, facts in found.items():
            info(f"{role}: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    return 0
