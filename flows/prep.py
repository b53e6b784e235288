"""Prep: inpaint -> gate -> render -> check -> report for one plate, as a Prefect flow.

:func:`run_plate` chains the stage tasks and writes every output of one plate into a folder;
the prep flow, the nightly shots and the demo all go through it. A plate whose gate fails is
flagged and stops before the render unless ``force`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from flows.tasks import Stages, flow_logger, weights_fingerprint
from keyframe.config import Config
from keyframe.gate import write_heatmaps
from keyframe.inpaint import write_inpaint
from keyframe.io import check_output_dir, output_group, read_mask, read_plate, write_json_atomic
from keyframe.render import write_render
from keyframe.report import build_report, write_check_outputs
from keyframe.report.html import ASSETS, write_html_report
from keyframe.report.otio import write_flags_otio

CLEAN = "clean.png"
CLIP = "clip.mp4"


@contextmanager
def in_foreground() -> Iterator[None]:
    """Settings for a flow run in the caller's own process (prep, demo, compare): no heartbeats.

    Flow-run heartbeats let a Prefect server mark a run as crashed when the worker running it
    dies unseen; in the foreground the caller sees a crash first-hand. Prefect's heartbeat thread
    sleeps in 1 s steps and every flow waits for it on exit, which cost the demo 0.5 s on
    average (0-1 s). Nightly runs, often deployments on a worker, keep their heartbeats.
    """
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def read_inputs(plate_path: Path, mask_path: Path, cfg: Config) -> tuple[Any, Any]:
    """Read and validate a plate and its mask with the ``io`` limits (raises KeyframeError)."""
    plate = read_plate(plate_path, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    mask = read_mask(mask_path, plate.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels,
                     max_points=cfg.io.max_mask_points, max_crossings=cfg.io.max_polygon_crossings)
    return plate, mask


def run_plate(
    plate_path: Path,
    mask_path: Path,
    out_dir: Path,
    cfg: Config,
    *,
    stages: Stages,
    label: str,
    force: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every stage on one plate and write its outputs into ``out_dir``.

    Returns
    -------
    dict
        ``status`` and ``verdict`` (``pass`` | ``flagged``), ``reasons``, ``stopped_at_gate``,
        ``frames``, ``fps`` and the outputs (``report``, ``html``, ``plate``, ``clip``,
        ``thumbnail``) as paths relative to ``out_dir``.
    """
    logger = flow_logger()
    out_dir = check_output_dir(out_dir)
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    inputs = {"plate": plate_path, "mask": mask_path}
    params = {"config": cfg.model_dump(mode="json"), "force": force}

    cleaned = stages.inpaint(plate, mask, cfg.inpaint, cfg.seed, weights_fingerprint(cfg.inpaint.model), label)
    write_inpaint(cleaned, out_dir / CLEAN, inputs=inputs, seed=cfg.seed)
    edit = cleaned.effective_mask > 0  # the region the later stages judge: grown + feathered

    gate = stages.gate(cleaned.image, edit, cfg.gate, label)
    heatmap_files = write_heatmaps(gate, out_dir / "gate")
    gate_part = gate.to_dict({name: str(path.relative_to(out_dir)) for name, path in heatmap_files.items()})
    heatmaps = {name: c.heatmap for name, c in gate.criteria.items() if c.heatmap is not None}
    html_args: dict[str, Any] = dict(title=label, plate=cleaned.image, heatmaps=heatmaps, extra=extra, cfg=cfg.report)
    entry: dict[str, Any] = {"plate": CLEAN, "html": "report.html", "report": "report.json", "clip": None,
                             "thumbnail": CLEAN, "frames": None, "fps": None, "stopped_at_gate": False}

    if not gate.passed and not force:
        report = build_report(gate=gate_part, inputs=inputs, params=params)
        write_json_atomic(out_dir / "report.json", report)
        write_html_report(out_dir, report, media={"cleaned plate": out_dir / CLEAN}, **html_args)
        logger.warning("%s: gate failed (%s); stopped before the render (use --force to render anyway)",
                       label, ", ".join(r["code"] for r in report["reasons"]))
        return {**entry, "status": "flagged", "verdict": "flagged", "reasons": report["reasons"], "stopped_at_gate": True}

    clip = stages.render(cleaned.image, cfg.render, cfg.seed, weights_fingerprint(cfg.render.svd.model), label)
    write_render(clip, out_dir / CLIP, inputs={"plate": out_dir / CLEAN}, seed=cfg.seed, quality=cfg.io.video_quality)
    check = stages.check(clip.frames, cleaned.image, edit, cfg.check, clip.fps, clip.plate_to_frame0, label)
    report = build_report(check=check, gate=gate_part, inputs=inputs, params=params)
    files = write_check_outputs(out_dir, report, check, clip.frames, clip.fps, quality=cfg.io.video_quality)
    write_html_report(
        out_dir,
        report,
        frames=clip.frames,
        tracked_masks=check.tracked_masks,
        drift_plot=files["plot"],
        media={"clip": out_dir / CLIP, "overlay": files["overlay"], "frames.csv": files["csv"],
               "report.json": files["report"], "cleaned plate": out_dir / CLEAN},
        **html_args,
    )
    logger.info("%s: %s%s", label, report["verdict"],
                "" if not report["reasons"] else " (" + ", ".join(r["code"] for r in report["reasons"]) + ")")
    return {**entry, "status": report["verdict"], "verdict": report["verdict"], "reasons": report["reasons"],
            "clip": CLIP, "thumbnail": f"{ASSETS}/contact_sheet.png", "frames": int(len(clip.frames)),
            "fps": float(clip.fps)}


def locate(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``entry`` with its relative output paths made absolute under ``folder``."""
    keys = ("plate", "html", "report", "clip", "thumbnail")
    return {**entry, **{k: str(folder / entry[k]) for k in keys if entry.get(k)}}


def prep_plate(plate: Path, mask: Path, out_dir: Path, cfg: Config, *, stages: Stages, force: bool = False) -> dict[str, Any]:
    """The body of :func:`prep_flow`: :func:`run_plate` plus ``flags.otio``, committed together.

    Called with plain stage functions (``Stages.direct()``), it is the same prep without Prefect.
    """
    with output_group():
        entry = run_plate(plate, mask, out_dir, cfg, stages=stages, label=plate.stem, force=force)
        write_flags_otio(out_dir / "flags.otio", [{**locate(entry, out_dir), "id": plate.stem}])
    return entry


@flow(name="keyframe-prep", persist_result=False)
def prep_flow(plate: Path, mask: Path, out_dir: Path, config: Config, force: bool = False) -> dict[str, Any]:
    """inpaint -> gate -> render -> check -> report for one plate; writes ``flags.otio`` too.

    The outputs are committed together at the end (``output_group``): a prep that fails part way
    leaves the folder as it was. The stage cache is written as each stage finishes, so a rerun
    does not repeat the stages that had completed.
    """
    out_dir = Path(out_dir)
    return prep_plate(Path(plate), Path(mask), out_dir, config, stages=Stages.for_output(out_dir, config.nightly), force=force)
