"""The seam measure: how visible the mask boundary is in an edited image.

One definition, used by the inpaint stage (to show seam matching works) and by the gate's seam
criterion (to refuse plates whose seams the video model would amplify).

Four numbers, each computed from the image alone (no reference to the unedited plate):

- ``color_step``: median over boundary pixels of the CIE76 ΔE between the mean Lab colour just
  inside and just outside the boundary, in a local window. A matched fill is ~1–3; a visibly
  shifted patch is > 5.
- ``grain_ratio``: noise level inside the mask over noise level in a ring around it (Immerkær's
  robust estimate on the grey image). 1 means matched; a clean patch on a grainy plate is < 0.5.
- ``gradient_ridge``: mean gradient magnitude on the boundary over that in the bands beside it.
  ~1 when the boundary is invisible; a hard pasted edge makes a ridge that follows the contour.
- ``colour_ridge``: the same in colour alone: median chroma gradient (a*, b*; ΔE per px, plus
  half a ΔE, below which a colour edge cannot be seen) on the boundary over that beside it. A
  hard-edged tint draws a colour outline even where its lightness does not change and the
  texture around it is busy; an untouched boundary laid anywhere reads about 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.io.images import to_float
from keyframe.masks import contour, distance_to, shrink

_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_EPS = 1e-6
#: chroma gradient (ΔE per px) added to both sides of the colour ridge: a colour edge softer than
#: half a ΔE per pixel is invisible, and grey plates (no chroma at all) must not divide by zero
_CHROMA_FLOOR = 0.5


@dataclass(frozen=True)
class SeamMeasure:
    """The seam numbers of one edited image, plus a per-pixel map of the colour step."""

    color_step: float
    grain_ratio: float
    gradient_ridge: float
    colour_ridge: float
    sigma_inside: float
    sigma_outside: float
    heatmap: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """The scalar numbers, for reports and sidecars."""
        return {
            "color_step": self.color_step,
            "grain_ratio": self.grain_ratio,
            "gradient_ridge": self.gradient_ridge,
            "colour_ridge": self.colour_ridge,
            "sigma_inside": self.sigma_inside,
            "sigma_outside": self.sigma_outside,
        }


def noise_response(grey: np.ndarray) -> np.ndarray:
    """Immerkær's Laplacian-difference response of ``grey``, scaled so its median absolute value over
    a region estimates the noise sigma there (kernel norm 6, MAD factor 1.4826)."""
    response = cv2.filter2D(grey.astype(np.float32), -1, _NOISE_KERNEL, borderType=cv2.BORDER_REFLECT)
    return np.abs(response) * np.float32(1.4826 / 6.0)


def noise_sigma(grey: np.ndarray, region: np.ndarray) -> float:
    """Robust noise level (in the image's [0, 1] units) of ``grey`` inside ``region``.

    Immerkær's Laplacian-difference kernel removes smooth image content; the median absolute
    response, scaled for Gaussian noise, estimates sigma (:func:`noise_response`).
    """
    values = noise_response(grey)[region]
    if values.size == 0:
        return float("nan")
    return float(np.median(values))


def grain_regions(mask: np.ndarray, band: int, outside: np.ndarray | None = None,
                  inside: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where ``grain_ratio`` compares noise: the edit 2 px in (all of it if that leaves under 64 px),
    and a ring from 2 to ``3 * band`` px around it. ``outside`` and ``inside`` are
    ``distance_to(mask)`` and ``distance_to(~mask)`` when known."""
    interior = shrink(mask, 2) if inside is None else inside > 2
    interior = interior if interior.sum() >= 64 else mask
    outside = distance_to(mask) if outside is None else outside
    return interior, (outside > 2) & (outside <= 3 * band)


def _local_mean(values: np.ndarray, weight: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``values`` over the pixels where ``weight`` is set, in a ``window`` box around each pixel."""
    ksize = (window, window)
    total = cv2.boxFilter(values * weight[..., None], -1, ksize, normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(weight.astype(np.float32), -1, ksize, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return total / np.maximum(count, _EPS)[..., None]


def measure_seam(image: np.ndarray, mask: np.ndarray, band: int = 6) -> SeamMeasure:
    """Measure how visible the boundary of ``mask`` is in ``image``.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3)
        RGB, uint8/uint16 or float in [0, 1].
    mask : ndarray of shape (H, W)
        The edited region (nonzero = edited). A soft mask is thresholded at 0.5.
    band : int
        Width in pixels of the bands compared on each side of the boundary.

    Returns
    -------
    SeamMeasure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = np.full((64, 64, 3), 0.5, np.float32) + rng.normal(0, 0.02, (64, 64, 3)).astype(np.float32)
    >>> m = np.zeros((64, 64), bool); m[20:44, 20:44] = True
    >>> img[m] += 0.2  # a brighter pasted patch
    >>> measure_seam(img, m).color_step > 10
    True
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    hard = mask > 0.5 if mask.dtype != bool else mask
    if not hard.any() or hard.all():
        raise ValueError("the seam of an empty or full mask is undefined")

    rgb = np.clip(to_float(image), 0.0, 1.0)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # every band and ring below thresholds three distance maps: into the mask, out of it, to its outline
    inside, outside = distance_to(~hard), distance_to(hard)
    inner, outer = hard & (inside <= band), ~hard & (outside <= band)  # boundary_bands(hard, band)
    edge = contour(hard)
    to_edge = distance_to(edge)

    window = 2 * band + 1
    step = np.linalg.norm(_local_mean(lab, inner, window) - _local_mean(lab, outer, window), axis=2)
    heatmap = np.where(to_edge <= band // 2, step, 0.0).astype(np.float32)
    color_step = float(np.median(step[edge]))

    interior, ring = grain_regions(hard, band, outside, inside)
    sigma_in, sigma_out = noise_sigma(grey, interior), noise_sigma(grey, ring)
    grain_ratio = float((sigma_in + _EPS) / (sigma_out + _EPS))

    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    on_seam = (to_edge <= 1) & (inside <= 2)
    beside = (inner | outer) & (to_edge > 2)
    ridge = float(np.mean(magnitude[on_seam]) / (np.mean(magnitude[beside]) + _EPS)) if beside.any() else 1.0
    colour_ridge = 1.0
    if beside.any():
        # Sobel's 3x3 kernels weigh a one-pixel step 4 times on each side: /8 gives ΔE per px
        chroma = sum(cv2.Sobel(lab[..., c], cv2.CV_32F, dx, 1 - dx, ksize=3) ** 2 for c in (1, 2) for dx in (0, 1))
        chroma = np.sqrt(chroma) / 8
        colour_ridge = float((np.median(chroma[on_seam]) + _CHROMA_FLOOR) / (np.median(chroma[beside]) + _CHROMA_FLOOR))
    return SeamMeasure(color_step, grain_ratio, ridge, colour_ridge, sigma_in, sigma_out, heatmap)
