"""JSON masks: polygons and boxes drawn on the plate, refused in one line when they are not sane.

Types are checked (numbers, not strings or booleans), coordinates must be finite and within one
plate size of the plate, and a polygon's cost to fill is bounded before it is filled: the number
of points (``io.max_mask_points``) and of edges crossing one row (``io.max_polygon_crossings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io.documents import read_json


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeyframeError(f"{what} must be a whole number, not {type(value).__name__} {value!r}")
    return value


def _coordinates(values: Any, columns: int, what: str) -> np.ndarray:
    """``values`` as a float array of ``columns`` numbers per row; anything else is refused."""
    rows = values if isinstance(values, list) else None
    if rows is None or not all(isinstance(row, list) and len(row) == columns for row in rows):
        raise ValueError(f"{what} must be a list of {columns}-number lists")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in rows for v in row):
        raise ValueError(f"{what} must hold numbers only")
    array = np.asarray(rows, dtype=np.float64).reshape(len(rows), columns)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite numbers")
    return array


def _polygon_crossings(points: np.ndarray, height: int) -> int:
    """Most edges of a closed polygon that cross any one pixel row of a plate ``height`` tall."""
    ys = np.clip(np.rint(points[:, 1]), -1, height).astype(np.int64) + 1
    top, bottom = np.minimum(ys, np.roll(ys, -1)), np.maximum(ys, np.roll(ys, -1))
    steps = np.zeros(height + 3, np.int64)
    np.add.at(steps, top, 1)
    np.add.at(steps, bottom, -1)
    return int(np.cumsum(steps).max(initial=0))


def mask_from_shapes(path: Path, shape: tuple[int, int], max_points: int, max_crossings: int) -> np.ndarray:
    """The ``(H, W)`` mask a JSON file of shapes draws on a plate of ``shape`` (see :func:`keyframe.io.read_mask`)."""
    data = read_json(path, "mask JSON")
    shapes = data.get("shapes") if isinstance(data, dict) else None
    if not isinstance(shapes, list) or not shapes:
        raise KeyframeError(f"mask JSON needs a non-empty 'shapes' list of polygons/boxes: {path}")
    height, width = shape
    if "width" in data or "height" in data:
        size = (_integer(data.get("height"), f"mask JSON 'height' ({path})"),
                _integer(data.get("width"), f"mask JSON 'width' ({path})"))
        if size != shape:
            raise KeyframeError(f"mask JSON is for {size[1]}x{size[0]} but the plate is {width}x{height}: {path}")
    # Shapes may reach past the plate (clipped when filled), but no farther than one plate size:
    # a coordinate like 1e300 would overflow the rasteriser's integers into a junk mask.
    low, high = np.array([-width, -height], float), np.array([2 * width, 2 * height], float)
    total = 0
    mask = np.zeros(shape, np.uint8)
    for i, item in enumerate(shapes):
        try:
            if not isinstance(item, dict):
                raise ValueError("a shape must be an object with a 'type'")
            kind = item.get("type")
            if kind == "polygon":
                total += len(item["points"]) if isinstance(item.get("points"), list) else 0
                if total > max_points:  # counted before each point is looked at
                    raise ValueError(f"the mask's polygons hold more than {max_points} points (io.max_mask_points); "
                                     "simplify the outline or use a PNG mask")
                points = _coordinates(item.get("points"), 2, "'points'")
                if len(points) < 3:
                    raise ValueError("a polygon needs at least 3 [x, y] points")
                corners = np.array([points.min(axis=0), points.max(axis=0)])
                crossings = _polygon_crossings(points, height)
                if crossings > max_crossings:
                    raise ValueError(f"the polygon's edges cross one row {crossings} times, over the limit of "
                                     f"{max_crossings} (io.max_polygon_crossings); is it an outline?")
                fill = [np.rint(points).astype(np.int32)]
            elif kind == "box":
                (x, y, w, h), = _coordinates([item.get("xywh")], 4, "'xywh'")
                if w <= 0 or h <= 0:
                    raise ValueError("a box needs positive width and height")
                corners = np.array([[x, y], [x + w, y + h]])
                fill = None
            else:
                raise ValueError(f"unknown shape type {kind!r} (use 'polygon' or 'box')")
            if (corners < low).any() or (corners > high).any():
                raise ValueError(f"it reaches more than a plate's size outside the {width}x{height} plate")
        except ValueError as exc:
            raise KeyframeError(f"mask JSON shape {i} is invalid ({exc}): {path}") from None
        if fill is not None:
            cv2.fillPoly(mask, fill, 1)
        else:
            x0, y0 = max(int(round(x)), 0), max(int(round(y)), 0)
            mask[y0 : max(int(round(y + h)), 0), x0 : max(int(round(x + w)), 0)] = 1
    return mask.astype(bool)
