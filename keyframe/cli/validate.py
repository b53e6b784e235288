"""``keyframe validate``: check a plate, its mask and a clip without running any stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import ConfigOption, JsonOption, app, config_from, info, print_json
from keyframe.io import ClipStream, read_mask, read_plate


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
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side)
    found: dict = {"plate": {"path": str(plate), "width": pixels.shape[1], "height": pixels.shape[0],
                             "bit_depth": 16 if pixels.dtype.itemsize == 2 else 8}}
    if mask is not None:
        edit = read_mask(mask, pixels.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels)
        found["mask"] = {"path": str(mask), "coverage": round(float(edit.mean()), 6)}
    if clip is not None:
        stream = ClipStream(clip, max_frames=cfg.io.max_clip_frames, max_pixels=cfg.io.max_pixels)
        count = sum(1 for _ in stream)  # every frame decoded (so a damaged one is caught), none kept
        width, height = stream.size
        found["clip"] = {"path": str(clip), "frames": count, "fps": stream.fps, "width": width, "height": height}
    if as_json:
        print_json(found)
    else:
        for role, facts in found.items():
            info(f"{role}: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    return 0
