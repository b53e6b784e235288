"""Speed options for diffusers video transformers, each a config switch recorded in the sidecar.

Everything here is diffusers' (or torch's, torchao's) own machinery, applied to a loaded
pipeline's ``transformer``: cache hooks (``transformer.enable_cache``), the attention backend
(``set_attention_backend``), layerwise fp8 weight storage, group offloading, ``torch.compile``
with inductor's persistent cache, and fp8 quantisation through torchao. Options a machine cannot
run are refused in one line before any weights are touched (:func:`check_speed_options`).
"""

from __future__ import annotations

from typing import Any

from keyframe.config import RenderDiffusersConfig
from keyframe.errors import KeyframeError

SECTION = "render.diffusers"
# compute capability from which torch's float8 matmuls run (Ada, Hopper and later)
FP8_MIN_CAPABILITY = (8, 9)


def check_speed_options(cfg: RenderDiffusersConfig, device: str) -> None:
    """Refuse, in one line, speed options this machine or configuration cannot run."""
    import importlib.util

    import torch

    if cfg.cache == "mag" and not cfg.mag_ratios:
        raise KeyframeError(f"{SECTION}.cache: mag needs {SECTION}.mag_ratios, the per-step ratios calibrated for "
                            "this model (diffusers' MagCacheConfig(calibrate=True) prints them)")
    if cfg.attention_backend is not None:
        from diffusers.models.attention_dispatch import AttentionBackendName

        names = [backend.value for backend in AttentionBackendName]
        if cfg.attention_backend not in names:
            raise KeyframeError(f"{SECTION}.attention_backend {cfg.attention_backend!r} is not a diffusers attention "
                                f"backend; expected one of {', '.join(names)}")
    if cfg.compile != "none" and cfg.group_offload != "none":
        raise KeyframeError(f"{SECTION}.compile cannot be combined with group_offload (its hooks move weights "
                            "between devices inside the graph)")
    if cfg.quantize == "fp8":
        if device != "cuda" or torch.cuda.get_device_capability() < FP8_MIN_CAPABILITY:
            found = "no CUDA device" if device != "cuda" else "compute capability %d.%d" % torch.cuda.get_device_capability()
            raise KeyframeError(f"{SECTION}.quantize: fp8 needs a GPU of compute capability 8.9 or later (Ada, "
                                f"Hopper), found {found}; try layerwise_casting: fp8_e4m3 for the memory saving")
        if importlib.util.find_spec("torchao") is None:
            raise KeyframeError(f"{SECTION}.quantize: fp8 needs torchao (pip install torchao)")
    if cfg.layerwise_casting != "none" and cfg.quantize != "none":
        raise KeyframeError(f"{SECTION}.layerwise_casting and quantize both change the weights' dtype; pick one")


def cache_config(cfg: RenderDiffusersConfig, pipeline: Any, *, batched_guidance: bool = True) -> Any:
    """The diffusers cache-hook config named by ``cfg.cache`` (``None`` for ``none``).

    ``batched_guidance``: the pipeline runs the conditional and unconditional branches in one
    batch (LTX); Wan calls them one after the other, which FasterCache must be told.
    """
    from diffusers.hooks import (FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig,
                                 PyramidAttentionBroadcastConfig)

    threshold = {} if cfg.cache_threshold is None else {"threshold": cfg.cache_threshold}

    def timestep() -> int:
        return int(pipeline.current_timestep)

    if cfg.cache == "first_block":
        return FirstBlockCacheConfig(**threshold)
    if cfg.cache == "mag":
        return MagCacheConfig(mag_ratios=list(cfg.mag_ratios or []),
                              num_inference_steps=len(cfg.mag_ratios or []), **threshold)
    if cfg.cache == "faster":
        return FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=timestep,
                                 tensor_format="BCFHW", is_guidance_distilled=not batched_guidance)
    if cfg.cache == "pab":
        return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2, current_timestep_callback=timestep)
    return None


def apply_speed_options(pipeline: Any, cfg: RenderDiffusersConfig, runtime: dict[str, str], *,
                        batched_guidance: bool = True) -> dict[str, Any]:
    """Apply the configured speed options to ``pipeline.transformer`` and move the pipeline to its device.

    Order matters: quantisation and layerwise casting change the weights, offloading decides where
    they live, the cache hook wraps the blocks, and compilation comes last so it sees all of it.

    Returns
    -------
    dict
        What was applied, JSON-ready, for the sidecar.
    """
    import torch

    from keyframe.render.svd import enable_compile_cache, torch_dtype

    transformer = pipeline.transformer
    applied: dict[str, Any] = {}
    if cfg.quantize == "fp8":
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_

        quantize_(transformer, Float8DynamicActivationFloat8WeightConfig())
        applied["quantize"] = "torchao Float8DynamicActivationFloat8WeightConfig"
    if cfg.layerwise_casting != "none":
        storage = {"fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}[cfg.layerwise_casting]
        transformer.enable_layerwise_casting(storage_dtype=storage, compute_dtype=torch_dtype(runtime["dtype"]))
        applied["layerwise_casting"] = {"storage": str(storage), "compute": runtime["dtype"]}
    device = torch.device(runtime["device"])
    if cfg.group_offload != "none":
        blocks = cfg.group_offload_blocks if cfg.group_offload == "block_level" else None
        transformer.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                         offload_type=cfg.group_offload, num_blocks_per_group=blocks)
        for name, component in pipeline.components.items():
            if isinstance(component, torch.nn.Module) and name != "transformer":
                component.to(device)
        applied["group_offload"] = {"type": cfg.group_offload, "blocks_per_group": blocks}
    else:
        pipeline.to(device)
    if cfg.attention_backend is not None:
        transformer.set_attention_backend(cfg.attention_backend)
        applied["attention_backend"] = cfg.attention_backend
    hook = cache_config(cfg, pipeline, batched_guidance=batched_guidance)
    if hook is not None:
        transformer.enable_cache(hook)
        applied["cache"] = {"kind": cfg.cache, "config": type(hook).__name__, "threshold": cfg.cache_threshold}
    if cfg.compile != "none":
        cache_dir = enable_compile_cache(cfg.compile_cache_dir, "render.diffusers.compile_cache_dir")
        if cfg.compile == "full":
            pipeline.transformer = torch.compile(transformer, mode=cfg.compile_mode, fullgraph=False, dynamic=False)
        else:
            transformer.compile_repeated_blocks(mode=cfg.compile_mode, fullgraph=True)
        applied["compile"] = {"kind": cfg.compile, "mode": cfg.compile_mode, "cache_dir": str(cache_dir)}
    return applied
