"""Upscale stage: the finished keyframe made larger, without magnifying the edit's flaws.

Backends (``upscale.backend``, one :class:`~keyframe.upscale.base.Upscaler` protocol, chosen
through :data:`UPSCALERS`): ``lanczos`` (weight-free, the default: a resample with edge-aware
detail restoration that area-averages back to the plate), ``spandrel`` (any single-file
super-resolution model spandrel recognises, tiled) and ``diffusers`` (Stable Diffusion x4 upscaler
or LDM super-resolution from a local folder, tiled, low noise). With the edit mask, the edit's
sharpness and grain against its surroundings are measured before and after
(:mod:`keyframe.upscale.uniformity`).
"""

from keyframe.upscale.base import UPSCALERS, Upscaler, UpscaleResult
from keyframe.upscale.stage import load_model, make_upscaler, shared_upscale_model, upscale, write_upscale
from keyframe.upscale.uniformity import Uniformity, compare_uniformity, measure_uniformity

__all__ = [
    "UPSCALERS",
    "Uniformity",
    "UpscaleResult",
    "Upscaler",
    "compare_uniformity",
    "load_model",
    "make_upscaler",
    "measure_uniformity",
    "shared_upscale_model",
    "upscale",
    "write_upscale",
]
