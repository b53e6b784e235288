"""Warping error (Lai et al. 2018): how much of a frame its motion-compensated predecessor fails to explain."""

from __future__ import annotations

import numpy as np


def warping_error(current: np.ndarray, prev_warped: np.ndarray, valid: np.ndarray) -> float | None:
    """Mean squared difference of ``current`` and ``prev_warped`` over the ``valid`` pixels.

    Lai et al. average ``sum M * |warp(O_t-1) - O_t|^2 / sum M`` over the clip, with ``M`` the
    non-occluded pixels; this is one frame's term, restricted to a selection (the region or its
    ring), in the images' own units squared (``[0, 1]`` grey here).

    Parameters
    ----------
    current, prev_warped : ndarray (H, W) float32
    valid : ndarray (H, W) bool
        Non-occluded pixels of the selection.

    Returns
    -------
    float, or None when ``valid`` is empty.

    Examples
    --------
    >>> a = np.zeros((4, 4), np.float32)
    >>> warping_error(a + 0.1, a, np.ones((4, 4), bool))
    0.01
    """
    diff = compensated_residual(current, prev_warped, valid)
    return None if diff is None else round(float(np.mean(diff * diff)), 8)


def compensated_residual(current: np.ndarray, prev_warped: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """``current - prev_warped`` at the ``valid`` pixels (1-D), or None when there are none."""
    if not valid.any():
        return None
    return current[valid] - prev_warped[valid]
