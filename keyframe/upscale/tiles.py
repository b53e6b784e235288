"""Tiled upscaling with overlapping tiles and blended seams, so memory follows the tile, not the plate.

The plate is cut into ``tile``-sized squares that overlap their neighbours by ``overlap`` input
pixels. Each tile is upscaled on its own; across an overlap the two results are cross-faded with
linear ramps whose outer quarter is weightless (a network's output is least trustworthy next to a
tile's edge, where it sees no context). The ramps of every tile are normalised to sum to one, so
the blend is a partition of unity and a model that needs no more context than the overlap gives
the same pixels as one untiled call.

Finished rows are converted to the plate's dtype as soon as no later tile can touch them: peak
memory is the output image plus one float32 strip of tiles, however large the plate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keyframe.io import to_float
from keyframe.registry import Progress

#: ``run(tile)``: an (h, w, 3) float32 tile in [0, 1] -> (h*scale, w*scale, 3) float32.
TileFn = Callable[[np.ndarray], np.ndarray]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles along one axis: ``tile`` apart less ``overlap``, the last flush with the end.

    Examples
    --------
    >>> tile_starts(100, 40, 8)
    [0, 32, 60]
    >>> tile_starts(30, 40, 8)
    [0]
    """
    if tile <= 0 or length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _ramps(starts: list[int], size: int, length: int, ramp: int) -> list[np.ndarray]:
    """Per tile, its 1-D blend weights (output pixels), normalised so all tiles sum to 1 everywhere."""
    margin = ramp // 4
    rise = np.clip((np.arange(size, dtype=np.float32) - margin + 0.5) / max(ramp - 2 * margin, 1), 0.0, 1.0)
    weights = []
    for i in range(len(starts)):
        w = np.ones(size, np.float32)
        if i > 0:
            w *= rise
        if i < len(starts) - 1:
            w *= rise[::-1]
        weights.append(w)
    total = np.zeros(length, np.float32)
    for start, w in zip(starts, weights):
        total[start : start + size] += w
    return [w / total[start : start + size] for start, w in zip(starts, weights)]


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    top = np.float32(65535.0 if dtype == np.uint16 else 255.0)
    return np.clip(np.rint(values * top), 0, top).astype(dtype)


def upscale_tiled(
    plate: np.ndarray,
    run: TileFn,
    scale: int,
    *,
    tile: int,
    overlap: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """Upscale ``plate`` tile by tile with ``run`` and blend the overlaps.

    Parameters
    ----------
    plate : ndarray (H, W, 3), uint8 or uint16
    run : callable
        Upscales one float32 tile in [0, 1] by ``scale``.
    scale : int
    tile : int
        Tile side in input pixels; 0 (or a plate no larger than it) runs the plate in one piece.
    overlap : int
        Input pixels shared by neighbouring tiles; must be under half the tile.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    ndarray (H*scale, W*scale, 3), the plate's dtype

    Examples
    --------
    >>> import cv2
    >>> plate = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    >>> nearest = lambda t: cv2.resize(t, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    >>> whole = upscale_tiled(plate, nearest, 2, tile=0, overlap=0)
    >>> tiled = upscale_tiled(plate, nearest, 2, tile=24, overlap=8)
    >>> whole.shape, bool((whole == tiled).all())
    ((100, 140, 3), True)
    """
    height, width = plate.shape[:2]
    if tile and overlap * 2 >= tile:
        raise ValueError(f"the tile overlap ({overlap}) must be under half the tile ({tile})")
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    tile_h, tile_w = min(tile or height, height), min(tile or width, width)
    wy = _ramps([y * scale for y in ys], tile_h * scale, height * scale, overlap * scale)
    wx = _ramps([x * scale for x in xs], tile_w * scale, width * scale, overlap * scale)
    out = np.empty((height * scale, width * scale, 3), plate.dtype)
    strip = np.zeros((0, width * scale, 3), np.float32)
    strip_top, done, total = 0, 0, len(ys) * len(xs)
    for i, y in enumerate(ys):
        bottom = (y + tile_h) * scale
        if strip_top + len(strip) < bottom:  # extend the strip down to this row of tiles' bottom
            grown = np.zeros((bottom - strip_top, width * scale, 3), np.float32)
            grown[: len(strip)] = strip
            strip = grown
        rows = slice(y * scale - strip_top, bottom - strip_top)
        for j, x in enumerate(xs):
            result = run(to_float(plate[y : y + tile_h, x : x + tile_w]))
            expected = (tile_h * scale, tile_w * scale, 3)
            if result.shape != expected:
                raise ValueError(f"the upscaler returned a {result.shape} tile, expected {expected}")
            weight = wy[i][:, None, None] * wx[j][None, :, None]
            strip[rows, x * scale : (x + tile_w) * scale] += result * weight
            done += 1
            if progress is not None:
                progress(done, total)
        final = ys[i + 1] * scale if i + 1 < len(ys) else bottom  # rows no later tile touches
        out[strip_top:final] = _to_dtype(strip[: final - strip_top], plate.dtype)
        strip, strip_top = strip[final - strip_top :].copy(), final
    return out
