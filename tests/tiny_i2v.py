"""Tiny random-initialised image-to-video pipelines of the 2025-26 families, saved in diffusers format.

``save_tiny_i2v(kind, directory)`` writes a complete folder (``model_index.json`` plus every
component, safetensors weights, a ``tokenizer.json`` built in code) that
``DiffusionPipeline.from_pretrained(directory, local_files_only=True)`` reads back. Kinds:

- ``wan-i2v``: Wan 2.1 image-to-video (CLIP vision image encoder, 36 input channels);
- ``wan-flf``: Wan first-last-frame (the same, with room for two images' CLIP tokens);
- ``wan-ti2v``: Wan 2.2 TI2V style (no image encoder, 16 channels, ``expand_timesteps``);
- ``ltx``: LTX-Video image-to-video.

The weights are random: frames are noise-like, so tests check plumbing and determinism only.
Each renders 9 frames at 32x32 in 2 steps in a few seconds on the CPU (../shared/REFERENCE.md).
"""

from __future__ import annotations

from pathlib import Path

import torch

KINDS = ("wan-i2v", "wan-flf", "wan-ti2v", "ltx")


def _tokenizer():
    """A word-level tokenizer over a small in-code vocabulary (no files, no Hub)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", "a", "the", "camera", "slow", "push", "in", "on", "cup", "of", "coffee",
             "person", "walks", "blurry", "static", "low", "quality"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _text_encoder(family: str):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = (UMT5Config, UMT5EncoderModel) if family == "wan" else (T5Config, T5EncoderModel)
    return model_class(config_class(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                    relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                                    decoder_start_token_id=0))


def build_tiny_wan(kind: str = "wan-i2v", seed: int = 0):
    """A ``WanImageToVideoPipeline`` with tiny random components (see the module docstring for kinds)."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    with_image = kind != "wan-ti2v"
    extra = {"image_dim": 4} if with_image else {}
    if kind == "wan-flf":
        extra["pos_embed_seq_len"] = 2 * (32 * 32 + 1)  # two images' CLIP tokens (patch 1 at 32x32, plus CLS)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36 if with_image else 16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, **extra,
    )
    image_encoder = image_processor = None
    if with_image:
        image_encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2,
                                                         num_attention_heads=2, image_size=32, intermediate_size=16,
                                                         patch_size=1))
        image_processor = CLIPImageProcessor(crop_size=32, size=32)
    return WanImageToVideoPipeline(
        tokenizer=_tokenizer(), text_encoder=_text_encoder("wan"), vae=vae, transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), image_encoder=image_encoder,
        image_processor=image_processor, expand_timesteps=not with_image,
    )


def build_tiny_ltx(seed: int = 0):
    """An ``LTXImageToVideoPipeline`` with tiny random components."""
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXImageToVideoPipeline,
                           LTXVideoTransformer3DModel)

    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                             num_layers=1, caption_channels=32)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )
    vae.use_framewise_encoding = vae.use_framewise_decoding = False
    return LTXImageToVideoPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=_text_encoder("ltx"),
                                   tokenizer=_tokenizer(), transformer=transformer)


def save_tiny_i2v(kind: str, directory: str | Path, seed: int = 0) -> Path:
    """Build the tiny pipeline of ``kind`` with seeded weights and save it (safetensors) to ``directory``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    pipeline = build_tiny_ltx(seed) if kind == "ltx" else build_tiny_wan(kind, seed)
    pipeline.save_pretrained(directory, safe_serialization=True)
    return Path(directory)
