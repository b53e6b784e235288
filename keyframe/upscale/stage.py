"""The upscale stage: pick the backend, upscale, measure the edit's uniformity, write the result."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keyframe.config import UpscaleConfig
from keyframe.errors import KeyframeError
from keyframe.io import check_png_output, output_group, to_float, write_image, write_sidecar
from keyframe.io.models import shared_model
from keyframe.registry import Progress
from keyframe.upscale.base import UPSCALERS, Upscaler, UpscaleResult
from keyframe.upscale.diffusion import DiffusersUpscaler, load_upscale_pipeline
from keyframe.upscale.lanczos import LanczosUpscaler
from keyframe.upscale.sr_model import SpandrelUpscaler, load_sr_model
from keyframe.upscale.uniformity import compare_uniformity

DEFAULT_SCALE = 2  # the weight-free backend's factor when neither --scale nor upscale.scale says


def tile_overlap(cfg: UpscaleConfig) -> int:
    """``cfg.tile_overlap``, cut to a quarter of a small tile (the overlap must stay under half of it)."""
    return min(cfg.tile_overlap, cfg.tile // 4) if cfg.tile else 0


@dataclass(frozen=True)
class UpscaleBackend:
    """A registry entry: ``make(cfg, model)`` builds the upscaler; ``load(cfg)`` loads its model (None: no weights)."""

    make: Callable[[UpscaleConfig, Any], Upscaler]
    load: Callable[[UpscaleConfig], Any] | None = None


UPSCALERS.register("lanczos")(
    UpscaleBackend(make=lambda cfg, model: LanczosUpscaler(cfg.scale or DEFAULT_SCALE, cfg.detail, cfg.tile, tile_overlap(cfg)))
)
UPSCALERS.register("spandrel")(
    UpscaleBackend(
        make=lambda cfg, model: SpandrelUpscaler(model, cfg.tile, tile_overlap(cfg)),
        load=lambda cfg: load_sr_model(cfg.model, allow_pickle=cfg.allow_pickle, device=cfg.device, dtype=cfg.dtype),
    )
)
UPSCALERS.register("diffusers")(
    UpscaleBackend(
        make=lambda cfg, model: DiffusersUpscaler(
            model, cfg.tile, tile_overlap(cfg), prompt=cfg.prompt, noise_level=cfg.noise_level, steps=cfg.steps,
            guidance=cfg.guidance,
        ),
        load=lambda cfg: load_upscale_pipeline(cfg.model, allow_pickle=cfg.allow_pickle),
    )
)


def fidelity_db(plate: np.ndarray, image: np.ndarray, scale: int) -> float:
    """PSNR (dB) of ``image`` area-averaged back to the plate's size, against the plate: how much of
    the plate an upscale kept (the default lanczos keeps it above 35 dB by construction; an
    upscale that invents or loses content scores lower). Capped at 100 dB (identical).

    Examples
    --------
    >>> plate = np.full((8, 8, 3), 100, np.uint8)
    >>> fidelity_db(plate, np.full((16, 16, 3), 100, np.uint8), 2), fidelity_db(plate, np.full((16, 16, 3), 110, np.uint8), 2)
    (100.0, 28.13)
    """
    back = cv2.resize(image, (plate.shape[1], plate.shape[0]), interpolation=cv2.INTER_AREA)
    error = float(np.mean((to_float(back) - to_float(plate)) ** 2))
    return round(min(100.0, 10.0 * float(np.log10(1.0 / max(error, 1e-10)))), 2)


def load_model(cfg: UpscaleConfig) -> Any:
    """The model ``cfg`` names, loaded (None for the weight-free backend); raises WeightsError in one line."""
    backend = UPSCALERS.get(cfg.backend)
    return None if backend.load is None else backend.load(cfg)


def shared_upscale_model(cfg: UpscaleConfig) -> Any:
    """:func:`load_model`, once per process for every shot of a batch (:func:`~keyframe.io.models.shared_model`)."""
    identity = cfg.model_dump_json(include={"backend", "model", "allow_pickle", "device", "dtype"})
    return shared_model(load_model, f"upscale:{identity}", cfg)


def make_upscaler(cfg: UpscaleConfig, model: Any = None) -> Upscaler:
    """The backend named by ``cfg.backend``, with ``model`` (or the one ``cfg`` names, loaded now)."""
    backend = UPSCALERS.get(cfg.backend)
    if model is None and backend.load is not None:
        model = backend.load(cfg)
    upscaler = backend.make(cfg, model)
    if cfg.scale is not None and cfg.scale != upscaler.scale:
        raise KeyframeError(
            f"--scale {cfg.scale} disagrees with the model, which upscales {upscaler.scale}x; drop --scale or use a {cfg.scale}x model"
        )
    return upscaler


def upscale(
    plate: np.ndarray,
    cfg: UpscaleConfig,
    *,
    mask: np.ndarray | None = None,
    seed: int = 0,
    model: Any = None,
    progress: Progress | None = None,
) -> UpscaleResult:
    """Upscale a finished plate; with a mask, check the edit does not stand out more than before.

    Parameters
    ----------
    plate : ndarray (H, W, 3), uint8 or uint16
    cfg : UpscaleConfig
    mask : ndarray (H, W), optional
        The edited region. Its uniformity with its surroundings (sharpness and grain) is measured
        before and after; the result is flagged (reason ``upscale``) when the mismatch grows by
        more than ``cfg.uniformity_worse_max``.
    seed : int
        Seeds diffusion noise (recorded for every backend).
    model : object, optional
        A preloaded model (:func:`load_model`), so a batch loads it once.
    progress : callable, optional
        ``progress(done, total)`` per tile.

    Returns
    -------
    UpscaleResult

    Examples
    --------
    >>> from skimage import data
    >>> result = upscale(data.chelsea()[:64, :64], UpscaleConfig(scale=2))
    >>> result.image.shape, result.scale, result.flagged
    ((128, 128, 3), 2, False)
    """
    plate = np.asarray(plate)
    if plate.ndim != 3 or plate.shape[2] != 3 or plate.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"plate must be (H, W, 3) uint8 or uint16, got {plate.shape} {plate.dtype}")
    if mask is not None and np.shape(mask) != plate.shape[:2]:
        raise ValueError(f"mask shape {np.shape(mask)} does not match the plate's {plate.shape[:2]}")
    upscaler = make_upscaler(cfg, model)
    height, width = plate.shape[:2]
    scale = upscaler.scale
    if height * width * scale * scale > cfg.max_output_pixels:
        raise KeyframeError(
            f"a {width}x{height} plate upscaled {scale}x is {width * scale}x{height * scale}, over "
            f"upscale.max_output_pixels ({cfg.max_output_pixels})"
        )
    image = upscaler.upscale(plate, seed=seed, progress=progress)
    params = {
        "backend": upscaler.name,
        "scale": scale,
        **upscaler.describe(),
        "seed": seed,
        "size": [width * scale, height * scale],
        "bit_depth": 8 * plate.dtype.itemsize,
    }
    uniformity = None if mask is None else compare_uniformity(plate, image, mask, scale, cfg.uniformity_worse_max)
    reasons = []
    if uniformity is not None and uniformity["worse"]:
        before, after = uniformity["before"]["mismatch"], uniformity["after"]["mismatch"]
        reasons.append({
            "code": "upscale",
            "message": f"the upscale makes the edit stand out more: its sharpness/grain mismatch with the pixels "
            f"around it grew from {before:.2f}x to {after:.2f}x ({uniformity['change']:.2f} times, limit "
            f"{cfg.uniformity_worse_max}); try another backend or model, or fix the edit first",
            "frames": [],
        })
    return UpscaleResult(image, scale, params, uniformity, reasons, fidelity_db(plate, image, scale))


@output_group()
def write_upscale(result: UpscaleResult, out_path: str | Path, *, inputs: dict[str, Any], seed: int) -> dict[str, Path]:
    """Write the upscaled plate (its parameters in the PNG's text) and ``<out_path>.json``.

    The sidecar adds ``scale``, ``fidelity_db``, ``uniformity`` (or null), ``verdict`` (``pass`` |
    ``flagged``) and ``reasons`` to the common fields.
    """
    out_path = check_png_output(out_path)
    write_image(out_path, result.image, text={"keyframe": json.dumps(result.params, sort_keys=True)})
    extra = {key: value for key, value in result.to_dict().items() if key in ("scale", "fidelity_db", "uniformity", "verdict", "reasons")}
    sidecar = write_sidecar(out_path, stage="upscale", inputs=inputs, params=result.params, seed=seed, extra=extra)
    return {"image": out_path, "sidecar": sidecar}
