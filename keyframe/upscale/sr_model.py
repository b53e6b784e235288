"""Single-file super-resolution models through spandrel (ESRGAN, Real-ESRGAN Compact, SwinIR, HAT,
DAT, SPAN, ...), from a local file, tiled so memory stays bounded.

spandrel recognises the architecture from the weights themselves; the scale comes from the model.
A ``.safetensors`` file is read without running any code; a pickle (``.pth``, ``.pt``, ``.ckpt``,
``.bin``) can run code when loaded and is refused unless ``allow_pickle`` is set
(:func:`keyframe.io.models.inspect_model_file`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keyframe.errors import KeyframeError, WeightsError
from keyframe.io import file_sha256
from keyframe.io.models import inspect_model_file
from keyframe.registry import Progress
from keyframe.upscale.tiles import upscale_tiled

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass
class SrModel:
    """A loaded spandrel model on its device, and its identity for the sidecar."""

    descriptor: Any
    info: dict[str, Any] = field(default_factory=dict)


def resolve_runtime(device: str, dtype: str, supports_half: bool, supports_bfloat16: bool) -> tuple[str, str]:
    """Device and dtype for a model: fp16 on a GPU where the architecture allows it, fp32 on the CPU.

    Examples
    --------
    >>> resolve_runtime("cpu", "auto", True, True)
    ('cpu', 'fp32')
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise KeyframeError("upscale.device is cuda but no CUDA device is available")
    if dtype == "auto":
        dtype = "fp32" if device == "cpu" else "fp16" if supports_half else "bf16" if supports_bfloat16 else "fp32"
    elif dtype != "fp32" and device == "cpu":
        raise KeyframeError(f"upscale.dtype {dtype} needs a CUDA device; use fp32 (or auto) on the CPU")
    elif (dtype == "fp16" and not supports_half) or (dtype == "bf16" and not supports_bfloat16):
        raise KeyframeError(f"this model's architecture does not support {dtype}; use fp32 (or auto)")
    return device, dtype


def load_sr_model(path: str | None, *, allow_pickle: bool = False, device: str = "auto", dtype: str = "auto") -> SrModel:
    """Load a super-resolution model file spandrel recognises, ready to run.

    Raises
    ------
    WeightsError
        One line: no file, a pickle without ``allow_pickle``, an unreadable file, an architecture
        spandrel does not know, or a model that is not a 3-channel upscaler (inpainting or 1x
        restoration models).
    """
    import torch
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    file = inspect_model_file(path, what="the spandrel backend", allow_pickle=allow_pickle)
    try:
        descriptor = ModelLoader().load_from_file(file)
    except UnsupportedModelError:
        raise WeightsError(f"model {file}: no architecture spandrel knows matches these weights") from None
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file fails in many ways inside torch/safetensors
        raise WeightsError(f"cannot read model {file}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    name = descriptor.architecture.name
    if not isinstance(descriptor, ImageModelDescriptor):
        raise WeightsError(f"model {file} is a {name} {descriptor.purpose} model, not a super-resolution model")
    if descriptor.scale < 2:
        raise WeightsError(f"model {file} is a 1x {name} {descriptor.purpose.lower()} model; it does not upscale")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise WeightsError(f"model {file} takes {descriptor.input_channels} and gives {descriptor.output_channels} channels; RGB (3) is needed")
    device, dtype = resolve_runtime(device, dtype, descriptor.supports_half, descriptor.supports_bfloat16)
    descriptor.to(device, getattr(torch, _DTYPES[dtype])).eval()
    info = {
        "path": str(file),
        "sha256": file_sha256(file),
        "architecture": name,
        "purpose": descriptor.purpose,
        "scale": int(descriptor.scale),
        "tags": list(descriptor.tags),
        "device": device,
        "dtype": dtype,
        "tiling": descriptor.tiling.name.lower(),
    }
    return SrModel(descriptor, info)


@dataclass
class SpandrelUpscaler:
    """Tiled inference of a spandrel model (:func:`keyframe.upscale.tiles.upscale_tiled`)."""

    model: SrModel
    tile: int
    overlap: int
    name: str = "spandrel"

    @property
    def scale(self) -> int:
        return int(self.model.descriptor.scale)

    def _run(self, tile: np.ndarray) -> np.ndarray:
        import torch

        descriptor = self.model.descriptor
        batch = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1)))[None]
        try:
            output = descriptor(batch.to(descriptor.device, descriptor.dtype))
        except torch.OutOfMemoryError:
            raise KeyframeError(f"out of memory upscaling a {self.tile} px tile; lower --tile (upscale.tile)") from None
        return output[0].permute(1, 2, 0).float().cpu().numpy()

    def upscale(self, plate: np.ndarray, *, seed: int = 0, progress: Progress | None = None) -> np.ndarray:
        from spandrel import ModelTiling

        tile = 0 if self.model.descriptor.tiling == ModelTiling.INTERNAL else self.tile  # the model tiles itself
        return upscale_tiled(plate, self._run, self.scale, tile=tile, overlap=self.overlap, progress=progress)

    def describe(self) -> dict[str, Any]:
        return {"tile": self.tile, "tile_overlap": self.overlap, "model": self.model.info}
