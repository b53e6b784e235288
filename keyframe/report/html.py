"""HTML reports: one page per plate and an index page per batch, each a self-contained folder.

The page is rendered from ``report.json``'s dictionary (:func:`keyframe.report.build_report`) by a
Jinja2 template with autoescaping on, so every user-supplied string (paths, prompts, shot ids,
messages) is escaped. Images it shows are written beside it in ``report_files/`` and linked by
relative paths; nothing is fetched from anywhere else, so the folder can be copied or zipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import jinja2
import numpy as np

from keyframe import __version__
from keyframe.config import ReportConfig
from keyframe.io import check_output_dir, from_float, to_float, write_image, write_text_atomic
from keyframe.gate.criterion import CRITERIA
from keyframe.masks import bounding_box
from keyframe.render.base import to_uint8
from keyframe.report.outputs import flagged_frames, outline

TEMPLATES = Path(__file__).resolve().parent / "templates"
ASSETS = "report_files"
#: Reasons about the plate itself (no frames): the gate criteria's, and the upscale's.
PLATE_CODES = (*CRITERIA.names(), "upscale")
_COLUMNS = 4

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)


def frame_ranges_text(reason: Mapping[str, Any]) -> str:
    """A reason's frames for people: ``[[3, 5], [9, 9]]`` -> ``"3-5, 9"``.

    A gate reason (no frames) concerns the plate; any other reason without frames, the whole clip.

    Examples
    --------
    >>> frame_ranges_text({"code": "flicker", "frames": [[3, 5], [9, 9]]})
    '3-5, 9'
    >>> frame_ranges_text({"code": "seam", "frames": []})
    'the plate'
    """
    frames = reason.get("frames")
    if not frames:
        return "the plate" if reason.get("code") in PLATE_CODES else "whole clip"
    return ", ".join(f"{s}" if s == e else f"{s}-{e}" for s, e in frames)


def _picked(frames: np.ndarray | Iterable[np.ndarray], picks: np.ndarray) -> list[np.ndarray]:
    """Frames ``picks`` (ascending) of a clip: indexed when it can be, else read through once up to
    the last pick, keeping only those (a streamed clip is never held)."""
    if hasattr(frames, "__getitem__"):
        return [np.asarray(frames[t]) for t in picks]
    wanted, found = {int(t) for t in picks}, {}
    for t, frame in enumerate(frames):
        if t in wanted:
            found[t] = frame
        if t >= picks[-1]:
            break
    if len(found) < len(wanted):
        raise ValueError(f"the clip ended before frame {max(wanted - set(found))} of the contact sheet")
    return [found[int(t)] for t in picks]


def contact_sheet(
    frames: np.ndarray | Iterable[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
    reasons: list[Mapping[str, Any]] | None = None,
    *,
    n_frames: int = 8,
    width: int = 320,
    broken: list[np.ndarray | None] | None = None,
    labels: list[str | None] | None = None,
) -> np.ndarray:
    """Tile ``n_frames`` evenly spaced frames with the tracked region outlined on each.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, 3), uint8, a sequence of (H, W, 3) frames, or a stream of them
        Only the picked frames are read (indexed, or kept as a stream such as
        :class:`keyframe.io.ClipStream` passes by), so the clip is never held.
    masks : sequence of (H, W) bool, optional
        The tracked region per frame (e.g. :class:`keyframe.track.frames.TrackedMasks`); outlined
        green, or red on flagged frames. Its length is the clip's (a stream's length is read from it).
    reasons : list of dict, optional
        The report's reasons; their frame ranges mark frames as flagged.
    n_frames : int
        Frames to show (first and last included), at most ``T``.
    width : int
        Width of each thumbnail in pixels.
    broken, labels : list, optional
        Per frame: the outline pixels where the region's motion breaks from its attached layer,
        and that layer's name (see :func:`keyframe.report.overlay_frames`).

    Returns
    -------
    ndarray of shape (rows * h, columns * width, 3), uint8

    Examples
    --------
    >>> sheet = contact_sheet(np.zeros((10, 36, 64, 3), np.uint8), n_frames=4, width=32)
    >>> sheet.shape
    (18, 128, 3)
    """
    if n_frames < 1 or width < 8:
        raise ValueError("n_frames must be >= 1 and width >= 8")
    count = len(masks) if masks is not None else len(frames)
    if count == 0:
        raise ValueError("frames must be a non-empty (T, H, W, 3) uint8 array")
    picks = np.unique(np.rint(np.linspace(0, count - 1, min(n_frames, count))).astype(int))
    chosen = _picked(frames, picks)
    if any(frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 for frame in chosen):
        raise ValueError("frames must be a non-empty (T, H, W, 3) uint8 array")
    height, full_width = chosen[0].shape[:2]
    flags = flagged_frames(list(reasons or []), count)
    shown = [frame if masks is None else
             outline(frame, masks[t], bool(flags[t]), None if broken is None else broken[t],
                     None if labels is None else labels[t]) for t, frame in zip(picks, chosen)]
    thumb_h = max(1, int(round(height * width / full_width)))
    columns = min(_COLUMNS, len(picks))
    rows = -(-len(picks) // columns)
    sheet = np.zeros((rows * thumb_h, columns * width, 3), np.uint8)
    for i, (index, frame) in enumerate(zip(picks, shown)):
        thumb = cv2.resize(frame, (width, thumb_h), interpolation=cv2.INTER_AREA)
        cv2.putText(thumb, str(int(index)), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        row, col = divmod(i, columns)
        sheet[row * thumb_h : (row + 1) * thumb_h, col * width : (col + 1) * width] = thumb
    return sheet


def edit_crops(images: Mapping[str, np.ndarray], mask: np.ndarray, *, width: int = 320, padding: int = 16) -> np.ndarray:
    """The edited region cut from each image and laid side by side, labelled, at one display size.

    Parameters
    ----------
    images : mapping
        Label -> (H*s, W*s, 3) image, each an integer multiple ``s`` of the mask's size (the plate
        and the cleaned plate at 1, the upscaled plate at its scale).
    mask : ndarray (H, W)
        The edited region; the crop is its bounding box padded by ``padding`` plate pixels.
    width : int
        Width of each panel in pixels. Smaller crops are enlarged with nearest-neighbour
        sampling, so the plate's own pixels stay visible next to the upscale's.

    Returns
    -------
    ndarray (h, len(images) * width, 3), uint8

    Examples
    --------
    >>> mask = np.zeros((40, 60), bool); mask[10:20, 20:40] = True
    >>> plate = np.zeros((40, 60, 3), np.uint8)
    >>> edit_crops({"plate": plate, "upscaled": np.zeros((80, 120, 3), np.uint8)}, mask, width=100).shape
    (69, 200, 3)
    """
    box = bounding_box(np.asarray(mask) > 0, padding)
    rows, cols = box.slices
    height = max(1, int(round(box.shape[0] * width / box.shape[1])))
    panels = []
    for label, image in images.items():
        scale = image.shape[0] // mask.shape[0]
        crop = to_uint8(np.asarray(image))[rows.start * scale : rows.stop * scale, cols.start * scale : cols.stop * scale]
        enlarge = width >= crop.shape[1]
        panel = cv2.resize(crop, (width, height), interpolation=cv2.INTER_NEAREST if enlarge else cv2.INTER_AREA)
        cv2.putText(panel, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


def heatmap_overlay(plate: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.6) -> np.ndarray:
    """Blend a [0, 1] heatmap (inferno colours) over a plate, stronger where the heat is higher.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
    """
    heatmap = np.asarray(heatmap, np.float32)
    base = to_uint8(np.asarray(plate))
    if heatmap.shape != base.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} does not match the plate {base.shape[:2]}")
    heat = np.clip(heatmap, 0.0, 1.0)
    colour = cv2.applyColorMap(from_float(heat), cv2.COLORMAP_INFERNO)[:, :, ::-1]
    weight = (alpha * heat)[:, :, None]
    return from_float(to_float(base) * (1.0 - weight) + to_float(colour) * weight)


def _relative(path: str | Path | None, folder: Path) -> str | None:
    if path is None:
        return None
    path = Path(path)
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        raise ValueError(f"{path} lies outside the report folder {folder}; the report must be self-contained") from None


def write_html_report(
    out_dir: str | Path,
    report: Mapping[str, Any],
    *,
    title: str,
    frames: np.ndarray | Iterable[np.ndarray] | None = None,
    tracked_masks: Sequence[np.ndarray] | None = None,
    broken_outline: list[np.ndarray | None] | None = None,
    plate: np.ndarray | None = None,
    heatmaps: Mapping[str, np.ndarray] | None = None,
    drift_plot: str | Path | None = None,
    media: Mapping[str, str | Path] | None = None,
    extra: Mapping[str, Any] | None = None,
    crops: np.ndarray | None = None,
    candidate_sheets: Mapping[str, np.ndarray] | None = None,
    cfg: ReportConfig = ReportConfig(),
) -> Path:
    """Write ``out_dir/report.html`` and its images in ``out_dir/report_files/``.

    Parameters
    ----------
    out_dir : str or Path
        The plate's output folder (created if its parent exists).
    report : mapping
        The ``keyframe.report/1`` dictionary (verdict, reasons, gate, frames, summary, inputs, ...).
    title : str
        Page title (e.g. the shot id); escaped like every other string.
    frames, tracked_masks : optional
        The clip (an array, or a stream only the contact sheet's frames are kept from) and its
        tracked mask per frame, for the contact sheet.
    broken_outline : list, optional
        Per frame, the outline pixels where the region's motion breaks from its attached layer
        (``CheckResult.broken_outline``), drawn on the contact sheet with the layer's name.
    plate, heatmaps : optional
        The checked plate and the gate's heatmaps by criterion, shown as colour overlays.
    drift_plot : str or Path, optional
        The check's per-frame plot (``drift.png`` inside ``out_dir``).
    media : mapping, optional
        Label -> file inside ``out_dir`` to link (clip, overlay video, CSV, report.json).
    extra : mapping, optional
        Further metadata to list (e.g. the shot's prompt).
    crops : ndarray, optional
        Plate / cleaned / upscaled crops of the edited region side by side (:func:`edit_crops`).
    candidate_sheets : mapping, optional
        Candidate id -> a strip of its frames, shown beside the report's ``candidates`` scores.
    cfg : ReportConfig

    Returns
    -------
    Path
        The written ``report.html``.
    """
    out_dir = check_output_dir(out_dir)
    assets = check_output_dir(out_dir / ASSETS)
    sheet = None
    if frames is not None:
        image = contact_sheet(
            frames, tracked_masks, report.get("reasons"), n_frames=cfg.contact_sheet_frames, width=cfg.thumbnail_width,
            broken=broken_outline or None, labels=[row.get("attached") for row in report.get("frames") or []] or None,
        )
        sheet = _relative(write_image(assets / "contact_sheet.png", image), out_dir)
    overlays = {}
    if plate is not None:
        for name, heat in (heatmaps or {}).items():
            overlays[name] = _relative(write_image(assets / f"heatmap_{name}.png", heatmap_overlay(plate, heat)), out_dir)
    gate = report.get("gate") or {}
    criteria = [
        {**criterion, "name": name, "overlay": overlays.get(name)}
        for name, criterion in (gate.get("criteria") or {}).items()
    ]
    crops_file = None if crops is None else _relative(write_image(assets / "edit_crops.png", crops), out_dir)
    strips = {cid: _relative(write_image(assets / f"candidate_{cid}.png", image), out_dir)
              for cid, image in (candidate_sheets or {}).items()}
    candidates = [{**c, "strip": strips.get(c["id"]), "reasons": [{**r, "ranges": frame_ranges_text(r)} for r in c["reasons"]]}
                  for c in report.get("candidates") or []]
    reasons = [{**reason, "ranges": frame_ranges_text(reason)} for reason in report.get("reasons") or []]
    html = _env.get_template("report.html.j2").render(
        title=title,
        report=report,
        verdict=report.get("verdict", "unknown"),
        reasons=reasons,
        gate=gate,
        criteria=criteria,
        drift_plot=_relative(drift_plot, out_dir),
        contact_sheet=sheet,
        crops=crops_file,
        upscale=report.get("upscale"),
        candidates=candidates,
        selected=report.get("selected"),
        media={label: _relative(path, out_dir) for label, path in (media or {}).items()},
        extra=dict(extra or {}),
        generator=f"keyframe {__version__}",
    )
    return write_text_atomic(out_dir / "report.html", html)


def write_html_index(out_dir: str | Path, shots: list[Mapping[str, Any]], *, title: str, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``out_dir/index.html``: one row per shot with its verdict, reasons and report link.

    Parameters
    ----------
    shots : list of mapping
        ``{"id", "status", "reasons", "error", "report": path or None, "thumbnail": path or None}``;
        paths must lie inside ``out_dir``.
    """
    out_dir = check_output_dir(out_dir)
    rows = [
        {
            **shot,
            "report": _relative(shot.get("report"), out_dir),
            "thumbnail": _relative(shot.get("thumbnail"), out_dir),
            "reasons": [{**r, "ranges": frame_ranges_text(r)} for r in shot.get("reasons") or []],
        }
        for shot in shots
    ]
    counts = {status: sum(1 for s in shots if s.get("status") == status) for status in ("pass", "flagged", "failed")}
    html = _env.get_template("index.html.j2").render(
        title=title, shots=rows, counts=counts, extra=dict(extra or {}), generator=f"keyframe {__version__}"
    )
    return write_text_atomic(out_dir / "index.html", html)


def write_compare_html(out_dir: str | Path, comparison: Mapping[str, Any]) -> Path:
    """Write ``out_dir/compare.html``: the more stable revision and why, both verdicts, the deltas.

    Parameters
    ----------
    out_dir : str or Path
        The comparison's folder, holding ``compare.png``, ``side_by_side.mp4`` and each revision's
        folder (``a/report.html``, ``b/report.html``).
    comparison : mapping
        The ``keyframe.compare/1`` document (:func:`keyframe.compare.write_comparison`).
    """
    out_dir = check_output_dir(out_dir)
    revisions = {
        name: {**revision, "report": f"{revision['folder']}/report.html",
               "reasons": [{**r, "ranges": frame_ranges_text(r)} for r in revision.get("reasons") or []]}
        for name, revision in comparison["revisions"].items()
    }
    html = _env.get_template("compare.html.j2").render(
        title="revision A vs revision B", comparison=comparison, revisions=revisions,
        generator=f"keyframe {__version__}",
    )
    return write_text_atomic(out_dir / "compare.html", html)
