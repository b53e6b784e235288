"""What every upscale backend follows: one small protocol, and the result the stage returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from keyframe.registry import Progress, Registry


class Upscaler(Protocol):
    """An upscale backend: a plate in, the plate ``scale`` times larger out, same dtype.

    ``upscale`` takes an (H, W, 3) uint8 or uint16 RGB plate and returns (H*scale, W*scale, 3) in
    the same dtype; ``progress(done, total)`` counts tiles (or 1 of 1 for a whole-image backend).
    ``describe`` returns the backend's own parameters (JSON-ready) for the sidecar.
    """

    name: str
    scale: int

    def upscale(self, plate: np.ndarray, *, seed: int = 0, progress: Progress | None = None) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


#: Upscale backends by the name ``upscale.backend`` uses; each entry is a factory
#: ``make(cfg: UpscaleConfig, model) -> Upscaler`` (``model``: a preloaded model or None).
UPSCALERS: Registry[Any] = Registry("upscale backend")


@dataclass
class UpscaleResult:
    """What :func:`keyframe.upscale.upscale` made.

    Attributes
    ----------
    image : ndarray (H*scale, W*scale, 3), the plate's dtype
        The upscaled plate.
    scale : int
        The factor applied.
    params : dict
        Every parameter that shaped the image (JSON-ready).
    uniformity : dict or None
        With a mask: the edit's sharpness and grain against its surroundings ``before`` and
        ``after`` the upscale, their ``change`` and whether it got ``worse``
        (see :func:`keyframe.upscale.uniformity.compare_uniformity`); None without a mask.
    reasons : list of dict
        ``{code: "upscale", message, frames: []}`` when the upscale made the mismatch worse.
    fidelity_db : float or None
        How much of the plate the upscale kept: PSNR (dB) of the upscale area-averaged back to the
        plate's size against the plate (:func:`keyframe.upscale.stage.fidelity_db`).
    """

    image: np.ndarray
    scale: int
    params: dict[str, Any]
    uniformity: dict[str, Any] | None = None
    reasons: list[dict[str, Any]] | None = None
    fidelity_db: float | None = None

    @property
    def flagged(self) -> bool:
        """Whether the upscale made the edit stand out more than before."""
        return bool(self.reasons)

    def to_dict(self, output: str | None = None) -> dict[str, Any]:
        """The report's ``upscale`` part: ``scale``, ``params``, ``fidelity_db``, ``uniformity``,
        ``verdict``, ``reasons`` and the ``output`` file written."""
        return {"scale": self.scale, "params": self.params, "fidelity_db": self.fidelity_db, "uniformity": self.uniformity,
                "verdict": "flagged" if self.flagged else "pass", "reasons": list(self.reasons or []), "output": output}
