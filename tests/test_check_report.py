"""report.json (keyframe.report/1), gate reasons, per-frame CSV, overlay video, drift plot."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from clips import known_clip
from support import load_pair, mask_path, plate_path

from keyframe.config import CheckConfig
from keyframe.io import read_clip
from keyframe.masks import contour, grow
from keyframe.report import SCHEMA, build_report, overlay_frames, write_check_outputs
from keyframe.report.outputs import FLAG_RGB, PASS_RGB
from keyframe.track import check_clip

FIELDS = {"schema", "verdict", "reasons", "gate", "frames", "summary", "metrics", "inputs", "params", "versions", "created"}


class FakeGate:
    """Stands in for keyframe.gate's GateResult: only .to_dict() is used."""

    def __init__(self, passed_seam: bool | None):
        self.criteria = {"edge": {"pass": True, "reason": "edges continue"},
                         "seam": {"pass": passed_seam, "reason": "colour step 7.2 > 5", "score": 7.2},
                         "anatomy": {"pass": None, "reason": "not checked: no detector"}}

    def to_dict(self):
        return {"pass": self.criteria["seam"]["pass"] is not False, "criteria": self.criteria}


@pytest.fixture(scope="module")
def floating():
    plate, mask = load_pair("coffee")
    clip = known_clip(plate, mask, n=8, defect="fixed")
    result = check_clip(clip.frames, plate, mask, CheckConfig(lpips="off"), fps=7.0, plate_to_frame0=clip.transforms[0])
    return clip, result


def test_report_has_the_contract_fields(floating):
    _, result = floating
    report = build_report(check=result, inputs={"plate": plate_path("coffee"), "mask": mask_path("coffee"), "clip": None},
                          params={"check": CheckConfig().model_dump()})
    assert set(report) == FIELDS and report["schema"] == SCHEMA == "keyframe.report/1"
    assert report["verdict"] == "flagged" and report["reasons"][0]["code"] == "float"
    assert report["inputs"]["plate"]["sha256"] and report["inputs"]["clip"] is None
    assert len(report["frames"]) == 8 and report["frames"][0]["frame"] == 0
    assert report["versions"]["numpy"] and report["created"].endswith("+00:00")
    json.dumps(report, allow_nan=False)  # no NaN or inf anywhere


def test_uncomputable_metrics_are_null_with_a_why(floating):
    _, result = floating
    assert result.metric_status["lpips"] == {"available": False, "why": "turned off (check.lpips: off)"}
    first = result.per_frame[0]
    assert first["float_px"] is None and first["warp_region"] is None and "first frame" in first["note"]
    assert all(row["lpips_region"] is None for row in result.per_frame)


def test_gate_failures_become_reasons(floating):
    _, result = floating
    report = build_report(check=result, gate=FakeGate(passed_seam=False), inputs={}, params={})
    codes = [r["code"] for r in report["reasons"]]
    assert codes[0] == "seam" and "float" in codes and "anatomy" not in codes
    assert report["gate"]["criteria"]["seam"]["score"] == 7.2
    gate_only = build_report(gate=FakeGate(passed_seam=True), inputs={}, params={})
    assert gate_only["verdict"] == "pass" and gate_only["frames"] == [] and gate_only["reasons"] == []
    with pytest.raises(ValueError):
        build_report(inputs={}, params={})


def test_check_outputs_are_written(tmp_path, floating):
    clip, result = floating
    report = build_report(check=result, inputs={}, params={})
    written = write_check_outputs(tmp_path / "out", report, result, clip.frames, 7.0)
    assert {p.name for p in written.values()} == {"report.json", "frames.csv", "overlay.mp4", "drift.png"}
    assert json.loads(written["report"].read_text())["schema"] == "keyframe.report/1"
    rows = list(csv.DictReader(io.StringIO(written["csv"].read_text())))
    assert len(rows) == 8 and rows[0]["float_px"] == "" and float(rows[3]["slip_px"]) > 0
    assert written["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_clip(written["overlay"]).frames.shape == clip.frames.shape
    flags = np.zeros(len(clip.frames), bool)
    flags[3:] = True
    drawn = overlay_frames(clip.frames, result.tracked_masks, flags)
    edge0, edge5 = contour(result.tracked_masks[0]), contour(result.tracked_masks[5])
    assert (drawn[0][edge0] == PASS_RGB).all() and (drawn[5][edge5] == FLAG_RGB).all()
    assert np.array_equal(drawn[0][~grow(edge0, 2)], clip.frames[0][~grow(edge0, 2)])  # nothing else touched
    assert not list((tmp_path / "out").glob(".*part*"))  # atomic writes left no temporaries


def test_a_metric_null_in_every_frame_is_reported_unavailable():
    plate, mask = load_pair("astronaut")
    clip = known_clip(plate, mask, n=4)
    whole = np.ones_like(mask)  # no background left for a ring
    result = check_clip(clip.frames, plate, whole, CheckConfig(lpips="off"), fps=7.0, plate_to_frame0=clip.transforms[0])
    assert result.metric_status["float"]["available"] is False
    assert "ring" in result.metric_status["float"]["why"]
    assert all(row["float_px"] is None for row in result.per_frame)
