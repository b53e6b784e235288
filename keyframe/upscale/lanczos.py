"""The weight-free default: a Lanczos resample, edge-aware detail restoration, and back-projection.

1. Lanczos-4 resample by ``scale`` (OpenCV, pixel centres aligned, so an area-average downscale
   lines up with the plate again).
2. Detail restoration (``detail`` > 0): unsharp masking clamped to each pixel's local range
   (:func:`restore_detail`), which steepens edges the resample left soft without ringing halos.
3. Back-projection (Irani & Peleg 1991): the upscale is area-averaged back to the plate's size
   and the difference from the plate is resampled up and added, a few times, so the result
   downscales to the plate again (the plate is kept; only detail finer than its pixels is new).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from keyframe.io import from_float, to_float
from keyframe.registry import Progress
from keyframe.upscale.tiles import upscale_tiled

BACK_PROJECTIONS = 3  # each pass shrinks the downscale error ~10x; 3 passes put it far below 8-bit steps


def restore_detail(image: np.ndarray, scale: int, gain: float) -> np.ndarray:
    """Halo-free sharpening of an upscaled image: unsharp masking clamped to each pixel's local range.

    The unsharp mask (Gaussian of sigma ``scale / 2``, the blur a ``scale``-times resample leaves)
    steepens edges; clamping every pixel to the range of its ``scale + 1`` neighbourhood in the
    resample stops the overshoot that would ring into halos. The clamp is what makes it edge-aware
    and non-linear: it turns a soft ramp into a steeper step, detail finer than the plate's pixels.
    """
    blurred = cv2.GaussianBlur(image, (0, 0), scale / 2.0, borderType=cv2.BORDER_REFLECT)
    sharpened = image + gain * (image - blurred)
    window = cv2.getStructuringElement(cv2.MORPH_RECT, (scale + 1, scale + 1))
    low = cv2.erode(image, window, borderType=cv2.BORDER_REFLECT)
    high = cv2.dilate(image, window, borderType=cv2.BORDER_REFLECT)
    return np.clip(sharpened, low, high)


def lanczos_upscale(plate: np.ndarray, scale: int, detail: float = 0.0) -> np.ndarray:
    """Upscale ``plate`` by ``scale`` without weights; the result area-averages back to the plate.

    Parameters
    ----------
    plate : ndarray (H, W, 3), uint8 or uint16, or float32 in [0, 1]
    scale : int
    detail : float
        Gain of the edge-aware detail restoration; 0 is a plain Lanczos resample (still
        back-projected).

    Returns
    -------
    ndarray (H*scale, W*scale, 3), the plate's dtype

    Examples
    --------
    >>> from skimage import data
    >>> plate = data.chelsea()[:64, :96]
    >>> big = lanczos_upscale(plate, 2, detail=0.5)
    >>> back = cv2.resize(big, (96, 64), interpolation=cv2.INTER_AREA).astype(float)
    >>> big.shape, bool(np.mean((back - plate) ** 2) < 255**2 / 10**3.5)  # PSNR above 35 dB
    ((128, 192, 3), True)
    """
    source = to_float(plate)
    height, width = source.shape[:2]
    size = (width * scale, height * scale)
    image = cv2.resize(source, size, interpolation=cv2.INTER_LANCZOS4)
    if detail > 0:
        image = restore_detail(image, scale, detail)
    for _ in range(BACK_PROJECTIONS):
        error = source - cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        image += cv2.resize(error, size, interpolation=cv2.INTER_LANCZOS4)
    image = np.clip(image, 0.0, 1.0)
    return image if plate.dtype == np.float32 else from_float(image, plate.dtype)


@dataclass
class LanczosUpscaler:
    """The embedded default backend (:func:`lanczos_upscale`), tiled like the model backends so a
    large plate's float32 intermediates stay the size of a tile."""

    scale: int
    detail: float
    tile: int
    overlap: int
    name: str = "lanczos"

    def upscale(self, plate: np.ndarray, *, seed: int = 0, progress: Progress | None = None) -> np.ndarray:
        run = lambda tile: lanczos_upscale(tile, self.scale, self.detail)  # noqa: E731
        return upscale_tiled(plate, run, self.scale, tile=self.tile, overlap=self.overlap, progress=progress)

    def describe(self) -> dict[str, Any]:
        return {"detail": self.detail, "back_projections": BACK_PROJECTIONS, "tile": self.tile, "tile_overlap": self.overlap}
