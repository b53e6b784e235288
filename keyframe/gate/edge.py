"""Edge criterion: is the plate in focus, is the edited patch as sharp as its surroundings, and is
there a halo or double edge along the edit's outline?

Three sub-checks, each against a limit from :class:`~keyframe.config.GateConfig`:

- ``focal_sharpness`` (whole plate): the RMS Laplacian of the sharpest 5 % of the plate, divided by
  the plate's grey-level spread, measured at a fixed working size (long side 512 px) so the number
  does not depend on resolution. A plate with nothing in focus scores low.
- ``relative_sharpness`` (with a mask): the ratio of fine to coarse detail inside the edit over
  the same ratio in a ring around it, as an amplitude ratio, at the gate's working size (512 px
  long side, as texture), so its limit holds at any resolution. A soft inpainted patch scores well
  below 1; an untouched area scores about 1 however busy or smooth it is, unless its content
  differs from its ring's (sky beside a tower): the score is over the least the nearest untouched
  patches of the edit's shape reach (when below 1), the plate's own spread at that size.
- ``halo``: along the outline, how far (in L*, 0-100) a thin rim just inside or just outside the
  boundary overshoots the range spanned by the bands farther in and farther out, minus the same
  measure along a parallel line farther out (the plate's own level). A step (hard paste) does not
  overshoot; a bright glow, a dark matte fringe or a ghost outline does.
"""

from __future__ import annotations

import cv2
import numpy as np

from keyframe.config import GateConfig
from keyframe.gate.criterion import (
    Check,
    Criterion,
    check_inputs,
    energy_ratio,
    has_boundary,
    judge,
    neighbourhood,
    paste,
    plate_tolerance,
    same_shape_samples,
    to_work_size,
    unit,
    work_scale,
)
from keyframe.io.images import from_float
from keyframe.masks import distance_to, shrink

NAME = "edge"
_FOCAL_WINDOW = 15
_LOCAL_WINDOW = 9
_ENERGY_FLOOR = 1e-5  # detail energy below ~1 grey level (8-bit) RMS counts as none


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _laplacian_energy(grey: np.ndarray, window: int) -> np.ndarray:
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3, borderType=cv2.BORDER_REFLECT)
    return cv2.boxFilter(lap * lap, -1, (window, window), borderType=cv2.BORDER_REFLECT)


def focal_sharpness(grey: np.ndarray) -> tuple[float, np.ndarray]:
    """Normalised focal sharpness of a grey [0, 1] image, and a map of local sharpness in [0, 1].

    Returns
    -------
    score : float
        RMS Laplacian of the sharpest 5 % of windows over the image's grey standard deviation.
    sharpness_map : ndarray of float32, same shape as ``grey``
        Local RMS Laplacian relative to that 95th percentile (1 = as sharp as the focal area).
    """
    height, width = grey.shape
    scale = work_scale(grey.shape)
    work = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    rms = np.sqrt(np.maximum(_laplacian_energy(work, _FOCAL_WINDOW), 0.0))
    focal = float(np.percentile(rms, 95))
    score = focal / (float(work.std()) + 0.02)
    local = unit(rms, max(focal, 1e-6))
    if scale < 1:
        local = cv2.resize(local, (width, height), interpolation=cv2.INTER_LINEAR)
    return score, local


def detail_bands(grey: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel fine-scale (sigma < 1) and coarse-scale (3 < sigma < 6) detail energy of a grey image.

    ``scale`` stretches every sigma, so an image upscaled ``scale`` times is measured on the same
    bands as the original.
    """
    blur1 = cv2.GaussianBlur(grey, (0, 0), 1.0 * scale, borderType=cv2.BORDER_REFLECT)
    blur3 = cv2.GaussianBlur(grey, (0, 0), 3.0 * scale, borderType=cv2.BORDER_REFLECT)
    blur6 = cv2.GaussianBlur(blur3, (0, 0), np.sqrt(27.0) * scale, borderType=cv2.BORDER_REFLECT)  # 3 then sqrt(27): 6
    return (grey - blur1) ** 2, (blur3 - blur6) ** 2


def relative_sharpness(grey: np.ndarray, mask: np.ndarray) -> tuple[float | None, np.ndarray, tuple[float, ...]]:
    """How much of its fine detail the edit keeps compared with a ring around it, beyond the plate's own spread.

    Natural images lose detail with scale at about the same rate everywhere (their spectra fall
    as a power law), so the ratio of fine-scale to coarse-scale detail is close to the same for a
    brick wall and for a sky; a blurred or soft-filled patch has lost its fine scale but kept its
    coarse shapes, and scores low. ``grey`` and ``mask`` are a crop around the edit, with room
    beside it for untouched patches of its shape; the ring is as wide as half the edit's size
    (8 to 64 px); it starts, and the inside ends, 6 px from the outline (2 px plus half the
    window local energy is averaged over), so the seam is not counted. A patch of smooth sky
    beside a launch tower reads below its ring all the same, so the same ratio is taken on the
    nearest untouched patches of the edit's shape
    (:func:`~keyframe.gate.criterion.same_shape_samples`), and the edit's is divided by the
    least of theirs when that is below 1.

    Returns
    -------
    ratio : float or None
        sqrt of (fine detail inside / in the ring) over (coarse detail inside / in the ring,
        capped at 1), local energies capped as :func:`~keyframe.gate.criterion.energy_ratio`
        does, over the least untouched patch's (at most 1); None when the edit is under 16 px or
        leaves no ring around it.
    softness : ndarray of float32
        Inside the edit, 1 - the local ratio (capped at 1): where the patch is soft.
    plate_ratios : tuple of float
        The same ratio on each untouched patch.
    """
    ring_px = int(np.clip(0.5 * np.sqrt(mask.sum()), 8, 64))
    gap = 2 + _LOCAL_WINDOW // 2  # local energies are window means: keep the seam out of them
    inside = shrink(mask, gap)
    inside = inside if inside.sum() >= 16 else mask
    d_out = distance_to(mask)
    ring = (d_out > gap + 0.5) & (d_out <= gap + ring_px + 0.5)
    if ring.sum() < 16 or mask.sum() < 16:
        return None, np.zeros(mask.shape, np.float32), ()
    fine, coarse = detail_bands(grey)
    window = (_LOCAL_WINDOW, _LOCAL_WINDOW)
    fine, coarse = np.maximum(cv2.blur(fine, window), 0), np.maximum(cv2.blur(coarse, window), 0)
    local = (fine + _ENERGY_FLOOR) / (coarse + _ENERGY_FLOOR)

    both = np.stack([fine, coarse], axis=-1)

    def kept(inner, outer) -> float:
        # an edit with more coarse structure than its ring (a galaxy in a starless patch of sky) is
        # not expected to carry more fine detail than the ring: the prediction is capped at the ring's
        fine_ratio, coarse_ratio = energy_ratio(both, inner, outer)
        return float(np.sqrt(fine_ratio / min(coarse_ratio, 1.0)))

    samples = same_shape_samples(mask, inside, ring, 2 * gap + 1, outside=d_out)
    plate_ratios = tuple(kept(*sample) for sample in samples)
    ring_ratio = float(np.median(local[ring])) * plate_tolerance(list(plate_ratios)) ** 2
    softness = np.where(inside, 1.0 - np.sqrt(np.minimum(local / ring_ratio, 1.0)), 0.0)
    return kept(inside, ring) / plate_tolerance(list(plate_ratios)), softness.astype(np.float32), plate_ratios


def _band_mean(values: np.ndarray, band: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over ``band`` pixels in a window around each pixel, and where it exists."""
    weight = band.astype(np.float32)
    total = cv2.boxFilter(values * weight, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(weight, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return total / np.maximum(count, 1e-6), count > 0.5


def _overshoot(lightness: np.ndarray, mask: np.ndarray, band: int) -> tuple[float | None, np.ndarray]:
    """Median overshoot (L*) of the thin rims along the outline beyond the bands on either side."""
    d_in = distance_to(~mask)
    d_out = distance_to(mask)
    window = 2 * band + 1
    bands = {
        "rim_in": (d_in >= 0.5) & (d_in <= 2.5),
        "rim_out": (d_out >= 0.5) & (d_out <= 3.5),
        "far_in": (d_in > 3.5) & (d_in <= 4.5 + band),
        "far_out": (d_out > 4.5) & (d_out <= 5.5 + band),
    }
    means, valid = {}, (d_in > 0.5) & (d_in < 1.2)  # the outline: pixels with a 4-neighbour outside
    for key, where in bands.items():
        means[key], present = _band_mean(lightness, where, window)
        valid &= present
    if not valid.any():
        return None, np.zeros(mask.shape, np.float32)
    high = np.maximum(means["far_in"], means["far_out"])
    low = np.minimum(means["far_in"], means["far_out"])
    overshoot = np.zeros(mask.shape, np.float32)
    for rim in (means["rim_in"], means["rim_out"]):
        overshoot = np.maximum(overshoot, np.maximum(rim - high, 0) + np.maximum(low - rim, 0))
    score = float(np.median(overshoot[valid]))
    spread = cv2.dilate(np.where(valid, overshoot, 0).astype(np.float32), np.ones((band + 1, band + 1), np.uint8))
    return score, spread


def halo(rgb: np.ndarray, mask: np.ndarray, band: int) -> tuple[float | None, np.ndarray]:
    """How far (L*) thin rims along the outline overshoot the bands on either side, beyond the plate's own level.

    The plate's own level is the same measure along a line ``3 * band`` px outside the outline
    (past any halo), so busy texture such as grass, whose rims overshoot by chance, is not
    mistaken for a halo. ``rgb`` and ``mask`` are a crop around the edit, with room for that line.

    Returns
    -------
    excess : float or None
        Overshoot at the outline minus the plate's own level; ``None`` when the edit is too thin
        to have bands on both sides of its outline.
    overshoot_map : ndarray of float32
        The overshoot along the outline, spread over ``band`` px.
    """
    # 8-bit Lab goes through OpenCV's lookup tables (about 5x faster than float); L* steps of 0.4
    # are far below the limits this is compared with, and are averaged over windows anyway
    lightness = cv2.cvtColor(from_float(rgb), cv2.COLOR_RGB2Lab)[:, :, 0].astype(np.float32) * np.float32(100 / 255)
    at_edit, overshoot_map = _overshoot(lightness, mask, band)
    if at_edit is None:
        return None, overshoot_map
    own, _ = _overshoot(lightness, distance_to(mask) <= 3 * band, band)
    return at_edit - (own or 0.0), overshoot_map


def score(plate: np.ndarray, mask: np.ndarray | None, cfg: GateConfig) -> Criterion:
    """Score the edge criterion of a plate (and its edit mask, if any).

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3)
        The edited plate, uint8/uint16 or float32 in [0, 1].
    mask : ndarray of shape (H, W) or None
        The edited region. Without it only focal sharpness is checked, on the whole plate.
    cfg : GateConfig

    Returns
    -------
    Criterion
        Score = worst sub-check as a multiple of its limit (above 1 fails).

    Examples
    --------
    >>> from skimage import data
    >>> score(data.astronaut(), None, GateConfig()).passed
    True
    """
    rgb, mask = check_inputs(plate, mask)
    grey = _grey(rgb)
    focal, sharp_map = focal_sharpness(grey)
    checks = {"focal_sharpness": Check(focal, cfg.focal_sharpness_min, "min")}
    reasons = {
        "focal_sharpness": f"the plate is soft overall (focal sharpness {focal:.3f}, needs at least "
        f"{cfg.focal_sharpness_min}): the video model will smear it further",
    }
    if not has_boundary(mask):
        details = {"scope": "whole plate", "heatmap_shows": "local sharpness (1 = as sharp as the focal area)"}
        return judge(NAME, checks, reasons, "the plate has a sharp focal area", sharp_map, details)

    box = neighbourhood(mask, max(80, 5 * cfg.band + 8))
    crop_rgb, crop_mask = rgb[box.slices], mask[box.slices]
    details = {"scope": "edit and its surroundings", "heatmap_shows": "soft areas inside the edit and halo along its outline"}
    # measured at the working size (as texture is), with room for the ring and beside the edit for
    # untouched patches of its shape
    scale = work_scale(mask.shape)
    wide = neighbourhood(mask, int(np.ceil(80 / scale)) + max(neighbourhood(mask, 0).shape))
    ratio, softness, plate_ratios = relative_sharpness(*to_work_size(grey[wide.slices], mask[wide.slices], scale))
    if scale < 1:
        softness = cv2.resize(softness, wide.shape[::-1], interpolation=cv2.INTER_LINEAR)
    details["plate_relative_sharpness"] = [round(v, 4) for v in plate_ratios]
    if ratio is None:
        details["relative_sharpness"] = {"value": None, "why": "the edit is too small, or leaves no surroundings, to compare"}
    else:
        checks["relative_sharpness"] = Check(ratio, cfg.relative_sharpness_min, "min")
        reasons["relative_sharpness"] = (
            f"the edited patch is softer than the picture around it ({ratio:.0%} of the surrounding detail, beyond "
            f"what untouched patches of its shape nearby lack; needs {cfg.relative_sharpness_min:.0%}): it will read "
            "as a smudge that swims in motion"
        )
    overshoot, halo_map = halo(crop_rgb, crop_mask, cfg.band)
    if overshoot is None:
        details["halo"] = {"value": None, "why": "the edit is too thin to have bands on both sides of its outline"}
    else:
        checks["halo"] = Check(overshoot, cfg.halo_max, "max")
        reasons["halo"] = (
            f"a halo or double edge runs along the edit's outline ({overshoot:.1f} L* beyond both sides, "
            f"limit {cfg.halo_max}): it will shimmer when the camera moves"
        )
    heatmap = np.maximum(paste(softness, wide, mask.shape), paste(unit(halo_map, 2 * cfg.halo_max), box, mask.shape))
    return judge(NAME, checks, reasons, "sharp as its surroundings, with no halo along the edit's outline", heatmap, details)
