"""Tiny random-initialised upscale models for tests and benchmarks (no downloads).

- ``save_tiny_compact(path, scale)``: a Real-ESRGAN Compact network (spandrel's
  ``Compact(num_feat=16, num_conv=4)``) saved as ``.safetensors`` (or as a pickle ``.pth``).
- ``save_tiny_sd_upscale(path)`` / ``save_tiny_ldm_sr(path)``: diffusers
  ``StableDiffusionUpscalePipeline`` / ``LDMSuperResolutionPipeline`` folders (x2: two-block
  autoencoders), safetensors weights.

The weights are random: tests check plumbing, scale, determinism and tiling, never quality.
"""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_compact(path: str | Path, scale: int = 2, seed: int = 0) -> Path:
    """Save a random Real-ESRGAN Compact model; the suffix picks safetensors or a pickle (.pth)."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    state = Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=scale).state_dict()
    path = Path(path)
    if path.suffix == ".safetensors":
        save_file(state, path)
    else:
        torch.save(state, path)
    return path


def _tiny_unet_2d(in_channels: int, out_channels: int, **extra):
    return dict(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=in_channels,
        out_channels=out_channels,
        norm_num_groups=16,
        **extra,
    )


def save_tiny_sd_upscale(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny ``StableDiffusionUpscalePipeline`` (x2) as a diffusers folder."""
    from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline, UNet2DConditionModel

    from tiny_sd import tiny_text_encoder

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **_tiny_unet_2d(7, 4),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        num_class_embeds=100,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=16,
        scaling_factor=0.08333,
    )
    text_encoder, tokenizer = tiny_text_encoder()
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=99,
    )
    pipe.save_pretrained(path, safe_serialization=True)
    return Path(path)


def save_tiny_ldm_sr(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny ``LDMSuperResolutionPipeline`` (x2) as a diffusers folder."""
    from diffusers import DDIMScheduler, LDMSuperResolutionPipeline, UNet2DModel, VQModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        **_tiny_unet_2d(6, 3),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    )
    vqvae = VQModel(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=3,
        norm_num_groups=16,
    )
    LDMSuperResolutionPipeline(vqvae=vqvae, unet=unet, scheduler=DDIMScheduler()).save_pretrained(path, safe_serialization=True)
    return Path(path)
