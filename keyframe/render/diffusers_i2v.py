"""Image-to-video pipelines from diffusers (Wan 2.1/2.2, LTX-Video), local weights only.

The pipeline class is read from the folder's ``model_index.json`` and must be one of
:data:`FAMILIES`; any other class (a text-to-image or inpaint pipeline, SVD) is refused in one
line. The common controls (prompt, negative prompt, steps, guidance, frames, size, fps, seed, an
end frame) map onto each family's call; model-specific keyword arguments come from
``render.diffusers.extras`` and are checked against the pipeline's call signature. Size and frame
count are fitted to the family's constraints (Wan: sides multiples of 16, 4k+1 frames; LTX:
multiples of 32, 8k+1 frames) and the plate -> frame transform is recorded as for SVD.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.config import RenderConfig, RenderDiffusersConfig
from keyframe.errors import KeyframeError, WeightsError
from keyframe.io.models import ModelFolder, inspect_model_folder
from keyframe.registry import Progress
from keyframe.render.base import RENDERERS, RenderResult, to_uint8
from keyframe.render.fit import Fit, apply_fit, parse_size, plan_fit, size_for_area
from keyframe.render.speed import apply_speed_options, check_speed_options
from keyframe.render.svd import run_pipeline, torch_dtype

SECTION = "render.diffusers"
LAYOUT = "a diffusers image-to-video pipeline folder (model_index.json plus its components, .safetensors weights)"
KIND = ("a supported image-to-video pipeline (WanImageToVideoPipeline, LTXImageToVideoPipeline; an SVD folder "
        "renders with --backend svd)")
MEMORY_HINT = (f"try {SECTION}.layerwise_casting: fp8_e4m3, group_offload: leaf_level, dtype: bf16, fewer --frames "
               "or a smaller --size")


@dataclass(frozen=True)
class Family:
    """What one family of image-to-video pipelines needs and defaults to (from its model cards)."""

    name: str
    multiple: int  # both sides of the render size are multiples of this
    frame_step: int  # frame counts are frame_step * k + 1 (the VAE's temporal compression)
    native_size: tuple[int, int]  # (width, height) of the native pixel area
    frames: int
    fps: int
    steps: int
    guidance: float
    fps_argument: str | None = None  # call keyword the model is conditioned on fps with
    batched_guidance: bool = True  # conditional and unconditional branches share one transformer call

    def fit_frames(self, frames: int) -> int:
        """The smallest valid frame count at or above ``frames``.

        Examples
        --------
        >>> FAMILIES["WanImageToVideoPipeline"].fit_frames(80), FAMILIES["LTXImageToVideoPipeline"].fit_frames(9)
        (81, 9)
        """
        return max(1, -(-(frames - 1) // self.frame_step)) * self.frame_step + 1

    def fit_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Each side rounded to the nearest multiple (at least one).

        Examples
        --------
        >>> FAMILIES["WanImageToVideoPipeline"].fit_size((850, 470))
        (848, 464)
        """
        return tuple(max(self.multiple, round(side / self.multiple) * self.multiple) for side in size)


FAMILIES = {
    "WanImageToVideoPipeline": Family("wan", 16, 4, (832, 480), 81, 16, 40, 5.0, batched_guidance=False),
    "LTXImageToVideoPipeline": Family("ltx", 32, 8, (704, 512), 121, 25, 50, 3.0, fps_argument="frame_rate"),
}
# keywords the backend sets itself: extras may not override them
RESERVED = {"image", "prompt", "negative_prompt", "height", "width", "num_frames", "num_inference_steps",
            "guidance_scale", "generator", "output_type", "callback_on_step_end", "last_image", "return_dict",
            "frame_rate"}


@dataclass
class I2vModel:
    """A loaded, configured image-to-video pipeline, its family and identity."""

    pipeline: Any
    family: Family
    info: dict[str, Any]
    runtime: dict[str, Any]


def inspect_i2v_folder(cfg: RenderDiffusersConfig) -> ModelFolder:
    """Find and check the model folder without loading weights; refuse a non-video pipeline in one line."""
    if not cfg.model:
        raise WeightsError(f"the diffusers backend needs a model: --model DIR (or {SECTION}.model) naming local weights")
    return inspect_model_folder(cfg.model, pipeline_classes=FAMILIES, allow_pickle=cfg.allow_pickle,
                                variant=cfg.variant, layout=LAYOUT, kind=KIND)


def resolve_runtime(cfg: RenderDiffusersConfig) -> dict[str, str]:
    """Device and dtype, refusing what the machine cannot run (the speed options included)."""
    import torch

    cuda = torch.cuda.is_available()
    device = cfg.device if cfg.device != "auto" else ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        raise KeyframeError(f"{SECTION}.device is cuda but no CUDA device is available")
    dtype = cfg.dtype if cfg.dtype != "auto" else ("bf16" if device == "cuda" else "fp32")
    if device == "cpu" and dtype == "fp16":
        raise KeyframeError(f"{SECTION}.dtype fp16 needs CUDA; use fp32 or bf16 on the CPU")
    check_speed_options(cfg, device)
    return {"device": device, "dtype": dtype}


def load_i2v(cfg: RenderDiffusersConfig, folder: ModelFolder | None = None) -> I2vModel:
    """Load the pipeline named by ``cfg.model`` (local files only) and apply the speed options.

    Raises
    ------
    WeightsError
        Missing, unreadable or pickle-only weights; a folder that is not an image-to-video pipeline.
    KeyframeError
        Options this machine cannot run; out of memory while loading.
    """
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    runtime = resolve_runtime(cfg)
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    if folder is None:
        folder = inspect_i2v_folder(cfg)
    name = folder.pipeline_class
    try:
        pipeline = DiffusionPipeline.from_pretrained(folder.path, dtype=torch_dtype(runtime["dtype"]),
                                                     variant=cfg.variant,
                                                     # mixed folders: safetensors where present, else pickle
                                                     use_safetensors=folder.use_safetensors, local_files_only=True)
    except torch.OutOfMemoryError:
        raise KeyframeError(f"out of memory loading {name}; {MEMORY_HINT}") from None
    except Exception as exc:  # noqa: BLE001 - diffusers raises many kinds for broken weights
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(f"cannot load {name} from {folder.path}: {type(exc).__name__}: {first}") from None
    pipeline.set_progress_bar_config(disable=True)
    family = FAMILIES[name]
    try:
        runtime["speed"] = apply_speed_options(pipeline, cfg, runtime, batched_guidance=family.batched_guidance)
    except torch.OutOfMemoryError:
        raise KeyframeError(f"CUDA out of memory moving {name} to the GPU; {MEMORY_HINT}") from None
    info = {**folder.identity(), "source": cfg.model, "family": family.name}
    return I2vModel(pipeline, family, info, runtime)


def plan_i2v_fit(plate_size: tuple[int, int], cfg: RenderConfig, family: Family) -> Fit:
    """The fit to ``render.size`` rounded to the family's multiple, or its native area at the plate's aspect."""
    if cfg.size is not None:
        size = family.fit_size(parse_size(cfg.size))
    else:
        size = size_for_area(plate_size, family.native_size[0] * family.native_size[1], family.multiple)
    return plan_fit(plate_size, size, cfg.fit, multiple=family.multiple)


def check_extras(pipeline: Any, extras: dict[str, Any]) -> dict[str, Any]:
    """``extras`` if every name is a keyword of the pipeline's call the backend does not set itself."""
    accepted = set(inspect.signature(pipeline.__call__).parameters) - {"self"}
    for name in extras:
        if name in RESERVED:
            raise KeyframeError(f"{SECTION}.extras.{name} is set by keyframe itself; use its own option instead")
        if name not in accepted:
            raise KeyframeError(f"{SECTION}.extras.{name} is not an argument of {type(pipeline).__name__}; "
                                f"it accepts {', '.join(sorted(accepted - RESERVED))}")
    return dict(extras)


def check_end_frame(pipeline: Any) -> None:
    """Refuse an end plate the model cannot take: no ``last_image`` argument, a Wan TI2V-style model
    (diffusers conditions only frame 0 there and drops ``last_image`` silently), or a
    CLIP-conditioned Wan without room for a second image's tokens (Wan 2.1 I2V is not FLF2V)."""
    name = type(pipeline).__name__
    if "last_image" not in inspect.signature(pipeline.__call__).parameters:
        raise KeyframeError(f"--last: {name} takes no end frame; use a first-last-frame model (Wan FLF2V)")
    if pipeline.config.get("expand_timesteps"):
        raise KeyframeError(f"--last: this {name} is a Wan 2.2 TI2V-style model (expand_timesteps), which ignores "
                            "an end frame; use a Wan FLF2V model")
    if getattr(pipeline, "image_encoder", None) is not None and not pipeline.transformer.config.get("pos_embed_seq_len"):
        raise KeyframeError(f"--last: this {name} is an image-to-video model without first-last-frame conditioning "
                            "(its transformer has no pos_embed_seq_len); use a Wan FLF2V model")


@RENDERERS.register("diffusers")
def render_diffusers(
    plate: np.ndarray,
    cfg: RenderConfig,
    *,
    seed: int = 0,
    model: I2vModel | None = None,
    progress: Progress | None = None,
    last: np.ndarray | None = None,
) -> RenderResult:
    """Animate ``plate`` (towards ``last``, when given) with a diffusers image-to-video pipeline.

    Parameters
    ----------
    plate : ndarray (H, W, 3) uint8 or uint16
        RGB start plate; fitted to the render size (``render.size``/``render.fit``).
    cfg : RenderConfig
        ``frames``, ``size``, ``fit`` and the ``diffusers`` section (model, prompts, steps,
        guidance, fps, extras, speed options).
    seed : int
        Seeds the diffusion noise (CPU generator: same seed, same frames on the same machine).
    model : I2vModel, optional
        A pipeline from :func:`load_i2v` to reuse; loaded from ``cfg.diffusers.model`` if omitted.
    progress : callable, optional
        ``progress(done, total)`` after each denoising step.
    last : ndarray (H, W, 3), optional
        End plate: the clip's last frame is conditioned on it (``last_image``); fitted like ``plate``.

    Returns
    -------
    RenderResult
        ``plate_to_frame0`` is the fit transform; ``last_to_frame`` the end plate's, when given.
    """
    section = cfg.diffusers
    image = to_uint8(plate)
    end = None if last is None else to_uint8(last)
    folder = None
    if model is None:
        resolve_runtime(section)  # option errors before touching the model
        folder = inspect_i2v_folder(section)
        family = FAMILIES[folder.pipeline_class]
    else:
        family = model.family
    # 1. fit the plate (and the end plate) and the frame count to the family's constraints
    fit = plan_i2v_fit((image.shape[1], image.shape[0]), cfg, family)
    end_fit = None if end is None else plan_fit((end.shape[1], end.shape[0]), fit.size, cfg.fit, family.multiple)
    requested = cfg.frames or family.frames
    num_frames = family.fit_frames(requested)
    fps = section.fps or family.fps
    # 2. load the pipeline and check what it is asked to do
    if model is None:
        model = load_i2v(section, folder)
    extras = check_extras(model.pipeline, section.extras)
    if end is not None:
        check_end_frame(model.pipeline)
    # 3. the call: common controls mapped onto the family's keywords, then the extras
    call: dict[str, Any] = {
        "prompt": section.prompt,
        "negative_prompt": section.negative_prompt or None,
        "num_frames": num_frames,
        "num_inference_steps": section.steps or family.steps,
        "guidance_scale": family.guidance if section.guidance is None else section.guidance,
    }
    if family.fps_argument:
        call[family.fps_argument] = fps
    if end is not None:
        from PIL import Image

        call["last_image"] = Image.fromarray(apply_fit(end, end_fit))
    call.update(extras)
    # 4. denoise and decode
    frames = run_pipeline(model.pipeline, apply_fit(image, fit), call, seed=seed, progress=progress,
                          memory_hint=MEMORY_HINT)
    params = {
        "backend": "diffusers",
        "family": family.name,
        "frames": num_frames,
        "frames_requested": requested,
        "fps": fps,
        "size": f"{fit.size[0]}x{fit.size[1]}",
        "size_requested": cfg.size,
        "fit": cfg.fit,
        "diffusers": section.model_dump(),
        "call": {k: v for k, v in call.items() if k != "last_image"} | {"last_image": end is not None},
        "runtime": model.runtime,
    }
    return RenderResult(
        frames=frames,
        fps=float(fps),
        plate_to_frame0=fit.matrix.tolist(),
        frame_transforms=None,
        params=params,
        model_info=model.info,
        backend="diffusers",
        fit=fit.to_dict(),
        motion={"frame_transforms_exact": None, "why": "a generative model's motion is not known in advance"},
        last_to_frame=None if end_fit is None else end_fit.matrix.tolist(),
    )
