"""``keyframe upscale``: make the finished keyframe larger without magnifying its edit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_FLAGGED, EXIT_OK, ConfigOption, JsonOption, app, config_from, info, print_json, progress_bar
from keyframe.io import check_png_output, read_mask, read_plate
from keyframe.upscale import load_model, upscale as run_upscale, write_upscale


@app.command()
def upscale(
    plate: Annotated[Path, typer.Argument(help="The finished plate (PNG, JPEG, TIFF, WebP; 8 or 16 bit).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Upscaled plate (.png); a .json sidecar goes beside it.")],
    scale: Annotated[Optional[int], typer.Option(help="Factor (lanczos: any of 2-8, default 2; model backends: the model's own).")] = None,
    backend: Annotated[Optional[str], typer.Option(help="lanczos (no weights) | spandrel (an SR model file) | diffusers.")] = None,
    model: Annotated[Optional[str], typer.Option(help="spandrel: a .safetensors SR model file; diffusers: an upscale pipeline folder.")] = None,
    mask: Annotated[Optional[Path], typer.Option("--mask", "-m", help="The edited region: its uniformity with its surroundings is checked.")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Tile side in plate pixels (0 = whole plate at once; memory follows the tile).")] = None,
    detail: Annotated[Optional[float], typer.Option(help="lanczos: gain of the edge-aware detail restoration (0 = none).")] = None,
    noise_level: Annotated[Optional[int], typer.Option(help="diffusers SD upscaler: noise added to the plate (lower keeps it).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="diffusers: denoising steps.")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="diffusers SD upscaler: prompt.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for diffusion noise.")] = None,
    allow_pickle: Annotated[
        Optional[bool], typer.Option("--allow-pickle", help="Load pickle (.pth/.ckpt/.bin) weights; they can run code.")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> int:
    """Upscale PLATE; with --mask, exit 1 (flagged) if the upscale makes the edit stand out more."""
    options = {
        "scale": scale, "backend": backend, "model": model, "tile": tile, "detail": detail,
        "noise_level": noise_level, "steps": steps, "prompt": prompt, "allow_pickle": allow_pickle,
    }
    cfg = config_from(config, {"seed": seed, "upscale": options})
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side)
    edit = None if mask is None else read_mask(mask, pixels.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels)
    output = check_png_output(output)
    weights = load_model(cfg.upscale)

    with progress_bar(f"upscale {cfg.upscale.backend}", unit="tiles") as progress:
        result = run_upscale(pixels, cfg.upscale, mask=edit, seed=cfg.seed, model=weights, progress=progress)
    paths = write_upscale(result, output, inputs={"plate": plate, "mask": mask}, seed=cfg.seed)
    verdict = "flagged" if result.flagged else "pass"
    if as_json:
        print_json({"outputs": {k: str(v) for k, v in paths.items()}, "scale": result.scale, "params": result.params,
                    "fidelity_db": result.fidelity_db,
                    "uniformity": result.uniformity, "verdict": verdict, "reasons": result.reasons})
    else:
        height, width = result.image.shape[:2]
        info(f"upscale: {result.scale}x with {result.params['backend']} to {width}x{height}; wrote {paths['image']}")
        info(f"kept the plate at {result.fidelity_db:.1f} dB (PSNR after area-averaging back to the plate's size)")
        if result.uniformity is not None:
            u = result.uniformity
            info(f"edit uniformity (mismatch, 1 = uniform): {u['before']['mismatch']:.2f} before, {u['after']['mismatch']:.2f} after")
        for reason in result.reasons:
            info(f"flagged: {reason['message']}")
    return EXIT_FLAGGED if result.flagged else EXIT_OK
