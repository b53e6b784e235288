"""Mask operations shared by every stage: grow, feather, regions, crop boxes, boundary bands.

Masks are ``(H, W)`` arrays: boolean for hard masks, float32 in [0, 1] for soft (feathered) ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def distance_to(region: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (px, float32) from every pixel to the nearest pixel of ``region``; 0 on it.

    The one distance transform of keyframe: grow, shrink, feather, seam bands and rings all threshold it.

    One linear-time distance transform replaces a dilation by a disk, whose cost grows with the
    disk's area (64 px: 0.30 s vs 0.03 s on a 1024x576 mask).
    """
    return cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    return mask


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate a hard mask by ``pixels`` (a Euclidean disk), like ComfyUI's ``grow_mask_by``.

    Examples
    --------
    >>> m = np.zeros((9, 9), bool); m[4, 4] = True
    >>> int(grow(m, 2).sum())
    13
    """
    mask = _check_mask(mask) > 0
    if pixels < 0:
        raise ValueError(f"grow must be >= 0 pixels, got {pixels}")
    if pixels == 0 or not mask.any():
        return mask.copy()
    return distance_to(mask) <= pixels


def shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Erode a hard mask by ``pixels`` (a Euclidean disk); the image border does not erode it."""
    mask = _check_mask(mask) > 0
    if pixels <= 0 or mask.all():
        return mask.copy()
    return distance_to(~mask) > pixels


def feather(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Soften a hard mask outwards over ``pixels``: 1 inside, falling to 0 at ``pixels`` outside.

    The ramp lies entirely outside the hard mask, so every masked pixel keeps weight 1 and every
    pixel farther than ``pixels`` from the mask has weight exactly 0.

    Returns
    -------
    ndarray of float32 in [0, 1]
    """
    mask = _check_mask(mask) > 0
    if pixels < 0:
        raise ValueError(f"feather must be >= 0 pixels, got {pixels}")
    if pixels == 0:
        return mask.astype(np.float32)
    distance = distance_to(mask)
    ramp = np.clip(1.0 - distance / float(pixels + 1), 0.0, 1.0)
    # smoothstep keeps the blend free of a visible kink at either end
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)


def effective_mask(mask: np.ndarray, grow_px: int, feather_px: int) -> np.ndarray:
    """The soft mask a stage really edits: ``feather(grow(mask, grow_px), feather_px)``."""
    return feather(grow(mask, grow_px), feather_px)


@dataclass(frozen=True)
class Box:
    """A pixel box ``[y0:y1, x0:x1]``."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing an array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def bounding_box(mask: np.ndarray, padding: int = 0) -> Box:
    """The box around the nonzero pixels of ``mask``, padded and clipped to the image."""
    mask = _check_mask(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("bounding_box of an empty mask")
    height, width = mask.shape
    return Box(
        max(int(rows[0]) - padding, 0),
        min(int(rows[-1]) + 1 + padding, height),
        max(int(cols[0]) - padding, 0),
        min(int(cols[-1]) + 1 + padding, width),
    )


def regions(mask: np.ndarray, merge_distance: int = 0) -> list[np.ndarray]:
    """Split a mask into its connected regions (8-connected), largest first.

    Regions closer than ``merge_distance`` pixels are kept together, since their crops overlap.

    Returns
    -------
    list of ndarray of bool, each the size of ``mask``
    """
    mask = _check_mask(mask) > 0
    joined = grow(mask, merge_distance // 2) if merge_distance > 0 else mask
    count, labels = cv2.connectedComponents(joined.astype(np.uint8), connectivity=8)
    parts = [mask & (labels == label) for label in range(1, count)]
    parts = [part for part in parts if part.any()]
    return sorted(parts, key=lambda part: -int(part.sum()))


def boundary_bands(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Two bands of ``width`` pixels along the mask boundary: just inside and just outside.

    Returns
    -------
    inner, outer : ndarray of bool
    """
    mask = _check_mask(mask) > 0
    if width < 1:
        raise ValueError(f"band width must be >= 1 pixel, got {width}")
    inner = mask & ~shrink(mask, width)
    outer = grow(mask, width) & ~mask
    return inner, outer


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def contour(mask: np.ndarray) -> np.ndarray:
    """The one-pixel boundary of a hard mask (pixels inside with a 4-neighbour outside).

    The same pixels as ``mask & ~shrink(mask, 1)`` (a disk of radius 1 is the 4-neighbour cross),
    by one 3x3 erosion instead of a distance transform; the image border is not a boundary.
    """
    mask = _check_mask(mask) > 0
    return mask & ~cv2.erode(mask.astype(np.uint8), _CROSS).astype(bool)
