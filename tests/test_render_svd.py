"""Render stage, svd backend: a tiny random SVD pipeline saved to disk and loaded by the real loader."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from keyframe.config import RenderConfig, RenderSvdConfig
from keyframe.errors import KeyframeError, WeightsError
from keyframe.io import read_clip, read_plate
from keyframe.render import load_svd, render
from keyframe.render.svd import plan_svd_fit, run_pipeline
from support import assert_one_line_error, plate_path
from tiny_svd import save_tiny_svd

STEPS = 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_svd(tmp_path_factory.mktemp("svd") / "tiny")


@pytest.fixture(scope="module")
def tiny_model(tiny_dir):
    return load_svd(RenderSvdConfig(model=str(tiny_dir)))


def test_cli_svd_end_to_end_same_seed_same_frames(cli, tiny_dir, tiny_model, tmp_path):
    out = tmp_path / "clip.mp4"
    result = cli("render", plate_path("coffee"), "-o", out, "--backend", "svd", "--model", tiny_dir, "--frames", 2,
                 "--steps", STEPS, "--seed", 5, "--motion-bucket", 100, "--frames-dir", tmp_path / "frames")
    assert result.code == 0, result.stderr
    side = json.loads((tmp_path / "clip.mp4.json").read_text())
    # size: the tiny model's native 64^2 area at the plate's 16:9, in multiples of 64 -> 64x64
    assert side["num_frames"] == 2 and side["size"] == [64, 64] and side["backend"] == "svd"
    assert side["seed"] == 5 and side["params"]["svd"]["steps"] == STEPS
    assert side["params"]["svd"]["motion_bucket_id"] == 100 and side["params"]["svd"]["noise_aug_strength"] == 0.02
    assert side["frame_transforms"] is None
    assert side["plate_to_frame0"] == side["fit"]["plate_to_fitted"]
    assert side["fit"]["policy"] == "crop" and side["fit"]["plate_size"] == [512, 288]
    assert side["model"]["class"] == "StableVideoDiffusionPipeline" and len(side["model"]["config_sha256"]) == 64
    assert side["model"]["use_safetensors"] is True
    assert read_clip(out).frames.shape == (2, 64, 64, 3)
    cli_frames = np.stack([read_plate(p) for p in sorted((tmp_path / "frames").glob("*.png"))])

    # the same seed through the library (another load of the same weights) gives the same frames
    plate = read_plate(plate_path("coffee"))
    cfg = RenderConfig(backend="svd", frames=2, svd={"model": str(tiny_dir), "steps": STEPS, "motion_bucket_id": 100})
    again = render(plate, cfg, seed=5, model=tiny_model)
    assert np.array_equal(again.frames, cli_frames)
    calls = []
    other = render(plate, cfg, seed=6, model=tiny_model, progress=lambda done, total: calls.append((done, total)))
    assert not np.array_equal(other.frames, cli_frames)
    assert calls == [(1, STEPS), (2, STEPS)]


def test_default_size_keeps_the_plate_aspect_in_multiples_of_64():
    unet, vae = {"sample_size": 96}, {"block_out_channels": [128, 256, 512, 512]}
    for plate_size, expected in (((512, 288), (1024, 576)), ((288, 512), (576, 1024)), ((600, 600), (768, 768))):
        assert plan_svd_fit(plate_size, RenderConfig(), unet, vae).size == expected
    assert plan_svd_fit((512, 288), RenderConfig(size="512x512", fit="pad"), unet, vae).resized_size == (512, 288)


def test_out_of_memory_becomes_one_line_with_the_options():
    class Exhausted:
        def __call__(self, *args, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 32.00 GiB")

    call = {"num_frames": 25, "num_inference_steps": 25}
    with pytest.raises(KeyframeError) as err:
        run_pipeline(Exhausted(), np.zeros((576, 1024, 3), np.uint8), call, seed=0)
    message = str(err.value)
    assert "\n" not in message and "out of memory" in message
    for option in ("--decode-chunk", "offload", "fp16", "--frames", "--size"):
        assert option in message


def _broken_copy(tiny_dir, tmp_path, name):
    broken = tmp_path / name
    shutil.copytree(tiny_dir, broken)
    return broken


def test_cli_refuses_bad_model_dirs_in_one_line(cli, tiny_dir, tmp_path):
    other = _broken_copy(tiny_dir, tmp_path, "other")
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableDiffusionPipeline"}))
    no_unet = _broken_copy(tiny_dir, tmp_path, "no_unet")
    (no_unet / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    pickled = _broken_copy(tiny_dir, tmp_path, "pickled")
    weights = pickled / "vae" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    corrupt = _broken_copy(tiny_dir, tmp_path, "corrupt")
    (corrupt / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 64)
    out = tmp_path / "out"
    out.mkdir()
    cases = [
        (other, "StableDiffusionPipeline"),
        (no_unet, "weights for unet are missing"),
        (pickled, "allow_pickle"),
        (corrupt, "cannot load"),
    ]
    for model, contains in cases:
        result = cli("render", plate_path("coffee"), "-o", out / "o.mp4", "--backend", "svd", "--model", model,
                     "--steps", 1)
        assert_one_line_error(result, 2, contains)
        assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["--size", "100x64"], "multiples of 64"),
        (["--min-guidance", "4", "--max-guidance", "2"], "min guidance"),
        (["--steps", "0"], "steps"),
        (["--decode-chunk", "0"], "decode_chunk_size"),
    ],
)
def test_cli_bad_svd_options_in_one_line(cli, tiny_dir, tmp_path, args, contains):
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "o.mp4", "--backend", "svd", "--model", tiny_dir, *args)
    assert_one_line_error(result, 2, contains)
    assert list(tmp_path.iterdir()) == []


def test_gpu_only_options_are_refused_on_cpu(tiny_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    plate = read_plate(plate_path("coffee"))
    for svd, contains in (({"dtype": "fp16"}, "needs CUDA"), ({"offload": "model"}, "needs CUDA"),
                          ({"attention": "cudnn"}, "needs CUDA"), ({"device": "cuda"}, "no CUDA")):
        cfg = RenderConfig(backend="svd", svd={"model": str(tiny_dir), **svd})
        with pytest.raises(KeyframeError, match=contains):
            render(plate, cfg)


def test_missing_cache_id_is_a_weights_error():
    with pytest.raises(WeightsError, match="nothing is downloaded"):
        load_svd(RenderSvdConfig(model="nobody/no-such-svd-model"))


def test_best_of_n_varies_the_seed_and_keeps_the_steadiest(tiny_model):
    from keyframe.config import Config
    from keyframe.pipeline import Stages, render_best_of

    plate = read_plate(plate_path("coffee"))
    mask = np.zeros(plate.shape[:2], bool)
    mask[100:180, 200:300] = True
    # random weights render noise: the check is told not to insist that frame 0 looks like the plate
    cfg = Config(seed=4, render={"backend": "svd", "frames": 2, "candidates": 2, "svd": {"steps": 1}},
                 check={"align_min_ncc": 0.0})
    stages = Stages(render=lambda image, c: render(image, c.render, seed=c.seed, model=tiny_model))
    best = render_best_of(plate, mask, cfg, stages)
    assert [r["params"] for r in best.records] == [{"seed": 4}, {"seed": 5}]
    assert not np.array_equal(best.runs[0].clip.frames, best.runs[1].clip.frames)
    scores = {r["id"]: r["stability"] for r in best.records}
    passing = [r["id"] for r in best.records if r["verdict"] == "pass"]
    assert best.selected == max(passing or scores, key=lambda i: scores[i])
    again = render_best_of(plate, mask, cfg, stages)
    assert again.records == best.records and again.selected == best.selected  # deterministic
