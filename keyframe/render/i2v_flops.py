"""The exact Wan 2.x and LTX-Video architectures, built on fake tensors to count a render's FLOPs.

Configs are the released models' (the Wan team's configs, diffusers' defaults for LTX-Video
0.9's 2B transformer and VAE). Nothing is downloaded and no memory is allocated: the modules are
instantiated inside ``FakeTensorMode`` and ``FlopCounterMode`` counts every matmul and
convolution (attention forced to the math backend so its matmuls count). One denoising step is
the conditional and the unconditional transformer pass (batch 2, CFG on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_VIT_H14 = {"hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 16, "num_hidden_layers": 32,
            "patch_size": 14, "image_size": 224, "projection_dim": 1024, "hidden_act": "gelu"}
_WAN = {"patch_size": (1, 2, 2), "attention_head_dim": 128, "text_dim": 4096, "freq_dim": 256, "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "rope_max_seq_len": 1024}

#: Architecture -> pipeline family, component configs and the model card's render defaults.
I2V_ARCHS: dict[str, dict[str, Any]] = {
    "wan-ti2v-5b": {  # Wan2.2-TI2V-5B: dim 3072 (24 x 128), 30 layers, 48-channel latents, VAE stride 4x16x16
        "family": "wan",
        "transformer": {**_WAN, "num_attention_heads": 24, "in_channels": 48, "out_channels": 48, "ffn_dim": 14336,
                        "num_layers": 30},
        "vae": {"base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                "temperal_downsample": [False, True, True], "is_residual": True, "in_channels": 12,
                "out_channels": 12, "patch_size": 2, "scale_factor_spatial": 16, "scale_factor_temporal": 4,
                "latents_mean": [0.0] * 48, "latents_std": [1.0] * 48},
        "image_encoder": None,
        "defaults": {"frames": 121, "size": "1280x704", "steps": 50},
    },
    "wan-i2v-14b": {  # Wan2.1-I2V-14B-720P: dim 5120 (40 x 128), 40 layers, CLIP ViT-H/14 image tokens
        "family": "wan",
        "transformer": {**_WAN, "num_attention_heads": 40, "in_channels": 36, "out_channels": 16, "ffn_dim": 13824,
                        "num_layers": 40, "image_dim": 1280, "added_kv_proj_dim": 5120},
        "vae": {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                "temperal_downsample": [False, True, True]},
        "image_encoder": _VIT_H14,
        "defaults": {"frames": 81, "size": "1280x720", "steps": 40},
    },
    "ltx-2b": {  # LTX-Video 0.9 (2B): diffusers' defaults are this model's
        "family": "ltx",
        "transformer": {},
        "vae": {},
        "image_encoder": None,
        "defaults": {"frames": 121, "size": "768x512", "steps": 50},
    },
}
TEXT_TOKENS = {"wan": 512, "ltx": 128}  # the pipelines' max_sequence_length


def _components(arch: str) -> dict[str, Any]:
    from diffusers import (AutoencoderKLLTXVideo, AutoencoderKLWan, LTXVideoTransformer3DModel,
                           WanTransformer3DModel)
    from transformers import CLIPVisionConfig, CLIPVisionModel

    spec = I2V_ARCHS[arch]
    wan = spec["family"] == "wan"
    return {
        "transformer": (WanTransformer3DModel if wan else LTXVideoTransformer3DModel)(**spec["transformer"]),
        "vae": (AutoencoderKLWan if wan else AutoencoderKLLTXVideo)(**spec["vae"]),
        "image_encoder": None if spec["image_encoder"] is None else CLIPVisionModel(CLIPVisionConfig(**spec["image_encoder"])),
    }


def count_i2v_flops(arch: str, num_frames: int, width: int, height: int, steps: int) -> dict[str, float]:
    """FLOPs of one image-to-video render of ``arch``, counted on fake tensors (shapes only).

    Returns
    -------
    dict
        ``transformer_step`` (conditional + unconditional pass), ``vae_encode`` (the conditioning:
        one image, or Wan I2V's whole masked video), ``vae_decode``, ``image_encoder``, ``total``
        (``steps x transformer_step`` plus the rest), ``tokens`` (transformer sequence length).

    Examples
    --------
    >>> flops = count_i2v_flops("ltx-2b", 9, 64, 64, steps=2)  # doctest: +SKIP
    >>> flops["total"] > 2 * flops["transformer_step"]  # doctest: +SKIP
    True
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from keyframe.render.flops import flops_of

    if arch not in I2V_ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(I2V_ARCHS)}")
    spec = I2V_ARCHS[arch]
    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        parts = _components(arch)
    transformer, vae, clip = parts["transformer"], parts["vae"], parts["image_encoder"]
    counted: dict[str, float] = {}

    def measure(name: str, fn: Callable[[], Any]) -> None:
        counted[name] = flops_of(fn)

    text = TEXT_TOKENS[spec["family"]]
    with fake:
        if spec["family"] == "wan":
            spatial = vae.config.scale_factor_spatial or 8
            temporal = vae.config.scale_factor_temporal or 4
            lat = (2, transformer.config.in_channels, (num_frames - 1) // temporal + 1, height // spatial, width // spatial)
            image = None if clip is None else torch.empty(2, 257, clip.config.hidden_size)
            measure("transformer_step", lambda: transformer(torch.empty(lat), torch.tensor([500, 500]),
                                                            torch.empty(2, text, 4096), image))
            condition_frames = 1 if clip is None else num_frames  # Wan I2V encodes the image plus zeros
            measure("vae_encode", lambda: vae.encode(torch.empty(1, 3, condition_frames, height, width)))
            measure("vae_decode", lambda: vae.decode(torch.empty(1, vae.config.z_dim, *lat[2:])))
            tokens = lat[2] * (lat[3] // 2) * (lat[4] // 2)
        else:
            spatial, temporal = vae.spatial_compression_ratio, vae.temporal_compression_ratio
            grid = ((num_frames - 1) // temporal + 1, height // spatial, width // spatial)
            tokens = grid[0] * grid[1] * grid[2]
            channels = transformer.config.in_channels
            measure("transformer_step", lambda: transformer(
                torch.empty(2, tokens, channels), torch.empty(2, text, 4096), torch.empty(2, tokens),
                torch.ones(2, text), num_frames=grid[0], height=grid[1], width=grid[2]))
            measure("vae_encode", lambda: vae.encode(torch.empty(1, 3, 1, height, width)))
            measure("vae_decode", lambda: vae.decode(torch.empty(1, vae.config.latent_channels, *grid)))
        if clip is not None:
            size = clip.config.image_size
            measure("image_encoder", lambda: clip(torch.empty(1, 3, size, size)))
        else:
            counted["image_encoder"] = 0.0
    counted["total"] = (steps * counted["transformer_step"] + counted["vae_encode"] + counted["vae_decode"]
                        + counted["image_encoder"])
    counted["tokens"] = float(tokens)
    return counted
