"""Tiny random-initialised SVD pipeline saved in diffusers format (the CPU-sized recipe of keyframe.render.flops).

The architecture lives in :data:`keyframe.render.flops.ARCHS` ("tiny"); here it is saved with
``save_pretrained`` so tests load it back through the real loader (local files only).
"""

from __future__ import annotations

from pathlib import Path

from keyframe.render.flops import build_pipeline


def save_tiny_svd(directory: Path, seed: int = 0) -> Path:
    """Build the tiny SVD pipeline with seeded random weights and save it (safetensors) to ``directory``."""
    pipeline = build_pipeline("tiny", seed=seed)
    pipeline.save_pretrained(directory, safe_serialization=True)
    return Path(directory)
