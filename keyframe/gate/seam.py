"""Seam criterion: is the edit's outline invisible?

The numbers are :func:`keyframe.seam.measure_seam`'s (the same measure the inpaint stage reports),
each checked against a limit from :class:`~keyframe.config.GateConfig`:

- ``grain_mismatch``: noise inside over noise around the edit, or its inverse, whichever is larger
  (1 = matched; a clean patch on a grainy plate and a noisy patch on a clean one both score high),
  each counted from one 8-bit level (finer grain is invisible), over the most the nearest
  untouched patches of the edit's shape are off (:func:`grain_mismatch`).
- ``gradient_ridge``: gradient on the outline over gradient beside it (a hard pasted edge).
- ``colour_ridge``: the same in colour alone (median chroma gradient, ΔE per px): a hard-edged
  tint draws a colour outline even across busy texture, where the cast measure below lets it
  pass as within the plate's own variation.
- ``colour_cast``: :func:`keyframe.gate.colour.colour_cast`: the median CIELAB step across the
  outline in units of the steps' own variation, over the outline's independent looks, so a
  subtle cast shows on a flat wall, a lighting gradient cancels out, and busy texture's own
  colour variation raises the bar. Measured at the gate's working size (512 px long side), so its
  limit holds at any resolution.

The heatmap is the colour step across the outline (ΔE). A sub-check on that step's size (its
median beyond the plate's own step further out) was dropped when the cast measure took over:
it caught no defect the others missed and raised 10 of 340 untouched audit runs.
"""

from __future__ import annotations

import cv2
import numpy as np

from keyframe.config import GateConfig
from keyframe.gate.criterion import (
    Check,
    Criterion,
    NOISE_FLOOR,
    check_inputs,
    finite,
    has_boundary,
    judge,
    neighbourhood,
    not_checked,
    paste,
    same_shape_samples,
    thin,
    to_work_size,
    unit,
    work_scale,
)
from keyframe.gate.colour import colour_cast
from keyframe.masks import distance_to
from keyframe.seam import grain_regions, measure_seam, noise_response

NAME = "seam"
#: colour step (ΔE) the heatmap shows at full strength: the calibration's hard-edged cast is 8.5
HEATMAP_FULL_DE = 8.0


def grain_mismatch(rgb: np.ndarray, mask: np.ndarray, band: int) -> tuple[float, float, float]:
    """How far the edit's grain is off its surroundings', beyond what untouched patches of its shape reach.

    Noise levels are :func:`keyframe.seam.measure_seam`'s (Immerkær, over the same regions),
    counted from one 8-bit level (:data:`~keyframe.gate.criterion.NOISE_FLOOR`), so two
    near-noiseless areas, a clipped sky and its clipped surroundings, never read many times
    apart. The same factor is taken on the nearest untouched same-shape patches whose rings stay
    off the edit (:func:`~keyframe.gate.criterion.same_shape_samples`): text or a cable crossing
    a small patch makes its noise estimate stray, and theirs as much.

    Returns
    -------
    mismatch : float
        max(ratio, 1 / ratio) over the largest such factor of the untouched patches (when above 1).
    ratio : float
        Noise inside over noise around the edit.
    own : float
        The largest factor off among the untouched patches (at least 1).
    """
    response = noise_response(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    outside = distance_to(mask)
    interior, ring = grain_regions(mask, band, outside)

    def noise_ratio(inner, outer) -> float:
        if not (len(inner[0]) and len(outer[0])):
            return float("nan")  # no pixels to measure (a mask covering almost everything): not checked
        return float((np.median(response[inner]) + NOISE_FLOOR) / (np.median(response[outer]) + NOISE_FLOOR))

    ratio = noise_ratio(thin(np.nonzero(interior)), thin(np.nonzero(ring)))  # as thinned as the samples
    samples = same_shape_samples(mask, interior, ring, 2 * 2 + 3 * band + 1, outside=outside)  # rings off the edit
    own = max([1.0, *(max(r, 1.0 / r) for r in (noise_ratio(*sample) for sample in samples))])
    return max(ratio, 1.0 / ratio) / own, ratio, own


def score(plate: np.ndarray, mask: np.ndarray | None, cfg: GateConfig) -> Criterion:
    """Score the seam criterion of an edited plate.

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3)
        The edited plate, uint8/uint16 or float32 in [0, 1].
    mask : ndarray of shape (H, W) or None
        The edited region. Without a mask (or with one covering everything) there is no seam and
        the criterion is "not checked".
    cfg : GateConfig

    Returns
    -------
    Criterion
        Score = worst sub-check as a multiple of its limit (above 1 fails).

    Examples
    --------
    >>> from skimage import data
    >>> score(data.astronaut(), None, GateConfig()).passed is None
    True
    """
    rgb, mask = check_inputs(plate, mask)
    if mask is None:
        return not_checked(NAME, "no mask was given, so there is no edit outline to inspect")
    if not has_boundary(mask):
        return not_checked(NAME, "the mask covers the whole plate, so there is no edit outline to inspect")
    # measure_seam looks 3 bands (plus its window) beyond the outline, colour_cast 4 bands at the work size
    scale = work_scale(mask.shape)
    box = neighbourhood(mask, int(np.ceil(4 * cfg.band / scale)) + 8)
    crop, crop_mask = rgb[box.slices], mask[box.slices]
    seam = measure_seam(crop, crop_mask, band=cfg.band)
    wide = neighbourhood(mask, 10 * cfg.band + 8 + max(neighbourhood(mask, 0).shape))  # room for untouched patches
    grain, ratio, own = grain_mismatch(rgb[wide.slices], mask[wide.slices], cfg.band)
    checks = {
        "grain_mismatch": Check(grain, cfg.grain_mismatch_max, "max"),
        "gradient_ridge": Check(seam.gradient_ridge, cfg.gradient_ridge_max, "max"),
        "colour_ridge": Check(seam.colour_ridge, cfg.colour_ridge_max, "max"),
    }
    cast = colour_cast(*to_work_size(crop, crop_mask, scale), cfg.band)
    if cast is not None:
        checks["colour_cast"] = Check(cast.visibility, cfg.colour_cast_max, "max")
    texture = "cleaner" if ratio < 1 else "noisier"
    reasons = {
        "grain_mismatch": f"the edit is {texture} than the plate around it (grain {grain * own:.2f}x off, "
        f"{grain:.2f}x beyond the {own:.2f}x untouched patches of its shape nearby reach, limit "
        f"{cfg.grain_mismatch_max}x): the patch will look frozen while the grain around it moves",
        "colour_cast": "" if cast is None else f"the edit is {cast.describe()} than its surroundings all along "
        f"its outline (ΔE {cast.delta_e:.1f} against the surroundings' own variation of {cast.spread:.1f}, the "
        f"same on {cast.looks:.0f} stretches of the outline: visibility {cast.visibility:.1f}, "
        f"limit {cfg.colour_cast_max}): a colour cast that will show as a tinted blob",
        "gradient_ridge": f"a visible edge follows the edit's outline ({seam.gradient_ridge:.2f}x the gradient "
        f"beside it, limit {cfg.gradient_ridge_max}x): the video model will treat it as an object edge",
        "colour_ridge": f"a colour edge follows the edit's outline ({seam.colour_ridge:.2f}x the colour change "
        f"beside it, limit {cfg.colour_ridge_max}x): the patch will show as a tinted blob with a hard outline",
    }
    details = {"measure": finite(seam.as_dict()), "plate_grain_mismatch": round(own, 4),
               "heatmap_shows": "colour step across the outline (ΔE)"}
    heatmap = paste(unit(seam.heatmap, HEATMAP_FULL_DE), box, mask.shape)
    return judge(NAME, checks, reasons, "the edit's outline is invisible in colour, grain and gradient", heatmap, details)
