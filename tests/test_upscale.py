"""The upscale stage: the default keeps the plate, tiles blend invisibly, foreign SR models load by
path (pickle refused without the flag), diffusers upscalers run from a folder, and an upscale
that makes the edit stand out more is flagged."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data
from support import assert_one_line_error
from tiny_upscale import save_tiny_compact, save_tiny_ldm_sr, save_tiny_sd_upscale

from keyframe.config import UpscaleConfig
from keyframe.errors import KeyframeError, WeightsError
from keyframe.io import read_plate, write_image, write_mask
from keyframe.upscale import load_model, measure_uniformity, upscale
from keyframe.upscale.lanczos import lanczos_upscale
from keyframe.upscale.sr_model import SpandrelUpscaler, load_sr_model
from keyframe.upscale.tiles import tile_starts, upscale_tiled


def psnr(a: np.ndarray, b: np.ndarray, top: float = 255.0) -> float:
    return float(10 * np.log10(top**2 / max(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2), 1e-12)))


def photo(name: str, size: tuple[int, int] = (192, 128)) -> np.ndarray:
    image = getattr(data, name)()
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def compact(tmp_path_factory):
    """A foreign x2 Real-ESRGAN Compact model as safetensors and as a pickle."""
    folder = tmp_path_factory.mktemp("sr")
    return {"safe": save_tiny_compact(folder / "compact_x2.safetensors"), "pickle": save_tiny_compact(folder / "compact_x2.pth")}


@pytest.fixture
def plate_file(tmp_path):
    return write_image(tmp_path / "plate.png", photo("chelsea", (96, 64)))


# --- lanczos (the default) --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["grass", "gravel", "camera", "hubble_deep_field", "immunohistochemistry"])
@pytest.mark.parametrize("scale", [2, 4])
def test_default_upscale_keeps_the_plate_within_35_db(name, scale):
    plate = photo(name)
    result = upscale(plate, UpscaleConfig(scale=scale))
    big = result.image
    assert big.shape == (128 * scale, 192 * scale, 3)
    back = cv2.resize(big, (192, 128), interpolation=cv2.INTER_AREA)
    assert psnr(back, plate) > 35
    assert result.fidelity_db == pytest.approx(min(psnr(back, plate), 100.0), abs=0.05)  # what the sidecar records


def test_detail_restoration_adds_fine_detail_without_losing_the_plate():
    plate = photo("astronaut")

    def fine(image):
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.mean((grey - cv2.GaussianBlur(grey, (0, 0), 1.0)) ** 2))  # finer than the plate: x2 bands

    plain, restored = lanczos_upscale(plate, 2, 0.0), lanczos_upscale(plate, 2, 1.0)
    assert fine(restored) > 1.05 * fine(plain)
    assert psnr(cv2.resize(restored, (192, 128), interpolation=cv2.INTER_AREA), plate) > 35


def test_16_bit_plate_stays_16_bit():
    plate = (photo("coffee").astype(np.uint16) * 257)
    big = upscale(plate, UpscaleConfig()).image
    assert big.dtype == np.uint16 and big.shape == (256, 384, 3)
    assert psnr(cv2.resize(big, (192, 128), interpolation=cv2.INTER_AREA), plate, 65535.0) > 35


# --- tiles -------------------------------------------------------------------------------------------

def test_tiles_cover_the_plate_and_overlap():
    for length, tile, overlap in [(100, 40, 8), (41, 40, 8), (200, 64, 16), (10, 64, 16)]:
        starts = tile_starts(length, tile, overlap)
        size = min(tile, length)
        assert starts[0] == 0 and starts[-1] + size == length
        assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))


def test_tiled_equals_untiled_with_a_real_sr_model(compact):
    model = load_sr_model(str(compact["safe"]))
    plate = photo("astronaut", (90, 70))
    whole = SpandrelUpscaler(model, tile=0, overlap=0).upscale(plate)
    seen = []
    tiled = SpandrelUpscaler(model, tile=32, overlap=12).upscale(plate, progress=lambda d, t: seen.append((d, t)))
    difference = np.abs(whole.astype(int) - tiled.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01  # rounding only
    assert seen[-1] == (12, 12) and len(seen) == 12  # 3 x 4 tiles, each reported


def test_a_small_tile_gets_a_smaller_overlap(compact):
    result = upscale(photo("coffee", (48, 40)), UpscaleConfig(backend="spandrel", model=str(compact["safe"]), tile=24))
    assert result.params["tile"] == 24 and result.params["tile_overlap"] == 6


# --- spandrel ------------------------------------------------------------------------------------------

def test_foreign_safetensors_model_upscales_reproducibly_through_the_cli(cli, compact, plate_file, tmp_path):
    outputs = []
    for name in ("a.png", "b.png"):
        out = tmp_path / name
        result = cli("upscale", plate_file, "-o", out, "--backend", "spandrel", "--model", compact["safe"], "--tile", "40", "--json")
        assert result.code == 0, result.stderr
        outputs.append(out.read_bytes())
    summary = json.loads(result.stdout)
    assert summary["scale"] == 2 and summary["verdict"] == "pass" and summary["fidelity_db"] < 35  # random weights
    assert read_plate(tmp_path / "a.png").shape == (128, 192, 3)
    assert outputs[0] == outputs[1]
    sidecar = json.loads((tmp_path / "b.png.json").read_text())
    model = sidecar["params"]["model"]
    assert sidecar["stage"] == "upscale" and model["architecture"] == "RealESRGAN Compact" and model["scale"] == 2
    assert model["dtype"] == "fp32" and model["device"] == "cpu" and len(model["sha256"]) == 64


def test_pickle_is_refused_without_the_flag_and_loads_with_it(cli, compact, plate_file, tmp_path):
    out = tmp_path / "up.png"
    result = cli("upscale", plate_file, "-o", out, "--backend", "spandrel", "--model", compact["pickle"])
    assert_one_line_error(result, 2, "--allow-pickle")
    assert not out.exists() and not (tmp_path / "up.png.json").exists()
    result = cli("upscale", plate_file, "-o", out, "--backend", "spandrel", "--model", compact["pickle"], "--allow-pickle")
    assert result.code == 0, result.stderr
    assert read_plate(out).shape == (128, 192, 3)


def test_scale_that_disagrees_with_the_model_is_one_line(cli, compact, plate_file, tmp_path):
    result = cli("upscale", plate_file, "-o", tmp_path / "up.png", "--backend", "spandrel", "--model", compact["safe"], "--scale", "4")
    assert_one_line_error(result, 2, "disagrees with the model, which upscales 2x")
    assert list(tmp_path.iterdir()) == [plate_file]


@pytest.mark.parametrize("make, contains", [
    (lambda d: None, "needs a model"),
    (lambda d: d / "missing.safetensors", "not found"),
    (lambda d: d, "is a folder"),
    (lambda d: (d / "junk.safetensors").write_bytes(b"not a model") and d / "junk.safetensors", "cannot read model"),
    (lambda d: (d / "w.onnx").write_bytes(b"x") and d / "w.onnx", "not a model file"),
])
def test_bad_model_files_are_one_line_errors(cli, plate_file, tmp_path, make, contains):
    model = make(tmp_path)
    args = ["--model", model] if model is not None else []
    result = cli("upscale", plate_file, "-o", tmp_path / "up.png", "--backend", "spandrel", *args)
    assert_one_line_error(result, 2, contains)
    assert not (tmp_path / "up.png").exists()


def test_unknown_architecture_is_refused(tmp_path):
    from safetensors.torch import save_file
    import torch

    save_file({"weight": torch.zeros(3, 3)}, tmp_path / "other.safetensors")
    with pytest.raises(WeightsError, match="no architecture spandrel knows"):
        load_sr_model(str(tmp_path / "other.safetensors"))


def test_fp16_on_the_cpu_is_refused(compact):
    with pytest.raises(KeyframeError, match="needs a CUDA device"):
        load_model(UpscaleConfig(backend="spandrel", model=str(compact["safe"]), device="cpu", dtype="fp16"))


# --- diffusers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("save", [save_tiny_sd_upscale, save_tiny_ldm_sr])
def test_diffusers_upscale_pipelines_load_from_a_folder_and_repeat(save, tmp_path):
    folder = save(tmp_path / "upscaler")
    cfg = UpscaleConfig(backend="diffusers", model=str(folder), steps=2, tile=0)
    model = load_model(cfg)
    plate = photo("coffee", (24, 16))
    first = upscale(plate, cfg, model=model, seed=3)
    again = upscale(plate, cfg, model=model, seed=3)
    assert first.image.shape == (32, 48, 3) and first.scale == 2
    assert np.array_equal(first.image, again.image)
    assert first.params["pipeline"] == type(model).__name__ and first.params["steps"] == 2


def test_diffusers_folder_of_another_pipeline_is_refused(cli, plate_file, tmp_path, capfd):
    from tiny_sd import shared_tiny_sd_dir

    inpainter = shared_tiny_sd_dir()
    capfd.readouterr()  # saving it printed diffusers' own progress
    result = cli("upscale", plate_file, "-o", tmp_path / "up.png", "--backend", "diffusers", "--model", inpainter)
    assert_one_line_error(result, 2, "not an upscale pipeline")


# --- uniformity of the edit --------------------------------------------------------------------------------

def soft_edit(name: str = "astronaut") -> tuple[np.ndarray, np.ndarray]:
    """A real photo whose boxed region was replaced by a blurred copy: the soft fill editors complain of."""
    plate = photo(name, (256, 192))
    mask = np.zeros(plate.shape[:2], bool)
    mask[60:130, 80:170] = True
    edited = plate.copy()
    edited[mask] = cv2.GaussianBlur(plate, (0, 0), 2.5)[mask]
    return edited, mask


def test_uniformity_sees_a_planted_soft_region():
    edited, mask = soft_edit()
    untouched = photo("astronaut", (256, 192))
    soft, plain = measure_uniformity(edited, mask), measure_uniformity(untouched, mask)
    assert soft.sharpness < 0.6 and soft.mismatch > 1.6
    assert plain.mismatch < 1.3
    # the same numbers on a plain resample: the measure follows the scale
    assert measure_uniformity(cv2.resize(edited, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), mask, 2).mismatch > 1.6


def sharpen_around(mask: np.ndarray):
    """An 'upscaler' that sharpens everything but the edit: the soft patch then stands out more."""

    def upscale_badly(plate, scale, detail=0.0):
        big = lanczos_upscale(plate, scale, 0.0).astype(np.float32)
        inside = cv2.resize(mask.astype(np.uint8), big.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
        sharp = np.clip(2 * big - cv2.GaussianBlur(big, (0, 0), scale), 0, 255)
        big[~inside] = sharp[~inside]
        return big.astype(plate.dtype)

    return upscale_badly


def test_upscale_that_magnifies_a_soft_edit_is_flagged_through_the_cli(cli, tmp_path, monkeypatch):
    edited, mask = soft_edit()
    plate, mask_file = write_image(tmp_path / "plate.png", edited), write_mask(tmp_path / "mask.png", mask)

    good = cli("upscale", plate, "-o", tmp_path / "good.png", "--mask", mask_file)
    assert good.code == 0, good.stderr
    sidecar = json.loads((tmp_path / "good.png.json").read_text())
    assert sidecar["verdict"] == "pass" and sidecar["reasons"] == []
    uniformity = sidecar["uniformity"]
    assert uniformity["before"]["mismatch"] > 1.6 and not uniformity["worse"]

    monkeypatch.setattr("keyframe.upscale.lanczos.lanczos_upscale", sharpen_around(mask))
    bad = cli("upscale", plate, "-o", tmp_path / "bad.png", "--mask", mask_file, "--json")
    assert bad.code == 1, bad.stderr
    summary = json.loads(bad.stdout)
    assert summary["verdict"] == "flagged" and [r["code"] for r in summary["reasons"]] == ["upscale"]
    assert summary["uniformity"]["change"] > 1.24 and summary["uniformity"]["worse"]
    assert json.loads((tmp_path / "bad.png.json").read_text())["verdict"] == "flagged"


# --- stage rules ----------------------------------------------------------------------------------------

def test_bad_inputs_are_one_line_and_write_nothing(cli, plate_file, tmp_path):
    cases = [
        (("-o", tmp_path / "up.jpg"), "must be a .png"),
        (("-o", tmp_path / "missing" / "up.png"), "does not exist"),
        (("-o", tmp_path / "up.png", "--backend", "esrgan"), "backend"),
        (("-o", tmp_path / "up.png", "--scale", "16"), "scale"),
        (("-o", tmp_path / "up.png", "--mask", tmp_path / "nope.png"), "nope.png"),
    ]
    for args, contains in cases:
        assert_one_line_error(cli("upscale", plate_file, *args), 2, contains)
    assert list(tmp_path.iterdir()) == [plate_file]


def test_output_too_large_is_refused_up_front(cli, plate_file, tmp_path, monkeypatch):
    config = tmp_path / "small.yaml"
    config.write_text("upscale:\n  max_output_pixels: 10000\n")
    assert_one_line_error(cli("upscale", plate_file, "-o", tmp_path / "up.png", "--config", config), 2, "max_output_pixels")
    assert not (tmp_path / "up.png").exists()


def test_prep_chain_flags_an_upscale_that_magnifies_the_edit(tmp_path, monkeypatch):
    from keyframe.config import Config
    from keyframe.inpaint import InpaintResult
    from keyframe.pipeline import Stages, process_plate, upscale_stage

    edited, mask = soft_edit()  # a plate whose edit is already a soft fill: the inpaint stage keeps it as it is
    plate, mask_file = write_image(tmp_path / "plate.png", edited), write_mask(tmp_path / "mask.png", mask)

    def sharpening_around_the_edit(image, edit, cfg):
        monkeypatch.setattr("keyframe.upscale.lanczos.lanczos_upscale", sharpen_around(edit))
        return upscale_stage(image, edit, cfg)

    stages = Stages(inpaint=lambda image, hole, cfg: InpaintResult(image, hole.astype(np.float32), {}),
                    upscale=sharpening_around_the_edit)
    cfg = Config(render={"frames": 4}, upscale={"in_prep": True})
    entry = process_plate(plate, mask_file, tmp_path / "out", cfg, label="t", force=True, stages=stages)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert entry.verdict == report["verdict"] == "flagged"
    assert "upscale" in [r["code"] for r in report["reasons"]] and report["upscale"]["verdict"] == "flagged"
    assert entry.paths["upscaled"] == "upscaled.png" and (tmp_path / "out" / "upscaled.png.json").is_file()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "the upscale makes the edit stand out more" in html
