"""The per-plate chain, inpaint -> gate -> render -> check -> report, as plain functions on arrays.

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

from keyframe.config import Config
from keyframe.gate import GateResult, run_gate, write_heatmaps
from keyframe.inpaint import InpaintResult, inpaint, write_inpaint
from keyframe.io import check_output_dir, output_group, read_mask, read_plate, write_json_atomic
from keyframe.render import RenderResult, render, write_render
from keyframe.report import build_report, write_check_outputs
from keyframe.report.html import ASSETS, write_html_report
from keyframe.report.otio import write_flags_otio
from keyframe.track import CheckResult, check_clip

CLEAN = "clean.png"
CLIP = "clip.mp4"
#: The outputs a :class:`PlateEntry` names, as paths relative to the plate's folder.
OUTPUT_KEYS = ("plate", "html", "report", "clip", "thumbnail")


def read_inputs(plate_path: Path, mask_path: Path, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a plate and its mask with the ``io`` limits (raises KeyframeError)."""
    plate = read_plate(plate_path, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side)
    mask = read_mask(mask_path, plate.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels)
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


@dataclass(frozen=True)
class Stages:
    """The four stage functions the chain calls; by default the library's own, called directly."""

    inpaint: Callable[[np.ndarray, np.ndarray, Config], InpaintResult] = inpaint_stage
    gate: Callable[[np.ndarray, np.ndarray, Config], GateResult] = gate_stage
    render: Callable[[np.ndarray, Config], RenderResult] = render_stage
    check: Callable[[RenderResult, np.ndarray, np.ndarray, Config], CheckResult] = check_stage


DIRECT = Stages()


@dataclass
class PlateResult:
    """What the chain made of one plate; ``clip`` and ``check`` are None when the gate stopped it."""

    cleaned: InpaintResult
    edit: np.ndarray  # (H, W) bool: the region every later stage judges
    gate: GateResult
    clip: RenderResult | None = None
    check: CheckResult | None = None

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


def run_plate(plate: np.ndarray, mask: np.ndarray, cfg: Config, *, force: bool = False, stages: Stages = DIRECT) -> PlateResult:
    """Run the whole chain on one plate; a plate whose gate fails stops before the render unless ``force``."""
    # 1. Inpaint: clean the masked region; pixels outside the grown, feathered mask never change.
    cleaned = stages.inpaint(plate, mask, cfg)
    edit = edit_region(cleaned)
    # 2. Gate: is the cleaned plate ready for a video model?
    gate = stages.gate(cleaned.image, edit, cfg)
    if not gate.passed and not force:
        return PlateResult(cleaned, edit, gate)
    # 3. Render and 4. check: does the edit stay glued to the scene through the clip?
    clip, check = render_and_check(cleaned.image, edit, cfg, stages)
    return PlateResult(cleaned, edit, gate, clip, check)


@dataclass
class PlateEntry:
    """One plate's outcome as a batch lists it; paths are relative to the plate's folder."""

    verdict: str  # "pass" | "flagged"
    reasons: list[dict[str, Any]]
    stopped_at_gate: bool
    frames: int | None = None
    fps: float | None = None
    paths: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``status`` and ``verdict``, ``reasons``, ``stopped_at_gate``, ``frames``, ``fps`` and the paths."""
        return {**{key: self.paths.get(key) for key in OUTPUT_KEYS}, "frames": self.frames, "fps": self.fps,
                "stopped_at_gate": self.stopped_at_gate, "status": self.verdict, "verdict": self.verdict,
                "reasons": self.reasons}


def locate(entry: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``entry`` with its relative output paths made absolute under (or relative to) ``folder``."""
    return {**entry, **{k: str(folder / entry[k]) for k in OUTPUT_KEYS if entry.get(k)}}


def write_checked_clip(out_dir: Path, clip: RenderResult, check: CheckResult, report: dict[str, Any], cfg: Config, *,
                       clip_inputs: dict[str, Path], media: dict[str, Path], **html: Any) -> None:
    """Write the clip with its sidecar, the check's files (report.json, frames.csv, overlay, plot) and report.html.

    ``media`` lists further files the HTML links to after the clip, the overlay and report.json.
    """
    write_render(clip, out_dir / CLIP, inputs=clip_inputs, seed=cfg.seed, quality=cfg.io.video_quality)
    files = write_check_outputs(out_dir, report, check, clip.frames, clip.fps, quality=cfg.io.video_quality)
    write_html_report(out_dir, report, frames=clip.frames, tracked_masks=check.tracked_masks, drift_plot=files["plot"],
                      media={"clip": out_dir / CLIP, "overlay": files["overlay"], "report.json": files["report"], **media},
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
    report = build_report(check=result.check, gate=gate, inputs=inputs, params=params)
    if result.clip is None or result.check is None:
        write_json_atomic(out_dir / "report.json", report)
        write_html_report(out_dir, report, media={"cleaned plate": out_dir / CLEAN}, cfg=cfg.report, **html)
        return PlateEntry(report["verdict"], report["reasons"], True, paths=paths)
    write_checked_clip(out_dir, result.clip, result.check, report, cfg, clip_inputs={"plate": out_dir / CLEAN},
                       media={"frames.csv": out_dir / "frames.csv", "cleaned plate": out_dir / CLEAN}, **html)
    paths.update(clip=CLIP, thumbnail=f"{ASSETS}/contact_sheet.png")
    return PlateEntry(report["verdict"], report["reasons"], False, int(len(result.clip.frames)), float(result.clip.fps),
                      paths)


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
    """One checked revision of a plate (``a`` or ``b`` of a comparison)."""

    name: str
    plate: Path
    report: dict[str, Any]
    clip: RenderResult
    check: CheckResult


def check_revision(name: str, plate_path: Path, mask_path: Path, out_dir: Path, cfg: Config,
                   stages: Stages = DIRECT) -> Revision:
    """Render and check one revision of a plate into ``out_dir`` (clip, the check's files, report.html)."""
    plate, mask = read_inputs(plate_path, mask_path, cfg)
    clip, check = render_and_check(plate, mask, cfg, stages)
    report = build_report(check=check, inputs={"plate": plate_path, "mask": mask_path},
                          params={"config": cfg.model_dump(mode="json"), "revision": name})
    write_checked_clip(check_output_dir(out_dir), clip, check, report, cfg, clip_inputs={"plate": plate_path}, media={},
                       title=f"revision {name.upper()}: {plate_path}")
    return Revision(name, plate_path, report, clip, check)
