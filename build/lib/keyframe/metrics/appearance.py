"""Appearance of a region against the plate carried along its track: SSIM and colour difference."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity


def ssim_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (scikit-image, 7x7 window) of two grey float images in ``[0, 1]``.

    Examples
    --------
    >>> a = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    >>> float(ssim_map(a, a).mean())
    1.0
    """
    if min(image.shape) < 7:
        raise ValueError(f"SSIM needs images at least 7 px on a side, got {image.shape}")
    _, full = structural_similarity(image, reference, data_range=1.0, full=True)
    return full


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
