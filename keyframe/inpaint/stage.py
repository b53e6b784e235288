"""The inpaint stage: fill the masked regions, match the seams, and paste back without touching the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.config import InpaintConfig
from keyframe.errors import InputError
from keyframe.inpaint import classical, diffusion  # noqa: F401  (register the backends)
from keyframe.inpaint.base import INPAINTERS, Inpainter
from keyframe.inpaint.composite import edit_zone, match_color, match_grain, paste, poisson_blend, region_boxes
from keyframe.inpaint.texture import synthesize_texture
from keyframe.io import check_png_output, output_group, file_sha256, to_float, write_image, write_mask, write_sidecar
from keyframe.registry import Progress
from keyframe.validation import check_mask, check_plate

#: ``inpaint.texture_sigma`` is in px at this long side; larger plates scale it up with their size.
TEXTURE_SIDE = 512


@dataclass
class InpaintResult:
    """What :func:`inpaint` made.

    Attributes
    ----------
    image : ndarray, (H, W, 3), the plate's dtype
        The cleaned plate; bit-identical to the input wherever ``effective_mask`` is 0.
    effective_mask : ndarray of float32 in [0, 1], (H, W)
        The grown and feathered mask that was blended with (the later stages' edit mask).
    params : dict
        Every parameter that shaped the image (JSON-ready).
    regions : list of dict
        Per region: its crop ``box`` as ``[x, y, w, h]``, its ``pixels`` and the grain levels.
    """

    image: np.ndarray
    effective_mask: np.ndarray
    params: dict[str, Any]
    regions: list[dict[str, Any]] = field(default_factory=list)


def make_inpainter(cfg: InpaintConfig, model: Any = None) -> Inpainter:
    """The backend named by ``cfg.backend``; for diffusers, ``model`` is a loaded pipeline (else ``cfg.model`` is loaded)."""
    return INPAINTERS.get(cfg.backend)(cfg, model)


def inpaint(
    plate: np.ndarray,
    mask: np.ndarray,
    cfg: InpaintConfig,
    *,
    seed: int = 0,
    model: Any = None,
    progress: Progress | None = None,
) -> InpaintResult:
    """Clean the masked regions of a plate; every pixel beyond ``grow + feather`` of the mask is kept bit for bit.

    Each connected region of the edit zone is filled on its own crop (padded by
    ``cfg.crop_padding``), optionally Poisson-blended, colour-matched to the plate around it
    (``cfg.seam_match``), given the plate's own fine detail (``cfg.texture``, see
    :func:`~keyframe.inpaint.synthesize_texture`), topped up with grain, and pasted back with the
    feathered mask as weight.

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3), uint8 or uint16
    mask : ndarray of shape (H, W)
        Nonzero where the plate must be cleaned.
    cfg : InpaintConfig
    seed : int
        Seeds the diffusion noise (``seed + region index``), the texture patches and the grain.
    model : diffusers pipeline, optional
        An already loaded pipeline for the diffusers backend (see ``load_pipeline``), so a batch
        loads it once.
    progress : callable, optional
        ``progress(done, total)``: regions x each backend's own steps.

    Returns
    -------
    InpaintResult

    Examples
    --------
    >>> plate = np.full((64, 64, 3), 120, np.uint8); plate[20:30, 20:30] = (255, 0, 0)
    >>> mask = np.zeros((64, 64), bool); mask[18:32, 18:32] = True
    >>> result = inpaint(plate, mask, InpaintConfig(grow=0, feather=0))
    >>> bool((result.image[~mask] == plate[~mask]).all()), int(result.image[25, 25, 0])
    (True, 120)
    """
    plate = check_plate(plate)
    mask = check_mask(mask, plate.shape[:2])
    if mask.all():
        raise InputError("the mask covers the whole plate: there is nothing outside it to fill from")
    backend = make_inpainter(cfg, model)
    zone = edit_zone(mask, cfg.grow, cfg.feather)
    parts = region_boxes(zone, cfg.crop_padding)
    original = to_float(plate)
    filled = original.copy()
    outside = zone == 0
    regions = []
    texture_sigma = cfg.texture_sigma * max(1.0, max(plate.shape[:2]) / TEXTURE_SIDE)
    for i, (part, box) in enumerate(parts):
        crop, hole, keep = original[box.slices], part[box.slices], outside[box.slices]

        def crop_progress(done: int, total: int, i: int = i) -> None:
            if progress is not None:
                progress(i * total + done, len(parts) * total)

        fill = backend.fill(crop, hole, seed=seed + i, progress=crop_progress)
        if cfg.blend == "poisson":
            fill = poisson_blend(fill, crop, hole)
        if cfg.seam_match != "none":
            fill = match_color(fill, crop, hole, keep, cfg.seam_band)
        rng = np.random.default_rng([seed, i])
        if cfg.texture == "synthesize":
            filled[box.slices][hole] = fill[hole]
            filled = synthesize_texture(filled, part, source=outside, sigma=texture_sigma, rng=rng)
            fill = filled[box.slices]
        grain: dict[str, Any] = {}
        if cfg.seam_match == "color+grain":
            fill, grain = match_grain(fill, crop, hole, keep, cfg.seam_band, rng)
        filled[box.slices][hole] = fill[hole]
        regions.append({"box": [box.x0, box.y0, box.shape[1], box.shape[0]], "pixels": int(hole.sum()), "grain": grain})
    params = {
        **cfg.model_dump(include={"backend", "grow", "feather", "crop_padding", "seam_match", "seam_band", "blend",
                                  "texture", "texture_sigma"}),
        **backend.describe(),
        "seed": seed,
        "size": [int(plate.shape[1]), int(plate.shape[0])],
        "bit_depth": 8 * plate.dtype.itemsize,
    }
    return InpaintResult(paste(plate, filled, zone), zone, params, regions)


_A1111_LABELS = (
    ("steps", "Steps"),
    ("scheduler", "Sampler"),
    ("guidance", "CFG scale"),
    ("seed", "Seed"),
    ("size", "Size"),
    ("model", "Model"),
    ("strength", "Denoising strength"),
    ("feather", "Mask blur"),
    ("grow", "Mask grow"),
    ("crop_padding", "Inpaint padding"),
    ("backend", "Inpaint backend"),
    ("radius", "Radius"),
    ("seam_match", "Seam match"),
    ("blend", "Blend"),
    ("texture", "Texture"),
)


def a1111_parameters(params: dict[str, Any]) -> str:
    """The parameters as A1111 writes them into a PNG's ``parameters`` text: prompt, negative, then ``Key: value, ...``.

    Examples
    --------
    >>> a1111_parameters({"backend": "telea", "seed": 3, "size": [512, 288]})
    'Seed: 3, Size: 512x288, Inpaint backend: telea'
    """
    lines = [params["prompt"]] if params.get("prompt") else []
    if params.get("negative_prompt"):
        lines.append(f"Negative prompt: {params['negative_prompt']}")
    pairs = []
    for key, label in _A1111_LABELS:
        if params.get(key) is not None:
            value = params[key]
            pairs.append(f"{label}: {value[0]}x{value[1]}" if key == "size" else f"{label}: {value}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def mask_output_path(out_path: str | Path) -> Path:
    """Where the effective mask of ``out_path`` goes: ``clean.png`` -> ``clean.mask.png``."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.mask.png")


def check_inpaint_output(out_path: str | Path) -> Path:
    """Validate the output path before any work: a ``.png`` in an existing, writable folder."""
    return check_png_output(out_path)


@output_group()
def write_inpaint(result: InpaintResult, out_path: str | Path, *, inputs: dict[str, Path], seed: int) -> dict[str, Path]:
    """Write the cleaned plate (parameters in its PNG text), ``<stem>.mask.png`` and the sidecar.

    Parameters
    ----------
    result : InpaintResult
    out_path : str or Path
        A ``.png`` path.
    inputs : dict
        Role -> input file path (plate, mask, model), hashed into the sidecar.
    seed : int

    Returns
    -------
    dict
        ``image``, ``mask`` and ``sidecar`` paths.
    """
    out_path = check_inpaint_output(out_path)
    mask_path = write_mask(mask_output_path(out_path), result.effective_mask)
    text = {"parameters": a1111_parameters(result.params), "keyframe": json.dumps(result.params, sort_keys=True)}
    write_image(out_path, result.image, text=text)
    sidecar = write_sidecar(
        out_path,
        stage="inpaint",
        inputs=inputs,
        params=result.params,
        seed=seed,
        extra={
            "effective_mask": {"path": mask_path.name, "sha256": file_sha256(mask_path)},
            "regions": result.regions,
        },
    )
    return {"image": out_path, "mask": mask_path, "sidecar": sidecar}
