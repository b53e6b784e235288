"""HTML reports: one page per plate and an index page per batch, each a self-contained folder.

The page is rendered from ``report.json``'s dictionary (:func:`keyframe.report.build_report`) by a
Jinja2 template with autoescaping on, so every user-supplied string (paths, prompts, shot ids,
messages) is escaped. Images it shows are written beside it in ``report_files/`` and linked by
relative paths; nothing is fetched from anywhere else, so the folder can be copied or zipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import jinja2
import numpy as np

from keyframe import __version__
from keyframe.config import ReportConfig
from keyframe.io import check_output_dir, from_float, to_float, write_image, write_text_atomic
from keyframe.render.base import to_uint8

TEMPLATES = Path(__file__).resolve().parent / "templates"
ASSETS = "report_files"
CONTOUR_RGB = (255, 230, 0)
_COLUMNS = 4
_CHART_W, _CHART_H, _PAD = 640.0, 160.0, 6.0

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)


def frame_ranges_text(frames: list[list[int]] | None) -> str:
    """``[[3, 5], [9, 9]]`` -> ``"3-5, 9"``; no ranges -> ``"whole clip"``.

    Examples
    --------
    >>> frame_ranges_text([[3, 5], [9, 9]])
    '3-5, 9'
    """
    if not frames:
        return "whole clip"
    return ", ".join(f"{s}" if s == e else f"{s}-{e}" for s, e in frames)


def contact_sheet(
    frames: np.ndarray, masks: np.ndarray | None = None, *, n_frames: int = 8, width: int = 320
) -> np.ndarray:
    """Tile ``n_frames`` evenly spaced frames with the tracked mask's contour drawn on each.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, 3), uint8
    masks : ndarray of shape (T, H, W), bool, optional
        The tracked mask per frame; its outline is drawn in yellow.
    n_frames : int
        Frames to show (first and last included), at most ``T``.
    width : int
        Width of each thumbnail in pixels.

    Returns
    -------
    ndarray of shape (rows * h, columns * width, 3), uint8

    Examples
    --------
    >>> sheet = contact_sheet(np.zeros((10, 36, 64, 3), np.uint8), n_frames=4, width=32)
    >>> sheet.shape
    (18, 128, 3)
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError("frames must be a non-empty (T, H, W, 3) uint8 array")
    if masks is not None and np.asarray(masks).shape != frames.shape[:3]:
        raise ValueError(f"masks must be (T, H, W) = {frames.shape[:3]}, got {np.asarray(masks).shape}")
    if n_frames < 1 or width < 8:
        raise ValueError("n_frames must be >= 1 and width >= 8")
    count, height, full_width = frames.shape[:3]
    picks = np.unique(np.rint(np.linspace(0, count - 1, min(n_frames, count))).astype(int))
    thumb_h = max(1, int(round(height * width / full_width)))
    thumbs = []
    for index in picks:
        thumb = cv2.resize(frames[index], (width, thumb_h), interpolation=cv2.INTER_AREA)
        if masks is not None:
            small = cv2.resize(np.asarray(masks[index], np.uint8), (width, thumb_h), interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(thumb, contours, -1, CONTOUR_RGB, 2, lineType=cv2.LINE_AA)
        cv2.putText(thumb, str(int(index)), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        thumbs.append(thumb)
    columns = min(_COLUMNS, len(thumbs))
    rows = -(-len(thumbs) // columns)
    sheet = np.zeros((rows * thumb_h, columns * width, 3), np.uint8)
    for i, thumb in enumerate(thumbs):
        row, col = divmod(i, columns)
        sheet[row * thumb_h : (row + 1) * thumb_h, col * width : (col + 1) * width] = thumb
    return sheet


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


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) else None


def drift_charts(frames: list[Mapping[str, Any]], reasons: list[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per-frame metric curves as SVG-ready data, flagged frame ranges shaded.

    Every per-frame key holding numbers becomes one chart (the frame index key is the x axis).
    Frames where a metric is ``null`` are gaps in its curve.
    """
    count = len(frames)
    if count == 0:
        return []
    keys = [k for k in frames[0] if k not in ("frame", "index") and any(_number(f.get(k)) is not None for f in frames)]
    step = (_CHART_W - 2 * _PAD) / max(count - 1, 1)
    x_of = lambda i: _PAD + i * step  # noqa: E731
    shades = [
        {"x": x_of(s) - step / 2, "width": (e - s + 1) * step}
        for reason in reasons
        for s, e in (reason.get("frames") or [])
    ]
    charts = []
    for key in keys:
        values = [_number(f.get(key)) for f in frames]
        known = [v for v in values if v is not None]
        low, high = min(known + [0.0]), max(known)
        span = (high - low) or 1.0
        segments, current = [], []
        for i, value in enumerate(values):
            if value is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            y = _CHART_H - _PAD - (value - low) / span * (_CHART_H - 2 * _PAD)
            current.append(f"{x_of(i):.1f},{y:.1f}")
        if current:
            segments.append(" ".join(current))
        charts.append({"name": key, "segments": segments, "low": low, "high": high, "missing": len(values) - len(known)})
    return [{**chart, "shades": shades, "width": _CHART_W, "height": _CHART_H} for chart in charts]


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
    frames: np.ndarray | None = None,
    tracked_masks: np.ndarray | None = None,
    plate: np.ndarray | None = None,
    heatmaps: Mapping[str, np.ndarray] | None = None,
    media: Mapping[str, str | Path] | None = None,
    extra: Mapping[str, Any] | None = None,
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
    frames, tracked_masks : ndarray, optional
        The clip ``(T, H, W, 3)`` and its tracked mask ``(T, H, W)`` for the contact sheet.
    plate, heatmaps : optional
        The checked plate and the gate's heatmaps by criterion, shown as colour overlays.
    media : mapping, optional
        Label -> file inside ``out_dir`` to link (clip, overlay video, CSV, report.json).
    extra : mapping, optional
        Further metadata to list (e.g. the shot's prompt).
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
        image = contact_sheet(frames, tracked_masks, n_frames=cfg.contact_sheet_frames, width=cfg.thumbnail_width)
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
    reasons = [{**reason, "ranges": frame_ranges_text(reason.get("frames"))} for reason in report.get("reasons") or []]
    html = _env.get_template("report.html.j2").render(
        title=title,
        report=report,
        verdict=report.get("verdict", "unknown"),
        reasons=reasons,
        gate=gate,
        criteria=criteria,
        charts=drift_charts(report.get("frames") or [], report.get("reasons") or []),
        contact_sheet=sheet,
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
            "reasons": [{**r, "ranges": frame_ranges_text(r.get("frames"))} for r in shot.get("reasons") or []],
        }
        for shot in shots
    ]
    counts = {status: sum(1 for s in shots if s.get("status") == status) for status in ("pass", "flagged", "failed")}
    html = _env.get_template("index.html.j2").render(
        title=title, shots=rows, counts=counts, extra=dict(extra or {}), generator=f"keyframe {__version__}"
    )
    return write_text_atomic(out_dir / "index.html", html)
