"""Dense optical flow backends, chosen by name: ``dis`` (default), ``farneback``, ``raft``.

Every backend takes two grey ``uint8`` images of the same shape and returns the flow from the
first to the second as ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels: ``first[y, x]`` moved to
``second[y + dy, x + dx]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from keyframe.errors import WeightsError
from keyframe.metrics.weights import hub_checkpoint

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
RAFT_WEIGHTS = "raft_small_C_T_V2-01064c6d.pth"


class FlowBackend(Protocol):
    """Anything that computes dense flow between two grey uint8 images."""

    name: str

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray: ...


class DISFlow:
    """OpenCV's Dense Inverse Search flow (Kroeger et al. 2016); fast and accurate for camera motion."""

    name = "dis"

    def __init__(self, preset: str = "fast") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; use one of {sorted(DIS_PRESETS)}")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow.create(DIS_PRESETS[preset])

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return self._dis.calc(first, second, None)


class FarnebackFlow:
    """OpenCV's Farneback polynomial-expansion flow; slower than DIS, no learned parts."""

    name = "farneback"

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def raft_weights_path() -> Path:
    """Where torchvision keeps RAFT-small weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return hub_checkpoint(RAFT_WEIGHTS)


class RAFTFlow:
    """torchvision's RAFT-small, only from weights already in the local torch hub cache."""

    name = "raft"

    def __init__(self) -> None:
        path = raft_weights_path()
        if not path.is_file():
            raise WeightsError(f"flow backend raft needs local weights, not found: {path} (use check.flow: dis)")
        import torch
        from torchvision.models.optical_flow import raft_small

        model = raft_small(weights=None)
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, ValueError) as exc:
            raise WeightsError(f"RAFT weights at {path} do not load: {str(exc).splitlines()[0]}") from None
        self._torch = torch
        self._model = model.eval()

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        torch = self._torch
        height, width = first.shape
        pad_h, pad_w = -height % 8, -width % 8
        pair = [np.pad(img, ((0, pad_h), (0, pad_w)), mode="edge") for img in (first, second)]
        tensors = [
            torch.from_numpy(np.repeat(img[None, None].astype(np.float32) / 127.5 - 1.0, 3, axis=1)) for img in pair
        ]
        with torch.inference_mode():
            flow = self._model(tensors[0], tensors[1], num_flow_updates=12)[-1]
        return np.ascontiguousarray(flow[0].permute(1, 2, 0).numpy()[:height, :width], dtype=np.float32)


def make_flow(name: str, preset: str = "medium") -> FlowBackend:
    """The flow backend called ``name`` (``dis``, ``farneback`` or ``raft``).

    Examples
    --------
    >>> a = np.zeros((64, 64), np.uint8); a[20:40, 20:40] = 255
    >>> flow = make_flow("dis")(a, np.roll(a, 2, axis=1))
    >>> flow.shape
    (64, 64, 2)
    """
    if name == "dis":
        return DISFlow(preset)
    if name == "farneback":
        return FarnebackFlow()
    if name == "raft":
        return RAFTFlow()
    raise ValueError(f"unknown flow backend {name!r}")


def make_flow_pair(name: str, preset: str = "medium") -> tuple[FlowBackend, FlowBackend]:
    """Backends for the tracking direction and for the consistency-check direction.

    The backward flow carries the mask and measures the region, so it gets ``preset``; the
    forward flow only feeds the forward-backward occlusion test (tolerance 0.5 px^2 + 1 %) and
    the in-frame count, so for DIS it runs at the FAST preset (0.1-0.3 px end-point error here),
    about 3x cheaper than MEDIUM.
    """
    return make_flow(name, preset), make_flow(name, "fast") if name == "dis" else make_flow(name, preset)
