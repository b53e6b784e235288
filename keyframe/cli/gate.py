"""``keyframe gate``: is this plate ready for the video model?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_FLAGGED, EXIT_OK, ConfigOption, JsonOption, app, config_from, info, print_json
from keyframe.gate import run_gate, write_heatmaps
from keyframe.io import check_output_dir, output_group, read_mask, read_plate, write_json_atomic


@app.command()
def gate(
    plate: Annotated[Path, typer.Argument(help="Edited plate (PNG, JPEG, TIFF, WebP).")],
    mask: Annotated[Optional[Path], typer.Option("--mask", "-m", help="Edit mask; without it the seam and texture are not checked.")] = None,
    as_json: JsonOption = False,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Folder for heatmap PNGs and gate.json (with every sub-check).")
    ] = None,
    config: ConfigOption = None,
) -> int:
    """Score edge, seam, texture and anatomy; exit 0 if the plate passes, 1 if it fails."""
    cfg = config_from(config)
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    edit = None
    if mask is not None:
        edit = read_mask(mask, pixels.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels,
                     max_points=cfg.io.max_mask_points, max_crossings=cfg.io.max_polygon_crossings)
    if out_dir is not None:
        check_output_dir(out_dir, create=False)
    result = run_gate(pixels, edit, cfg.gate)
    paths = {}
    if out_dir is not None:
        with output_group():
            paths = {name: str(path) for name, path in write_heatmaps(result, out_dir).items()}
            write_json_atomic(Path(out_dir) / "gate.json", {"gate": result.to_dict(paths)})
    if as_json:
        print_json({"gate": result.to_dict(paths, details=False)})
    else:
        for name, criterion in result.criteria.items():
            if criterion.passed is None:  # its reason already says "not checked: why"
                info(f"{name}: {criterion.reason}")
            else:
                info(f"{name}: {'pass' if criterion.passed else 'FAIL'} - {criterion.reason}")
        info(f"gate: {'pass' if result.passed else 'FAIL'}")
    return EXIT_OK if result.passed else EXIT_FLAGGED
