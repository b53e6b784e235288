"""Uniformity: does the edited region look as sharp and as grainy as its surroundings?

The known pain of an inpainted region is that it reads softer, or differently grained, than the
pixels around it; an upscale should unify that, not magnify it. Two ratios of the edit against a
ring around it, measured on the same image bands before and after the upscale (every band is
stretched by the scale, so an upscale that changes nothing scores the same):

- ``sharpness``: fine-to-coarse detail inside over the same in the ring, as an amplitude ratio
  (the gate's relative sharpness; < 1 softer than around it).
- ``grain``: the typical (median absolute) fine-band amplitude inside over the ring's: the texture
  and noise level that flat areas show (< 1 cleaner than around it).

``mismatch`` folds both into one number: the larger of ``max(r, 1/r)`` over the two ratios
(1 = uniform, 2 = one of them off by a factor of two either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from keyframe.gate.edge import detail_bands
from keyframe.io import to_float
from keyframe.masks import bounding_box, distance_to, shrink

_ENERGY_FLOOR = 1e-5  # detail energy below ~1 grey level (8-bit) RMS counts as none
_GRAIN_FLOOR = 1e-4
_GAP_PX = 2  # plate pixels between the edit and its ring, so the seam itself is not counted


@dataclass(frozen=True)
class Uniformity:
    """The edit against its surroundings (1 = the same)."""

    sharpness: float
    grain: float

    @property
    def mismatch(self) -> float:
        """The worse ratio as a factor >= 1, whichever way it is off."""
        return float(max(max(r, 1.0 / r) for r in (self.sharpness, self.grain)))

    def as_dict(self) -> dict[str, float]:
        return {"sharpness": round(self.sharpness, 4), "grain": round(self.grain, 4), "mismatch": round(self.mismatch, 4)}


def measure_uniformity(image: np.ndarray, mask: np.ndarray, scale: int = 1) -> Uniformity | None:
    """Sharpness and grain of the masked region against a ring around it.

    Parameters
    ----------
    image : ndarray (H*scale, W*scale, 3)
        RGB, uint8/uint16 or float in [0, 1]: the plate (``scale`` 1) or its upscale.
    mask : ndarray (H, W)
        The edited region at the plate's size (nonzero = edited).
    scale : int
        How many times ``image`` is larger than ``mask``.

    Returns
    -------
    Uniformity or None
        None when the edit is too small (< 16 px) or leaves no ring around it.

    Examples
    --------
    >>> import cv2
    >>> from skimage import data
    >>> plate = data.astronaut()[:256, 256:]
    >>> mask = np.zeros((256, 256), bool); mask[96:160, 96:160] = True
    >>> soft = plate.copy(); soft[mask] = cv2.GaussianBlur(plate, (0, 0), 3)[mask]
    >>> measure_uniformity(plate, mask).mismatch < 1.5 < measure_uniformity(soft, mask).mismatch
    True
    """
    mask = np.asarray(mask) > 0
    area = int(mask.sum())
    ring_px = int(np.clip(0.5 * np.sqrt(area), 8, 64))
    box = bounding_box(mask, ring_px + 24)  # 24 px: room for the coarse band's blur (sigma 6)
    crop = mask[box.slices]
    inside = shrink(crop, _GAP_PX)
    inside = inside if inside.sum() >= 16 else crop
    d_out = distance_to(crop)
    ring = (d_out > _GAP_PX + 0.5) & (d_out <= ring_px + 0.5)
    if area < 16 or ring.sum() < 16:
        return None
    rows, cols = box.slices
    pixels = np.asarray(image)[rows.start * scale : rows.stop * scale, cols.start * scale : cols.stop * scale]
    grey = cv2.cvtColor(np.clip(to_float(pixels), 0.0, 1.0), cv2.COLOR_RGB2GRAY)
    fine, coarse = detail_bands(grey, scale)
    if scale > 1:
        size = (grey.shape[1], grey.shape[0])
        inside, ring = (cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0 for m in (inside, ring))

    def detail_ratio(where: np.ndarray) -> float:
        return (fine[where].mean() + _ENERGY_FLOOR) / (coarse[where].mean() + _ENERGY_FLOOR)

    def grain(where: np.ndarray) -> float:
        return float(np.median(np.sqrt(fine[where]))) + _GRAIN_FLOOR

    return Uniformity(float(np.sqrt(detail_ratio(inside) / detail_ratio(ring))), grain(inside) / grain(ring))


def compare_uniformity(
    plate: np.ndarray, upscaled: np.ndarray, mask: np.ndarray, scale: int, worse_max: float
) -> dict[str, Any] | None:
    """The edit's uniformity before and after an upscale, and whether the upscale made it worse.

    Returns
    -------
    dict or None
        ``before`` and ``after`` (:meth:`Uniformity.as_dict`), ``change`` (after's mismatch over
        before's: > 1 the edit stands out more), ``worse_max`` and ``worse`` (change above it);
        None when the edit cannot be measured (see :func:`measure_uniformity`).
    """
    before, after = measure_uniformity(plate, mask), measure_uniformity(upscaled, mask, scale)
    if before is None or after is None:
        return None
    change = after.mismatch / before.mismatch
    return {"before": before.as_dict(), "after": after.as_dict(), "change": round(change, 4),
            "worse_max": worse_max, "worse": bool(change > worse_max)}
