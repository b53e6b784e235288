"""The check's files: report.json, frames.csv, overlay.mp4 (tracked contour), drift.png (drawn with OpenCV)."""

from __future__ import annotations

import contextvars
import csv
import io
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keyframe.io import check_output_dir, clip_writer, output_group, write_image, write_json_atomic, write_text_atomic
from keyframe.masks import contour
from keyframe.report.chart import Panel, line_chart

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


def outline(frame: np.ndarray, mask: np.ndarray, flagged: bool = False, broken: np.ndarray | None = None,
            label: str | None = None) -> np.ndarray:
    """A copy of ``frame`` with ``mask``'s contour drawn on it: green, or red when ``flagged``.

    ``broken`` (outline pixels ``(N, 2)`` x, y) marks in magenta where the region's motion breaks
    from the layer it is attached to; ``label`` names that layer in the top-left corner
    ("judged vs subject").

    Examples
    --------
    >>> f = np.zeros((32, 32, 3), np.uint8); m = np.zeros((32, 32), bool); m[8:24, 8:24] = True
    >>> outline(f, m)[8, 12].tolist(), outline(f, m, flagged=True)[8, 12].tolist()
    ([40, 220, 80], [255, 40, 40])
    """
    out = np.array(frame, copy=True)
    if mask.any():
        edge = cv2.dilate(contour(mask).astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
        out[edge] = FLAG_RGB if flagged else PASS_RGB
    if broken is not None and len(broken):
        spots = np.zeros(mask.shape, np.uint8)
        spots[np.clip(broken[:, 1], 0, spots.shape[0] - 1), np.clip(broken[:, 0], 0, spots.shape[1] - 1)] = 1
        out[cv2.dilate(spots, np.ones((3, 3), np.uint8)).astype(bool)] = BROKEN_RGB
    if label:
        scale = max(frame.shape[1] / 900.0, 0.4)
        cv2.putText(out, f"judged vs {label}", (6, int(22 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), max(1, int(scale * 2)), cv2.LINE_AA)
    return out


def overlay_frames(frames: np.ndarray, masks: Sequence[np.ndarray], flags: np.ndarray | None = None,
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
    if frames.shape[:3] != tuple(np.shape(masks)):
        raise ValueError(f"masks {np.shape(masks)} do not match frames {frames.shape[:3]}")
    return np.stack(list(overlay_stream(frames, masks, flags, broken, labels)))


def overlay_stream(frames: Iterable[np.ndarray], masks: Sequence[np.ndarray], flags: np.ndarray | None = None,
                   broken: list[np.ndarray | None] | None = None,
                   labels: list[str | None] | None = None) -> Iterator[np.ndarray]:
    """:func:`overlay_frames` one frame at a time, for a clip that is streamed rather than held."""
    for t, frame in enumerate(frames):
        if t >= len(masks):
            break
        yield outline(frame, masks[t], flags is not None and bool(flags[t]), broken[t] if broken else None,
                      labels[t] if labels else None)


def drift_plot(path: str | Path, per_frame: list[dict[str, Any]], reasons: list[dict[str, Any]]) -> Path:
    """Plot the per-frame metrics, region against ring, flagged frame ranges shaded red; PNG."""
    panels = [Panel(title, [(label, [row.get(key) for row in per_frame]) for key, label in series])
              for title, series in _PANELS]
    shaded = [(start, end) for reason in reasons for start, end in reason.get("frames") or []]
    return write_image(path, line_chart([row["frame"] for row in per_frame], panels, shaded=shaded))


@output_group()
def write_check_outputs(out_dir: str | Path, report: dict[str, Any], check: Any, frames: Iterable[np.ndarray] | None,
                        fps: float, *, quality: int = 6, preset: str = "ultrafast") -> dict[str, Path]:
    """Write ``report.json``, ``frames.csv``, ``drift.png`` and (given frames) ``overlay.mp4`` into ``out_dir``.

    The overlay is drawn and encoded a frame at a time in a background thread while the other
    files are written, so neither the clip nor the overlay is ever held whole.

    Parameters
    ----------
    out_dir : str or Path
        Created if its parent exists.
    report : dict
        From :func:`keyframe.report.build_report`.
    check : CheckResult
        Supplies the tracked masks for the overlay.
    frames : ndarray (T, H, W, 3) uint8, or a re-iterable stream of frames (:class:`keyframe.io.ClipStream`)
        The clip, read again for the overlay; ``None``: no overlay.
    fps : float
    quality : int
        H.264 quality 0-10 of the overlay (``report.overlay_quality``).
    preset : str
        x264 speed preset of the overlay (``report.overlay_preset``).

    Returns
    -------
    dict
        ``{"csv": ..., "plot": ..., "report": ..., "overlay": ...}`` paths (no ``overlay`` without frames).
    """
    out_dir = check_output_dir(out_dir)
    written: dict[str, Path] = {}
    failed: list[BaseException] = []
    worker = None
    if frames is not None:
        flags = flagged_frames(report["reasons"], len(check.tracked_masks))
        labels = [row.get("attached") for row in report["frames"]]

        def overlay() -> None:
            try:
                with clip_writer(out_dir / "overlay.mp4", fps, quality=quality, preset=preset) as writer:
                    for frame in overlay_stream(frames, check.tracked_masks, flags, check.broken_outline or None,
                                                labels):
                        writer.write(frame)
                written["overlay"] = out_dir / "overlay.mp4"
            except BaseException as error:  # re-raised in the caller's thread below
                failed.append(error)

        worker = threading.Thread(target=contextvars.copy_context().run, args=(overlay,), name="overlay")
        worker.start()
    try:
        written["csv"] = write_text_atomic(out_dir / "frames.csv", frames_csv(report["frames"]))
        written["plot"] = drift_plot(out_dir / "drift.png", report["frames"], report["reasons"])
        written["report"] = write_json_atomic(out_dir / "report.json", report)
    finally:
        if worker is not None:
            worker.join()
    if failed:
        raise failed[0]
    return written
