"""Preservation-safe compositing: the edit zone, per-region crops, seam matching and paste-back.

Everything here works on float32 RGB in [0, 1]. The only function that touches the plate's own
pixels is :func:`paste`, and it copies the plate bit for bit wherever the edit zone is 0.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

from keyframe.io import from_float
from keyframe.masks import Box, bounding_box, boundary_bands, distance_to, effective_mask, regions
from keyframe.seam import _local_mean, noise_sigma  # the seam measure's own window mean and noise estimate


def edit_zone(mask: np.ndarray, grow: int, feather: int) -> np.ndarray:
    """The soft mask the stage may change: grown, feathered, and zero beyond ``grow + feather``.

    ``keyframe.masks.effective_mask`` already falls to 0 at that distance; the exact Euclidean
    distance cut here makes the preservation promise hold to the pixel whatever the kernels
    round to.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        The user's edit mask.
    grow, feather : int
        Pixels to dilate the mask by, then to soften it outwards over.

    Returns
    -------
    ndarray of float32 in [0, 1], shape (H, W)
        1 on the grown mask, a smooth ramp over ``feather`` pixels, exactly 0 everywhere farther
        than ``grow + feather`` from ``mask``.

    Examples
    --------
    >>> m = np.zeros((32, 32), bool); m[10:20, 10:20] = True
    >>> zone = edit_zone(m, 2, 3)
    >>> bool(zone[m].min() == 1.0), bool(zone[:, :4].max() == 0.0)
    (True, True)
    """
    mask = np.asarray(mask) > 0
    if grow < 0 or feather < 0:
        raise ValueError(f"grow and feather must be >= 0, got {grow} and {feather}")
    distance = distance_to(mask)
    allowed = distance <= grow + feather
    return np.where(allowed, effective_mask(mask, grow, feather), 0.0).astype(np.float32)


def region_boxes(zone: np.ndarray, padding: int) -> list[tuple[np.ndarray, Box]]:
    """Split the edit zone into connected regions, each with its padded crop box, largest first."""
    return [(part, bounding_box(part, padding)) for part in regions(zone > 0)]


def match_color(fill: np.ndarray, plate: np.ndarray, hole: np.ndarray, outside: np.ndarray, band: int) -> np.ndarray:
    """Match the fill's local mean colour to the plate's across the boundary of ``hole``.

    Along the boundary, the mean of the plate in the band just outside (``band`` pixels wide,
    restricted to ``outside``, the pixels that stay the plate's) is compared with the mean of the
    fill in the band just inside, in the same ``2 * band + 1`` window the seam measure uses. That
    difference is spread over the hole as a smooth membrane (harmonic interpolation), so the
    fill's colour meets the plate's at the seam and its texture is left as it is.

    Returns
    -------
    ndarray of float32, the fill with the hole's pixels shifted (others unchanged)
    """
    inner, outer = boundary_bands(hole, band)
    outer &= outside
    if not inner.any() or not outer.any():
        return fill
    window = 2 * band + 1
    shift = _local_mean(plate, outer, window) - _local_mean(fill, inner, window)
    # the shift is a window mean, smooth at the scale of the band: solve on a grid band/2 coarser
    height, width = hole.shape
    factor = max(1, band // 2)
    small = (max(1, -(-width // factor)), max(1, -(-height // factor)))
    coarse_hole = cv2.resize(hole.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 0.5
    coarse_shift = cv2.resize(shift, small, interpolation=cv2.INTER_AREA)
    field = np.where(coarse_hole[..., None], _membrane(coarse_shift, coarse_hole), coarse_shift)
    matched = fill.copy()
    matched[hole] += cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)[hole]
    return matched


def match_grain(
    fill: np.ndarray, plate: np.ndarray, hole: np.ndarray, outside: np.ndarray, band: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, float]]:
    """Give the fill the plate's grain: add seeded Gaussian noise up to the noise level around the hole.

    Noise levels use :func:`keyframe.seam.noise_sigma` (the seam measure's own estimator) on the
    grey image: the plate in a ring ``3 * band`` wide outside the hole, the fill inside it. The
    added noise is luminance grain (the same on the three channels) with
    ``sqrt(max(sigma_out**2 - sigma_in**2, 0))``, so a fill that is already as noisy gets none.

    Returns
    -------
    fill : ndarray of float32
    levels : dict
        ``sigma_outside``, ``sigma_fill`` and ``sigma_added``, in [0, 1] units.
    """
    _, ring = boundary_bands(hole, 3 * band)
    ring &= outside
    if not ring.any():
        return fill, {"sigma_outside": None, "sigma_fill": None, "sigma_added": 0.0}
    sigma_out = noise_sigma(cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY), ring)
    sigma_in = noise_sigma(cv2.cvtColor(np.clip(fill, 0, 1), cv2.COLOR_RGB2GRAY), hole)
    added = float(np.sqrt(max(sigma_out**2 - sigma_in**2, 0.0)))
    grained = fill.copy()
    if added > 0:
        grained[hole] += rng.normal(0.0, added, int(hole.sum())).astype(np.float32)[:, None]
    return grained, {"sigma_outside": sigma_out, "sigma_fill": sigma_in, "sigma_added": added}


def poisson_blend(fill: np.ndarray, plate: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Poisson image editing (Pérez et al. 2003), what ``cv2.seamlessClone`` NORMAL_CLONE computes.

    Keeps the fill's gradients inside ``hole`` and takes the plate's values on its boundary, by
    adding to the fill the harmonic (membrane) interpolation of ``plate - fill`` from the
    boundary. Solved directly (sparse LU), so it works at 16-bit precision and for holes that
    touch the crop's edge, which ``cv2.seamlessClone`` (8-bit only, shifts such clones) does not.

    Returns
    -------
    ndarray of float32, the fill with the hole's pixels corrected (others unchanged)
    """
    blended = fill.copy()
    blended[hole] += _membrane(plate - fill, hole)[hole]
    return blended


def _membrane(boundary: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The harmonic function inside ``hole`` equal to ``boundary`` just outside it (zero elsewhere).

    Solves the 5-point Laplace equation over the hole's pixels (neighbours beyond the array's
    edge are left out, a zero-flux border) with sparse LU; ``boundary`` is read only at the
    pixels outside ``hole`` that touch it.
    """
    height, width = hole.shape
    ys, xs = np.nonzero(hole)
    index = np.full(hole.shape, -1, np.int64)
    index[ys, xs] = np.arange(ys.size)
    rows, cols, vals = [np.arange(ys.size)], [np.arange(ys.size)], []
    degree = np.zeros(ys.size)
    rhs = np.zeros((ys.size, boundary.shape[2]))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        degree += inside
        neighbour = np.full(ys.size, -1, np.int64)
        neighbour[inside] = index[ny[inside], nx[inside]]
        linked = neighbour >= 0
        rows.append(np.flatnonzero(linked))
        cols.append(neighbour[linked])
        vals.append(-np.ones(int(linked.sum())))
        edge = inside & ~linked
        rhs[edge] += boundary[ny[edge], nx[edge]]
    membrane = np.zeros(boundary.shape, np.float32)
    if not rhs.any():  # zero on the whole boundary: the membrane is zero
        return membrane
    system = coo_matrix((np.concatenate([degree, *vals]), (np.concatenate(rows), np.concatenate(cols))), shape=(ys.size,) * 2)
    try:
        membrane[ys, xs] = splu(system.tocsc()).solve(rhs)
    except RuntimeError:  # singular: a hole with no boundary at all (it covers the whole crop)
        pass
    return membrane


def paste(plate: np.ndarray, fill: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """Blend ``fill`` over ``plate`` with weight ``zone``; where ``zone`` is 0 the plate is copied bit for bit.

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3), uint8 or uint16
    fill : ndarray of float32 in [0, 1], shape (H, W, 3)
        Only its values where ``zone > 0`` are used.
    zone : ndarray of float32 in [0, 1], shape (H, W)

    Returns
    -------
    ndarray like ``plate`` (same shape and dtype)
    """
    out = plate.copy()
    edit = zone > 0
    weight = zone[edit][:, None]
    original = plate[edit].astype(np.float64) / np.iinfo(plate.dtype).max
    out[edit] = from_float(original * (1.0 - weight) + np.clip(fill[edit], 0.0, 1.0) * weight, plate.dtype)
    return out
