"""The diffusers inpainting backend: local weights only, safetensors preferred, pickle refused by default.

A model is a diffusers-format folder (``model_index.json`` plus one sub-folder per component,
e.g. ``unet/ vae/ text_encoder/ tokenizer/ scheduler/``) or the id of one already in the Hugging
Face cache (``org/name``, looked up with ``local_files_only=True``). Nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keyframe.config import InpaintConfig
from keyframe.errors import KeyframeError, WeightsError
from keyframe.inpaint.base import INPAINTERS
from keyframe.registry import Progress
from keyframe.io import from_float, read_json_object, resolve_model_folder

LAYOUT = (
    "a diffusers-format inpainting folder: model_index.json plus unet/ vae/ text_encoder/ tokenizer/ scheduler/ "
    "with .safetensors weights"
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _components(path: Path) -> tuple[str, dict[str, Any]]:
    """The pipeline class named in ``model_index.json`` and its non-empty components."""
    try:
        data = read_json_object(path / "model_index.json", "model_index.json", WeightsError)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; expected {LAYOUT}") from None
    components = {
        name: spec
        for name, spec in data.items()
        if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and spec[0] is not None
    }
    return str(data.get("_class_name", "")), components


def inspect_model(source: str | Path, *, allow_pickle: bool = False) -> dict[str, Any]:
    """Check a model folder before loading anything heavy; return what the loader needs.

    Parameters
    ----------
    source : str or Path
        A diffusers-format folder or a Hugging Face id present in the local cache.
    allow_pickle : bool
        Accept components whose only weights are pickle files (``.bin``, ``.ckpt``, ...), which
        can run arbitrary code when loaded. Refused by default.

    Returns
    -------
    dict
        ``path`` (the resolved folder), ``class_name``, ``use_safetensors`` (True, or None when
        pickle weights were allowed and are needed).

    Raises
    ------
    WeightsError
        One line naming what is missing or wrong and the expected layout.
    """
    from diffusers.pipelines.auto_pipeline import AUTO_INPAINT_PIPELINES_MAPPING

    path = resolve_model_folder(source, LAYOUT)
    class_name, components = _components(path)
    inpainting = {cls.__name__ for cls in AUTO_INPAINT_PIPELINES_MAPPING.values()}
    if class_name not in inpainting:
        raise WeightsError(
            f"model {path} is a {class_name or 'pipeline without _class_name'}, not an inpainting pipeline "
            f"(e.g. StableDiffusionInpaintPipeline); expected {LAYOUT}"
        )
    needs_pickle = False
    for name in components:
        folder = path / name
        if not folder.is_dir():
            raise WeightsError(f"model {path} is incomplete: {name}/ is missing; expected {LAYOUT}")
        if not (folder / "config.json").is_file():
            continue  # tokenizers, schedulers and processors carry no weights
        files = [p.name for p in folder.iterdir() if p.is_file()]
        if any(f.endswith(".safetensors") for f in files):
            continue
        if not any(f.endswith(PICKLE_SUFFIXES) for f in files):
            raise WeightsError(f"model {path} is incomplete: {name}/ has no weights; expected {LAYOUT}")
        if not allow_pickle:
            raise WeightsError(
                f"model {path}: {name}/ has only pickle weights, which can run code when loaded; "
                "convert them to .safetensors or pass --allow-pickle if you trust the source"
            )
        needs_pickle = True
    return {"path": path, "class_name": class_name, "use_safetensors": None if needs_pickle else True}


def device_and_dtype() -> tuple[str, Any]:
    """``("cuda", float16)`` when a GPU is available, else ``("cpu", float32)``."""
    import torch

    return ("cuda", torch.float16) if torch.cuda.is_available() else ("cpu", torch.float32)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide diffusers' and transformers' loading bars (stderr stays one line on errors), then restore them."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    enabled = [(lib, lib.is_progress_bar_enabled()) for lib in (diffusers_logging, transformers_logging)]
    for lib, _ in enabled:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, was_enabled in enabled:
            if was_enabled:
                lib.enable_progress_bar()


def load_pipeline(source: str | Path, *, allow_pickle: bool = False) -> Any:
    """Load a local diffusers inpainting pipeline through ``AutoPipelineForInpainting``.

    Parameters
    ----------
    source : str or Path
        A diffusers-format folder or a Hugging Face id present in the local cache.
    allow_pickle : bool
        See :func:`inspect_model`.

    Returns
    -------
    diffusers.DiffusionPipeline
        On CUDA in float16 when available, else on CPU in float32; its own progress bar off.

    Examples
    --------
    >>> pipe = load_pipeline("models/sd-inpainting")  # doctest: +SKIP
    """
    found = inspect_model(source, allow_pickle=allow_pickle)
    from diffusers import AutoPipelineForInpainting

    device, dtype = device_and_dtype()
    try:
        with _quiet_loading():
            pipe = AutoPipelineForInpainting.from_pretrained(
                found["path"], dtype=dtype, local_files_only=True, use_safetensors=found["use_safetensors"]
            )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load the model at {found['path']} ({first}); expected {LAYOUT}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def model_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """The size a crop is given to the model: longer side ``resolution``, both sides multiples of 8."""
    scale = resolution / max(height, width)
    return max(8, int(round(height * scale / 8)) * 8), max(8, int(round(width * scale / 8)) * 8)


class DiffusersInpainter:
    """Inpaint each crop with a loaded diffusers pipeline at the model's resolution.

    The crop is resized so its longer side is ``resolution`` (the "only masked" habit: a small
    region gets the model's full resolution), inpainted, and resized back. The pipeline's output
    outside the hole is a VAE round trip; the stage's compositing keeps the plate there.
    """

    name = "diffusers"

    def __init__(
        self,
        pipe: Any,
        *,
        prompt: str = "",
        negative_prompt: str = "",
        strength: float = 1.0,
        steps: int = 30,
        guidance: float = 7.5,
        resolution: int = 512,
    ) -> None:
        self.pipe = pipe
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.strength = strength
        self.steps = steps
        self.guidance = guidance
        self.resolution = resolution

    def fill(
        self, image: np.ndarray, hole: np.ndarray, *, seed: int = 0, progress: Progress | None = None
    ) -> np.ndarray:
        """Inpaint ``hole`` in float32 RGB ``image`` (a crop); returns float32 RGB of the same size."""
        import torch
        from PIL import Image

        height, width = hole.shape
        size_h, size_w = model_size(height, width, self.resolution)
        shrinking = size_h * size_w < height * width
        resized = cv2.resize(image, (size_w, size_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
        hole_small = cv2.resize(hole.astype(np.uint8) * 255, (size_w, size_h), interpolation=cv2.INTER_LINEAR) > 0

        def on_step(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            if progress is not None:
                progress(step + 1, max(pipe.num_timesteps, 1))
            return {}

        with torch.inference_mode():
            out = self.pipe(
                prompt=self.prompt,
                negative_prompt=self.negative_prompt or None,
                image=Image.fromarray(from_float(np.clip(resized, 0, 1))),
                mask_image=Image.fromarray(hole_small.astype(np.uint8) * 255),
                height=size_h,
                width=size_w,
                strength=self.strength,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                generator=torch.Generator("cpu").manual_seed(seed),
                output_type="np",
                callback_on_step_end=on_step,
            ).images[0]
        interpolation = cv2.INTER_CUBIC if shrinking else cv2.INTER_AREA
        return cv2.resize(out.astype(np.float32), (width, height), interpolation=interpolation)

    def describe(self) -> dict[str, Any]:
        device, dtype = str(self.pipe.device), str(self.pipe.dtype).replace("torch.", "")
        return {
            "model": str(self.pipe.name_or_path),
            "pipeline": type(self.pipe).__name__,
            "scheduler": type(self.pipe.scheduler).__name__,
            "device": device,
            "dtype": dtype,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "strength": self.strength,
            "steps": self.steps,
            "guidance": self.guidance,
            "resolution": self.resolution,
        }


def load_model(cfg: InpaintConfig) -> Any:
    """The diffusers pipeline ``cfg`` asks for, or None for the weight-free backends.

    Raises
    ------
    KeyframeError
        The diffusers backend without a model, or a model folder that is missing, incomplete,
        of the wrong pipeline class or pickle-only (see :func:`load_pipeline`).
    """
    if cfg.backend != "diffusers":
        return None
    if not cfg.model:
        raise KeyframeError("the diffusers backend needs a model: pass --model DIR (a local diffusers folder)")
    return load_pipeline(cfg.model, allow_pickle=cfg.allow_pickle)


@INPAINTERS.register("diffusers")
def diffusers_inpainter(cfg: InpaintConfig, model: Any = None) -> DiffusersInpainter:
    """``inpaint.backend: diffusers``: ``model`` is a loaded pipeline, else ``cfg.model`` is loaded."""
    return DiffusersInpainter(
        model if model is not None else load_model(cfg),
        prompt=cfg.prompt,
        negative_prompt=cfg.negative_prompt,
        strength=cfg.strength,
        steps=cfg.steps,
        guidance=cfg.guidance,
        resolution=cfg.resolution,
    )
