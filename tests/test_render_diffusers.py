"""Render stage, diffusers backend: tiny Wan I2V / FLF / TI2V and LTX pipelines saved to disk and
loaded back through the real loader and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from keyframe.config import RenderConfig, RenderDiffusersConfig
from keyframe.errors import KeyframeError
from keyframe.io import read_clip, read_plate
from keyframe.render import load_i2v, render
from keyframe.render.diffusers_i2v import FAMILIES
from support import assert_one_line_error, plate_path
from tiny_i2v import KINDS, save_tiny_i2v
from tiny_sd import save_tiny_sd_inpaint
from tiny_svd import save_tiny_svd

RENDER = ("--frames", 9, "--steps", 2, "--size", "32x32")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("i2v")
    return {kind: save_tiny_i2v(kind, root / kind) for kind in KINDS}


def frames_of(directory):
    return np.stack([read_plate(p) for p in sorted(directory.glob("*.png"))])


@pytest.mark.parametrize("kind", KINDS)
def test_cli_renders_each_family_reproducibly(cli, folders, kind, tmp_path):
    last = ("--last", plate_path("chelsea")) if kind == "wan-flf" else ()
    runs = []
    for run in ("a", "b"):
        out = tmp_path / run / "clip.mp4"
        out.parent.mkdir()
        result = cli("render", plate_path("coffee"), "-o", out, "--backend", "diffusers", "--model", folders[kind],
                     *RENDER, "--seed", 7, "--prompt", "a slow push in on a cup of coffee", "--frames-dir",
                     tmp_path / run / "frames", *last)
        assert result.code == 0, result.stderr
        runs.append(frames_of(tmp_path / run / "frames"))
    assert runs[0].shape == (9, 32, 32, 3)
    assert np.array_equal(runs[0], runs[1])
    side = json.loads((tmp_path / "a" / "clip.mp4.json").read_text())
    family = "ltx" if kind == "ltx" else "wan"
    assert side["backend"] == "diffusers" and side["params"]["family"] == family
    assert side["model"]["class"] == ("LTXImageToVideoPipeline" if kind == "ltx" else "WanImageToVideoPipeline")
    assert len(side["model"]["config_sha256"]) == 64 and side["model"]["use_safetensors"] is True
    assert side["plate_to_frame0"] == side["fit"]["plate_to_fitted"] and side["fit"]["plate_size"] == [512, 288]
    assert side["params"]["call"]["prompt"] == "a slow push in on a cup of coffee"
    assert side["fps"] == (25 if kind == "ltx" else 16)  # the family's training rate when --fps is not given
    assert read_clip(tmp_path / "a" / "clip.mp4").frames.shape == (9, 32, 32, 3)
    if kind == "wan-flf":
        assert side["params"]["call"]["last_image"] is True and side["inputs"]["last"]["sha256"]
        assert side["last_to_frame"] is not None
    else:
        assert side["last_to_frame"] is None


def test_library_render_matches_the_cli_and_the_seed_matters(cli, folders, tmp_path):
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "c.mp4", "--backend", "diffusers", "--model",
                 folders["wan-ti2v"], *RENDER, "--seed", 3, "--frames-dir", tmp_path / "f")
    assert result.code == 0, result.stderr
    plate = read_plate(plate_path("coffee"))
    cfg = RenderConfig(backend="diffusers", frames=9, size="32x32", diffusers={"model": str(folders["wan-ti2v"]), "steps": 2})
    model = load_i2v(cfg.diffusers)
    calls = []
    same = render(plate, cfg, seed=3, model=model, progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(same.frames, frames_of(tmp_path / "f"))
    assert calls == [(1, 2), (2, 2)]
    assert not np.array_equal(render(plate, cfg, seed=4, model=model).frames, same.frames)


def test_size_and_frames_are_fitted_to_the_family(folders):
    plate = read_plate(plate_path("coffee"))
    cfg = RenderConfig(backend="diffusers", frames=6, size="40x30", diffusers={"model": str(folders["ltx"]), "steps": 1})
    result = render(plate, cfg)
    # LTX: 8k+1 frames (6 -> 9), sides multiples of 32 (40x30 -> 32x32)
    assert result.frames.shape == (9, 32, 32, 3)
    assert result.params["frames_requested"] == 6 and result.params["size_requested"] == "40x30"
    wan, ltx = FAMILIES["WanImageToVideoPipeline"], FAMILIES["LTXImageToVideoPipeline"]
    assert [wan.fit_frames(n) for n in (1, 5, 6, 80, 81)] == [5, 5, 9, 81, 81]
    assert [ltx.fit_frames(n) for n in (9, 10, 120, 121)] == [9, 17, 121, 121]
    assert wan.fit_size((832, 480)) == (832, 480) and ltx.fit_size((700, 500)) == (704, 512)


def test_extras_reach_the_call_and_unknown_ones_are_named(cli, folders, tmp_path):
    plate = read_plate(plate_path("coffee"))
    cfg = RenderConfig(backend="diffusers", frames=5, size="32x32",
                       diffusers={"model": str(folders["wan-ti2v"]), "steps": 1, "extras": {"max_sequence_length": 8}})
    assert render(plate, cfg).params["call"]["max_sequence_length"] == 8
    config = tmp_path / "c.yaml"
    config.write_text("render:\n  diffusers:\n    extras:\n      motion_bucket_id: 127\n")
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", "diffusers", "--model",
                 folders["wan-ti2v"], *RENDER, "-c", config)
    assert_one_line_error(result, contains="extras.motion_bucket_id is not an argument of WanImageToVideoPipeline")
    assert not (tmp_path / "x.mp4").exists()
    config.write_text("render:\n  diffusers:\n    extras:\n      num_frames: 5\n")
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", "diffusers", "--model",
                 folders["wan-ti2v"], *RENDER, "-c", config)
    assert_one_line_error(result, contains="set by keyframe itself")


def test_other_pipeline_folders_are_refused_in_one_line(cli, tmp_path):
    save_tiny_sd_inpaint(tmp_path / "sd")
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", "diffusers", "--model",
                 tmp_path / "sd", *RENDER)
    assert_one_line_error(result, contains="is a StableDiffusionInpaintPipeline, not a supported image-to-video pipeline")
    save_tiny_svd(tmp_path / "svd")
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", "diffusers", "--model",
                 tmp_path / "svd", *RENDER)
    assert_one_line_error(result, contains="renders with --backend svd")
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", "diffusers", *RENDER)
    assert_one_line_error(result, contains="needs a model")
    assert not list(tmp_path.glob("x.mp4*"))


@pytest.mark.parametrize(("backend", "kind", "message"), [
    ("diffusers", "wan-i2v", "without first-last-frame conditioning"),
    ("diffusers", "ltx", "LTXImageToVideoPipeline takes no end frame"),
    ("diffusers", "wan-ti2v", "ignores an end frame"),
    ("camera", None, "the camera backend takes no end plate"),
])
def test_an_end_plate_the_model_cannot_take_is_refused(cli, folders, tmp_path, backend, kind, message):
    model = ("--model", folders[kind]) if kind else ()
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", backend, *model, *RENDER,
                 "--last", plate_path("chelsea"))
    assert_one_line_error(result, contains=message)
    assert not (tmp_path / "x.mp4").exists()


def test_pickle_only_weights_are_refused_unless_allowed(folders, tmp_path):
    import shutil

    from safetensors.torch import load_file

    folder = shutil.copytree(folders["wan-ti2v"], tmp_path / "pickled")
    weights = next((folder / "vae").glob("*.safetensors"))
    torch.save(load_file(weights), folder / "vae" / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(KeyframeError, match="only pickle"):
        load_i2v(RenderDiffusersConfig(model=str(folder)))
    model = load_i2v(RenderDiffusersConfig(model=str(folder), allow_pickle=True))
    assert model.info["use_safetensors"] is None  # some components load from pickle


def tiny_render(folders, **options):
    cfg = RenderConfig(backend="diffusers", frames=5, size="32x32",
                       diffusers={"model": str(folders["wan-ti2v"]), "steps": 2, **options})
    model = load_i2v(cfg.diffusers)
    return model, render(read_plate(plate_path("coffee")), cfg, seed=1, model=model)


@pytest.mark.parametrize(("options", "hook"), [
    ({"cache": "first_block", "cache_threshold": 0.2}, "fbc_leader"),
    ({"cache": "mag", "mag_ratios": [1.0, 0.95]}, "mag_cache_leader"),
    ({"cache": "pab"}, "pyramid_attention_broadcast"),
    ({"cache": "faster"}, "faster_cache_denoiser"),
    ({"layerwise_casting": "fp8_e4m3"}, "layerwise_casting"),
    ({"group_offload": "leaf_level"}, "group_offloading"),
])
def test_each_speed_option_is_applied_and_recorded(folders, options, hook):
    from diffusers.hooks import HookRegistry

    model, result = tiny_render(folders, **options)
    names = set()
    for module in model.pipeline.transformer.modules():
        registry = getattr(module, "_diffusers_hook", None)
        if isinstance(registry, HookRegistry):
            names.update(registry.hooks)
    assert any(name.startswith(hook) for name in names), names
    assert result.frames.shape == (5, 32, 32, 3)
    speed = result.params["runtime"]["speed"]
    assert set(speed) == {k for k in ("cache", "layerwise_casting", "group_offload") if k in options}


def test_attention_backend_and_regional_compile_are_applied(folders):
    from keyframe.render.speed import apply_speed_options

    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(folders["wan-ti2v"], local_files_only=True)
    cfg = RenderDiffusersConfig(attention_backend="_native_math", compile="regional", compile_cache_dir="/tmp/kf-inductor")
    applied = apply_speed_options(pipeline, cfg, {"device": "cpu", "dtype": "fp32"})
    assert applied["attention_backend"] == "_native_math" and applied["compile"]["kind"] == "regional"
    processors = {type(block.attn1.processor).__name__ for block in pipeline.transformer.blocks}
    assert all(block.attn1.processor._attention_backend == "_native_math" for block in pipeline.transformer.blocks), processors
    assert all(getattr(block, "_compiled_call_impl", None) is not None for block in pipeline.transformer.blocks)


@pytest.mark.parametrize(("options", "message"), [
    ({"quantize": "fp8"}, "compute capability 8.9"),
    ({"cache": "mag"}, "mag_ratios"),
    ({"attention_backend": "warp-drive"}, "not a diffusers attention backend"),
    ({"compile": "full", "group_offload": "leaf_level"}, "cannot be combined"),
])
def test_speed_options_the_machine_cannot_run_are_refused_before_loading(cli, folders, tmp_path, options, message):
    config = tmp_path / "c.yaml"
    config.write_text("render:\n  diffusers:\n" + "".join(f"    {k}: {v}\n" for k, v in options.items()))
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "x.mp4", "--backend", "diffusers", "--model",
                 folders["wan-ti2v"], *RENDER, "-c", config)
    assert_one_line_error(result, contains=message)


def test_bench_counts_the_flops_of_an_exact_architecture(cli):
    result = cli("bench", "render", "--arch", "ltx-2b", "--random-weights", "--frames", 9, "--size", "64x64",
                 "--steps", 3, "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    flops = data["flops"]
    assert data["timed"] is False and data["frames"] == 9 and flops["tokens"] == 2 * 2 * 2  # 9 frames, 64 px / 32
    assert flops["total"] == 3 * flops["transformer_step"] + flops["vae_encode"] + flops["vae_decode"]
    # 28 layers of 2048-wide attention and feed-forward over 8 tokens, conditional + unconditional: > 2 GFLOP
    assert flops["transformer_step"] > 2e9
    bad = cli("bench", "render", "--arch", "wan-ti2v-5b", "--random-weights", "--size", "80x64")
    assert bad.code == 2 and "multiples of 32" in bad.stderr
