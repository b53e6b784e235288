"""``keyframe render``: turn a plate into a clip (camera preview, Stable Video Diffusion, Wan, LTX-Video)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_OK, ConfigOption, JsonOption, app, config_from, info, print_json, progress_bar
from keyframe.errors import KeyframeError
from keyframe.io import check_output_dir, check_output_path, read_plate, sidecar_path
from keyframe.render import render as run_render
from keyframe.render import write_render


@app.command()
def render(
    plate: Annotated[Path, typer.Argument(help="Plate image (PNG, JPEG, TIFF, WebP; 8 or 16 bit).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Clip to write (.mp4, H.264); a .json sidecar goes beside it.")],
    backend: Annotated[Optional[str], typer.Option(help="camera (no weights) | svd (Stable Video Diffusion) | diffusers (Wan, LTX-Video).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Diffusers pipeline folder, or a Hugging Face id in the local cache.")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="diffusers: text prompt.")] = None,
    negative_prompt: Annotated[Optional[str], typer.Option(help="diffusers: negative prompt.")] = None,
    last: Annotated[Optional[Path], typer.Option(help="diffusers: end plate the last frame is conditioned on (first-last-frame models).")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Number of frames (default: 25 camera, the model's otherwise; diffusers rounds up to 4k+1 Wan / 8k+1 LTX).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps (svd 25; diffusers: the family's, Wan 40, LTX 50).")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="diffusers: guidance scale (Wan 5.0, LTX 3.0).")] = None,
    fps: Annotated[Optional[int], typer.Option(help="Frame rate of the clip; SVD and LTX are conditioned on it (7; diffusers: Wan 16, LTX 25).")] = None,
    motion_bucket: Annotated[Optional[int], typer.Option(help="SVD motion bucket id, more = more motion (127).")] = None,
    noise_aug: Annotated[Optional[float], typer.Option(help="SVD noise added to the conditioning image (0.02).")] = None,
    min_guidance: Annotated[Optional[float], typer.Option(help="SVD guidance at the first frame (1.0).")] = None,
    max_guidance: Annotated[Optional[float], typer.Option(help="SVD guidance at the last frame (3.0).")] = None,
    decode_chunk: Annotated[Optional[int], typer.Option(help="Frames the VAE decodes at once (default all; lower = less memory).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the diffusion noise.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Render size WxH (svd: multiples of 64; diffusers: rounded to multiples of 16 Wan / 32 LTX; default from the model / the plate).")] = None,
    cache: Annotated[Optional[str], typer.Option(help="diffusers cache hook: none | first_block | mag | faster | pab.")] = None,
    attention_backend: Annotated[Optional[str], typer.Option(help="diffusers attention backend (native, flash, _native_cudnn, sage, ...).")] = None,
    layerwise_casting: Annotated[Optional[str], typer.Option(help="diffusers: store weights in fp8 (none | fp8_e4m3 | fp8_e5m2).")] = None,
    group_offload: Annotated[Optional[str], typer.Option(help="diffusers group offloading: none | block_level | leaf_level.")] = None,
    compile: Annotated[Optional[str], typer.Option(help="torch.compile the denoiser: none | full | regional.")] = None,
    quantize: Annotated[Optional[str], typer.Option(help="diffusers: none | fp8 (torchao; compute capability >= 8.9).")] = None,
    frames_dir: Annotated[Optional[Path], typer.Option(help="Also write every frame as PNG into this folder.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> int:
    """Render PLATE into a clip and record the plate -> frame transforms in the sidecar."""
    svd = {
        "model": model, "steps": steps, "motion_bucket_id": motion_bucket, "noise_aug_strength": noise_aug,
        "min_guidance_scale": min_guidance, "max_guidance_scale": max_guidance, "decode_chunk_size": decode_chunk,
        "compile": compile,
    }
    diffusers = {
        "model": model, "prompt": prompt, "negative_prompt": negative_prompt, "steps": steps, "guidance": guidance,
        "fps": fps, "cache": cache, "attention_backend": attention_backend, "layerwise_casting": layerwise_casting,
        "group_offload": group_offload, "compile": compile, "quantize": quantize,
    }
    options = {"backend": backend, "frames": frames, "fps": fps, "size": size, "svd": svd, "diffusers": diffusers}
    cfg = config_from(config, {"seed": seed, "render": options})
    pixels = read_plate(plate, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side, max_aspect=cfg.io.max_aspect)
    end = None if last is None else read_plate(last, max_pixels=cfg.io.max_pixels, min_side=cfg.io.min_side,
                                               max_aspect=cfg.io.max_aspect)
    output = check_output_path(output)
    if output.suffix.lower() != ".mp4":
        raise KeyframeError(f"--output must be an .mp4 file, got {output.name}")
    if frames_dir is not None:
        check_output_dir(frames_dir, create=False)

    with progress_bar(f"render {cfg.render.backend}") as progress:
        result = run_render(pixels, cfg.render, seed=cfg.seed, progress=progress, last=end)
    inputs = {"plate": plate} if last is None else {"plate": plate, "last": last}
    with progress_bar("write", unit="frames") as progress:  # the camera renders its frames as they are written
        write_render(result, output, inputs=inputs, seed=cfg.seed, frames_dir=frames_dir,
                     quality=cfg.io.video_quality, progress=progress)
    width, height = result.size
    summary = {
        "output": str(output), "sidecar": str(sidecar_path(output)),
        "frames_dir": None if frames_dir is None else str(frames_dir), "backend": result.backend,
        "frames": len(result.frames), "fps": result.fps, "size": [int(width), int(height)],
    }
    if as_json:
        print_json(summary)
    else:
        info(f"render: {summary['frames']} frames {width}x{height} at {result.fps:g} fps with {result.backend}; wrote {output}")
    return EXIT_OK
