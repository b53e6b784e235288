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
END_CLEAN = "clean_last.png"  # the cleaned end plate of a keyframe pair
CLIP = "clip.mp4"
UPSCALED = "upscaled.png"
CANDIDATES = "candidates"  # best of N: every candidate's clip, as candidates/<id>.mp4
#: The outputs a :class:`PlateEntry` names, as paths relative to the plate's folder.
OUTPUT_KEYS = ("plate", "html", "report", "clip", "thumbnail", "upscaled")


def read_plate_file(plate_path: Path, cfg: Config) -> np.ndarray:
    """Read and validate a plate with the ``io`` limits (raises KeyframeError)."""
    return read_plate(plate_path, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)


def read_inputs(plate_path: Path, mask_path: Path, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a plate and its mask with the ``io`` limits (raises KeyframeError)."""
    plate = read_plate_file(plate_path, cfg)
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


def render_stage(image: np.ndarray, cfg: Config, last: np.ndarray | None = None) -> RenderResult:
    """Render a clip from the cleaned plate (towards the cleaned end plate ``last``, when given)."""
    return render(image, cfg.render, seed=cfg.seed, last=last)


def check_stage(clip: RenderResult, plate: np.ndarray, edit: np.ndarray, cfg: Config,
                last: np.ndarray | None = None) -> CheckResult:
    """Track the edited region through the clip and judge it (``cfg.check``); the last frame is
    measured against the end plate ``last``, when given."""
    return check_clip(clip.frames, plate, edit, cfg.check, fps=clip.fps, plate_to_frame0=clip.plate_to_frame0,
                      end_plate=last, end_to_last=clip.last_to_frame)


def upscale_stage(image: np.ndarray, edit: np.ndarray, cfg: Config) -> UpscaleResult:
    """Upscale the cleaned plate and measure the edit's uniformity before and after (``cfg.upscale``)."""
    return upscale(image, cfg.upscale, mask=edit, seed=cfg.seed)


@dataclass(frozen=True)
class Stages:
    """The stage functions the chain calls; by default the library's own, called directly.

    ``render_many`` / ``check_many`` render and check the candidates of best of N all at once
    (flows map them over Prefect tasks); None renders and checks them one after another. The end
    plate of a keyframe pair (``last``) is passed to ``render`` / ``check`` only when there is one,
    and to ``render_many`` / ``check_many`` always (None without one).
    """

    inpaint: Callable[[np.ndarray, np.ndarray, Config], InpaintResult] = inpaint_stage
    gate: Callable[[np.ndarray, np.ndarray, Config], GateResult] = gate_stage
    render: Callable[..., RenderResult] = render_stage  # (image, cfg[, last])
    check: Callable[..., CheckResult] = check_stage  # (clip, plate, edit, cfg[, last])
    upscale: Callable[[np.ndarray, np.ndarray, Config], UpscaleResult] = upscale_stage
    render_many: Callable[..., list[RenderResult]] | None = None  # (image, configs, last)
    check_many: Callable[..., list[CheckResult]] | None = None  # (clips, plate, edit, configs, last)


DIRECT = Stages()


@dataclass
class EndPlate:
    """The end keyframe of a pair, cleaned and gated with its own mask."""

    cleaned: InpaintResult
    edit: np.ndarray
    gate: GateResult


@dataclass
class PlateResult:
    """What the chain made of one plate (and its end plate); ``clip`` and ``check`` are None when a
    gate stopped it."""

    cleaned: InpaintResult
    edit: np.ndarray  # (H, W) bool: the region every later stage judges
    gate: GateResult
    clip: RenderResult | None = None
    check: CheckResult | None = None
    end: EndPlate | None = None
    upscaled: UpscaleResult | None = None
    candidates: BestOf | None = None  # best of N: every candidate; clip and check are the selected one's
    plate: np.ndarray | None = None  # the plate as given, for the report's before / after crops

    @property
    def stopped_at_gate(self) -> bool:
        return self.clip is None


def edit_region(cleaned: InpaintResult) -> np.ndarray:
    """The region the gate and the check judge: the grown and feathered mask the inpaint blended with."""
    return cleaned.effective_mask > 0


def _render(stages: Stages, plate: np.ndarray, cfg: Config, last: np.ndarray | None) -> RenderResult:
    return stages.render(plate, cfg) if last is None else stages.render(plate, cfg, last)


def _check(stages: Stages, clip: RenderResult | RevisionClip, plate: np.ndarray, edit: np.ndarray, cfg: Config,
           last: np.ndarray | None) -> CheckResult:
    return stages.check(clip, plate, edit, cfg) if last is None else stages.check(clip, plate, edit, cfg, last)


def render_and_check(plate: np.ndarray, edit: np.ndarray, cfg: Config, stages: Stages = DIRECT, *,
                     last: np.ndarray | None = None) -> tuple[RenderResult, CheckResult]:
    """Render a clip from ``plate`` (towards the end plate ``last``) and check the ``edit`` region through it."""
    clip = _render(stages, plate, cfg, last)
    return clip, _check(stages, clip, plate, edit, cfg, last)


def render_best_of(plate: np.ndarray, edit: np.ndarray, cfg: Config, stages: Stages = DIRECT, *,
                   last: np.ndarray | None = None) -> BestOf:
    """Best of N: render and check ``cfg.render.candidates`` variants (each towards the end plate
    ``last``, when given) and keep the steadiest."""
    planned = plan_candidates(cfg.render, cfg.render.candidates, cfg.seed)
    configs = [candidate.config(cfg) for candidate in planned]
    clips = (stages.render_many(plate, configs, last) if stages.render_many
             else [_render(stages, plate, c, last) for c in configs])
    checks = (stages.check_many(clips, plate, edit, configs, last) if stages.check_many
              else [_check(stages, clip, plate, edit, c, last) for clip, c in zip(clips, configs)])
    return best_of([CandidateRun(*run) for run in zip(planned, clips, checks)], cfg.check)


def run_plate(plate: np.ndarray, mask: np.ndarray, cfg: Config, *, force: bool = False, stages: Stages = DIRECT,
              last: tuple[np.ndarray, np.ndarray] | None = None) -> PlateResult:
    """Run the whole chain on one plate, or on a keyframe pair when ``last`` (end plate, its mask) is
    given; a plate whose gate (either gate of a pair) fails stops before the render unless ``force``."""
    # 1. Inpaint: clean the masked region; pixels outside the grown, feathered mask never change.
    cleaned = stages.inpaint(plate, mask, cfg)
    edit = edit_region(cleaned)
    # 2. Gate: is the cleaned plate ready for a video model?
    gate = stages.gate(cleaned.image, edit, cfg)
    # 1-2 again for the end plate of a pair, with its own mask
    end = None
    if last is not None:
        end_cleaned = stages.inpaint(*last, cfg)
        end_edit = edit_region(end_cleaned)
        end = EndPlate(end_cleaned, end_edit, stages.gate(end_cleaned.image, end_edit, cfg))
    if not (gate.passed and (end is None or end.gate.passed)) and not force:
        return PlateResult(cleaned, edit, gate, end=end, plate=plate)
    # 3. Upscale (when asked): the master keyframe, without magnifying the edit.
    upscaled = stages.upscale(cleaned.image, edit, cfg) if cfg.upscale.in_prep else None
    # 4. Render and 5. check: does the edit stay glued to the scene through the clip? Best of N
    # renders several candidates and keeps the steadiest; a pair's clips all end on its end plate.
    end_image = None if end is None else end.cleaned.image
    if cfg.render.candidates == 1:
        clip, check = render_and_check(cleaned.image, edit, cfg, stages, last=end_image)
        return PlateResult(cleaned, edit, gate, clip, check, end, upscaled, plate=plate)
    best = render_best_of(cleaned.image, edit, cfg, stages, last=end_image)
    return PlateResult(cleaned, edit, gate, best.chosen.clip, best.chosen.check, end, upscaled, best, plate)


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
    files = write_check_outputs(out_dir, report, check, clip.frames, clip.fps,
                                quality=cfg.report.overlay_quality, preset=cfg.report.overlay_preset)
    write_html_report(out_dir, report, frames=clip.frames, tracked_masks=check.tracked_masks,
                      broken_outline=check.broken_outline, drift_plot=files["plot"],
                      media={**links, "overlay": files["overlay"], "report.json": files["report"], **media},
                      cfg=cfg.report, **html)


def _write_gate(gate: GateResult, out_dir: Path, folder: str) -> dict[str, Any]:
    """Write a gate's heatmaps into ``out_dir/folder``; its report part, with their relative paths."""
    files = write_heatmaps(gate, out_dir / folder)
    return gate.to_dict({name: str(path.relative_to(out_dir)) for name, path in files.items()})


def write_plate(result: PlateResult, out_dir: Path, cfg: Config, *, inputs: dict[str, Path], params: dict[str, Any],
                title: str, extra: dict[str, Any] | None = None) -> PlateEntry:
    """Write every output of one plate into ``out_dir``: the cleaned plate, the gate's heatmaps,
    the clip and the check's files when it was rendered, report.json and report.html."""
    write_inpaint(result.cleaned, out_dir / CLEAN, inputs={k: v for k, v in inputs.items() if not k.startswith("last")},
                  seed=cfg.seed)
    gate = _write_gate(result.gate, out_dir, "gate")
    end_gate = None
    if result.end is not None:
        write_inpaint(result.end.cleaned, out_dir / END_CLEAN,
                      inputs={"plate": inputs.get("last"), "mask": inputs.get("last_mask")}, seed=cfg.seed)
        end_gate = _write_gate(result.end.gate, out_dir, "gate_last")
    heatmaps = {name: c.heatmap for name, c in result.gate.criteria.items() if c.heatmap is not None}
    html = dict(title=title, plate=result.cleaned.image, heatmaps=heatmaps, extra=extra)
    paths: dict[str, str | None] = {"plate": CLEAN, "html": "report.html", "report": "report.json", "thumbnail": CLEAN}
    clip_inputs = {"plate": out_dir / CLEAN, **({"last": out_dir / END_CLEAN} if result.end is not None else {})}
    parts: dict[str, Any] = {}
    if result.upscaled is not None:
        parts["upscale"] = write_upscaled(result, out_dir, cfg, html)
        paths["upscaled"] = UPSCALED
    if result.candidates is not None:
        best = result.candidates
        parts.update(candidates=best.records, selected=(best.selected, best.why))
        html["candidate_sheets"] = write_candidates(best, out_dir, cfg, clip_inputs)
    report = build_report(check=result.check, gate=gate, end_gate=end_gate, inputs=inputs, params=params, **parts)
    if result.clip is None or result.check is None:
        write_json_atomic(out_dir / "report.json", report)
        write_html_report(out_dir, report, media={"cleaned plate": out_dir / CLEAN}, cfg=cfg.report, **html)
        return PlateEntry(report["verdict"], report["reasons"], True, paths=paths)
    media = {"frames.csv": out_dir / "frames.csv", "cleaned plate": out_dir / CLEAN,
             **({"cleaned end plate": out_dir / END_CLEAN} if result.end is not None else {}),
             **({"upscaled plate": out_dir / UPSCALED} if result.upscaled is not None else {})}
    write_checked_clip(out_dir, result.clip, result.check, report, cfg, clip_inputs=clip_inputs, media=media, **html)
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


def write_candidates(best: BestOf, out_dir: Path, cfg: Config, inputs: dict[str, Path]) -> dict[str, np.ndarray]:
    """Write every candidate's clip as ``candidates/<id>.mp4`` (its sidecar naming ``inputs``: the
    cleaned plate, and end plate of a pair); return a strip of frames per candidate for the report."""
    folder = check_output_dir(out_dir / CANDIDATES)
    strips = {}
    for run, record in zip(best.runs, best.records):
        write_render(run.clip, folder / f"{record['id']}.mp4", inputs=inputs,
                     seed=run.candidate.seed, quality=cfg.io.video_quality)
        strips[record["id"]] = contact_sheet(run.clip.frames, run.check.tracked_masks, record["reasons"],
                                             n_frames=4, width=cfg.report.thumbnail_width // 2)
    return strips


def process_plate(plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config, *, label: str, force: bool = False,
                  stages: Stages = DIRECT, extra: dict[str, Any] | None = None,
                  last: tuple[Path, Path] | None = None) -> PlateEntry:
    """Read a plate and its mask (and an end plate and its mask, ``last``), run the chain, and write
    its outputs into ``out_dir``."""
    out_dir = check_output_dir(out_dir)
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    end = None if last is None else read_inputs(*last, cfg)
    result = run_plate(plate, mask, cfg, force=force, stages=stages, last=end)
    inputs = {"plate": plate_path, "mask": mask_path}
    if last is not None:
        inputs.update(last=last[0], last_mask=last[1])
    return write_plate(result, out_dir, cfg, inputs=inputs, params={"config": cfg.model_dump(mode="json"), "force": force},
                       title=label, extra=extra)


def prep_plate(plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config, *, force: bool = False,
               stages: Stages = DIRECT, last: tuple[Path, Path] | None = None) -> PlateEntry:
    """``keyframe prep`` for one plate (or keyframe pair): :func:`process_plate` plus ``flags.otio``, committed together."""
    with output_group():
        entry = process_plate(plate_path, mask_path, out_dir, cfg, label=plate_path.stem, force=force, stages=stages,
                              last=last)
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
                   stages: Stages = DIRECT, *, clip_path: Path | None = None, label: str | None = None,
                   last: Path | None = None) -> Revision:
    """Check one revision of a plate into ``out_dir`` (the check's files, report.html).

    Without ``clip_path`` it is rendered here (and the clip written too), towards the end plate
    ``last`` when given (both revisions of a pair share it); with it, that clip, rendered
    elsewhere, is opened against its own plate (:func:`keyframe.revisions.open_revision_clip`:
    one line naming ``label``, default ``revision <NAME>``, when it is not of its plate).
    """
    label = label or f"revision {name.upper()}"
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    end = None if last is None else read_plate_file(last, cfg)
    ends = {} if last is None else {"last": last}
    if clip_path is None:
        clip, check = render_and_check(plate, mask, cfg, stages, last=end)
    else:
        clip = open_revision_clip(label, clip_path, plate, mask, cfg)
        check = _check(stages, clip, plate, mask, cfg, end)
    report = build_report(check=check, inputs={"plate": plate_path, "mask": mask_path,
                                               "clip": None if clip_path is None else clip_source(clip_path), **ends},
                          params={"config": cfg.model_dump(mode="json"), "revision": name})
    write_checked_clip(check_output_dir(out_dir), clip, check, report, cfg, media={}, title=f"{label}: {clip_path or plate_path}",
                       clip_inputs={"plate": plate_path, **ends} if clip_path is None else None)
    return Revision(name, plate_path, report, clip, check, mask_path, clip_path)
