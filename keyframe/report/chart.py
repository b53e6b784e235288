"""Stacked line charts drawn with OpenCV on a numpy canvas: the check's drift plot without matplotlib.

matplotlib's import and first render cost about 2 s per process, more than the whole analysis of
a short clip; these charts need lines, markers, shaded frame ranges, a grid and a legend, which
OpenCV draws in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Line colours (RGB), matplotlib's first two "tab10" colours so the look stays familiar.
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44))
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK, _GRID, _SHADE = (40, 40, 40), (225, 225, 225), (255, 210, 210)


@dataclass(frozen=True)
class Panel:
    """One chart: a title and named series of values (``None`` or NaN: no value at that x)."""

    title: str
    series: Sequence[tuple[str, Sequence[float | None]]]


def _ticks(low: float, high: float, count: int = 4) -> np.ndarray:
    """Round tick values spanning ``[low, high]``."""
    raw = (high - low) / count
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    return np.arange(np.ceil(low / step) * step, high + step * 1e-6, step)


def _label(value: float, step: float) -> str:
    """``value`` with as many decimals as the tick ``step`` needs (scientific below 0.001 in size)."""
    if abs(value) < step * 1e-6:
        return "0"
    if abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.{min(6, max(0, int(-np.floor(np.log10(step)))))}f}"


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.38, colour=_INK) -> None:
    cv2.putText(canvas, text, origin, _FONT, scale, colour, 1, cv2.LINE_AA)


def line_chart(x: Sequence[float], panels: Sequence[Panel], *, shaded: Sequence[tuple[float, float]] = (),
               width: int = 720, panel_height: int = 160, xlabel: str = "frame") -> np.ndarray:
    """Draw ``panels`` stacked over a shared ``x`` axis; return the chart as ``(H, W, 3)`` uint8 RGB.

    Parameters
    ----------
    x : sequence of float
        The x value of every point (e.g. frame numbers).
    panels : sequence of Panel
        One chart each, top to bottom; each series is drawn as a line with dot markers.
    shaded : sequence of (start, end)
        x ranges shaded red on every panel (e.g. flagged frames).

    Examples
    --------
    >>> image = line_chart([0, 1, 2], [Panel("float", [("px", [0.1, None, 0.3])])], shaded=[(1, 2)])
    >>> image.shape, image.dtype
    ((196, 720, 3), dtype('uint8'))
    """
    left, right, top, bottom = 64, 16, 22, 22
    height = len(panels) * panel_height + 14 + bottom
    canvas = np.full((height, width, 3), 255, np.uint8)
    xs = np.asarray(x, np.float64)
    x0, x1 = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    x0, x1 = (x0 - 0.5, x1 + 0.5) if x1 > x0 else (x0 - 1.0, x1 + 1.0)
    plot_w = width - left - right

    def px(value: np.ndarray | float) -> np.ndarray:
        return left + (np.asarray(value, np.float64) - x0) / (x1 - x0) * plot_w

    for index, panel in enumerate(panels):
        y_top = index * panel_height + top
        plot_h = panel_height - top - 12
        values = [np.array([np.nan if v is None else v for v in ys], np.float64) for _, ys in panel.series]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = (high - low) * 0.08 or max(abs(high) * 0.1, 1e-3)
        low, high = low - pad, high + pad

        def py(value: np.ndarray | float) -> np.ndarray:
            return y_top + plot_h - (np.asarray(value, np.float64) - low) / (high - low) * plot_h

        for start, end in shaded:
            a, b = int(px(start - 0.5)), int(px(end + 0.5))
            cv2.rectangle(canvas, (max(a, left), y_top), (min(b, left + plot_w), y_top + plot_h), _SHADE, -1)
        ticks = _ticks(low, high)
        for tick in ticks:
            y = int(round(float(py(tick))))
            cv2.line(canvas, (left, y), (left + plot_w, y), _GRID, 1)
            _text(canvas, _label(float(tick), float(np.diff(ticks[:2])[0]) if ticks.size > 1 else 1.0), (4, y + 4), 0.33)
        for tick in _ticks(x0, x1, 8):
            xv = int(round(float(px(tick))))
            cv2.line(canvas, (xv, y_top), (xv, y_top + plot_h), _GRID, 1)
            if index == len(panels) - 1:
                _text(canvas, f"{tick + 0.0:g}", (xv - 6, y_top + plot_h + 14), 0.33)
        cv2.rectangle(canvas, (left, y_top), (left + plot_w, y_top + plot_h), _INK, 1)
        _text(canvas, panel.title, (left, y_top - 6), 0.42)
        legend_x = left + plot_w
        for (name, _), ys, colour in reversed(list(zip(panel.series, values, COLOURS))):
            points = np.stack([px(xs), py(ys)], 1)
            ok = np.isfinite(points).all(1)
            for run in np.split(np.arange(len(points)), np.flatnonzero(~ok)):
                run = run[ok[run]]
                if run.size > 1:
                    cv2.polylines(canvas, [np.rint(points[run]).astype(np.int32)], False, colour, 1, cv2.LINE_AA)
            for point in np.rint(points[ok]).astype(int):
                cv2.circle(canvas, (int(point[0]), int(point[1])), 2, colour, -1, cv2.LINE_AA)
            (text_w, _), _ = cv2.getTextSize(name, _FONT, 0.36, 1)
            legend_x -= text_w + 22
            cv2.line(canvas, (legend_x, y_top - 10), (legend_x + 12, y_top - 10), colour, 2)
            _text(canvas, name, (legend_x + 15, y_top - 6), 0.36)
    _text(canvas, xlabel, (left + plot_w // 2 - 12, height - 4), 0.4)
    return canvas
