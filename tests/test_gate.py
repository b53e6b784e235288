"""The gate's API and its command line."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from support import assert_one_line_error, load_pair, mask_path, plate_path

from keyframe.config import GateConfig
from keyframe.gate import Criterion, run_gate, write_heatmaps
from keyframe.io import read_plate, write_image, write_mask

CRITERION_KEYS = {"score", "threshold", "pass", "reason", "heatmap"}


@pytest.fixture(scope="module")
def coffee_result():
    plate, mask = load_pair("coffee")
    return run_gate(plate, mask, GateConfig())


def test_result_has_four_criteria_with_heatmaps(coffee_result):
    assert set(coffee_result.criteria) == {"edge", "seam", "texture", "anatomy"}
    for name, criterion in coffee_result.criteria.items():
        assert isinstance(criterion, Criterion) and criterion.name == name
        assert criterion.passed is True and criterion.score is not None and criterion.score <= criterion.threshold
        assert criterion.heatmap.shape == (288, 512) and criterion.heatmap.dtype == np.float32
        assert 0.0 <= criterion.heatmap.min() and criterion.heatmap.max() <= 1.0
        assert criterion.reason
    assert coffee_result.passed


def test_without_mask_seam_is_not_checked_and_hands_never_pass():
    plate = read_plate(plate_path("astronaut"))
    result = run_gate(plate, None, GateConfig())
    seam = result.criteria["seam"]
    assert seam.passed is None and seam.score is None and "not checked" in seam.reason
    anatomy = result.criteria["anatomy"]
    assert anatomy.details["faces_found"] == 1 and anatomy.passed is True
    assert anatomy.details["hands"]["checked"] is False and "hands not checked" in anatomy.reason
    assert result.criteria["edge"].details["scope"] == "whole plate"
    assert result.passed  # a criterion not checked neither passes nor fails the gate


def test_full_mask_has_no_seam():
    plate = read_plate(plate_path("brick"))
    result = run_gate(plate, np.ones(plate.shape[:2], bool), GateConfig())
    assert result.criteria["seam"].passed is None


def test_a_failing_criterion_fails_the_gate_and_says_why():
    plate, mask = load_pair("coffee")
    soft = plate.copy()
    soft[mask] = 128  # a flat grey fill: no detail, no grain, a colour step
    result = run_gate(soft, mask, GateConfig())
    assert not result.passed
    assert result.criteria["edge"].passed is False and "softer" in result.criteria["edge"].reason
    assert result.criteria["seam"].passed is False and result.criteria["seam"].score > 1.0


def test_to_dict_is_json_with_the_issue_shape(coffee_result, tmp_path):
    paths = write_heatmaps(coffee_result, tmp_path)
    assert set(paths) == {"edge", "seam", "texture", "anatomy"} and all(p.is_file() for p in paths.values())
    data = coffee_result.to_dict({k: str(v) for k, v in paths.items()})
    json.dumps(data, allow_nan=False)
    assert data["pass"] is True
    for name, entry in data["criteria"].items():
        assert CRITERION_KEYS <= set(entry) and entry["heatmap"] == str(paths[name])


def test_bad_arguments_are_programmer_errors():
    with pytest.raises(ValueError):
        run_gate(np.zeros((10, 10)), None, GateConfig())
    with pytest.raises(ValueError):
        run_gate(np.zeros((10, 10, 3), np.uint8), np.zeros((5, 5), bool), GateConfig())


def test_cli_json_pass(cli, tmp_path):
    out = tmp_path / "gate"
    result = cli("gate", plate_path("coffee"), "--mask", mask_path("coffee"), "--json", "-o", out)
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"gate"} and set(data["gate"]) == {"pass", "criteria"}
    assert set(data["gate"]["criteria"]) == {"edge", "seam", "texture", "anatomy"}
    for entry in data["gate"]["criteria"].values():
        assert set(entry) == CRITERION_KEYS
        assert entry["heatmap"] and (out / entry["heatmap"].split("/")[-1]).is_file()
    saved = json.loads((out / "gate.json").read_text())["gate"]
    assert saved["pass"] == data["gate"]["pass"]
    for name, entry in saved["criteria"].items():
        assert {k: v for k, v in entry.items() if k != "details"} == data["gate"]["criteria"][name]
        assert entry["details"]["heatmap_shows"]


def test_cli_fail_exits_1_and_no_mask_skips_seam(cli, tmp_path):
    plate, _ = load_pair("coffee")
    soft = write_image(tmp_path / "soft.png", cv2.GaussianBlur(plate, (0, 0), 4))
    result = cli("gate", soft, "--json")
    assert result.code == 1
    data = json.loads(result.stdout)["gate"]
    assert data["pass"] is False and data["criteria"]["edge"]["pass"] is False
    assert data["criteria"]["seam"]["pass"] is None and data["criteria"]["seam"]["heatmap"] is None


def test_cli_text_says_not_checked_once(cli):
    result = cli("gate", plate_path("coffee"))
    assert result.code == 0, result.stderr
    lines = {line.split(":")[0]: line for line in (result.stdout + result.stderr).splitlines() if ":" in line}
    assert lines["seam"] == "seam: not checked: no mask was given, so there is no edit outline to inspect"
    assert lines["texture"].startswith("texture: not checked: ") and lines["texture"].count("not checked") == 1
    assert lines["edge"].startswith("edge: pass - ")


@pytest.mark.parametrize(
    "args, contains",
    [
        (("gate", "missing.png"), "not found"),
        (("gate", plate_path("coffee"), "--mask", mask_path("astronaut").with_name("nope.png")), "not found"),
        (("gate", plate_path("coffee"), "--mask", plate_path("coffee")), "mask"),
        (("gate", plate_path("coffee"), "-o", "{tmp}/no/such/dir"), "parent"),
        (("gate", plate_path("coffee"), "--config", "{tmp}/missing.yaml"), "config"),
    ],
)
def test_cli_bad_inputs_one_line_exit_2_nothing_written(cli, tmp_path, args, contains):
    out = tmp_path / "out"
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    result = cli(*args, "-o", out) if "-o" not in args else cli(*args)
    assert_one_line_error(result, 2, contains)
    assert not out.exists() and result.stdout == ""


def test_cli_mask_of_wrong_size(cli, tmp_path):
    small = write_mask(tmp_path / "small.png", np.ones((20, 30), bool))
    result = cli("gate", plate_path("coffee"), "--mask", small)
    assert_one_line_error(result, 2, "mask is 30x20")



@pytest.mark.parametrize("shape", ["one pixel", "nearly full"])
def test_degenerate_masks_give_json_safe_results(shape):
    plate, _ = load_pair("coffee")
    mask = np.zeros(plate.shape[:2], bool)
    if shape == "one pixel":
        mask[100, 100] = True
    else:
        mask[:] = True
        mask[0, 0] = False
    data = run_gate(plate, mask, GateConfig()).to_dict()
    json.dumps(data, allow_nan=False)
    for entry in data["criteria"].values():
        assert entry["pass"] in (True, False, None)


def test_heatmap_points_at_the_defect():
    plate, mask = load_pair("chelsea")
    blurred = plate.copy()
    blurred[mask] = cv2.GaussianBlur(plate, (0, 0), 3)[mask]
    edge = run_gate(blurred, mask, GateConfig()).criteria["edge"]
    assert edge.passed is False
    assert edge.heatmap[mask].mean() > 5 * edge.heatmap[~mask].mean()
