"""Stable Video Diffusion through diffusers' ``StableVideoDiffusionPipeline``, local weights only.

The model is a diffusers-format directory or a Hugging Face cache id (``org/name``) resolved with
``local_files_only=True``: nothing is ever downloaded. Safetensors weights are used whenever the
directory has them; a directory with only pickle (``.bin``) weights is refused unless
``render.svd.allow_pickle`` is set, because unpickling runs code from the file.

Speed options (``render.svd``): ``dtype`` fp16/bf16 on CUDA; ``compile`` the UNet with
``torch.compile`` (``full``: one graph; ``regional``: only its repeated blocks, a much shorter
first compile) with inductor's FX-graph and AOT-autograd caches in ``compile_cache_dir`` so a
second process reuses the first one's kernels; ``attention`` picks the SDPA backend (cuDNN was the
fastest on an H100 for SVD's shapes, see benchmarks/RESULTS.md; with ``compile`` the backend active at the
first, compiling call is baked into the graph); ``decode_chunk_size`` trades VAE memory
for temporal consistency; ``offload`` moves idle sub-models (or every layer) to the CPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.config import RenderConfig, RenderSvdConfig
from keyframe.errors import KeyframeError, WeightsError
from keyframe.io import cache_folder, from_float
from keyframe.io.models import ModelFolder, inspect_model_folder
from keyframe.render.base import RENDERERS, Progress, RenderResult, to_uint8
from keyframe.render.fit import MODEL_MULTIPLE, Fit, apply_fit, parse_size, plan_fit, size_for_area

PIPELINE_CLASS = "StableVideoDiffusionPipeline"
LAYOUT = (
    "a diffusers StableVideoDiffusionPipeline folder: model_index.json plus unet/ vae/ image_encoder/ scheduler/ "
    "feature_extractor/, with .safetensors weights"
)
# Blocks the SVD UNet repeats: compiled one by one for ``compile: regional``.
REPEATED_BLOCKS = ("SpatioTemporalResBlock", "BasicTransformerBlock", "TemporalBasicTransformerBlock")
MEMORY_HINT = (
    "try, in order: --decode-chunk 4 (render.svd.decode_chunk_size), render.svd.dtype: fp16, "
    "render.svd.offload: model (or sequential: least memory, slowest), fewer --frames, a smaller --size"
)


@dataclass
class SvdModel:
    """A loaded, configured SVD pipeline and its identity."""

    pipeline: Any
    info: dict[str, Any]
    runtime: dict[str, Any]


def inspect_svd_model(cfg: RenderSvdConfig) -> ModelFolder:
    """Check the SVD folder ``cfg.model`` names (:func:`keyframe.io.models.inspect_model_folder`).

    Raises
    ------
    WeightsError
        No model named, not on this machine (nothing is downloaded), another pipeline class,
        weights missing, or pickle-only weights without ``allow_pickle``.
    """
    if not cfg.model:
        raise WeightsError("the svd backend needs a model: --model DIR (or render.svd.model) naming local weights")
    return inspect_model_folder(cfg.model, pipeline_classes=[PIPELINE_CLASS], allow_pickle=cfg.allow_pickle,
                                variant=cfg.variant, kind=f"a {PIPELINE_CLASS}", layout=LAYOUT)


def resolve_runtime(cfg: RenderSvdConfig) -> dict[str, str]:
    """Device, dtype and attention backend to use, refusing combinations the machine cannot run."""
    import torch

    cuda = torch.cuda.is_available()
    device = cfg.device if cfg.device != "auto" else ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        raise KeyframeError("render.svd.device is cuda but no CUDA device is available")
    dtype = cfg.dtype if cfg.dtype != "auto" else ("fp16" if device == "cuda" else "fp32")
    if device == "cpu":
        if dtype != "fp32":
            raise KeyframeError(f"render.svd.dtype {dtype} needs CUDA; use fp32 (or auto) on the CPU")
        if cfg.attention not in ("auto", "math"):
            raise KeyframeError(f"render.svd.attention {cfg.attention} needs CUDA; use auto or math on the CPU")
        if cfg.offload != "none":
            raise KeyframeError("render.svd.offload needs CUDA (it moves sub-models between GPU and CPU)")
    if cfg.compile != "none" and cfg.offload == "sequential":
        raise KeyframeError("render.svd.compile cannot be combined with offload: sequential; use offload: model")
    return {"device": device, "dtype": dtype, "attention": cfg.attention, "compile": cfg.compile,
            "compile_mode": cfg.compile_mode, "offload": cfg.offload}


def torch_dtype(name: str):  # noqa: ANN201 - torch is imported lazily
    """``"fp16"`` -> ``torch.float16`` and so on."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def enable_compile_cache(directory: str, what: str = "render.svd.compile_cache_dir") -> Path:
    """Point inductor's persistent caches (FX graphs, AOT autograd, Triton) at ``directory``."""
    import torch._functorch.config
    import torch._inductor.config

    path = cache_folder(directory, what)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)  # read by inductor when it first needs the cache
    torch._inductor.config.fx_graph_cache = True
    torch._functorch.config.enable_autograd_cache = True
    return path


def configure_pipeline(pipeline: Any, cfg: RenderSvdConfig, runtime: dict[str, str]) -> Any:
    """Apply the speed options: device or offload, then ``torch.compile`` of the UNet.

    Parameters
    ----------
    pipeline : StableVideoDiffusionPipeline
        Already in the runtime dtype.
    cfg : RenderSvdConfig
    runtime : dict
        From :func:`resolve_runtime`.
    """
    import torch

    pipeline.set_progress_bar_config(disable=True)
    if runtime["offload"] == "model":
        pipeline.enable_model_cpu_offload()
    elif runtime["offload"] == "sequential":
        pipeline.enable_sequential_cpu_offload()
    else:
        pipeline.to(runtime["device"])
    if runtime["compile"] != "none":
        enable_compile_cache(cfg.compile_cache_dir)
        # offload hooks wrap forward() in Python: a full graph is possible only without them
        options = {"mode": cfg.compile_mode, "fullgraph": runtime["offload"] == "none", "dynamic": False}
        if runtime["compile"] == "full":
            pipeline.unet = torch.compile(pipeline.unet, **options)
        else:
            for module in pipeline.unet.modules():
                if type(module).__name__ in REPEATED_BLOCKS:
                    module.compile(**{**options, "dynamic": None})
    return pipeline


def load_svd(cfg: RenderSvdConfig, folder: ModelFolder | None = None) -> SvdModel:
    """Load and configure the SVD pipeline named by ``cfg.model`` (local files only).

    Parameters
    ----------
    cfg : RenderSvdConfig
        ``model``, ``variant``, ``allow_pickle`` and the speed options.
    folder : ModelFolder, optional
        :func:`inspect_svd_model`'s result, when the caller already has it.

    Returns
    -------
    SvdModel

    Raises
    ------
    WeightsError
        Missing or unreadable weights, another pipeline class.
    KeyframeError
        CUDA out of memory while moving the weights (with the memory options to try).
    """
    import torch
    from diffusers import StableVideoDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    runtime = resolve_runtime(cfg)
    # our own progress bar reports the steps; the libraries' loading bars would clutter stderr
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    if folder is None:
        folder = inspect_svd_model(cfg)
    try:
        pipeline = StableVideoDiffusionPipeline.from_pretrained(
            folder.path,
            dtype=torch_dtype(runtime["dtype"]),
            variant=cfg.variant,
            use_safetensors=folder.use_safetensors,
            local_files_only=True,
        )
    except torch.OutOfMemoryError:
        raise KeyframeError(f"out of memory loading the SVD weights; {MEMORY_HINT}") from None
    except Exception as exc:  # noqa: BLE001 - diffusers raises many kinds for broken weights
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(f"cannot load {PIPELINE_CLASS} from {folder.path}: {type(exc).__name__}: {first}") from None
    try:
        pipeline = configure_pipeline(pipeline, cfg, runtime)
    except torch.OutOfMemoryError:
        raise KeyframeError(f"CUDA out of memory moving the SVD weights to the GPU; {MEMORY_HINT}") from None
    identity = {**folder.identity(), "source": cfg.model}
    return SvdModel(pipeline, identity, runtime)


def _sdpa_context(attention: str):  # noqa: ANN202
    if attention == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
               "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}[attention]
    return sdpa_kernel([backend])


def run_pipeline(
    pipeline: Any,
    image: np.ndarray,
    call: dict[str, Any],
    *,
    seed: int,
    attention: str = "auto",
    progress: Progress | None = None,
    memory_hint: str = MEMORY_HINT,
    decode_chunk: int | None = None,
) -> np.ndarray:
    """Run the pipeline once on a fitted uint8 RGB ``image``; return ``(T, H, W, 3)`` uint8 frames.

    ``call`` holds the pipeline's keyword arguments (num_frames, num_inference_steps, ...).
    The noise comes from a CPU ``torch.Generator`` seeded with ``seed``, so a seed means the same
    noise on every device. CUDA out-of-memory becomes a one-line :class:`KeyframeError` ending
    with ``memory_hint``. Used by every diffusers backend (svd, diffusers).

    The clip is held once, as uint8: frames are converted from the pipeline's floats one at a
    time, and with ``decode_chunk`` (SVD) the pipeline returns latents, which are decoded
    ``decode_chunk`` frames at a time exactly as the pipeline's own ``decode_chunk_size`` loop
    would, so no float copy of the whole clip is ever made.
    """
    import torch
    from PIL import Image

    generator = torch.Generator("cpu").manual_seed(int(seed))
    total = call["num_inference_steps"]

    def on_step(_pipe: Any, step: int, _timestep: Any, _tensors: dict) -> dict:
        if progress is not None:
            progress(step + 1, total)
        return {}

    height, width = image.shape[:2]
    try:
        with _sdpa_context(attention), torch.inference_mode():
            output = pipeline(
                Image.fromarray(image),
                height=height,
                width=width,
                generator=generator,
                output_type="np" if decode_chunk is None else "latent",
                callback_on_step_end=on_step,
                **call,
            )
            if decode_chunk is None:
                return _uint8_frames([output.frames[0]], len(output.frames[0]))
            return _uint8_frames(_decoded(pipeline, output.frames, decode_chunk), output.frames.shape[1])
    except torch.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise KeyframeError(
            f"CUDA out of memory rendering {call['num_frames']} frames at {width}x{height}; {memory_hint}"
        ) from None


def _decoded(pipeline: Any, latents: Any, chunk: int) -> Iterator[np.ndarray]:
    """SVD latents ``(1, T, C, h, w)`` decoded ``chunk`` frames at a time: ``(n, H, W, 3)`` floats in [0, 1]."""
    count = latents.shape[1]
    for start in range(0, count, chunk):
        part = latents[:, start : start + chunk]
        video = pipeline.decode_latents(part, part.shape[1], chunk)
        yield pipeline.video_processor.postprocess_video(video=video, output_type="np")[0]


def _uint8_frames(chunks: Iterable[np.ndarray], count: int) -> np.ndarray:
    """``count`` frames in ``(n, H, W, 3)`` float chunks in [0, 1] -> one ``(T, H, W, 3)`` uint8 array,
    converted a frame at a time."""
    out: np.ndarray | None = None
    done = 0
    for chunk in chunks:
        for frame in chunk:
            if out is None:
                out = np.empty((count, *frame.shape), np.uint8)
            out[done] = from_float(frame, np.uint8)
            done += 1
    return out[:done]


def pipeline_call(cfg: RenderConfig, num_frames: int) -> dict[str, Any]:
    """The pipeline's keyword arguments from the config: every SVD control, resolved."""
    svd = cfg.svd
    if svd.min_guidance_scale > svd.max_guidance_scale:
        raise KeyframeError(
            f"min guidance {svd.min_guidance_scale} is above max guidance {svd.max_guidance_scale}"
        )
    return {
        "num_frames": num_frames,
        "num_inference_steps": svd.steps,
        "min_guidance_scale": svd.min_guidance_scale,
        "max_guidance_scale": svd.max_guidance_scale,
        "fps": cfg.fps,
        "motion_bucket_id": svd.motion_bucket_id,
        "noise_aug_strength": svd.noise_aug_strength,
        "decode_chunk_size": svd.decode_chunk_size or num_frames,
    }


def plan_svd_fit(plate_size: tuple[int, int], cfg: RenderConfig, unet_config: dict, vae_config: dict) -> Fit:
    """The fit to the model's size: ``render.size``, or the model's native pixel area at the plate's aspect.

    The native area is ``(unet sample_size x VAE scale factor)^2`` (SVD: 768^2 = 1024x576).
    """
    if cfg.size is not None:
        size = parse_size(cfg.size)
        if size[0] % MODEL_MULTIPLE or size[1] % MODEL_MULTIPLE:
            raise KeyframeError(f"--size {cfg.size}: SVD needs both sides to be multiples of {MODEL_MULTIPLE}")
    else:
        native = int(unet_config["sample_size"]) * 2 ** (len(vae_config["block_out_channels"]) - 1)
        size = size_for_area(plate_size, native * native)
    return plan_fit(plate_size, size, cfg.fit, multiple=MODEL_MULTIPLE)


@RENDERERS.register("svd")
def render_svd(
    plate: np.ndarray,
    cfg: RenderConfig,
    *,
    seed: int = 0,
    model: SvdModel | None = None,
    progress: Progress | None = None,
) -> RenderResult:
    """Animate ``plate`` with Stable Video Diffusion.

    Parameters
    ----------
    plate : ndarray (H, W, 3) uint8 or uint16
        RGB plate; fitted to the model size (``render.size``/``render.fit``).
    cfg : RenderConfig
        ``frames`` (default: the model's), ``fps``, ``size``, ``fit`` and the ``svd`` section.
    seed : int
        Seeds the diffusion noise (same seed, same inputs -> same frames on the same machine).
    model : SvdModel, optional
        A pipeline from :func:`load_svd` to reuse; loaded from ``cfg.svd.model`` when omitted.
    progress : callable, optional
        ``progress(done, total)`` after each denoising step.

    Returns
    -------
    RenderResult
        ``plate_to_frame0`` is the fit transform (frame 0 reproduces the conditioning image);
        ``frame_transforms`` is ``None`` (the model's motion is unknown).
    """
    image = to_uint8(plate)
    if model is None:
        resolve_runtime(cfg.svd)  # option errors before touching the model
        folder = inspect_svd_model(cfg.svd)
        unet_config, vae_config = folder.config("unet"), folder.config("vae")
    else:
        folder = None
        unet_config, vae_config = dict(model.pipeline.unet.config), dict(model.pipeline.vae.config)
    fit = plan_svd_fit((image.shape[1], image.shape[0]), cfg, unet_config, vae_config)
    num_frames = cfg.frames or int(unet_config.get("num_frames") or 14)
    call = pipeline_call(cfg, num_frames)
    if model is None:
        model = load_svd(cfg.svd, folder)
    frames = run_pipeline(model.pipeline, apply_fit(image, fit), call, seed=seed, attention=model.runtime["attention"],
                          progress=progress, decode_chunk=call["decode_chunk_size"])
    params = {
        "backend": "svd",
        "frames": num_frames,
        "fps": cfg.fps,
        "size": f"{fit.size[0]}x{fit.size[1]}",
        "fit": cfg.fit,
        "svd": {**cfg.svd.model_dump(), "decode_chunk_size": call["decode_chunk_size"]},
        "runtime": model.runtime,
    }
    return RenderResult(
        frames=frames,
        fps=float(cfg.fps),
        plate_to_frame0=fit.matrix.tolist(),
        frame_transforms=None,
        params=params,
        model_info=model.info,
        backend="svd",
        fit=fit.to_dict(),
        motion={"frame_transforms_exact": None, "why": "a generative model's motion is not known in advance"},
    )
