"""Float: does the region move with its surroundings, or like a pasted-on layer?

The motion of the ring of background around the region is fitted with an affine model (so a
zoom or roll of the camera predicts the right motion at the region, not just the ring's mean),
and compared with the region's own motion. The difference is the region's float in px/frame;
summed over frames it is the slip the region accumulates against the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_PIXELS = 12  # fewer visible pixels than this on either side: no motion is reported
_MAX_FIT = 4000  # pixels used on each side (evenly subsampled; medians and the fit barely change)


@dataclass(frozen=True)
class MotionFit:
    """Median motions (px/frame, ``(dx, dy)``) of a region and of its ring's prediction there."""

    region: tuple[float, float]
    ring: tuple[float, float]

    @property
    def float_vector(self) -> np.ndarray:
        return np.subtract(self.region, self.ring)


def region_motion(motion: np.ndarray, region: np.ndarray, ring: np.ndarray) -> MotionFit | None:
    """Compare the motion inside ``region`` with the motion its ``ring`` predicts there.

    Parameters
    ----------
    motion : ndarray (H, W, 2)
        Per-pixel motion into this frame (px/frame), e.g. minus the backward flow.
    region, ring : ndarray (H, W) bool
        Visible (non-occluded) pixels of the region and of its ring.

    Returns
    -------
    MotionFit, or None when either side has too few visible pixels.

    Examples
    --------
    >>> m = np.zeros((20, 20, 2), np.float32); m[..., 0] = 2.0
    >>> inside = np.zeros((20, 20), bool); inside[8:12, 8:12] = True
    >>> m[inside] = 0.0  # the region stays put while everything else moves 2 px right
    >>> fit = region_motion(m, inside, ~inside)
    >>> fit.float_vector.round(3).tolist()
    [-2.0, 0.0]
    """
    if region.sum() < _MIN_PIXELS or ring.sum() < _MIN_PIXELS:
        return None
    ry, rx = np.nonzero(ring)
    step = max(1, rx.size // _MAX_FIT)
    rx, ry = rx[::step], ry[::step]
    design = np.stack([rx, ry, np.ones_like(rx)], 1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, motion[ry, rx].astype(np.float64), rcond=None)
    gy, gx = np.nonzero(region)
    step = max(1, gx.size // _MAX_FIT)
    gx, gy = gx[::step], gy[::step]
    predicted = np.stack([gx, gy, np.ones_like(gx)], 1).astype(np.float64) @ coef
    own = np.median(motion[gy, gx], axis=0)
    ring_at_region = np.median(predicted, axis=0)
    return MotionFit((round(float(own[0]), 4), round(float(own[1]), 4)),
                     (round(float(ring_at_region[0]), 4), round(float(ring_at_region[1]), 4)))
