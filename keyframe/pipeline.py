"""The per-plate chain, inpaint -> gate -> [upscale] -> render -> check -> report, as plain functions on arrays.

:func:`run_plate` is the chain itself, readable top to bottom; :func:`write_plate` writes its
outputs into a folder; :func:`process_plate` does both from files. None of it needs Prefect: a
notebook or another orchestrator calls these functions directly, and ``flows/`` passes its own
:class:`Stages` (Prefect tasks that cache, persist and retry the same stage functions).

Examples
--------
>>> from keyframe.config import Config
>>> from skimage import data
>>> plate = data.astronaut()[::2, ::2].copy()
>>> mask = np.zeros(plate.shape[:2], bool); mask[120:140, 120:140] = True
>>> result = run_plate(plate, mask, Config(render={"frames": 4}), force=True)
>>> result.stopped_at_gate, result.check.verdict, result.clip.frames.shape
(False, 'pass', (4, 256, 256, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.candidates import BestOf, CandidateRun, best_of, plan_candidates
from keyframe.config import Config
from keyframe.gate import GateResult, run_gate, write_heatmaps
from keyframe.inpaint import InpaintResult, inpaint, write_inpaint
from keyframe.io import check_output_dir, clip_source, output_group, read_mask, read_plate, write_json_atomic
from keyframe.render import RenderResult, render, write_render
from keyframe.report import build_report, write_check_outputs
from keyframe.report.html import ASSETS, contact_sheet, edit_crops, write_html_report
from keyframe.report.otio import write_flags_otio
from keyframe.revisions import RevisionClip, open_revision_clip
from keyframe.track import CheckResult, check_clip
from keyframe.upscale import UpscaleResult, upscale, write_upscale

CLEAN = "clean.png"
CLIP = "clip.mp4"
UPSCALED = "upscaled.png"
CANDIDATES = "candidates"  # best of N: every candidate's clip, as candidates/<id>.mp4
#: The outputs a :class:`PlateEntry` names, as paths relative to the plate's folder.
OUTPUT_KEYS = ("plate", "html", "report", "clip", "thumbnail", "upscaled")


def read_inputs(plate_path: Path, mask_path: Path, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a plate and its mask with the ``io`` limits (raises KeyframeError)."""
    plate = read_plate(plate_path, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    mask = read_mask(mask_path, plate.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels,
                     max_points=cfg.io.max_mask_points, max_crossings=cfg.io.max_polygon_crossings)
    return plate, mask


# The stage functions: each takes the whole configuration and reads its own section.
def inpaint_stage(plate: np.ndarray, mask: np.ndarray, cfg: Config) -> InpaintResult:
    """Clean the masked region (``cfg.inpaint``, seeded by ``cfg.seed``)."""
    return inpaint(plate, mask, cfg.inpaint, seed=cfg.seed)


def gate_stage(image: np.ndarray, edit: np.ndarray, cfg: Config) -> GateResult:
    """The motion-readiness gate of the cleaned plate (``cfg.gate``)."""
    return run_gate(image, edit, cfg.gate)


def render_stage(image: np.ndarray, cfg: Config) -> RenderResult:
    """Render a clip from the cleaned plate (``cfg.render``, seeded by ``cfg.seed``)."""
    return render(image, cfg.render, seed=cfg.seed)


def check_stage(clip: RenderResult, plate: np.ndarray, edit: np.ndarray, cfg: Config) -> CheckResult:
    """Track the edited region through the clip and judge it (``cfg.check``)."""
    return check_clip(clip.frames, plate, edit, cfg.check, fps=clip.fps, plate_to_frame0=clip.plate_to_frame0)


def upscale_stage(image: np.ndarray, edit: np.ndarray, cfg: Config) -> UpscaleResult:
    """Upscale the cleaned plate and measure the edit's uniformity before and after (``cfg.upscale``)."""
    return upscale(image, cfg.upscale, mask=edit, seed=cfg.seed)


@dataclass(frozen=True)
class Stages:
    """The stage functions the chain calls; by default the library's own, called directly.

    ``render_many`` / ``check_many`` render and check the candidates of best of N all at once
    (flows map them over Prefect tasks); None renders and checks them one after another.
    """

    inpaint: Callable[[np.ndarray, np.ndarray, Config], InpaintResult] = inpaint_stage
    gate: Callable[[np.ndarray, np.ndarray, Config], GateResult] = gate_stage
    render: Callable[[np.ndarray, Config], RenderResult] = render_stage
    check: Callable[[RenderResult, np.ndarray, np.ndarray, Config], CheckResult] = check_stage
    upscale: Callable[[np.ndarray, np.ndarray, Config], UpscaleResult] = upscale_stage
    render_many: Callable[[np.ndarray, list[Config]], list[RenderResult]] | None = None
    check_many: Callable[[list[RenderResult], np.ndarray, np.ndarray, list[Config]], list[CheckResult]] | None = None


DIRECT = Stages()


@dataclass
class PlateResult:
    """What the chain made of one plate; ``clip`` and ``check`` are None when the gate stopped it."""

    cleaned: InpaintResult
    edit: np.ndarray  # (H, W) bool: the region every later stage judges
    gate: GateResult
    clip: RenderResult | None = None
    check: CheckResult | None = None
    upscaled: UpscaleResult | None = None
    candidates: BestOf | None = None  # best of N: every candidate; clip and check are the selected one's
    plate: np.ndarray | None = None  # the plate as given, for the report's before / after crops

    @property
    def stopped_at_gate(self) -> bool:
        return self.clip is None


def edit_region(cleaned: InpaintResult) -> np.ndarray:
    """The region the gate and the check judge: the grown and feathered mask the inpaint blended with."""
    return cleaned.effective_mask > 0


def render_and_check(plate: np.ndarray, edit: np.ndarray, cfg: Config, stages: Stages = DIRECT) -> tuple[RenderResult, CheckResult]:
    """Render a clip from ``plate`` and check the ``edit`` region through it."""
    clip = stages.render(plate, cfg)
    return clip, stages.check(clip, plate, edit, cfg)


def render_best_of(plate: np.ndarray, edit: np.ndarray, cfg: Config, stages: Stages = DIRECT) -> BestOf:
    """Best of N: render and check ``cfg.render.candidates`` variants and keep the steadiest."""
    planned = plan_candidates(cfg.render, cfg.render.candidates, cfg.seed)
    configs = [candidate.config(cfg) for candidate in planned]
    clips = stages.render_many(plate, configs) if stages.render_many else [stages.render(plate, c) for c in configs]
    checks = (stages.check_many(clips, plate, edit, configs) if stages.check_many
              else [stages.check(clip, plate, edit, c) for clip, c in zip(clips, configs)])
    return best_of([CandidateRun(*run) for run in zip(planned, clips, checks)], cfg.check)


def run_plate(plate: np.ndarray, mask: np.ndarray, cfg: Config, *, force: bool = False, stages: Stages = DIRECT) -> PlateResult:
    """Run the whole chain on one plate; a plate whose gate fails stops before the render unless ``force``."""
    # 1. Inpaint: clean the masked region; pixels outside the grown, feathered mask never change.
    cleaned = stages.inpaint(plate, mask, cfg)
    edit = edit_region(cleaned)
    # 2. Gate: is the cleaned plate ready for a video model?
    gate = stages.gate(cleaned.image, edit, cfg)
    if not gate.passed and not force:
        return PlateResult(cleaned, edit, gate, plate=plate)
    # 3. Upscale (when asked): the master keyframe, without magnifying the edit.
    upscaled = stages.upscale(cleaned.image, edit, cfg) if cfg.upscale.in_prep else None
    # 4. Render and 5. check: does the edit stay glued to the scene through the clip? Best of N
    # renders several candidates and keeps the steadiest.
    if cfg.render.candidates == 1:
        clip, check = render_and_check(cleaned.image, edit, cfg, stages)
        return PlateResult(cleaned, edit, gate, clip, check, upscaled, plate=plate)
    best = render_best_of(cleaned.image, edit, cfg, stages)
    return PlateResult(cleaned, edit, gate, best.chosen.clip, best.chosen.check, upscaled, best, plate)


@dataclass
class PlateEntry:
    """One plate's outcome as a batch lists it; paths are relative to the plate's folder."""

    verdict: str  # "pass" | "flagged"
    reasons: list[dict[str, Any]]
    stopped_at_gate: bool
    frames: int | None = None
    fps: float | None = None
    paths: dict[str, str | None] = field(default_factory=dict)
    selected: str | None = None  # best of N: the candidate kept, and why
    selected_why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``status`` and ``verdict``, ``reasons``, ``stopped_at_gate``, ``frames``, ``fps``, the paths,
        and ``selected`` / ``selected_why`` for best of N."""
        return {**{key: self.paths.get(key) for key in OUTPUT_KEYS}, "frames": self.frames, "fps": self.fps,
                "stopped_at_gate": self.stopped_at_gate, "status": self.verdict, "verdict": self.verdict,
                "reasons": self.reasons, "selected": self.selected, "selected_why": self.selected_why}


def locate(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``entry`` with its relative output paths made absolute under (or relative to) ``folder``."""
    return {**entry, **{k: str(folder / entry[k]) for k in OUTPUT_KEYS if entry.get(k)}}


def write_checked_clip(out_dir: Path, clip: RenderResult | RevisionClip, check: CheckResult, report: dict[str, Any],
                       cfg: Config, *, clip_inputs: dict[str, Path] | None, media: dict[str, Path], **html: Any) -> None:
    """Write the clip with its sidecar, the check's files (report.json, frames.csv, overlay, plot) and report.html.

    ``clip_inputs`` None: the clip was rendered elsewhere and stays where it is (not copied).
    ``media`` lists further files the HTML links to after the clip, the overlay and report.json.
    """
    links = {}
    if clip_inputs is not None:
        write_render(clip, out_dir / CLIP, inputs=clip_inputs, seed=cfg.seed, quality=cfg.io.video_quality)
        links["clip"] = out_dir / CLIP
    files = write_check_outputs(out_dir, report, check, clip.frames, clip.fps, quality=cfg.io.video_quality)
    write_html_report(out_dir, report, frames=clip.frames, tracked_masks=check.tracked_masks,
                      broken_outline=check.broken_outline, drift_plot=files["plot"],
                      media={**links, "overlay": files["overlay"], "report.json": files["report"], **media},
                      cfg=cfg.report, **html)


def write_plate(result: PlateResult, out_dir: Path, cfg: Config, *, inputs: dict[str, Path], params: dict[str, Any],
                title: str, extra: dict[str, Any] | None = None) -> PlateEntry:
    """Write every output of one plate into ``out_dir``: the cleaned plate, the gate's heatmaps,
    the clip and the check's files when it was rendered, report.json and report.html."""
    write_inpaint(result.cleaned, out_dir / CLEAN, inputs=inputs, seed=cfg.seed)
    heatmap_files = write_heatmaps(result.gate, out_dir / "gate")
    gate = result.gate.to_dict({name: str(path.relative_to(out_dir)) for name, path in heatmap_files.items()})
    heatmaps = {name: c.heatmap for name, c in result.gate.criteria.items() if c.heatmap is not None}
    html = dict(title=title, plate=result.cleaned.image, heatmaps=heatmaps, extra=extra)
    paths: dict[str, str | None] = {"plate": CLEAN, "html": "report.html", "report": "report.json", "thumbnail": CLEAN}
    parts: dict[str, Any] = {}
    if result.upscaled is not None:
        parts["upscale"] = write_upscaled(result, out_dir, cfg, html)
        paths["upscaled"] = UPSCALED
    if result.candidates is not None:
        best = result.candidates
        parts.update(candidates=best.records, selected=(best.selected, best.why))
        html["candidate_sheets"] = write_candidates(best, out_dir, cfg)
    report = build_report(check=result.check, gate=gate, inputs=inputs, params=params, **parts)
    if result.clip is None or result.check is None:
        write_json_atomic(out_dir / "report.json", report)
        write_html_report(out_dir, report, media={"cleaned plate": out_dir / CLEAN}, cfg=cfg.report, **html)
        return PlateEntry(report["verdict"], report["reasons"], True, paths=paths)
    write_checked_clip(out_dir, result.clip, result.check, report, cfg, clip_inputs={"plate": out_dir / CLEAN},
                       media={"frames.csv": out_dir / "frames.csv", "cleaned plate": out_dir / CLEAN,
                              **({"upscaled plate": out_dir / UPSCALED} if result.upscaled is not None else {})}, **html)
    paths.update(clip=CLIP, thumbnail=f"{ASSETS}/contact_sheet.png")
    return PlateEntry(report["verdict"], report["reasons"], False, int(len(result.clip.frames)), float(result.clip.fps),
                      paths, report.get("selected"), report.get("selected_why"))


def write_upscaled(result: PlateResult, out_dir: Path, cfg: Config, html: dict[str, Any]) -> dict[str, Any]:
    """Write ``upscaled.png`` and its sidecar, add the plate / cleaned / upscaled crops of the edit
    to the report's ``html`` arguments, and return the report's ``upscale`` part."""
    upscaled = result.upscaled
    write_upscale(upscaled, out_dir / UPSCALED, inputs={"plate": out_dir / CLEAN}, seed=cfg.seed)
    images = {"plate": result.plate, "cleaned": result.cleaned.image, f"upscaled {upscaled.scale}x": upscaled.image}
    html["crops"] = edit_crops({k: v for k, v in images.items() if v is not None}, result.edit, width=cfg.report.thumbnail_width)
    return upscaled.to_dict(UPSCALED)


def write_candidates(best: BestOf, out_dir: Path, cfg: Config) -> dict[str, np.ndarray]:
    """Write every candidate's clip as ``candidates/<id>.mp4`` (with its sidecar); return a strip
    of frames per candidate for the report."""
    folder = check_output_dir(out_dir / CANDIDATES)
    strips = {}
    for run, record in zip(best.runs, best.records):
        write_render(run.clip, folder / f"{record['id']}.mp4", inputs={"plate": out_dir / CLEAN},
                     seed=run.candidate.seed, quality=cfg.io.video_quality)
        strips[record["id"]] = contact_sheet(run.clip.frames, run.check.tracked_masks, record["reasons"],
                                             n_frames=4, width=cfg.report.thumbnail_width // 2)
    return strips


def process_plate(plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config, *, label: str, force: bool = False,
                  stages: Stages = DIRECT, extra: dict[str, Any] | None = None) -> PlateEntry:
    """Read a plate and its mask, run the chain, and write its outputs into ``out_dir``."""
    out_dir = check_output_dir(out_dir)
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    result = run_plate(plate, mask, cfg, force=force, stages=stages)
    return write_plate(result, out_dir, cfg, inputs={"plate": plate_path, "mask": mask_path},
                       params={"config": cfg.model_dump(mode="json"), "force": force}, title=label, extra=extra)


def prep_plate(plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config, *, force: bool = False,
               stages: Stages = DIRECT) -> PlateEntry:
    """``keyframe prep`` for one plate: :func:`process_plate` plus ``flags.otio``, committed together."""
    with output_group():
        entry = process_plate(plate_path, mask_path, out_dir, cfg, label=plate_path.stem, force=force, stages=stages)
        write_flags_otio(Path(out_dir) / "flags.otio", [{**locate(entry.to_dict(), Path(out_dir)), "id": plate_path.stem}])
    return entry


@dataclass
class Revision:
    """One checked revision of a plate (``a`` or ``b`` of a comparison, or a shot's previous revision)."""

    name: str
    plate: Path
    report: dict[str, Any]
    clip: RenderResult | RevisionClip
    check: CheckResult
    mask: Path | None = None
    clip_path: Path | None = None  # the clip rendered elsewhere; None when rendered here

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the files it was made from, and where and how its clip was made."""
        made = {"rendered": "here"} if self.clip_path is None else {
            "clip": str(self.clip_path), "rendered": "elsewhere", "opened": self.clip.as_dict()}
        return {"input": str(self.plate), "plate": str(self.plate), "mask": str(self.mask), **made}


def check_revision(name: str, plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config,
                   stages: Stages = DIRECT, *, clip_path: Path | None = None, label: str | None = None) -> Revision:
    """Check one revision of a plate into ``out_dir`` (the check's files, report.html).

    Without ``clip_path`` it is rendered here (and the clip written too); with it, that clip,
    rendered elsewhere, is opened against its own plate (:func:`keyframe.revisions.open_revision_clip`:
    one line naming ``label``, default ``revision <NAME>``, when it is not of its plate).
    """
    label = label or f"revision {name.upper()}"
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    if clip_path is None:
        clip, check = render_and_check(plate, mask, cfg, stages)
    else:
        clip = open_revision_clip(label, clip_path, plate, mask, cfg)
        check = stages.check(clip, plate, mask, cfg)
    report = build_report(check=check, inputs={"plate": plate_path, "mask": mask_path,
                                               "clip": None if clip_path is None else clip_source(clip_path)},
                          params={"config": cfg.model_dump(mode="json"), "revision": name})
    write_checked_clip(check_output_dir(out_dir), clip, check, report, cfg, media={}, title=f"{label}: {clip_path or plate_path}",
                       clip_inputs={"plate": plate_path} if clip_path is None else None)
    return Revision(name, plate_path, report, clip, check, mask_path, clip_path)
