"""keyframe prep and keyframe demo end to end, through Prefect (one temporary server per session)."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from flowkit import GATE_PASSING, SHORT_CLIP, crash, fixture_pair, write_config

from keyframe.config import Config
from keyframe.io import file_sha256, read_clip
from keyframe.io.results import result_is_intact

pytestmark = pytest.mark.usefixtures("prefect_api")


def _outputs(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and ".keyframe-cache" not in p.parts}


def test_prep_runs_every_stage_and_a_rerun_reuses_the_cache(cli, tmp_path, monkeypatch):
    plate, mask = fixture_pair("coffee_defect")
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP)
    out = tmp_path / "out"

    first = cli("prep", plate, "--mask", mask, "-o", out, "--config", config, "--json")

    entry = json.loads(first.stdout)
    report = json.loads((out / "report.json").read_text())
    assert first.code == (0 if report["verdict"] == "pass" else 1), first.stderr
    assert entry["verdict"] == report["verdict"] and not entry["stopped_at_gate"]
    assert report["schema"] == "keyframe.report/1" and report["gate"]["pass"] is True
    assert len(report["frames"]) == 8 and read_clip(out / "clip.mp4").frames.shape[0] == 8
    assert {"clean.png", "clean.mask.png", "clean.png.json", "clip.mp4", "clip.mp4.json", "report.json",
            "report.html", "frames.csv", "overlay.mp4", "drift.png", "flags.otio",
            "report_files/contact_sheet.png"} <= _outputs(out)
    assert any((out / ".keyframe-cache").iterdir()), "stage results are persisted in the output folder"
    timeline = otio.adapters.read_from_file(str(out / "flags.otio"))
    assert [clip.name for clip in timeline.find_clips()] == ["coffee_defect"]
    assert Path(entry["html"]) == (out / "report.html").resolve()

    # Same inputs and config: every stage comes from the cache; a recomputation would raise.
    import flows.tasks

    def recomputed(*args, **kwargs):
        raise AssertionError("a cached stage was recomputed")

    for name in ("inpaint", "run_gate", "render", "check_clip"):
        monkeypatch.setattr(flows.tasks, name, recomputed)
    clip_hash = file_sha256(out / "clip.mp4")
    second = cli("prep", plate, "--mask", mask, "-o", out, "--config", config)
    assert second.code == first.code, second.stderr
    assert file_sha256(out / "clip.mp4") == clip_hash
    assert "report:" in second.stderr


def test_a_failing_gate_stops_prep_before_the_render_unless_forced(cli, tmp_path):
    plate, mask = fixture_pair("coffee_defect")
    strict = write_config(tmp_path / "strict.yaml", GATE_PASSING, SHORT_CLIP, {"gate": {"relative_sharpness_min": 50.0}})

    stopped = cli("prep", plate, "--mask", mask, "-o", tmp_path / "stopped", "--config", strict)

    assert stopped.code == 1
    assert "gate stopped the plate before the render" in stopped.stderr
    report = json.loads((tmp_path / "stopped" / "report.json").read_text())
    assert report["verdict"] == "flagged" and report["gate"]["pass"] is False
    assert "edge" in {reason["code"] for reason in report["reasons"]}
    assert not (tmp_path / "stopped" / "clip.mp4").exists()
    assert (tmp_path / "stopped" / "report.html").is_file()

    forced = cli("prep", plate, "--mask", mask, "-o", tmp_path / "forced", "--config", strict, "--force")

    assert forced.code == 1
    report = json.loads((tmp_path / "forced" / "report.json").read_text())
    assert report["verdict"] == "flagged" and len(report["frames"]) == 8
    assert "edge" in {reason["code"] for reason in report["reasons"]}
    assert (tmp_path / "forced" / "clip.mp4").is_file()


def test_prep_refuses_bad_input_before_writing_anything(cli, tmp_path):
    plate, _ = fixture_pair("coffee_defect")
    _, other_mask = fixture_pair("brick")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    out = tmp_path / "out"

    result = cli("prep", bad, "--mask", other_mask, "-o", out)
    assert result.code == 2 and "not a readable image" in result.stderr
    result = cli("prep", plate, "--mask", other_mask, "-o", out, "--model", "weights/")
    assert result.code == 2 and "--render svd" in result.stderr
    assert not out.exists()


def test_a_full_disk_during_prep_is_one_line_and_leaves_no_partial_cache_entry(cli, full_dir):
    from support import assert_one_line_error

    plate, mask = fixture_pair("coffee_defect")
    result = cli("prep", plate, "--mask", mask, "-o", full_dir / "out")  # 64 KiB: the first stage result does not fit

    assert_one_line_error(result, 2, "space")  # no Prefect traceback for the user's full disk
    assert [p for p in full_dir.rglob("*") if p.is_file()] == []


def test_demo_runs_the_bundled_fixture_and_says_where_the_report_is(cli, tmp_path):
    out = tmp_path / "demo"

    result = cli("demo", "-o", out)

    report = json.loads((out / "report.json").read_text())
    assert result.code == (0 if report["verdict"] == "pass" else 1), result.stderr
    assert f"report: {(out / 'report.html').resolve()}" in result.stderr
    assert report["params"]["config"] == Config().model_dump(mode="json")  # the embedded defaults
    assert report["params"]["config"]["render"]["backend"] == "camera"
    assert report["gate"]["pass"], "the demo plate passes the gate with the default classical inpaint"
    assert len(report["frames"]) == read_clip(out / "clip.mp4").frames.shape[0]
    assert (out / "report_files" / "contact_sheet.png").is_file()


def test_only_transient_errors_are_retried(cli, tmp_path, monkeypatch):
    import flows.tasks

    from keyframe.errors import KeyframeError

    plate, mask = fixture_pair("coffee_defect")
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP, {"nightly": {"retry_delay_s": 0}})
    real_gate, calls = flows.tasks.run_gate, []

    def flaky(*args, **kwargs):
        calls.append("flaky")
        if len(calls) == 1:
            raise OSError(5, "Input/output error on the render share")
        return real_gate(*args, **kwargs)

    monkeypatch.setattr(flows.tasks, "run_gate", flaky)
    result = cli("prep", plate, "--mask", mask, "-o", tmp_path / "flaky", "--config", config)
    assert result.code in (0, 1) and calls == ["flaky", "flaky"], result.stderr

    def refused(*args, **kwargs):
        calls.append("refused")
        raise KeyframeError("gate weights are missing")

    calls.clear()
    monkeypatch.setattr(flows.tasks, "run_gate", refused)
    result = cli("prep", plate, "--mask", mask, "-o", tmp_path / "refused", "--config", config)
    assert result.code == 2 and calls == ["refused"]
    assert result.stderr.strip().splitlines()[-1] == "error: gate weights are missing"


def test_stage_results_are_persisted_without_pickle():
    import numpy as np
    from flows.tasks import ResultSerializer

    from keyframe.verdict import Reason

    serializer = ResultSerializer()
    value = {"frames": np.arange(6, dtype=np.uint16).reshape(2, 3), "reasons": [Reason("float", "m", [[1, 2]])],
             "pair": (1, None), 3: "int key"}
    back = serializer.loads(serializer.dumps(value))
    assert back["reasons"] == value["reasons"] and back["pair"] == (1, None) and back[3] == "int key"
    assert back["frames"].dtype == np.uint16 and np.array_equal(back["frames"], value["frames"])
    empty = serializer.loads(serializer.dumps({"none": np.zeros((0, 4), np.float32), "flag": np.bool_(True)}))
    assert empty["none"].shape == (0, 4) and empty["flag"] is True
    blob = serializer.dumps(value)
    header = blob.split(b"\n")[1]
    tampered = blob.replace(header, json.dumps({"result": {"__dataclass__": "subprocess:Popen", "fields": {"args": "true"}},
                                                "sizes": []}).encode())
    with pytest.raises(ValueError, match="not a keyframe result type"):
        serializer.loads(tampered)
    with pytest.raises(ValueError, match="truncated"):
        serializer.loads(blob[:-4])
    with pytest.raises(ValueError, match="not a keyframe stage result"):
        serializer.loads(b"\x80\x04pickle")
    with pytest.raises(TypeError, match="Python objects"):
        serializer.dumps(np.array([object()]))


def test_a_prep_failing_part_way_leaves_the_folder_as_it_was(cli, tmp_path, monkeypatch):
    import flows.tasks

    plate, mask = fixture_pair("coffee_defect")
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    monkeypatch.setattr(flows.tasks, "check_clip", crash("the check crashed"))
    result = cli("prep", plate, "--mask", mask, "-o", out, "--config", config)

    assert result.code == 3 and "the check crashed" in result.stderr
    assert _outputs(out) == {"notes.txt"}  # no cleaned plate, clip or heatmaps without a report


def test_a_prep_failing_before_any_stage_leaves_no_new_folder(cli, tmp_path, monkeypatch):
    import flows.tasks

    monkeypatch.setattr(flows.tasks, "inpaint", crash("the inpaint crashed"))
    plate, mask = fixture_pair("coffee_defect")
    out = tmp_path / "new"
    result = cli("prep", plate, "--mask", mask, "-o", out)

    assert result.code == 3 and "the inpaint crashed" in result.stderr
    assert not out.exists()


def test_a_damaged_stage_cache_entry_is_recomputed_not_fatal(cli, tmp_path, monkeypatch):
    import flows.tasks

    plate, mask = fixture_pair("coffee_defect")
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP)
    out = tmp_path / "out"
    first = cli("prep", plate, "--mask", mask, "-o", out, "--config", config)
    results = out / ".keyframe-cache" / "results"
    (render_result,) = results.glob("render-*")
    render_result.write_bytes(render_result.read_bytes()[:5000])  # cut short, as by a full disk
    (check_result,) = results.glob("check-*")
    check_result.unlink()  # removed by hand
    assert result_is_intact(next(results.glob("gate-*")))

    ran = []

    def counted(name):
        real = getattr(flows.tasks, name)

        def run(*args, **kwargs):
            ran.append(name)
            return real(*args, **kwargs)

        return run

    for name in ("render", "check_clip"):
        monkeypatch.setattr(flows.tasks, name, counted(name))
    second = cli("prep", plate, "--mask", mask, "-o", out, "--config", config)

    assert second.code == first.code, second.stderr
    assert ran == ["render", "check_clip"] and "damaged or missing its result" in second.stderr, second.stderr
    assert result_is_intact(next(results.glob("render-*")))
