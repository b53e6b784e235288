"""``keyframe inpaint``: clean the masked regions of a plate and keep every other pixel as approved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_OK, ConfigOption, JsonOption, app, config_from, info, print_json, progress_bar
from keyframe.inpaint import check_inpaint_output, inpaint as run_inpaint, load_model, write_inpaint
from keyframe.io import read_mask, read_plate


@app.command()
def inpaint(
    plate: Annotated[Path, typer.Argument(help="Plate image (PNG, JPEG, TIFF, WebP; 8 or 16 bit).")],
    mask: Annotated[Path, typer.Option("--mask", "-m", help="Edit mask (PNG, RGBA alpha, or JSON shapes).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Cleaned plate (.png); writes <stem>.mask.png and a .json sidecar beside it.")],
    backend: Annotated[Optional[str], typer.Option(help="telea | ns | biharmonic | diffusers.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Diffusers model folder, or a Hugging Face id in the local cache.")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Prompt for the diffusers backend.")] = None,
    negative_prompt: Annotated[Optional[str], typer.Option(help="Negative prompt for the diffusers backend.")] = None,
    strength: Annotated[Optional[float], typer.Option(help="Denoising strength (0, 1].")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps.")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Classifier-free guidance scale.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for diffusion noise, texture patches and grain.")] = None,
    grow: Annotated[Optional[int], typer.Option(help="Dilate the mask by this many pixels.")] = None,
    feather: Annotated[Optional[int], typer.Option(help="Fade the fill into the plate over this many pixels.")] = None,
    crop_padding: Annotated[Optional[int], typer.Option(help="Context pixels around each region's crop.")] = None,
    seam_match: Annotated[Optional[str], typer.Option(help="none | color | color+grain.")] = None,
    blend: Annotated[Optional[str], typer.Option(help="alpha | poisson.")] = None,
    texture: Annotated[Optional[str], typer.Option(help="synthesize (the plate's own fine detail in the fill) | none.")] = None,
    allow_pickle: Annotated[
        Optional[bool], typer.Option("--allow-pickle", help="Load pickle (.bin/.ckpt) weights; they can run code.")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> int:
    """Fill the masked regions; pixels farther than grow + feather from the mask stay bit-identical."""
    options = {
        "backend": backend, "model": model, "prompt": prompt, "negative_prompt": negative_prompt,
        "strength": strength, "steps": steps, "guidance": guidance, "grow": grow, "feather": feather,
        "crop_padding": crop_padding, "seam_match": seam_match, "blend": blend, "texture": texture,
        "allow_pickle": allow_pickle,
    }
    cfg = config_from(config, {"seed": seed, "inpaint": options})
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    edit = read_mask(mask, pixels.shape[:2], threshold=cfg.io.mask_threshold, max_pixels=cfg.io.max_pixels,
                     max_points=cfg.io.max_mask_points, max_crossings=cfg.io.max_polygon_crossings)
    output = check_inpaint_output(output)
    pipeline = load_model(cfg.inpaint)

    with progress_bar(f"inpaint {cfg.inpaint.backend}", percent=True) as progress:
        result = run_inpaint(pixels, edit, cfg.inpaint, seed=cfg.seed, model=pipeline, progress=progress)
    paths = write_inpaint(result, output, inputs={"plate": plate, "mask": mask}, seed=cfg.seed)
    if as_json:
        print_json({"outputs": {k: str(v) for k, v in paths.items()}, "params": result.params, "regions": result.regions})
    else:
        info(f"inpaint: {len(result.regions)} region(s) with {cfg.inpaint.backend}; wrote {paths['image']} and {paths['mask'].name}")
    return EXIT_OK
