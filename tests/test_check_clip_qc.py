"""Clip-level QC in the check: real photos animated by the camera renderer, with planted defects."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from keyframe.config import CheckConfig
from keyframe.io import write_clip
from keyframe.metrics.clip_qc import QC_FIELDS, check_clip_qc, frame_fidelity
from keyframe.track import check_clip
from clip_qc_calibration import encoded, good_clip, photo, plant
from support import load_pair, mask_path, plate_path

CFG = CheckConfig(lpips="off")


@pytest.fixture(scope="module")
def coffee():
    plate = photo("coffee")
    frames, matrix = good_clip(plate, "zoom")
    return plate, frames, matrix


def codes(qc):
    return [reason.code for reason in qc.reasons]


@pytest.mark.parametrize(("name", "move"), [("coffee", "zoom"), ("astronaut", "pan"), ("rocket", "dolly"),
                                            ("camera", "rotate")])
def test_untouched_clips_pass(name, move):
    plate = photo(name)
    frames, matrix = good_clip(plate, move)
    qc = check_clip_qc(encoded(frames), plate, matrix, CFG)
    assert codes(qc) == [], [r.message for r in qc.reasons]
    assert qc.summary["plate_ssim"] > 0.9 and qc.summary["plate_delta_e"] < 1.5


@pytest.mark.parametrize(("defect", "strength", "code", "frames"), [
    ("fade", 0.35, "global_drift", None),
    ("cast", 0.1, "first_frame", [[0, 0]]),
    ("swap", None, "first_frame", [[0, 0]]),
    ("frozen", None, "frozen", [[10, 13]]),
    ("black", 0.0, "black", [[12, 13]]),
    ("blur", 1.5, "sharpness", None),
    ("shift", 0.2, "global_drift", None),
])
def test_each_planted_defect_is_flagged_with_its_frames(coffee, defect, strength, code, frames):
    plate, clip, matrix = coffee
    qc = check_clip_qc(encoded(plant(clip, defect, strength)), plate, matrix, CFG)
    assert code in codes(qc), [r.message for r in qc.reasons]
    reason = next(r for r in qc.reasons if r.code == code)
    if frames is not None:
        assert reason.frames == frames
    else:
        assert reason.frames[-1][1] == len(clip) - 1  # a drift is worst at the end
    assert f"check.{ {'global_drift': 'drift', 'first_frame': 'first_frame', 'frozen': 'frozen_levels', 'black': 'black_levels', 'sharpness': 'sharpness_min'}[code]}" in reason.message


def test_grey_fade_of_35_percent_is_flagged_by_contrast_and_saturation(coffee):
    plate, clip, matrix = coffee
    qc = check_clip_qc(encoded(plant(clip, "fade", 0.35)), plate, matrix, CFG)
    message = next(r.message for r in qc.reasons if r.code == "global_drift")
    assert "contrast" in message and "saturation" in message
    assert qc.per_frame[-1]["contrast_ratio"] == pytest.approx(0.65, abs=0.03)


def test_end_plate_is_measured_against_the_last_frame(coffee):
    plate, clip, _ = coffee
    from keyframe.config import RenderConfig
    from keyframe.render import render

    result = render(plate, RenderConfig(frames=len(clip), camera={"move": "zoom"}))
    last_matrix = result.frame_transforms[-1]
    frames = encoded(clip)
    good = check_clip_qc(frames, plate, result.plate_to_frame0, CFG, end_plate=plate, end_to_last=last_matrix)
    assert "last_frame" not in codes(good) and good.summary["end_plate_ssim"] > 0.9
    other = photo("astronaut")
    wrong = check_clip_qc(frames, plate, result.plate_to_frame0, CFG, end_plate=other, end_to_last=last_matrix)
    assert codes(wrong) == ["last_frame"] and wrong.reasons[0].frames == [[len(clip) - 1, len(clip) - 1]]


def test_fidelity_pre_shrinks_a_large_plate():
    plate = photo("astronaut", width=2048)
    small = photo("astronaut", width=256)
    scale = 256 / 2048
    matrix = np.array([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5], [0, 0, 1]])
    found = frame_fidelity(plate, small, matrix)
    assert found.ssim > 0.9 and found.delta_e < 0.5 and found.coverage > 0.98


def test_check_reports_clip_qc_columns_and_reasons(cli, tmp_path):
    plate, mask = load_pair("coffee")
    from clips import known_clip

    clip = known_clip(plate, mask, 12)
    faded = plant(clip.frames, "fade", 0.35)
    result = check_clip(faded, plate, mask, CFG, fps=7.0, plate_to_frame0=clip.transforms[0])
    assert [r.code for r in result.reasons] == ["global_drift"]
    assert set(QC_FIELDS) <= set(result.per_frame[0].to_dict()) and result.summary["clip_qc"]["min_contrast_ratio"] < 0.7
    assert result.per_frame[0].plate_ssim > 0.9 and result.per_frame[-1].contrast_ratio < 0.7
    path = write_clip(tmp_path / "faded.mp4", faded, 7.0)
    run = cli("check", path, "--plate", plate_path("coffee"), "--mask", mask_path("coffee"), "--out", tmp_path / "r")
    assert run.code == 1, run.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["schema"] == "keyframe.report/1" and "global_drift" in [r["code"] for r in report["reasons"]]
    header = next(csv.reader(io.StringIO((tmp_path / "r" / "frames.csv").read_text())))
    assert "contrast_ratio" in header and "plate_ssim" in header
    run = cli("check", path, "--plate", plate_path("coffee"), "--mask", mask_path("coffee"), "--last",
              plate_path("chelsea"), "--json")
    assert "last_frame" in [r["code"] for r in json.loads(run.stdout)["reasons"]]
