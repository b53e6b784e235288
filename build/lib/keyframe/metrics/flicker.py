"""Temporal flicker, the VBench way, after motion compensation."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from keyframe.metrics.warp import compensated_residual


def flicker_mae(current: np.ndarray, prev_warped: np.ndarray, valid: np.ndarray) -> float | None:
    """Mean absolute difference, in 0-255 levels, of a frame and its motion-compensated predecessor.

    VBench's temporal-flickering term is ``MAE(I_t, I_t+1)`` on raw frames, meant for static
    scenes; comparing ``I_t`` with ``I_t-1`` warped onto it by the flow removes the camera's
    motion, so what remains is change the motion does not explain.

    Returns
    -------
    float, or None when ``valid`` is empty.

    Examples
    --------
    >>> a = np.zeros((4, 4), np.float32)
    >>> flicker_mae(a + 0.02, a, np.ones((4, 4), bool))
    5.1
    """
    diff = compensated_residual(current, prev_warped, valid)
    return None if diff is None else round(float(np.mean(np.abs(diff))) * 255.0, 4)


def vbench_flicker(maes: Iterable[float | None]) -> float | None:
    """VBench's temporal flickering score ``(255 - mean_t MAE_t) / 255`` (1 = no flicker).

    Examples
    --------
    >>> vbench_flicker([2.55, None, 2.55])
    0.99
    """
    values = [m for m in maes if m is not None]
    if not values:
        return None
    return round((255.0 - float(np.mean(values))) / 255.0, 6)
