"""``keyframe check``: track the edited region through a clip and flag it if it floats, flickers or drifts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_FLAGGED, EXIT_OK, AttachOption, ConfigOption, JsonOption, app, config_from, info, print_json, progress_bar
from keyframe.io import (ClipStream, FrameRange, check_output_dir, clip_source, read_mask, read_plate, read_plate_to_frame0,
                         read_sidecar_matrix)
from keyframe.report import build_report, write_check_outputs
from keyframe.track import check_clip


@app.command()
def check(
    clip: Annotated[Path, typer.Argument(help="Clip: video file, frame folder or printf pattern (f/%04d.png).")],
    plate: Annotated[Path, typer.Option("--plate", "-p", help="The plate the clip was made from.")],
    mask: Annotated[Path, typer.Option("--mask", "-m", help="Edit mask of the plate (PNG or JSON shapes).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for report.json, frames.csv, "
                                                "overlay.mp4, drift.png (created if its parent exists).")] = None,
    frames: Annotated[Optional[str], typer.Option("--frames", help="Only frames START:STOP of the clip "
                                                  "(STOP excluded; e.g. 0:240), for very long clips.")] = None,
    stride: Annotated[int, typer.Option("--stride", min=1, help="Check every N-th frame (2 halves the work; "
                                        "motion per checked frame doubles).")] = 1,
    overlay: Annotated[bool, typer.Option("--overlay/--no-overlay", help="Write overlay.mp4 (the clip with the "
                                          "tracked region outlined) with the other files in --out.")] = True,
    last: Annotated[Optional[Path], typer.Option(help="End plate of a keyframe pair: the last frame is measured against it.")] = None,
    attach: AttachOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> int:
    """Check that the edited region stays glued to what it belongs to; exit 0 pass, 1 flagged, 2 input error.

    If CLIP.json (the render sidecar, e.g. clip.mp4.json) lies beside the clip, its plate_to_frame0 (and last_to_frame) transforms are used; otherwise the plate is aligned to frame 0 by feature matching. The clip is decoded as a stream, so memory does not grow with its length. The whole clip is also checked: frame 0 against the plate (the last frame against --last), global colour drift, frozen and black frames, sharpness decay.
    """
    cfg = config_from(config, {"check": {"attach": attach}})
    if out is not None:
        check_output_dir(out, create=False)
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    edit = read_mask(mask, pixels.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels,
                     max_points=cfg.io.max_mask_points, max_crossings=cfg.io.max_polygon_crossings)
    end = None if last is None else read_plate(last, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side,
                                               max_aspect=cfg.io.max_aspect)
    select = FrameRange.parse(frames, stride)
    sidecar, plate_to_frame0 = read_plate_to_frame0(clip, select.start)
    _, last_to_frame = read_sidecar_matrix(clip, "last_to_frame")
    video = ClipStream(clip, max_frames=cfg.io.max_clip_frames, max_pixels=cfg.io.max_pixels, select=select,
                       keep_bytes=cfg.io.keep_clip_mb * 2**20 if out is not None and overlay else 0)
    with progress_bar("checking") as progress:
        result = check_clip(video, pixels, edit, cfg.check, fps=video.fps, plate_to_frame0=plate_to_frame0,
                            select=select, end_plate=end, end_to_last=last_to_frame, progress=progress)
    report = build_report(check=result, inputs={"clip": clip_source(clip), "plate": plate, "mask": mask, "sidecar": sidecar,
                                                **({"last": last} if last is not None else {})},
                          params={"check": cfg.check.model_dump(), "io": cfg.io.model_dump(),
                                  "frames": select.as_dict()})
    if out is not None:
        written = write_check_outputs(out, report, result, video if overlay else None, video.fps,
                                      quality=cfg.report.overlay_quality, preset=cfg.report.overlay_preset)
        info(f"wrote {', '.join(str(p) for p in written.values())}")
    if as_json:
        print_json(report)
    else:
        info(f"verdict: {report['verdict']} ({len(result.per_frame)} frames, alignment from {result.alignment.source}, "
             f"lpips {'on' if result.metric_status['lpips']['available'] else 'unavailable: ' + str(result.metric_status['lpips']['why'])})")
        chosen = result.attachment
        info(f"  judged against the {chosen.layer} ({'auto' if chosen.mode == 'auto' else 'forced'}): {chosen.why}")
        for reason in report["reasons"]:
            info(f"  {reason['message']}")
        for metric, state in result.metric_status.items():
            if not state["available"] and metric != "lpips":
                info(f"  {metric}: unavailable ({state['why']})")
    return EXIT_OK if report["verdict"] == "pass" else EXIT_FLAGGED
