"""Keyframe pairs through the per-plate chain: both plates cleaned and gated with their own masks,
the clip rendered towards the end plate, and its last frame measured against it."""

from __future__ import annotations

import json

import pytest

from keyframe.config import Config
from keyframe.errors import KeyframeError
from keyframe.nightly import ShotSpec
from keyframe.pipeline import END_CLEAN, Stages, process_plate, run_plate
from keyframe.render import render
from support import assert_one_line_error, load_pair, mask_path, plate_path

CFG = Config(render={"frames": 6}, check={"lpips": "off"})


def camera_towards_end(image, cfg, last=None):
    """A render stand-in for a first-last-frame model: the camera clip, with the end plate taken to
    be framed as the start plate's last frame (tiny random models make clips no check can align)."""
    clip = render(image, cfg.render, seed=cfg.seed)
    if last is not None:
        clip.last_to_frame = clip.frame_transforms[-1]
    return clip


STAGES = Stages(render=camera_towards_end)


def codes(result):
    return [reason.code for reason in result.check.reasons]


def test_end_plate_is_cleaned_and_gated_with_its_own_mask_and_checked():
    plate, mask = load_pair("coffee")
    same = run_plate(plate, mask, CFG, force=True, stages=STAGES, last=(plate, mask))
    assert same.end is not None and same.end.gate is not None
    assert (same.end.edit == same.edit).all()  # the same plate and mask give the same cleaned region
    assert "last_frame" not in codes(same) and same.check.summary["clip_qc"]["end_plate_ssim"] > 0.9
    other, other_mask = load_pair("rocket")
    pair = run_plate(plate, mask, CFG, force=True, stages=STAGES, last=(other, other_mask))
    assert (pair.end.edit != pair.edit).any()  # its own mask
    assert "last_frame" in codes(pair)
    assert pair.check.per_frame[-1].end_plate_ssim < 0.75


def test_pair_outputs_and_report(tmp_path):
    entry = process_plate(plate_path("coffee"), mask_path("coffee"), tmp_path, CFG, label="pair", force=True,
                          stages=STAGES, last=(plate_path("rocket"), mask_path("rocket")))
    assert (tmp_path / END_CLEAN).is_file() and (tmp_path / "gate_last").is_dir()
    report = json.loads((tmp_path / "report.json").read_text())
    assert "end_gate" in report and set(report["inputs"]) == {"plate", "mask", "last", "last_mask"}
    assert "last_frame" in [r["code"] for r in report["reasons"]] and entry.verdict == "flagged"
    side = json.loads((tmp_path / "clip.mp4.json").read_text())
    assert side["inputs"]["last"]["path"] == END_CLEAN and side["last_to_frame"] is not None


def test_end_plate_gate_failure_stops_the_pair(tmp_path):
    plate, mask = load_pair("coffee")
    strict = CFG.model_copy(update={"gate": CFG.gate.model_copy(update={"focal_sharpness_min": 1e6})})
    result = run_plate(plate, mask, strict, stages=STAGES, last=(plate, mask))
    assert result.stopped_at_gate and not result.end.gate.passed


def test_camera_backend_refuses_an_end_plate():
    plate, mask = load_pair("coffee")
    with pytest.raises(KeyframeError, match="takes no end plate"):
        run_plate(plate, mask, CFG, force=True, last=(plate, mask))


def test_manifest_end_plate_needs_its_mask():
    with pytest.raises(ValueError, match="last and last_mask go together"):
        ShotSpec(id="sh010", plate="p.png", mask="m.png", last="e.png")
    assert ShotSpec(id="sh010", plate="p.png", mask="m.png", last="e.png", last_mask="em.png").last == "e.png"


@pytest.mark.parametrize(("args", "message"), [
    (("--render", "diffusers", "--last", "END"), "--last and --last-mask go together"),
    (("--last", "END", "--last-mask", "END"), "--last needs --render diffusers"),
])
def test_prep_refuses_a_half_pair_or_a_backend_without_end_frames(cli, tmp_path, args, message):
    args = [str(plate_path("rocket")) if a == "END" else a for a in args]
    result = cli("prep", plate_path("coffee"), "-m", mask_path("coffee"), "-o", tmp_path / "out", *args)
    assert_one_line_error(result, contains=message)
    assert not (tmp_path / "out").exists()


def test_best_of_n_renders_and_checks_every_candidate_towards_the_end_plate(tmp_path):
    plate, mask = load_pair("coffee")
    other, other_mask = load_pair("rocket")
    cfg = CFG.model_copy(update={"render": CFG.render.model_copy(update={"candidates": 2})})
    same = run_plate(plate, mask, cfg, force=True, stages=STAGES, last=(plate, mask))
    pair = run_plate(plate, mask, cfg, force=True, stages=STAGES, last=(other, other_mask))
    for result, ends_on_it in ((same, True), (pair, False)):
        runs = result.candidates.runs
        assert len(runs) == 2 and all(run.clip.last_to_frame is not None for run in runs)
        assert all(("last_frame" not in [r.code for r in run.check.reasons]) == ends_on_it for run in runs)
        assert all((run.check.summary["clip_qc"]["end_plate_ssim"] > 0.9) == ends_on_it for run in runs)
    entry = process_plate(plate_path("coffee"), mask_path("coffee"), tmp_path, cfg, label="pair", force=True,
                          stages=STAGES, last=(plate_path("rocket"), mask_path("rocket")))
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["id"] for c in report["candidates"]] == ["c0", "c1"] and entry.selected in ("c0", "c1")
    assert "end_gate" in report and all("last_frame" in [r["code"] for r in c["reasons"]] for c in report["candidates"])
    for c in report["candidates"]:  # each candidate's clip names the end plate it was rendered towards
        side = json.loads((tmp_path / "candidates" / f"{c['id']}.mp4.json").read_text())
        assert side["inputs"]["last"]["path"].endswith(END_CLEAN) and side["last_to_frame"] is not None
