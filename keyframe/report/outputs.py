"""The check's files: report.json, frames.csv, overlay.mp4 (tracked contour), drift.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keyframe.io import check_output_dir, output_group, write_clip, write_figure, write_json_atomic, write_text_atomic
from keyframe.masks import contour

PASS_RGB, FLAG_RGB = (40, 220, 80), (255, 40, 40)
BROKEN_RGB = (255, 0, 255)  # outline sectors whose motion does not continue the attached layer's
_PANELS = (
    ("motion against the attached layer", (("float_px", "float px/frame"), ("slip_px", "slip px"),
                                           ("float_ratio", "float / its speed"))),
    ("SSIM vs carried plate", (("ssim_region", "region"), ("ssim_ring", "ring"))),
    ("colour change (dE) vs plate", (("delta_e_region", "region"), ("delta_e_ring", "ring"))),
    ("flicker (MAE levels, compensated)", (("flicker_region", "region"), ("flicker_ring", "ring"))),
    ("warping error", (("warp_region", "region"), ("warp_ring", "ring"))),
    ("visible fraction", (("visible", "visible"),)),
)


def frames_csv(per_frame: list[dict[str, Any]]) -> str:
    """The per-frame metrics as CSV text (one row per frame; null values are empty cells).

    Examples
    --------
    >>> print(frames_csv([{"frame": 0, "float_px": None}, {"frame": 1, "float_px": 0.2}]).strip())
    frame,float_px
    0,
    1,0.2
    """
    if not per_frame:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(per_frame[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in per_frame)
    return buffer.getvalue()


def flagged_frames(reasons: list[dict[str, Any]], count: int) -> np.ndarray:
    """Boolean per frame: inside any reason's frame range."""
    flags = np.zeros(count, bool)
    for reason in reasons:
        for start, end in reason.get("frames") or []:
            flags[start : end + 1] = True
    return flags


def overlay_frames(frames: np.ndarray, masks: np.ndarray, flags: np.ndarray | None = None,
                   broken: list[np.ndarray | None] | None = None, labels: list[str | None] | None = None) -> np.ndarray:
    """The clip with each frame's tracked region outlined: green, or red on flagged frames.

    ``broken`` (per frame, outline pixels ``(N, 2)`` x, y) marks in magenta where the region's
    motion breaks from the layer it is attached to; ``labels`` (per frame) names that layer in
    the top-left corner ("judged vs subject").

    Examples
    --------
    >>> f = np.zeros((1, 32, 32, 3), np.uint8); m = np.zeros((1, 32, 32), bool); m[0, 8:24, 8:24] = True
    >>> overlay_frames(f, m)[0, 8, 12].tolist()
    [40, 220, 80]
    """
    if frames.shape[:3] != masks.shape:
        raise ValueError(f"masks {masks.shape} do not match frames {frames.shape[:3]}")
    out = frames.copy()
    kernel = np.ones((2, 2), np.uint8)
    for t in range(len(frames)):
        if masks[t].any():
            edge = cv2.dilate(contour(masks[t]).astype(np.uint8), kernel).astype(bool)
            out[t][edge] = FLAG_RGB if flags is not None and flags[t] else PASS_RGB
        points = broken[t] if broken is not None else None
        if points is not None and len(points):
            spots = np.zeros(masks[t].shape, np.uint8)
            spots[np.clip(points[:, 1], 0, spots.shape[0] - 1), np.clip(points[:, 0], 0, spots.shape[1] - 1)] = 1
            out[t][cv2.dilate(spots, np.ones((3, 3), np.uint8)).astype(bool)] = BROKEN_RGB
        if labels is not None and labels[t]:
            scale = max(frames.shape[2] / 900.0, 0.4)
            cv2.putText(out[t], f"judged vs {labels[t]}", (6, int(22 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), max(1, int(scale * 2)), cv2.LINE_AA)
    return out


def drift_plot(path: str | Path, per_frame: list[dict[str, Any]], reasons: list[dict[str, Any]]) -> Path:
    """Plot the per-frame metrics, region against ring, flagged frame ranges shaded red; PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 11), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(_PANELS), 1, sharex=True)
    x = [row["frame"] for row in per_frame]
    for ax, (title, series) in zip(axes, _PANELS):
        for key, label in series:
            y = [np.nan if row.get(key) is None else row[key] for row in per_frame]
            ax.plot(x, y, marker=".", label=label)
        for reason in reasons:
            for start, end in reason.get("frames") or []:
                ax.axvspan(start - 0.5, end + 0.5, color="red", alpha=0.12)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("frame")
    return write_figure(path, figure)


@output_group()
def write_check_outputs(out_dir: str | Path, report: dict[str, Any], check: Any, frames: np.ndarray,
                        fps: float, *, quality: int = 8) -> dict[str, Path]:
    """Write ``report.json``, ``frames.csv``, ``overlay.mp4`` and ``drift.png`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if its parent exists.
    report : dict
        From :func:`keyframe.report.build_report`.
    check : CheckResult
        Supplies the tracked masks for the overlay.
    frames : ndarray (T, H, W, 3) uint8
        The clip.
    fps : float
    quality : int
        H.264 quality of the overlay (``io.video_quality``).

    Returns
    -------
    dict
        ``{"report": ..., "csv": ..., "overlay": ..., "plot": ...}`` paths.
    """
    out_dir = check_output_dir(out_dir)
    flags = flagged_frames(report["reasons"], len(frames))
    return {
        "csv": write_text_atomic(out_dir / "frames.csv", frames_csv(report["frames"])),
        "overlay": write_clip(out_dir / "overlay.mp4", overlay_frames(frames, check.tracked_masks, flags,
                                                                     check.broken_outline or None,
                                                                     [row.get("attached") for row in report["frames"]]),
                              fps, quality=quality),
        "plot": drift_plot(out_dir / "drift.png", report["frames"], report["reasons"]),
        "report": write_json_atomic(out_dir / "report.json", report),
    }
