"""Weight-free inpainting backends: OpenCV Telea and Navier-Stokes, scikit-image biharmonic."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from keyframe.config import InpaintConfig
from keyframe.inpaint.base import INPAINTERS
from keyframe.io import from_float, to_float
from keyframe.registry import Progress

_OPENCV_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


class OpenCVInpainter:
    """``cv2.inpaint`` with the Telea (fast marching) or Navier-Stokes method.

    Runs per channel on 16-bit samples so 16-bit plates keep their precision (OpenCV's 3-channel
    path is 8-bit only, and its float path mis-fills [0, 1] data with Telea).

    Parameters
    ----------
    method : {"telea", "ns"}
    radius : int
        Neighbourhood radius in pixels that each filled pixel is estimated from.
    """

    def __init__(self, method: str, radius: int = 3) -> None:
        if method not in _OPENCV_FLAGS:
            raise ValueError(f"unknown OpenCV inpaint method {method!r}")
        self.name = method
        self.radius = int(radius)

    def fill(
        self, image: np.ndarray, hole: np.ndarray, *, seed: int = 0, progress: Progress | None = None
    ) -> np.ndarray:
        """Fill ``hole`` in float32 RGB ``image``; pixels outside ``hole`` come back unchanged."""
        hole8 = hole.astype(np.uint8)
        samples = from_float(image, np.uint16)
        channels = [cv2.inpaint(np.ascontiguousarray(samples[:, :, c]), hole8, self.radius, _OPENCV_FLAGS[self.name])
                    for c in range(samples.shape[2])]
        if progress is not None:
            progress(1, 1)
        filled = to_float(np.stack(channels, axis=2))
        return np.where(hole[:, :, None], filled, image)

    def describe(self) -> dict[str, Any]:
        return {"radius": self.radius}


class BiharmonicInpainter:
    """scikit-image's biharmonic inpainting (smooth fills; slow for large holes)."""

    name = "biharmonic"

    def fill(
        self, image: np.ndarray, hole: np.ndarray, *, seed: int = 0, progress: Progress | None = None
    ) -> np.ndarray:
        """Fill ``hole`` in float32 RGB ``image``; pixels outside ``hole`` come back unchanged."""
        filled = inpaint_biharmonic(image, hole, channel_axis=-1).astype(np.float32)
        if progress is not None:
            progress(1, 1)
        return filled

    def describe(self) -> dict[str, Any]:
        return {}


@INPAINTERS.register("telea")
@INPAINTERS.register("ns")
def opencv_inpainter(cfg: InpaintConfig, model: Any = None) -> OpenCVInpainter:
    """``inpaint.backend: telea | ns`` with ``inpaint.radius``."""
    return OpenCVInpainter(cfg.backend, cfg.radius)


@INPAINTERS.register("biharmonic")
def biharmonic_inpainter(cfg: InpaintConfig, model: Any = None) -> BiharmonicInpainter:
    """``inpaint.backend: biharmonic`` (no parameters)."""
    return BiharmonicInpainter()
