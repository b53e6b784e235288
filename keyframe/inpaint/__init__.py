"""Inpaint cleanup: fill masked regions with a classical or diffusers backend, keep everything else.

Public API: :func:`inpaint` (arrays in, :class:`InpaintResult` out), :func:`write_inpaint`
(cleaned PNG + effective mask + sidecar), the :class:`Inpainter` backend protocol and
:func:`load_pipeline` / :func:`shared_pipeline` for loading a diffusers model once and reusing it, and
:func:`synthesize_texture`, the step that gives every backend's fill the plate's own fine detail.
"""

from keyframe.inpaint.base import INPAINTERS, Inpainter
from keyframe.inpaint.diffusion import load_model, load_pipeline, shared_pipeline
from keyframe.inpaint.stage import InpaintResult, check_inpaint_output, inpaint, make_inpainter, write_inpaint
from keyframe.inpaint.texture import synthesize_texture

__all__ = [
    "INPAINTERS",
    "InpaintResult",
    "Inpainter",
    "check_inpaint_output",
    "inpaint",
    "load_model",
    "load_pipeline",
    "make_inpainter",
    "shared_pipeline",
    "synthesize_texture",
    "write_inpaint",
]
