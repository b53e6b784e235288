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
from keyframe.io import from_float
from keyframe.io.models import ModelFolder, inspect_model_folder, shared_model

LAYOUT = (
    "a diffusers-format inpainting folder: model_index.json plus unet/ vae/ text_encoder/ tokenizer/ scheduler/ "
    "with .safetensors weights"
)


def inspect_inpaint_model(source: str | Path, *, allow_pickle: bool = False) -> ModelFolder:
    """Check an inpainting model folder (:func:`keyframe.io.models.inspect_model_folder`) before loading it."""
    from diffusers.pipelines.auto_pipeline import AUTO_INPAINT_PIPELINES_MAPPING

    classes = {cls.__name__ for cls in AUTO_INPAINT_PIPELINES_MAPPING.values()}
    return inspect_model_folder(source, pipeline_classes=classes, allow_pickle=allow_pickle, layout=LAYOUT,
                                kind="an inpainting pipeline (e.g. StableDiffusionInpaintPipeline)")


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
        See :func:`inspect_inpaint_model`.

    Returns
    -------
    diffusers.DiffusionPipeline
        On CUDA in float16 when available, else on CPU in float32; its own progress bar off.

    Examples
    --------
    >>> pipe = load_pipeline("models/sd-inpainting")  # doctest: +SKIP
    """
    from diffusers import AutoPipelineForInpainting

    return load_from_folder(AutoPipelineForInpainting, inspect_inpaint_model(source, allow_pickle=allow_pickle), LAYOUT)


def shared_pipeline(cfg: InpaintConfig) -> Any:
    """The diffusers pipeline ``cfg`` names, loaded once per process for every shot of a batch
    (:func:`~keyframe.io.models.shared_model`); None for the weight-free backends, or when no model
    is named (the stage itself then reports it)."""
    if cfg.backend != "diffusers" or not cfg.model:
        return None
    return shared_model(load_pipeline, f"inpaint:{cfg.model}:{cfg.allow_pickle}", cfg.model, allow_pickle=cfg.allow_pickle)


def load_from_folder(pipeline_class: Any, folder: ModelFolder, layout: str) -> Any:
    """Load an inspected diffusers folder with ``pipeline_class`` (local files only), CUDA fp16 when
    available, else CPU fp32, with its own progress bar off; one-line WeightsError if it fails."""
    device, dtype = device_and_dtype()
    try:
        with _quiet_loading():
            pipe = pipeline_class.from_pretrained(
                folder.path, dtype=dtype, local_files_only=True, use_safetensors=folder.use_safetensors
            )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load the model at {folder.path} ({first}); expected {layout}") from None
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
