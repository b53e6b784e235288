"""Appearance of a region against the plate carried along its track: SSIM and colour difference."""

from __future__ import annotations

import cv2
import numpy as np

SSIM_WINDOW = 7  # scikit-image's default window (Wang et al. 2004 with a uniform 7x7 window)
_SSIM_C1, _SSIM_C2 = 0.01**2, 0.03**2  # (K1 L)^2, (K2 L)^2 for data range L = 1


def ssim_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two grey float images in ``[0, 1]``, as ``skimage.metrics.structural_similarity``.

    The same definition as scikit-image's default (7x7 uniform window, sample covariance,
    reflected borders, ``data_range=1``) computed with OpenCV box filters, which is several times
    faster and keeps SciPy's start-up off the check's critical path. Both compute in float32;
    they agree within 1e-3 per pixel (cancellation in flat areas) and 1e-5 in the mean (a test
    compares them).

    Examples
    --------
    >>> a = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> float(ssim_map(a, a).mean())
    1.0
    """
    if min(image.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images at least {SSIM_WINDOW} px on a side, got {image.shape}")
    x, y = np.asarray(image, np.float32), np.asarray(reference, np.float32)

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, cv2.CV_32F, (SSIM_WINDOW, SSIM_WINDOW), borderType=cv2.BORDER_REFLECT)

    sample = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1.0)  # unbiased (sample) covariance, as scikit-image
    mx, my = mean(x), mean(y)
    vx, vy = sample * (mean(x * x) - mx * mx), sample * (mean(y * y) - my * my)
    vxy = sample * (mean(x * y) - mx * my)
    return ((2 * mx * my + _SSIM_C1) * (2 * vxy + _SSIM_C2)
            / ((mx * mx + my * my + _SSIM_C1) * (vx + vy + _SSIM_C2)))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab of an RGB float image in ``[0, 1]`` (L in 0-100)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)


def delta_e_map(lab: np.ndarray, reference_lab: np.ndarray) -> np.ndarray:
    """Per-pixel CIE76 colour difference of two Lab images (see :func:`to_lab`).

    Examples
    --------
    >>> a = to_lab(np.full((2, 2, 3), 0.5, np.float32))
    >>> bool(delta_e_map(a, a).max() == 0)
    True
    """
    diff = lab - reference_lab
    return np.sqrt((diff * diff).sum(axis=2))
