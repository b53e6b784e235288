"""LPIPS (Zhang et al. 2018), only when its AlexNet backbone is already on this machine.

The ``lpips`` wheel ships the small linear heads but not the AlexNet backbone, which torchvision
downloads into ``$TORCH_HOME/hub/checkpoints/`` on first use. keyframe never downloads: when the
file is not there the metric is reported as unavailable, with the reason, and its values are null.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np

from keyframe.metrics.weights import hub_checkpoint

ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"
_MIN_SIDE = 64  # AlexNet's five stages need at least this much input; smaller crops are padded


def alexnet_weights_path() -> Path:
    """Where torchvision caches the AlexNet backbone LPIPS needs."""
    return hub_checkpoint(ALEXNET_WEIGHTS)


def lpips_status() -> tuple[bool, str | None]:
    """``(available, why_not)`` for LPIPS on this machine, without importing torch when it is not."""
    path = alexnet_weights_path()
    if not path.is_file():
        return False, f"AlexNet backbone weights not found at {path} (keyframe does not download them)"
    if importlib.util.find_spec("lpips") is None:  # pragma: no cover - lpips is a dependency
        return False, "the lpips package is not installed"
    return True, None


class LpipsMetric:
    """LPIPS-Alex as a per-pixel map (``spatial=True``), to be averaged inside a selection."""

    def __init__(self) -> None:
        available, why = lpips_status()
        if not available:
            raise RuntimeError(f"LPIPS is unavailable: {why}")
        import lpips
        import torch

        self._torch = torch
        with warnings.catch_warnings():  # lpips still passes torchvision's deprecated `pretrained=`
            warnings.simplefilter("ignore", UserWarning)
            self._model = lpips.LPIPS(net="alex", spatial=True, verbose=False).eval()

    def __call__(self, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Per-pixel LPIPS distance of two RGB float images in ``[0, 1]``, shape ``(H, W)``."""
        height, width = image.shape[:2]
        pad = ((0, max(0, _MIN_SIDE - height)), (0, max(0, _MIN_SIDE - width)), (0, 0))
        tensors = [
            self._torch.from_numpy(np.pad(a, pad, mode="reflect").transpose(2, 0, 1)[None].astype(np.float32) * 2 - 1)
            for a in (image, reference)
        ]
        with self._torch.inference_mode():
            distance = self._model(tensors[0], tensors[1])
        return distance[0, 0].numpy()[:height, :width]
