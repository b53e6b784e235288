"""``keyframe bench``: speed measurements. ``keyframe bench render`` times the SVD pipeline and
counts the FLOPs of the Wan / LTX-Video architectures."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_OK, JsonOption, app, info, print_json
from keyframe.config import RenderSvdConfig
from keyframe.errors import KeyframeError
from keyframe.io import check_output_path, package_versions, write_json_atomic
from keyframe.render.flops import ARCHS
from keyframe.render.fit import parse_size
from keyframe.render.i2v_flops import I2V_ARCHS, count_i2v_flops
from keyframe.render.svd import resolve_runtime

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "render_harness.py"

bench_app = typer.Typer(help="Speed measurements with random weights (no downloads).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("render")
def bench_render(
    arch: Annotated[str, typer.Option(help="svd-xt | svd | tiny (timed) | wan-ti2v-5b | wan-i2v-14b | ltx-2b (FLOPs on fake tensors): the exact architecture, built from its config.")] = "tiny",
    random_weights: Annotated[
        bool, typer.Option("--random-weights", help="Use random weights (required: speed does not depend on them).")
    ] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="Also time torch.compile of the UNet (full and regional).")] = False,
    frames: Annotated[Optional[int], typer.Option(help="Frames (default: the architecture's, 25 for svd-xt).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Denoising steps (default 25; tiny 2).")] = None,
    size: Annotated[Optional[str], typer.Option(help="WxH (default 1024x576; tiny 64x64).")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls per option (median reported).")] = 3,
    decode_chunk: Annotated[
        Optional[int], typer.Option(min=1, help="Chunk size for the decode-chunk option (default 8; tiny 2).")
    ] = None,
    only: Annotated[Optional[str], typer.Option(help="Comma-separated option names to run (default all).")] = None,
    device: Annotated[str, typer.Option(help="auto | cuda | cpu.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(min=1, help="torch CPU threads (default: torch's choice).")] = None,
    compile_cache_dir: Annotated[str, typer.Option(help="Persistent inductor cache.")] = "~/.cache/keyframe/inductor",
    save: Annotated[Optional[Path], typer.Option(help="Also write the results as JSON here.")] = None,
    as_json: JsonOption = False,
) -> int:
    """Time the SVD pipeline once per speed option (seconds, peak memory, achieved TFLOP/s), or count
    a Wan / LTX-Video render's FLOPs on fake tensors (no memory, no weights)."""
    if arch not in ARCHS and arch not in I2V_ARCHS:
        raise KeyframeError(f"--arch must be one of {', '.join([*ARCHS, *I2V_ARCHS])}, got {arch}")
    if not random_weights:
        raise KeyframeError("bench render needs --random-weights (it builds the architecture; it never downloads)")
    if arch in I2V_ARCHS:
        return _count_i2v(arch, frames, steps, size, save, as_json)
    if device not in ("auto", "cuda", "cpu"):
        raise KeyframeError(f"--device must be auto, cuda or cpu, got {device}")
    if save is not None:
        check_output_path(save)
    defaults = ARCHS[arch]["defaults"]
    try:
        width, height = parse_size(size or defaults["size"])
    except ValueError as exc:
        raise KeyframeError(f"--size: {exc}") from None
    if width % 64 or height % 64:
        raise KeyframeError(f"--size {width}x{height}: SVD needs multiples of 64")
    if not HARNESS.is_file():
        raise KeyframeError(f"bench render runs its harness from a keyframe source checkout ({HARNESS} is missing)")
    sys.path.insert(0, str(HARNESS.parents[1]))
    from benchmarks.render_harness import bench_options, run_bench

    runtime = resolve_runtime(RenderSvdConfig(device=device))
    options = bench_options(runtime["device"], compile_=compile_, decode_chunk=decode_chunk or defaults["decode_chunk"])
    if only:
        wanted = {name.strip() for name in only.split(",")}
        unknown = wanted - {o.name for o in options}
        if unknown:
            raise KeyframeError(f"--only: unknown option(s) {sorted(unknown)}; available: {[o.name for o in options]}")
        options = [o for o in options if o.name in wanted]
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    frames = frames or defaults["frames"]
    steps = steps or defaults["steps"]
    info(f"bench render: {arch}, random weights, {frames} frames {width}x{height}, {steps} steps, {runtime['device']}")
    result = run_bench(arch, options, frames=frames, size=(width, height), steps=steps, repeats=repeats,
                       device=device, compile_cache_dir=compile_cache_dir, log=None if as_json else info)
    result.update({"machine": f"{platform.node()} ({platform.processor() or platform.machine()})",
                   "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "versions": package_versions()})
    flops = result["flops"]
    if not as_json:
        info(f"FLOPs per call: UNet (CFG batch) {flops['unet_call'] / 1e12:.4g} T x {steps} steps, "
             f"VAE decode {flops['vae_decode'] / 1e12:.4g} T, total {flops['total'] / 1e12:.4g} T")
    if save is not None:
        write_json_atomic(save, result)
    if as_json:
        print_json(result)
    return EXIT_OK


def _count_i2v(arch: str, frames: int | None, steps: int | None, size: str | None, save: Path | None,
               as_json: bool) -> int:
    """``bench render --arch wan-*|ltx-*``: the FLOPs of one render at the model card's defaults."""
    from keyframe.render.diffusers_i2v import FAMILIES

    defaults = I2V_ARCHS[arch]["defaults"]
    family = next(f for f in FAMILIES.values() if f.name == I2V_ARCHS[arch]["family"])
    try:
        width, height = parse_size(size or defaults["size"])
    except ValueError as exc:
        raise KeyframeError(f"--size: {exc}") from None
    multiple = 32 if arch == "wan-ti2v-5b" else family.multiple  # TI2V-5B: VAE 16 x patch 2
    if width % multiple or height % multiple:
        raise KeyframeError(f"--size {width}x{height}: {arch} needs multiples of {multiple}")
    frames = family.fit_frames(frames or defaults["frames"])
    steps = steps or defaults["steps"]
    if save is not None:
        check_output_path(save)
    flops = count_i2v_flops(arch, frames, width, height, steps)
    result = {"arch": arch, "frames": frames, "size": [width, height], "steps": steps, "flops": flops,
              "timed": False, "why": "FLOPs counted on fake tensors; timing these architectures needs a GPU",
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": package_versions()}
    if save is not None:
        write_json_atomic(save, result)
    if as_json:
        print_json(result)
    else:
        info(f"bench render: {arch}, {frames} frames {width}x{height}, {steps} steps, {flops['tokens']:.0f} tokens: "
             f"transformer {flops['transformer_step'] / 1e12:.4g} TFLOP per CFG step, VAE decode "
             f"{flops['vae_decode'] / 1e12:.4g} T, total {flops['total'] / 1e15:.4g} PFLOP")
    return EXIT_OK
