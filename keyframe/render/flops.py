"""The exact SVD / SVD-XT (or a tiny) architecture with random weights, and its FLOPs per call.

Speed does not depend on the weight values, so random weights measure what real ones would,
without any download (``benchmarks/render_harness.py`` times them for ``keyframe bench render``).
FLOPs are counted once per architecture and shape with ``torch.utils.flop_counter.FlopCounterMode``
on fake tensors (shapes only: no memory, no time), attention forced to the math backend so its
matmuls are counted: ``steps x UNet call (CFG-batched) + VAE encode + VAE decode + CLIP``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keyframe.render.svd import torch_dtype

_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "v_prediction",
    "interpolation_type": "linear",
    "use_karras_sigmas": True,
    "sigma_min": 0.002,
    "sigma_max": 700.0,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "steps_offset": 1,
}
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_SVD_VAE = {
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "force_upcast": True,
}
_VIT_H14 = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 16,
    "num_hidden_layers": 32,
    "patch_size": 14,
    "image_size": 224,
    "projection_dim": 1024,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}

#: Component configs per architecture; the UNet's omitted keys are diffusers' defaults, which are SVD's.
ARCHS: dict[str, dict[str, Any]] = {
    "svd-xt": {
        "unet": {"sample_size": 96, "num_frames": 25},
        "vae": _SVD_VAE,
        "image_encoder": _VIT_H14,
        "feature_extractor": {"crop_size": 224, "size": {"shortest_edge": 224}},
        "defaults": {"frames": 25, "size": "1024x576", "steps": 25, "decode_chunk": 8},
    },
    "svd": {
        "unet": {"sample_size": 96, "num_frames": 14},
        "vae": _SVD_VAE,
        "image_encoder": _VIT_H14,
        "feature_extractor": {"crop_size": 224, "size": {"shortest_edge": 224}},
        "defaults": {"frames": 14, "size": "1024x576", "steps": 25, "decode_chunk": 7},
    },
    "tiny": {  # the smallest SVD that runs on a CPU (64x64, 4 frames, 2 steps), one attention head
        "unet": {
            "block_out_channels": (32, 64),
            "layers_per_block": 2,
            "sample_size": 32,
            "cross_attention_dim": 32,
            # with 8 heads (of dim 4/8) torch's CPU SDPA kernel spent 10.8 s per
            # UNet call on them here against 0.29 s with one head (same FLOPs), so the tiny model has one
            "num_attention_heads": 1,
            "addition_time_embed_dim": 32,
            "projection_class_embeddings_input_dim": 96,
            "down_block_types": ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            "up_block_types": ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            "num_frames": 4,
        },
        "vae": {
            "block_out_channels": [32, 64],
            "down_block_types": ["DownEncoderBlock2D"] * 2,
            "latent_channels": 4,
            "sample_size": 64,
        },
        "image_encoder": {
            "hidden_size": 32,
            "projection_dim": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "image_size": 224,
            "patch_size": 32,
        },
        "feature_extractor": {"crop_size": 32, "size": 32},
        "defaults": {"frames": 4, "size": "64x64", "steps": 2, "decode_chunk": 2},
    },
}


def _components(arch: str) -> dict[str, Any]:
    """Instantiate the random-weight modules of ``arch`` (on the current default device)."""
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    spec = ARCHS[arch]
    return {
        "unet": UNetSpatioTemporalConditionModel(**spec["unet"]),
        "vae": AutoencoderKLTemporalDecoder(**spec["vae"]),
        "image_encoder": CLIPVisionModelWithProjection(CLIPVisionConfig(**spec["image_encoder"])),
    }


def build_pipeline(arch: str, *, seed: int = 0, device: str = "cpu", dtype: str = "fp32") -> Any:
    """A ``StableVideoDiffusionPipeline`` of architecture ``arch`` with seeded random weights.

    Parameters
    ----------
    arch : {"svd-xt", "svd", "tiny"}
    seed : int
        Seeds the weight initialisation (same seed, same weights).
    device : str
        Where to build the weights (building on the GPU is much faster for the big ones).
    dtype : {"fp32", "fp16", "bf16"}

    Returns
    -------
    StableVideoDiffusionPipeline
    """
    import torch
    from diffusers import EulerDiscreteScheduler, StableVideoDiffusionPipeline
    from transformers import CLIPImageProcessor

    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}")
    torch.manual_seed(seed)
    with torch.device(device):
        parts = _components(arch)
    extractor = CLIPImageProcessor(image_mean=_CLIP_MEAN, image_std=_CLIP_STD, **ARCHS[arch]["feature_extractor"])
    scheduler = EulerDiscreteScheduler(**_SCHEDULER)
    pipeline = StableVideoDiffusionPipeline(feature_extractor=extractor, scheduler=scheduler, **parts)
    return pipeline if dtype == "fp32" else pipeline.to(dtype=torch_dtype(dtype))


def flops_of(fn: Callable[[], Any]) -> float:
    """FLOPs of ``fn()`` (run it on fake tensors), attention forced to the math backend so its matmuls count."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel([SDPBackend.MATH]), torch.no_grad():
        fn()
    return float(counter.get_total_flops())


def count_flops(arch: str, num_frames: int, width: int, height: int, steps: int, cfg_batch: int = 2) -> dict[str, float]:
    """FLOPs of one pipeline call, counted on fake tensors (shapes only).

    Returns
    -------
    dict
        ``unet_call`` (one CFG-batched call), ``vae_encode``, ``vae_decode``, ``clip``, ``total``.

    Examples
    --------
    >>> flops = count_flops("tiny", 4, 64, 64, steps=2)
    >>> flops["total"] == 2 * flops["unet_call"] + flops["vae_encode"] + flops["vae_decode"] + flops["clip"]
    True
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        parts = _components(arch)
    unet, vae, clip = parts["unet"], parts["vae"], parts["image_encoder"]
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    latent = (cfg_batch, num_frames, 8, height // factor, width // factor)
    counted: dict[str, float] = {}

    def measure(name: str, fn: Callable[[], Any]) -> None:
        counted[name] = flops_of(fn)

    with fake:
        proj = clip.config.projection_dim
        measure("unet_call", lambda: unet(torch.empty(latent), torch.tensor(1.0),
                                          encoder_hidden_states=torch.empty(cfg_batch, 1, proj),
                                          added_time_ids=torch.empty(cfg_batch, 3)))
        measure("vae_encode", lambda: vae.encode(torch.empty(1, 3, height, width)))
        measure("vae_decode", lambda: vae.decode(torch.empty(num_frames, 4, height // factor, width // factor),
                                                 num_frames=num_frames))
        size = clip.config.image_size
        measure("clip", lambda: clip(torch.empty(1, 3, size, size)))
    counted["total"] = steps * counted["unet_call"] + counted["vae_encode"] + counted["vae_decode"] + counted["clip"]
    return counted
