"""``keyframe check``: exit codes, outputs, --json, the render sidecar, and one-line input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clips import known_clip
from support import assert_one_line_error, load_pair, mask_path, plate_path

from keyframe.io import write_clip, write_json_atomic


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    plate, mask = load_pair("astronaut")
    clean = known_clip(plate, mask, n=8)
    write_clip(folder / "clean.mp4", clean.frames, 7.0)
    write_json_atomic(folder / "clean.mp4.json", {"plate_to_frame0": clean.transforms[0].tolist()})
    write_clip(folder / "fixed.mp4", known_clip(plate, mask, n=8, defect="fixed").frames, 7.0)
    write_clip(folder / "one.mp4", clean.frames[:1], 7.0)
    return folder


def _args(clip, name="astronaut"):
    return ["check", clip, "--plate", plate_path(name), "--mask", mask_path(name)]


def test_clean_clip_passes_and_writes_outputs(cli, clips, tmp_path):
    result = cli(*_args(clips / "clean.mp4"), "-o", tmp_path / "out")
    assert result.code == 0, result.stderr
    assert "verdict: pass" in result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["drift.png", "frames.csv", "overlay.mp4", "report.json"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["alignment"]["source"] == "sidecar"
    assert report["inputs"]["sidecar"]["path"].endswith("clean.mp4.json")


def test_flagged_clip_exits_1_and_json_goes_to_stdout(cli, clips):
    result = cli(*_args(clips / "fixed.mp4"), "--json")
    assert result.code == 1
    report = json.loads(result.stdout)
    assert report["schema"] == "keyframe.report/1" and report["verdict"] == "flagged"
    assert [r["code"] for r in report["reasons"]] == ["float"]
    assert report["summary"]["alignment"]["source"] == "features"  # no sidecar: estimated
    assert report["metrics"]["lpips"]["why"]


def test_config_file_overrides_thresholds(cli, clips, tmp_path):
    (tmp_path / "loose.yaml").write_text("check:\n  float_px: 50\n  slip_size: 500\n  slip_scene_px: 500\n")
    assert cli(*_args(clips / "fixed.mp4"), "--config", tmp_path / "loose.yaml").code == 0


@pytest.mark.parametrize(
    "case, contains",
    [
        ("missing clip", "clip not found"),
        ("other plate", "does not match its plate"),
        ("bad sidecar", "sidecar is not valid JSON"),
        ("mask size", "mask is"),
        ("one frame", "at least 2"),
        ("out is a file", "output directory is a file"),
        ("bad config", "unknown key"),
    ],
)
def test_bad_inputs_are_one_line_exit_2_and_write_nothing(cli, clips, tmp_path, case, contains):
    out = tmp_path / "out"
    args = _args(clips / "clean.mp4")
    if case == "missing clip":
        args = _args(tmp_path / "nope.mp4")
    elif case == "other plate":
        args = _args(clips / "fixed.mp4", "brick")
    elif case == "bad sidecar":
        (tmp_path / "c.mp4").write_bytes((clips / "clean.mp4").read_bytes())
        (tmp_path / "c.mp4.json").write_text("{not json")
        args = _args(tmp_path / "c.mp4")
    elif case == "mask size":
        args = ["check", clips / "clean.mp4", "--plate", plate_path("astronaut"), "--mask", tmp_path / "m.png"]
        import cv2

        cv2.imwrite(str(tmp_path / "m.png"), np.full((20, 20), 255, np.uint8))
    elif case == "one frame":
        args = _args(clips / "one.mp4")
    elif case == "out is a file":
        out.write_text("x")
    elif case == "bad config":
        (tmp_path / "bad.yaml").write_text("check:\n  no_such_key: 1\n")
        args += ["--config", tmp_path / "bad.yaml"]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli(*args, "-o", out)
    assert_one_line_error(result, 2, contains)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, -o not created


def test_input_error_after_the_progress_bar_starts_is_exactly_one_stderr_line(cli, clips):
    # A clip of another plate is refused only once checking has begun: the progress bar must
    # leave nothing behind on a non-terminal stderr (it used to add an empty line).
    result = cli(*_args(clips / "fixed.mp4", "brick"))
    assert result.code == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()], repr(result.stderr)
    assert result.stderr.startswith("error: clip does not match its plate")
