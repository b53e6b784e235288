"""prep --candidates N --upscale N through Prefect: the steadiest candidate is kept and the report says why;
a nightly shot's ``candidates`` field does the same."""

from __future__ import annotations

import json

import pytest
from flowkit import GATE_PASSING, SHORT_CLIP, fixture_pair, write_config, write_manifest

from keyframe.config import load_config
from keyframe.io import read_plate
from keyframe.pipeline import prep_plate

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_prep_keeps_the_steadiest_of_three_candidates_and_upscales(cli, tmp_path):
    plate, mask = fixture_pair("coffee_defect")
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP)
    out = tmp_path / "out"

    result = cli("prep", plate, "--mask", mask, "-o", out, "--config", config, "--candidates", "3", "--upscale", "2", "--json")

    report = json.loads((out / "report.json").read_text())
    assert result.code == (0 if report["verdict"] == "pass" else 1), result.stderr
    candidates = report["candidates"]
    assert [c["id"] for c in candidates] == ["c0", "c1", "c2"]
    assert [c["params"]["move"] for c in candidates] == ["zoom", "pan", "rotate"]
    assert all(isinstance(c["stability"], float) and c["verdict"] in ("pass", "flagged") for c in candidates)
    passing = [c for c in candidates if c["verdict"] == "pass"] or candidates
    steadiest = max(passing, key=lambda c: c["stability"])
    assert report["selected"] == steadiest["id"] and steadiest["id"] in report["selected_why"]
    assert json.loads(result.stdout)["selected"] == steadiest["id"]
    # the kept clip is the selected candidate's, and every candidate's clip is there to look at
    kept = json.loads((out / "clip.mp4.json").read_text())
    assert kept["params"]["camera"]["move"] == steadiest["params"]["move"]
    for c in candidates:
        side = json.loads((out / "candidates" / f"{c['id']}.mp4.json").read_text())
        assert side["params"]["camera"]["move"] == c["params"]["move"]
    html = (out / "report.html").read_text()
    assert all(f"report_files/candidate_{c['id']}.png" in html for c in candidates)
    assert "report_files/edit_crops.png" in html and "selected" in html

    # the upscaled master: twice the cleaned plate, with the edit's uniformity before and after
    assert read_plate(out / "upscaled.png").shape[:2] == tuple(2 * n for n in read_plate(out / "clean.png").shape[:2])
    upscale = report["upscale"]
    assert upscale["scale"] == 2 and upscale["output"] == "upscaled.png" and upscale["verdict"] == "pass"
    assert set(upscale["uniformity"]) == {"before", "after", "change", "worse", "worse_max"}

    # deterministic: the same chain without Prefect picks the same candidate with the same scores
    direct = prep_plate(plate, mask, tmp_path / "direct",
                        load_config(config, {"render": {"candidates": 3}, "upscale": {"in_prep": True, "scale": 2}}))
    again = json.loads((tmp_path / "direct" / "report.json").read_text())
    assert direct.selected == report["selected"]
    assert [c["stability"] for c in again["candidates"]] == [c["stability"] for c in candidates]


def test_a_nightly_shot_can_ask_for_candidates(cli, tmp_path):
    plate, mask = fixture_pair("coffee_defect")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "plate.png").write_bytes(plate.read_bytes())
    (folder / "mask.png").write_bytes(mask.read_bytes())
    manifest = write_manifest(folder, [{"id": "sh1", "plate": "plate.png", "mask": "mask.png", "candidates": 2}])
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP)

    result = cli("nightly", manifest, "-o", tmp_path / "night", "--config", config, "--json")

    summary = json.loads(result.stdout)
    assert summary["shots"][0]["status"] in ("pass", "flagged") and not summary["shots"][0]["stopped_at_gate"], summary
    report = json.loads((tmp_path / "night" / "shots" / "sh1" / "report.json").read_text())
    assert [c["id"] for c in report["candidates"]] == ["c0", "c1"] and report["selected"] in ("c0", "c1")


def test_mapped_candidate_tasks_carry_a_pairs_end_plate(tmp_path):
    """render_many / check_many hand the end plate to every candidate's render and check task."""
    from prefect import flow

    from keyframe_flows.tasks import stage_tasks
    from keyframe.candidates import plan_candidates
    from keyframe.config import Config
    from keyframe.errors import KeyframeError
    from keyframe.io import read_mask
    from keyframe.render import render

    plate = read_plate(fixture_pair("coffee")[0])
    edit = read_mask(fixture_pair("coffee")[1], plate.shape[:2])
    cfg = Config(render={"frames": 4}, check={"lpips": "off"})
    configs = [c.config(cfg) for c in plan_candidates(cfg.render, 2, cfg.seed)]
    clips = [render(plate, c.render, seed=c.seed) for c in configs]
    for clip in clips:  # framed like a first-last-frame model's clip that ends on the plate
        clip.last_to_frame = clip.frame_transforms[-1]

    @flow(name="candidates-pair", persist_result=False)
    def candidates(with_end: bool):
        last = plate if with_end else None
        stages = stage_tasks(tmp_path, cfg.nightly, "pair")
        checks = stages.check_many(clips, plate, edit, configs, last)
        try:
            stages.render_many(plate, configs, last)
        except KeyframeError as error:  # the camera backend is handed the end plate, and refuses it
            return checks, str(error)
        return checks, None

    checks, refused = candidates(True)
    assert [c.summary["clip_qc"]["end_plate_ssim"] > 0.9 for c in checks] == [True, True]
    assert refused is not None and "takes no end plate" in refused
    checks, refused = candidates(False)
    assert [c.summary["clip_qc"]["end_plate_ssim"] for c in checks] == [None, None] and refused is None
