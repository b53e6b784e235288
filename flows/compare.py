"""Compare two revisions of a plate: same seed and settings, which one holds its edit more stably.

A revision is a plate file (with ``--mask``) or a prep output folder (its ``clean.png``, and its
``clean.mask.png`` unless a mask is given). Each is rendered here, or given as a clip rendered
elsewhere and checked against its own plate, into ``<out>/a`` and ``<out>/b`` (report.json,
report.html, ...); the comparison writes ``compare.json`` (per-metric and per-frame deltas, the
more stable revision and why), ``compare.html``, ``side_by_side.mp4`` and ``compare.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.prep import CLEAN, CLIP, read_inputs
from flows.tasks import Stages, weights_fingerprint
from keyframe.compare import RevisionOutcome, write_comparison
from keyframe.revisions import open_revision_clip
from keyframe.config import Config
from keyframe.errors import KeyframeError
from keyframe.inpaint.stage import mask_output_path
from keyframe.io import check_output_dir, clip_source, output_group
from keyframe.render import write_render
from keyframe.report import build_report, write_check_outputs
from keyframe.report.html import write_html_report


def revision_inputs(revision: Path, mask: Path | None) -> tuple[Path, Path]:
    """``(plate, mask)`` of a revision given as a plate file or a prep output folder."""
    revision = Path(revision)
    if revision.is_dir():
        plate = revision / CLEAN
        if not plate.is_file():
            raise KeyframeError(f"{revision} is a folder but not a prep output (no {CLEAN} in it)")
        return plate, mask if mask is not None else mask_output_path(plate)
    if mask is None:
        raise KeyframeError(f"revision {revision} is a plate file: give its mask with --mask")
    return revision, mask


def check_revision(
    name: str, plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config, stages: Stages, clip_path: Path | None = None,
    label: str | None = None,
) -> RevisionOutcome:
    """Check one revision into ``out_dir``: its clip from ``clip_path``, or rendered here when None.

    ``label`` names it in titles and errors (default ``revision <NAME>``).
    """
    label = label or f"revision {name.upper()}"
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    inputs: dict[str, Any] = {"input": str(plate_path), "plate": str(plate_path), "mask": str(mask_path)}
    media = {}
    if clip_path is None:
        clip = stages.render(plate, cfg.render, cfg.seed, weights_fingerprint(cfg.render.svd.model), name)
        write_render(clip, out_dir / CLIP, inputs={"plate": plate_path}, seed=cfg.seed, quality=cfg.io.video_quality)
        frames, fps, plate_to_frame0, media = clip.frames, clip.fps, clip.plate_to_frame0, {"clip": out_dir / CLIP}
        inputs["rendered"] = "here"
    else:
        opened = open_revision_clip(label, clip_path, plate, mask, cfg)
        frames, fps, plate_to_frame0 = opened.frames, opened.fps, opened.plate_to_frame0
        inputs.update(clip=str(clip_path), rendered="elsewhere", opened=opened.as_dict())
    check = stages.check(frames, plate, mask, cfg.check, fps, plate_to_frame0, name)
    report = build_report(check=check, inputs={"plate": plate_path, "mask": mask_path,
                                                        "clip": clip_path and clip_source(clip_path)},
                          params={"config": cfg.model_dump(mode="json"), "revision": name})
    files = write_check_outputs(out_dir, report, check, frames, fps, quality=cfg.io.video_quality)
    write_html_report(out_dir, report, title=f"{label}: {clip_path or plate_path}", frames=frames,
                      tracked_masks=check.tracked_masks, drift_plot=files["plot"],
                      media={**media, "overlay": files["overlay"], "report.json": files["report"]}, cfg=cfg.report)
    return RevisionOutcome(inputs, report, frames, fps, check.tracked_masks)


@flow(name="keyframe-compare", persist_result=False)
def compare_flow(
    a: Path,
    b: Path,
    mask: Path | None,
    out_dir: Path,
    config: Config,
    b_mask: Path | None = None,
    clips: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Check both revisions alike, then compare them.

    Without ``clips`` both are rendered here with the same seed and settings; with ``clips`` (the
    clips of A and B, rendered elsewhere) each clip is checked against its own plate. ``b_mask``
    is B's edit mask when it differs from ``mask``.

    Every output is committed together at the end (``output_group``), as in prep: a compare that
    fails part way leaves the folder as it was, apart from the stage cache.
    """
    logger = get_run_logger()
    with output_group():
        out_dir = check_output_dir(out_dir)
        stages = Stages.for_output(out_dir, config.nightly)
        outcomes = {}
        for name, revision, revision_mask, clip in (("a", a, mask, clips and clips[0]), ("b", b, b_mask or mask, clips and clips[1])):
            plate_path, mask_path = revision_inputs(Path(revision), revision_mask)
            outcomes[name] = check_revision(name, plate_path, mask_path, check_output_dir(out_dir / name), config,
                                            stages, clip)
        result = write_comparison(out_dir, outcomes["a"], outcomes["b"], config,
                                  extra=None if clips else {"seed": config.seed})
    winner = result["more_stable"]
    logger.info("more stable: %s (%s)", result["revisions"][winner].get("clip", result["revisions"][winner]["input"]) if winner else "neither", result["why"])
    return result
