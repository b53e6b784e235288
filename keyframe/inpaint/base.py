"""The inpaint backend protocol and the registry the ``inpaint.backend`` name is looked up in."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from keyframe.config import InpaintConfig
from keyframe.registry import Progress, Registry


class Inpainter(Protocol):
    """A backend: fills a hole in one float32 RGB crop.

    ``fill`` gets a crop in [0, 1] and a boolean hole of the same size and returns the filled
    crop (float32, same shape); ``progress``, when given, is called as ``progress(done, total)``
    with this crop's work. ``describe`` returns the backend's own parameters (JSON-ready).
    """

    name: str

    def fill(self, image: np.ndarray, hole: np.ndarray, *, seed: int = 0, progress: Progress | None = None) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


class InpainterFactory(Protocol):
    """Builds the backend from the ``inpaint`` section; ``model`` is an already loaded model, if any."""

    def __call__(self, cfg: InpaintConfig, model: Any = None) -> Inpainter: ...


#: Inpaint backends by ``inpaint.backend`` name.
INPAINTERS: Registry[InpainterFactory] = Registry("inpaint backend")
