"""Render stage: a plate in, a clip out, with the plate -> frame transforms recorded.

Backends (``render.backend``): ``camera`` (weight-free camera move with exact known motion, the
default), ``svd`` (Stable Video Diffusion from local weights) and ``diffusers`` (Wan 2.x and
LTX-Video image-to-video pipelines from local weights, with an optional end plate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from keyframe.config import RenderConfig
from keyframe.io import check_output_dir, check_output_path, clip_writer, output_group, write_frames, write_sidecar
from keyframe.io.models import shared_model
from keyframe.errors import KeyframeError
from keyframe.registry import Progress
from keyframe.render.base import RENDERERS, Renderer, RenderResult
from keyframe.render.camera import camera_map, plan_camera
from keyframe.render.camera_frames import CameraFrames
from keyframe.render.diffusers_i2v import load_i2v
from keyframe.render.fit import fit_plate, parse_size, plan_fit
from keyframe.render.svd import load_svd
from keyframe.validation import check_encodable

# backends that condition the clip's last frame on an end plate
TAKES_LAST = ("diffusers",)

__all__ = [
    "CameraFrames",
    "RENDERERS",
    "RenderResult",
    "Renderer",
    "camera_map",
    "fit_plate",
    "load_i2v",
    "load_svd",
    "plan_camera",
    "plan_fit",
    "render",
    "render_model_source",
    "shared_render_model",
    "write_render",
]


def render_model_source(cfg: RenderConfig) -> str | None:
    """The weights the configured backend loads (``render.svd.model`` / ``render.diffusers.model``), or None."""
    return {"svd": cfg.svd.model, "diffusers": cfg.diffusers.model}.get(cfg.backend)


def shared_render_model(cfg: RenderConfig) -> Any:
    """The configured backend's model, loaded once per process for every shot of a batch
    (:func:`~keyframe.io.models.shared_model`); None for the camera, or when no weights are named
    (the stage itself then reports it)."""
    loader, section = {"svd": (load_svd, cfg.svd), "diffusers": (load_i2v, cfg.diffusers)}.get(cfg.backend, (None, None))
    if loader is None or not section.model:
        return None
    return shared_model(loader, f"{cfg.backend}:{section.model_dump_json()}", section)


def render(
    plate: np.ndarray,
    cfg: RenderConfig,
    *,
    seed: int = 0,
    model: Any = None,
    progress: Progress | None = None,
    last: np.ndarray | None = None,
) -> RenderResult:
    """Render a clip from ``plate`` with the backend named by ``cfg.backend``.

    Parameters
    ----------
    plate : ndarray (H, W, 3) uint8 or uint16
        RGB plate.
    cfg : RenderConfig
        The ``render`` config section.
    seed : int
        Random seed (svd noise; recorded by the camera backend).
    model : object, optional
        A preloaded model for model backends (:func:`load_svd`, :func:`load_i2v`), reused across calls.
    progress : callable, optional
        ``progress(done, total)``: frames for camera, denoising steps for svd and diffusers.
    last : ndarray (H, W, 3), optional
        End plate the last frame is conditioned on (diffusers backend with a first-last-frame model).

    Returns
    -------
    RenderResult

    Examples
    --------
    >>> from keyframe.config import RenderConfig
    >>> result = render(np.zeros((288, 512, 3), np.uint8), RenderConfig(frames=3))
    >>> result.frames.shape, result.backend
    ((3, 288, 512, 3), 'camera')
    """
    if cfg.size is not None:
        check_encodable(*parse_size(cfg.size))
    elif cfg.backend == "camera":  # frames of the plate's size (svd picks a model-sized area)
        check_encodable(plate.shape[1], plate.shape[0])
    backend = RENDERERS.get(cfg.backend)
    if last is None:
        return backend(plate, cfg, seed=seed, model=model, progress=progress)
    if cfg.backend not in TAKES_LAST:
        raise KeyframeError(f"--last: the {cfg.backend} backend takes no end plate; use --backend diffusers with a "
                            "first-last-frame model")
    return backend(plate, cfg, seed=seed, model=model, progress=progress, last=last)


@output_group()
def write_render(
    result: RenderResult,
    out_path: str | Path,
    *,
    inputs: dict[str, str | Path | None],
    seed: int,
    frames_dir: str | Path | None = None,
    quality: int = 8,
    progress: Progress | None = None,
) -> None:
    """Write the H.264 mp4, optionally PNG frames, and ``<out_path>.json``.

    The frames are encoded (and written as PNG) one at a time as they are read, so a camera clip is
    rendered straight into the video and never held whole.

    The sidecar holds ``backend``, ``fps``, ``num_frames``, ``size``, ``plate_to_frame0``,
    ``frame_transforms`` (null for model backends), ``motion``, ``fit``, ``last_to_frame`` (end plate
    -> last frame, null without one), ``model`` (identity and config hash, null for camera) and
    ``frames_dir``, besides the common fields (params, seed, input hashes,
    versions).

    Parameters
    ----------
    result : RenderResult
    out_path : str or Path
        The mp4 to write (its folder must exist).
    inputs : dict
        Role -> input file path (hashed into the sidecar), e.g. ``{"plate": "plate.png"}``.
    seed : int
        The seed the clip was rendered with.
    frames_dir : str or Path, optional
        Also write ``frame_0000.png``... here (created if its parent exists).
    quality : int
        H.264 quality 0-10 (``io.video_quality``).
    progress : callable, optional
        ``progress(done, total)`` after each frame written.
    """
    out_path = check_output_path(out_path)
    if frames_dir is not None:
        check_output_dir(frames_dir)
    total = len(result.frames)
    with clip_writer(out_path, result.fps, quality=quality) as writer:
        for t, frame in enumerate(result.frames):
            writer.write(frame)
            if progress is not None:
                progress(t + 1, total)
    if frames_dir is not None:
        write_frames(frames_dir, result.frames)
    width, height = result.size
    extra = {
        "backend": result.backend,
        "fps": result.fps,
        "num_frames": total,
        "size": [int(width), int(height)],
        "plate_to_frame0": result.plate_to_frame0,
        "frame_transforms": result.frame_transforms,
        "motion": result.motion,
        "fit": result.fit,
        "last_to_frame": result.last_to_frame,
        "model": result.model_info,
        "frames_dir": None if frames_dir is None else str(frames_dir),
    }
    write_sidecar(out_path, stage="render", inputs=inputs, params=result.params, seed=seed, extra=extra)
