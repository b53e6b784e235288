"""What every renderer returns, and the one protocol a render backend follows.

A backend that takes an end plate (``diffusers``) also accepts ``last=`` (an RGB array).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from keyframe.config import RenderConfig
from keyframe.io import from_float, to_float
from keyframe.registry import Progress, Registry
from keyframe.validation import check_plate


@dataclass
class RenderResult:
    """A rendered clip and everything needed to map the plate into it.

    Attributes
    ----------
    frames : ndarray (T, H, W, 3) uint8, or a re-iterable sized source of (H, W, 3) uint8 frames
        RGB frames: an array from the model backends, or the camera's
        :class:`~keyframe.render.camera_frames.CameraFrames`, which renders each frame as it is read.
    fps : float
        Frame rate of the clip.
    plate_to_frame0 : list of list of float
        3x3 matrix: plate pixel coordinates -> frame-0 pixel coordinates.
    frame_transforms : list of 3x3 lists, or None
        Plate -> frame ``t`` for every frame; ``None`` when unknown (svd).
    params : dict
        JSON-ready: every parameter that shaped the clip, as resolved.
    model_info : dict or None
        Model identity (path, class, config hash, weight files) for model backends.
    backend : str
        ``camera`` or ``svd``.
    fit : dict or None
        The plate -> render-size fit (:meth:`keyframe.render.fit.Fit.to_dict`), ``None`` if the
        plate was rendered at its own size.
    motion : dict
        Backend facts the sidecar records (camera: overscan, whether the transforms are exact).
    last_to_frame : list of list of float or None
        3x3 matrix: end-plate pixel coordinates -> last-frame pixel coordinates, when the clip was
        conditioned on an end plate (``--last``).
    """

    frames: np.ndarray | Frames
    fps: float
    plate_to_frame0: list[list[float]]
    frame_transforms: list[list[list[float]]] | None
    params: dict[str, Any]
    model_info: dict[str, Any] | None
    backend: str
    fit: dict[str, Any] | None = None
    motion: dict[str, Any] = field(default_factory=dict)
    last_to_frame: list[list[float]] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


class Frames(Protocol):
    """A clip that is read, not held: iterate it (again and again) for its ``(H, W, 3)`` uint8 frames;
    ``len`` and ``shape`` ``(T, H, W, 3)`` are known without reading it."""

    shape: tuple[int, int, int, int]

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def __getitem__(self, t: int) -> np.ndarray: ...


class Renderer(Protocol):
    """A render backend: a plate in, a :class:`RenderResult` out (registered in :data:`RENDERERS`)."""

    def __call__(
        self,
        plate: np.ndarray,
        cfg: RenderConfig,
        *,
        seed: int = 0,
        model: Any = None,
        progress: Progress | None = None,
    ) -> RenderResult: ...


def to_uint8(plate: np.ndarray) -> np.ndarray:
    """RGB plate of uint8 or uint16 -> uint8 (video is 8-bit), rounding 16-bit values."""
    plate = check_plate(plate)
    return plate if plate.dtype == np.uint8 else from_float(to_float(plate), np.uint8)


#: Render backends by ``render.backend`` name.
RENDERERS: Registry[Renderer] = Registry("render backend")
