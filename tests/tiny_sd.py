"""A tiny random-initialised Stable Diffusion inpaint pipeline for tests (no downloads).

``save_tiny_sd_inpaint(path)`` writes a complete diffusers-format directory (``model_index.json``
plus ``unet/ vae/ text_encoder/ tokenizer/ scheduler/``, safetensors weights) that any loader can
read back with ``local_files_only=True``. The weights are random: outputs are noise-like, so tests
check plumbing, determinism and compositing, never image quality. Runs on CPU in about a second.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import torch


def _byte_vocab() -> dict[str, int]:
    """CLIP's byte-level vocabulary: 2 specials, the 256 byte characters and their ``</w>`` forms."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    return {token: i for i, token in enumerate(tokens)}


def tiny_text_encoder():
    """A tiny random CLIP text encoder and a byte-level tokenizer that needs no files."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = _byte_vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=32,
        )
    )
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    return text_encoder, tokenizer


def build_tiny_sd_inpaint(seed: int = 0):
    """Build a ``StableDiffusionInpaintPipeline`` with tiny random components on CPU."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=16,
    )
    text_encoder, tokenizer = tiny_text_encoder()
    scheduler = PNDMScheduler(skip_prk_steps=True, steps_offset=1)
    return StableDiffusionInpaintPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_sd_inpaint(path: str | Path, seed: int = 0) -> Path:
    """Save the tiny pipeline as a diffusers-format directory (safetensors) and return its path."""
    path = Path(path)
    build_tiny_sd_inpaint(seed).save_pretrained(path, safe_serialization=True)
    return path


@functools.lru_cache(maxsize=1)
def shared_tiny_sd_dir() -> Path:
    """One saved tiny pipeline per test process (building it takes seconds), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="keyframe-tiny-sd-"))
    atexit.register(shutil.rmtree, folder, True)
    return save_tiny_sd_inpaint(folder / "tiny-sd-inpaint")
