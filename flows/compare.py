"""Compare two revisions of a plate: same seed and settings, which one holds its edit more stably.

A revision is a plate file (with ``--mask``) or a prep output folder (its ``clean.png``, and its
``clean.mask.png`` unless a mask is given). Each is rendered and checked into ``<out>/a`` and
``<out>/b`` (clip, report.json, report.html, ...); the comparison writes ``compare.json``
(per-metric and per-frame deltas, the more stable revision and why), ``side_by_side.mp4`` and
``compare.png``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.prep import CLEAN, CLIP, read_inputs
from flows.tasks import Stages, weights_fingerprint
from keyframe.compare import compare_plot, compare_reports, side_by_side
from keyframe.config import Config
from keyframe.errors import KeyframeError
from keyframe.inpaint.stage import mask_output_path
from keyframe.io import check_output_dir, output_group, package_versions, write_clip, write_json_atomic
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
    name: str, plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config, stages: Stages
) -> tuple[dict[str, Any], Any, Any]:
    """Render and check one revision into ``out_dir``; returns its report, clip and check result."""
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    clip = stages.render(plate, cfg.render, cfg.seed, weights_fingerprint(cfg.render.svd.model), name)
    write_render(clip, out_dir / CLIP, inputs={"plate": plate_path}, seed=cfg.seed, quality=cfg.io.video_quality)
    check = stages.check(clip.frames, plate, mask, cfg.check, clip.fps, clip.plate_to_frame0, name)
    report = build_report(check=check, inputs={"plate": plate_path, "mask": mask_path},
                          params={"config": cfg.model_dump(mode="json"), "revision": name})
    files = write_check_outputs(out_dir, report, check, clip.frames, clip.fps, quality=cfg.io.video_quality)
    write_html_report(out_dir, report, title=f"revision {name.upper()}: {plate_path}", frames=clip.frames,
                      tracked_masks=check.tracked_masks, broken_outline=check.broken_outline, drift_plot=files["plot"],
                      media={"clip": out_dir / CLIP, "overlay": files["overlay"], "report.json": files["report"]},
                      cfg=cfg.report)
    return report, clip, check


@flow(name="keyframe-compare", persist_result=False)
def compare_flow(a: Path, b: Path, mask: Path | None, out_dir: Path, config: Config) -> dict[str, Any]:
    """Render and check both revisions with the same seed and settings, then compare them.

    Every output is committed together at the end (``output_group``), as in prep: a compare that
    fails part way leaves the folder as it was, apart from the stage cache.
    """
    logger = get_run_logger()
    with output_group():
        out_dir = check_output_dir(out_dir)
        stages = Stages.for_output(out_dir, config.nightly)
        results = {}
        for name, revision in (("a", Path(a)), ("b", Path(b))):
            plate_path, mask_path = revision_inputs(revision, mask)
            results[name] = (plate_path, *check_revision(name, plate_path, mask_path, check_output_dir(out_dir / name),
                                                          config, stages))
        (path_a, report_a, clip_a, check_a), (path_b, report_b, clip_b, check_b) = results["a"], results["b"]
        comparison = compare_reports(report_a, report_b, config.check)
        video = write_clip(out_dir / "side_by_side.mp4",
                           side_by_side(clip_a.frames, clip_b.frames, check_a.tracked_masks, check_b.tracked_masks,
                                        report_a["reasons"], report_b["reasons"]),
                           clip_a.fps, quality=config.io.video_quality)
        plot = compare_plot(out_dir / "compare.png", report_a, report_b, config.check)
        result = {
            **comparison,
            "revisions": {name: {"input": str(results[name][0]), "verdict": results[name][1]["verdict"],
                                 "reasons": results[name][1]["reasons"], "folder": name} for name in ("a", "b")},
            "seed": config.seed,
            "params": {"config": config.model_dump(mode="json")},
            "outputs": {"video": video.name, "plot": plot.name},
            "versions": package_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_json_atomic(out_dir / "compare.json", result)
    winner = comparison["more_stable"]
    logger.info("more stable: %s (%s)", {"a": str(path_a), "b": str(path_b)}.get(winner, "neither"), comparison["why"])
    return result
