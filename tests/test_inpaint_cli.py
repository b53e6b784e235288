"""``keyframe inpaint`` on the command line: outputs, options, and bad inputs (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from support import assert_one_line_error, mask_path, plate_path

from keyframe.io import read_plate, read_png_text, write_image


def test_inpaint_writes_clean_plate_mask_and_sidecar(cli, tmp_path):
    out = tmp_path / "clean.png"
    result = cli("inpaint", plate_path("coffee_defect"), "--mask", mask_path("coffee_defect"), "-o", out,
                 "--backend", "ns", "--grow", "2", "--feather", "3", "--crop-padding", "16", "--seam-match", "color",
                 "--blend", "poisson", "--texture", "none", "--seed", "4")
    assert result.code == 0, result.stderr
    assert result.stdout == ""  # status goes to stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.mask.png", "clean.png", "clean.png.json"]
    params = json.loads((tmp_path / "clean.png.json").read_text())["params"]
    assert params == {**params, "backend": "ns", "grow": 2, "feather": 3, "crop_padding": 16,
                      "seam_match": "color", "blend": "poisson", "texture": "none", "seed": 4}
    assert "Inpaint backend: ns, Radius: 3, Seam match: color, Blend: poisson, Texture: none" in read_png_text(out)["parameters"]


def test_default_backend_is_biharmonic_and_json_mask_works(cli, tmp_path):
    out = tmp_path / "clean.png"
    result = cli("inpaint", plate_path("coffee_defect"), "--mask", mask_path("coffee_defect").with_suffix(".json"),
                 "-o", out, "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["params"]["backend"] == "biharmonic" and len(summary["regions"]) == 1
    assert summary["outputs"]["mask"] == str(tmp_path / "clean.mask.png")


def test_16_bit_plate_round_trips_through_the_cli(cli, tmp_path):
    plate = read_plate(plate_path("brick")).astype(np.uint16) * 257 + 100
    source = write_image(tmp_path / "plate16.png", plate)
    out = tmp_path / "clean16.png"
    assert cli("inpaint", source, "--mask", mask_path("brick"), "-o", out, "--grow", "0", "--feather", "0").code == 0
    cleaned = read_plate(out)
    mask = cv2.imread(str(mask_path("brick")), cv2.IMREAD_GRAYSCALE) > 0
    assert cleaned.dtype == np.uint16 and np.array_equal(cleaned[~mask], plate[~mask])


def _bad_inputs(tmp):
    """name -> (arguments after `inpaint`, expected words in the error)."""
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "text.png").write_text("not an image")
    (tmp / "adir").mkdir()
    cv2.imwrite(str(tmp / "small_mask.png"), np.full((10, 10), 255, np.uint8))
    cv2.imwrite(str(tmp / "blank_mask.png"), np.zeros((288, 512), np.uint8))
    (tmp / "bad.yaml").write_text("inpaint:\n  grow: lots\n")
    (tmp / "unknown.yaml").write_text("inpaint:\n  sharpen: 3\n")
    plate, mask = plate_path("coffee"), mask_path("coffee")
    good = [plate, "--mask", mask]
    return {
        "missing plate": ([tmp / "nope.png", "--mask", mask], "not found"),
        "zero-byte plate": ([tmp / "empty.png", "--mask", mask], "empty"),
        "text file named .png": ([tmp / "text.png", "--mask", mask], "not a readable image"),
        "plate is a directory": ([tmp / "adir", "--mask", mask], "directory"),
        "missing mask": ([plate, "--mask", tmp / "nope.png"], "not found"),
        "mask of another size": ([plate, "--mask", tmp / "small_mask.png"], "10x10"),
        "empty mask": ([plate, "--mask", tmp / "blank_mask.png"], "empty"),
        "output folder missing": ([*good, "-o", tmp / "no" / "x.png"], "does not exist"),
        "output is a directory": ([*good, "-o", tmp / "adir"], "directory"),
        "output not png": ([*good, "-o", tmp / "x.jpg"], ".png"),
        "unknown backend": ([*good, "--backend", "photoshop"], "inpaint.backend"),
        "unknown seam match": ([*good, "--seam-match", "grain"], "inpaint.seam_match"),
        "unknown blend": ([*good, "--blend", "multiply"], "inpaint.blend"),
        "unknown texture": ([*good, "--texture", "grain"], "inpaint.texture"),
        "negative grow": ([*good, "--grow", "-1"], "inpaint.grow"),
        "strength zero": ([*good, "--strength", "0"], "inpaint.strength"),
        "steps not a number": ([*good, "--steps", "many"], "steps"),
        "diffusers without a model": ([*good, "--backend", "diffusers"], "--model"),
        "wrong config type": ([*good, "--config", tmp / "bad.yaml"], "inpaint.grow"),
        "unknown config key": ([*good, "--config", tmp / "unknown.yaml"], "inpaint.sharpen"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing plate", "zero-byte plate", "text file named .png", "plate is a directory", "missing mask",
     "mask of another size", "empty mask", "output folder missing", "output is a directory", "output not png",
     "unknown backend", "unknown seam match", "unknown blend", "negative grow", "strength zero",
     "steps not a number", "diffusers without a model", "wrong config type", "unknown config key"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    args, words = _bad_inputs(inputs)[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    if "-o" not in args:
        args = [*args, "-o", out_dir / "clean.png"]
    before = sorted(os.listdir(inputs))
    result = cli("inpaint", *args)
    assert_one_line_error(result, contains=words)
    assert not list(out_dir.iterdir()) and sorted(os.listdir(inputs)) == before
