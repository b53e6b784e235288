"""The diffusers backend end to end with a tiny random pipeline saved to disk and loaded by the real loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support import assert_one_line_error, load_pair, mask_path, plate_path
from test_inpaint import assert_preserved, random_mask
from tiny_sd import shared_tiny_sd_dir

from keyframe.config import InpaintConfig
from keyframe.errors import WeightsError
from keyframe.inpaint import inpaint, load_pipeline
from keyframe.inpaint.diffusion import device_and_dtype, inspect_inpaint_model, model_size
from keyframe.io import read_plate, read_png_text

# small and few steps: random weights, so only plumbing is under test
FAST = {"backend": "diffusers", "steps": 2, "resolution": 64}


@pytest.fixture(scope="module")
def tiny_dir() -> Path:
    return shared_tiny_sd_dir()


@pytest.fixture(scope="module")
def pipe(tiny_dir):
    return load_pipeline(tiny_dir)


def copy_model(tiny_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(tiny_dir, target)
    return target


def test_loader_reads_the_saved_folder_in_fp32_on_cpu(pipe, tiny_dir):
    assert type(pipe).__name__ == "StableDiffusionInpaintPipeline"
    assert str(pipe.device) == "cpu" and str(pipe.dtype) == "torch.float32"
    assert pipe.unet.config.in_channels == 9
    assert inspect_inpaint_model(tiny_dir).use_safetensors is True


def test_preservation_with_the_vae_round_trip(pipe):
    plate, fixture_mask = load_pair("astronaut")
    mask = fixture_mask | random_mask(plate.shape[:2], np.random.default_rng(2), blobs=1)
    result = inpaint(plate, mask, InpaintConfig(**FAST, grow=3, feather=5), seed=0, model=pipe)
    assert_preserved(plate, result.image, mask, 3 + 5)
    assert len(result.regions) == 2  # the random stroke is a separate region, on its own crop
    cfg = InpaintConfig(**FAST, grow=0, feather=0, blend="poisson")
    exact = inpaint(plate, fixture_mask, cfg, seed=0, model=pipe)
    assert np.array_equal(exact.image[~fixture_mask], plate[~fixture_mask])


def test_16_bit_plate_keeps_its_depth(pipe):
    plate8, mask = load_pair("chelsea")
    plate = plate8.astype(np.uint16) * 257
    result = inpaint(plate, mask, InpaintConfig(**FAST), model=pipe)
    assert result.image.dtype == np.uint16
    assert_preserved(plate, result.image, mask, 6 + 4)


def test_same_seed_identical_other_seed_different_params_and_progress(pipe, tiny_dir):
    plate, mask = load_pair("rocket")
    cfg = InpaintConfig(**FAST, prompt="a tree", negative_prompt="blur")
    first, again = (inpaint(plate, mask, cfg, seed=4, model=pipe) for _ in range(2))
    assert np.array_equal(first.image, again.image)
    seen = []
    other = inpaint(plate, mask, cfg, seed=5, model=pipe, progress=lambda done, total: seen.append(done / total))
    assert not np.array_equal(first.image, other.image)
    assert len(seen) >= 2 and seen[-1] == pytest.approx(1.0)
    params = other.params
    assert params["model"] == str(tiny_dir) and params["pipeline"] == "StableDiffusionInpaintPipeline"
    assert params["device"] == "cpu" and params["dtype"] == "float32" and params["steps"] == 2
    assert params["prompt"] == "a tree" and params["negative_prompt"] == "blur"
    assert params["scheduler"] == "PNDMScheduler" and params["seed"] == 5


def test_fp16_on_cuda_fp32_on_cpu(monkeypatch):
    import torch

    assert device_and_dtype() == ("cpu", torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_and_dtype() == ("cuda", torch.float16)


def test_crop_is_given_to_the_model_at_its_resolution():
    assert model_size(100, 50, 512) == (512, 256)
    assert model_size(30, 200, 64) == (8, 64)
    assert model_size(288, 512, 512) == (288, 512)


def test_cli_end_to_end_through_the_real_loader(cli, tiny_dir, tmp_path):
    out = tmp_path / "clean.png"
    config = tmp_path / "small.yaml"
    config.write_text("inpaint:\n  resolution: 64\n  steps: 5\n")
    result = cli("inpaint", plate_path("coffee_defect"), "--mask", mask_path("coffee_defect"), "-o", out,
                 "--backend", "diffusers", "--model", tiny_dir, "--steps", "2", "--prompt", "wooden saucer",
                 "--seed", "9", "--guidance", "3", "--strength", "0.9", "--config", config, "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["params"]["backend"] == "diffusers" and summary["params"]["seed"] == 9
    assert summary["params"]["resolution"] == 64 and summary["params"]["steps"] == 2  # option beats --config
    assert read_plate(out).shape == (288, 512, 3)
    text = read_png_text(out)["parameters"]
    assert text.startswith("wooden saucer\n") and "Steps: 2" in text and "CFG scale: 3.0" in text
    assert "Denoising strength: 0.9" in text and "Seed: 9" in text
    sidecar = json.loads(Path(f"{out}.json").read_text())
    assert sidecar["params"]["model"] == str(tiny_dir)


def _drop(model: Path, relative: str) -> None:
    target = model / relative
    shutil.rmtree(target) if target.is_dir() else target.unlink()


def _retarget_class(model: Path, class_name: str) -> None:
    index = json.loads((model / "model_index.json").read_text())
    index["_class_name"] = class_name
    (model / "model_index.json").write_text(json.dumps(index))


def _pickle_unet(model: Path) -> None:
    (model / "unet" / "diffusion_pytorch_model.safetensors").rename(model / "unet" / "diffusion_pytorch_model.bin")


def _truncate(weights: Path) -> None:
    weights.write_bytes(weights.read_bytes()[:1000])


BROKEN_MODELS = {
    "no model_index.json": (lambda m: _drop(m, "model_index.json"), "model_index.json"),
    "missing unet folder": (lambda m: _drop(m, "unet"), "unet/ is missing"),
    "vae without weights": (lambda m: _drop(m, "vae/diffusion_pytorch_model.safetensors"), "vae/ has no weights"),
    "text-to-image class": (lambda m: _retarget_class(m, "StableDiffusionPipeline"), "not an inpainting pipeline"),
    "video class": (lambda m: _retarget_class(m, "StableVideoDiffusionPipeline"), "not an inpainting pipeline"),
    "index not json": (lambda m: (m / "model_index.json").write_text("{not json"), "not valid JSON"),
    "pickle only": (_pickle_unet, "--allow-pickle"),
    "truncated weights": (lambda m: _truncate(m / "unet" / "diffusion_pytorch_model.safetensors"), "cannot load"),
}


@pytest.mark.parametrize("case", BROKEN_MODELS)
def test_broken_model_folder_is_one_line_naming_the_layout(cli, tiny_dir, tmp_path, case):
    breaks, message = BROKEN_MODELS[case]
    model = copy_model(tiny_dir, tmp_path)
    breaks(model)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("inpaint", plate_path("coffee"), "--mask", mask_path("coffee"), "-o", out_dir / "clean.png",
                 "--backend", "diffusers", "--model", model)
    assert_one_line_error(result, contains=message)
    if case != "pickle only":
        assert "model_index.json plus unet/ vae/ text_encoder/ tokenizer/ scheduler/" in result.stderr
    assert not list(out_dir.iterdir())


@pytest.mark.parametrize(
    "model,message",
    [("missing/folder", "Hugging Face cache"), ("./no-such-dir", "model folder not found")],
)
def test_missing_model_is_one_line(cli, tmp_path, model, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    result = cli("inpaint", plate_path("coffee"), "--mask", mask_path("coffee"), "-o", tmp_path / "x.png",
                 "--backend", "diffusers", "--model", model)
    assert_one_line_error(result, contains=message)
    assert not (tmp_path / "x.png").exists()


def test_single_file_checkpoint_is_refused(cli, tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"\0" * 16)
    result = cli("inpaint", plate_path("coffee"), "--mask", mask_path("coffee"), "-o", tmp_path / "x.png",
                 "--backend", "diffusers", "--model", checkpoint)
    assert_one_line_error(result, contains="single-file checkpoints are not loaded")


def test_pickle_loads_only_with_the_explicit_flag(tiny_dir, tmp_path):
    model = copy_model(tiny_dir, tmp_path)
    (model / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    load_pipeline(tiny_dir).unet.save_pretrained(model / "unet", safe_serialization=False)
    with pytest.raises(WeightsError, match="pickle"):
        load_pipeline(model)
    assert inspect_inpaint_model(model, allow_pickle=True).use_safetensors is None
    loaded = load_pipeline(model, allow_pickle=True)
    assert loaded.unet.config.in_channels == 9


def test_hugging_face_cache_id_is_resolved_offline(tiny_dir, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--acme--tiny-inpaint" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_dir, snapshot)
    (cache / "models--acme--tiny-inpaint" / "refs").mkdir()
    (cache / "models--acme--tiny-inpaint" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert inspect_inpaint_model("acme/tiny-inpaint").path == snapshot
