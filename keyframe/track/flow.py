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
from keyframe.registry import Registry

# name -> (OpenCV preset, finest scale or None for the preset's own). "balanced" is FAST refined
# down to half resolution (finest scale 1): on the uncompressed calibration clips it tracks as
# accurately as MEDIUM (end-point error 0.03-0.11 px vs 0.03-0.12) in about 70 % of its time.
# "fine" is FAST refined down to full resolution (finest scale 0): on an H.264 clip (the scale
# benchmark's 1024x576) the chained map of "balanced" was 3-6 px off inside the region by frame
# 8-24 (90th percentile), "fine" 0.4-0.9 px, as MEDIUM at full resolution.
DIS_PRESETS = {
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_FAST, 0),
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "balanced": (cv2.DISOPTICAL_FLOW_PRESET_FAST, 1),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
}
RAFT_WEIGHTS = "raft_small_C_T_V2-01064c6d.pth"
_RAFT_MIN = 128


class FlowBackend(Protocol):
    """Anything that computes dense flow between two grey uint8 images."""

    name: str

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray: ...


#: Flow backends by ``check.flow`` name; each is built as ``backend(preset)`` (the DIS preset, which
#: the other backends ignore).
FLOWS: Registry[type] = Registry("flow backend")


@FLOWS.register("dis")
class DISFlow:
    """OpenCV's Dense Inverse Search flow (Kroeger et al. 2016); fast and accurate for camera motion."""

    name = "dis"

    def __init__(self, preset: str = "fast") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; use one of {sorted(DIS_PRESETS)}")
        self.preset = preset
        code, finest = DIS_PRESETS[preset]
        self._dis = cv2.DISOpticalFlow.create(code)
        if finest is not None:
            self._dis.setFinestScale(finest)

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return self._dis.calc(first, second, None)


@FLOWS.register("farneback")
class FarnebackFlow:
    """OpenCV's Farneback polynomial-expansion flow; slower than DIS, no learned parts."""

    name = "farneback"

    def __init__(self, preset: str | None = None) -> None:
        pass  # no presets

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def raft_weights_path() -> Path:
    """Where torchvision keeps RAFT-small weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return hub_checkpoint(RAFT_WEIGHTS)


@FLOWS.register("raft")
class RAFTFlow:
    """torchvision's RAFT-small, only from weights already in the local torch hub cache."""

    name = "raft"

    def __init__(self, preset: str | None = None) -> None:
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
        # RAFT needs sides that are multiples of 8 and at least 128 (its correlation pyramid)
        pad_h, pad_w = max(-height % 8, _RAFT_MIN - height), max(-width % 8, _RAFT_MIN - width)
        pair = [np.pad(img, ((0, pad_h), (0, pad_w)), mode="edge") for img in (first, second)]
        tensors = [
            torch.from_numpy(np.repeat(img[None, None].astype(np.float32) / 127.5 - 1.0, 3, axis=1)) for img in pair
        ]
        with torch.inference_mode():
            flow = self._model(tensors[0], tensors[1], num_flow_updates=12)[-1]
        return np.ascontiguousarray(flow[0].permute(1, 2, 0).numpy()[:height, :width], dtype=np.float32)


def make_flow(name: str, preset: str = "balanced") -> FlowBackend:
    """The flow backend called ``name`` (``dis``, ``farneback`` or ``raft``).

    Examples
    --------
    >>> a = np.zeros((64, 64), np.uint8); a[20:40, 20:40] = 255
    >>> flow = make_flow("dis")(a, np.roll(a, 2, axis=1))
    >>> flow.shape
    (64, 64, 2)
    """
    return FLOWS.get(name)(preset)
