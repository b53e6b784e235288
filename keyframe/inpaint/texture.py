"""Texture synthesis for fills: the plate's own fine detail, copied in patches from around the hole.

A smooth fill (biharmonic, Telea, a VAE-softened diffusion fill) keeps the local colour but loses
the detail and grain finer than a few pixels, so it reads as a soft smudge. :func:`synthesize_texture`
restores that band from the surroundings: the image's high-pass (finer than ``sigma``) is copied in
overlapping Hann-windowed patches from the nearest clean pixels, each patch chosen among nearby
ones whose low-pass context (colour and shading) matches the fill where it goes, and summed so the
variance of uncorrelated patches is kept (``sum(w * patch) / sqrt(sum(w**2))``, not an average that
would halve it). Per band (three per octave below ``sigma``), only what the fill itself lacks is
added, so a fill that already carries detail keeps it.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from keyframe.masks import bounding_box
from keyframe.validation import check_mask, check_plate

_PATCH_PER_SIGMA = 16 / 3  # patch side per px of cutoff: a 16 px patch holds a sigma-3 band's structures
_RING_PATCHES = 3  # sources are read within this many patch sides of the hole
_SOURCE_STRIDE = 8  # source patch corners every patch/8 px: neighbours that far apart already differ
_CANDIDATES = 48  # nearest source patches considered for each target patch
_CHOICES = 4  # the target takes one of this many best context matches among them, at random
# the ring's most detailed tenth of patches (isolated strong edges: structure, not texture) is not
# copied; the gate's texture criterion caps the ring's local energy at the same percentile
_TEXTURE_QUANTILE = 0.9
_CONTEXT_GRID = 3  # low-pass context compared on a 3x3 grid of points per patch
_EPS = 1e-12


def synthesize_texture(
    image: np.ndarray,
    hole: np.ndarray,
    *,
    source: np.ndarray | None = None,
    sigma: float = 3.0,
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """Give a filled hole the fine detail of its surroundings: high-pass texture in patches copied from around it.

    Parameters
    ----------
    image : ndarray of float32 in [0, 1], shape (H, W, 3)
        The image with ``hole`` already filled (its coarse shapes and colour are kept).
    hole : ndarray of bool, shape (H, W)
        The filled pixels: the only ones that change.
    source : ndarray of bool, shape (H, W), optional
        Pixels whose detail may be copied (default: every pixel outside ``hole``). Patches lie
        wholly inside it, within three patch sides of the hole.
    sigma : float
        Cutoff of the synthesised band, a Gaussian sigma in px: detail finer than this comes from
        the surroundings, coarser from the fill. Patches are ``16 / 3 * sigma`` px square.
    rng : numpy.random.Generator or int
        Draws the patch choices (an int seeds one): the same inputs and seed give the same output.

    Returns
    -------
    ndarray of float32 in [0, 1], shape (H, W, 3)
        A copy of ``image`` with detail added inside ``hole``; bit-identical elsewhere. Unchanged
        where no source patch fits.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plate = np.clip(0.5 + rng.normal(0, 0.05, (96, 96, 3)), 0, 1).astype(np.float32)
    >>> hole = np.zeros((96, 96), bool); hole[32:64, 32:64] = True
    >>> smooth = plate.copy(); smooth[hole] = 0.5  # a flat fill in a grainy plate
    >>> textured = synthesize_texture(smooth, hole, rng=1)
    >>> bool((textured[~hole] == smooth[~hole]).all())
    True
    >>> round(float(textured[hole].std() / plate[~hole].std()), 1)
    1.0
    """
    image = check_plate(image, allow_float=True)
    if image.dtype != np.float32:
        raise ValueError(f"image must be float32 in [0, 1], got {image.dtype}")
    hole = check_mask(hole, image.shape[:2], empty_ok=True)
    source = ~hole if source is None else check_mask(source, image.shape[:2], empty_ok=True) & ~hole
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 px, got {sigma}")
    rng = np.random.default_rng(rng)
    result = image.copy()
    if not hole.any():
        return result
    patch = max(4, 2 * round(sigma * _PATCH_PER_SIGMA / 2))
    box = bounding_box(hole, _RING_PATCHES * patch)
    crop, inside = image[box.slices], hole[box.slices]
    detail = _patch_detail(crop, inside, source[box.slices], sigma, patch, rng)
    if detail is not None:
        view = result[box.slices]
        view[inside] = np.clip(crop[inside] + _missing(crop, detail, inside, sigma, patch)[inside], 0.0, 1.0)
    return result


def _patch_detail(
    crop: np.ndarray, inside: np.ndarray, source: np.ndarray, sigma: float, patch: int, rng: np.random.Generator
) -> np.ndarray | None:
    """The high-pass of ``source`` re-tiled over ``inside`` (zero elsewhere), or None when no patch fits in ``source``."""
    height, width = inside.shape
    if height < patch or width < patch:
        return None
    # low-pass from the clean pixels and the fill only (normalised convolution), so no other
    # region's defect leaks into the detail copied from beside it
    known = (source | inside).astype(np.float32)
    low = _blur(crop * known[..., None], sigma) / np.maximum(_blur(known, sigma), _EPS)[..., None]
    high = crop - low
    corners = _source_corners(source, patch)
    if len(corners) == 0:
        return None
    energy = cv2.boxFilter((high**2).sum(axis=2), -1, (patch, patch), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    energy = energy[corners[:, 0], corners[:, 1]]
    corners = corners[energy <= np.quantile(energy, _TEXTURE_QUANTILE)]
    targets = _target_corners(inside, patch)
    context = _blur(low, patch / 6)
    nearest = cKDTree(corners).query(targets, k=min(_CANDIDATES, len(corners)))[1].reshape(len(targets), -1)
    mismatch = ((_features(context, corners, patch)[nearest] - _features(context, targets, patch)[:, None]) ** 2).sum(axis=2)
    best = np.argsort(mismatch, axis=1)[:, :_CHOICES]
    picks = nearest[np.arange(len(targets)), best[np.arange(len(targets)), rng.integers(0, best.shape[1], len(targets))]]
    window = np.hanning(patch + 2)[1:-1].astype(np.float32)
    window = np.outer(window, window)
    total = np.zeros_like(crop)
    weight = np.zeros(inside.shape, np.float32)
    for (ty, tx), (sy, sx) in zip(targets, corners[picks]):
        total[ty : ty + patch, tx : tx + patch] += window[..., None] * high[sy : sy + patch, sx : sx + patch]
        weight[ty : ty + patch, tx : tx + patch] += window**2
    detail = total / np.sqrt(np.maximum(weight, _EPS))[..., None]  # variance-preserving overlap
    detail[~inside] = 0.0
    return detail


def _missing(crop: np.ndarray, detail: np.ndarray, inside: np.ndarray, sigma: float, patch: int) -> np.ndarray:
    """The part of ``detail`` the fill lacks: per band, scaled by sqrt(1 - local fill energy / local detail energy)."""
    sigmas = (sigma / 4, sigma / 2, sigma)
    added = np.zeros_like(crop)
    fill_blurs = [crop, *(_blur(crop, s) for s in sigmas)]
    detail_blurs = [detail, *(_blur(detail, s) for s in sigmas[:-1])]
    window = (patch | 1, patch | 1)
    weight = inside.astype(np.float32)
    for band in range(len(sigmas)):
        own = fill_blurs[band] - fill_blurs[band + 1]
        # the coarsest band takes all the rest of the synthesised detail
        copied = detail_blurs[band] - detail_blurs[band + 1] if band + 1 < len(detail_blurs) else detail_blurs[band]
        # energies over the hole's own pixels only: the plate beside it is not the fill's detail
        own_energy = cv2.blur((own**2).sum(axis=2) * weight, window)
        copied_energy = cv2.blur((copied**2).sum(axis=2) * weight, window)
        gain = np.sqrt(np.clip(1.0 - own_energy / np.maximum(copied_energy, _EPS), 0.0, 1.0))
        added += gain[..., None] * copied
    return added


def _blur(values: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(values, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _source_corners(source: np.ndarray, patch: int) -> np.ndarray:
    """Top-left corners ``(y, x)`` of patches lying wholly inside ``source``, on a grid of ``patch / 8`` px."""
    outside = (~source).astype(np.float32)
    blocked = cv2.boxFilter(outside, -1, (patch, patch), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    stride = max(1, patch // _SOURCE_STRIDE)
    fits = np.zeros_like(source)
    fits[: source.shape[0] - patch + 1 : stride, : source.shape[1] - patch + 1 : stride] = True
    return np.argwhere(fits & (blocked < 0.5))


def _target_corners(inside: np.ndarray, patch: int) -> np.ndarray:
    """Top-left corners of patches half-overlapping on a grid that covers every pixel of ``inside``."""
    step = patch // 2
    spans = []
    for axis in (1, 0):
        used = np.flatnonzero(inside.any(axis=axis))
        last = inside.shape[1 - axis] - patch
        first = min(max(int(used[0]) - step, 0), last)
        stop = min(max(int(used[-1]) - step + 1, first), last)
        spans.append(np.unique(np.minimum(np.arange(first, stop + step, step), last)))
    ys, xs = np.meshgrid(*spans, indexing="ij")
    corners = np.stack([ys.ravel(), xs.ravel()], axis=1)
    # keep only patches that touch the hole
    covered = cv2.boxFilter(inside.astype(np.float32), -1, (patch, patch), normalize=False, anchor=(0, 0),
                            borderType=cv2.BORDER_CONSTANT)
    return corners[covered[corners[:, 0], corners[:, 1]] > 0.5]


def _features(context: np.ndarray, corners: np.ndarray, patch: int) -> np.ndarray:
    """The low-pass ``context`` sampled on a 3x3 grid inside each patch: ``(len(corners), 27)``."""
    offsets = (np.arange(_CONTEXT_GRID) * 2 + 1) * patch // (2 * _CONTEXT_GRID)
    return np.concatenate([context[corners[:, 0] + oy, corners[:, 1] + ox] for oy in offsets for ox in offsets], axis=1)
