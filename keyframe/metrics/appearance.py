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


def delta_e_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel CIE76 colour difference of two RGB float images in ``[0, 1]``.

    Examples
    --------
    >>> a = np.full((2, 2, 3), 0.5, np.float32)
    >>> bool(delta_e_map(a, a).max() == 0)
    True
    """
    lab_a = cv2.cvtColor(np.ascontiguousarray(image, np.float32), cv2.COLOR_RGB2Lab)
    lab_b = cv2.cvtColor(np.ascontiguousarray(reference, np.float32), cv2.COLOR_RGB2Lab)
    return np.linalg.norm(lab_a - lab_b, axis=2)
