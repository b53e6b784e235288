"""keyframe nightly: bad shots, resume after SIGKILL, Dask, artifacts, scheduled deployments."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import opentimelineio as otio
import pytest
from flowkit import GATE_PASSING, SHORT_CLIP, fixture_pair, write_manifest

from keyframe.config import merge

pytestmark = pytest.mark.usefixtures("prefect_api")
FAST = merge(GATE_PASSING, SHORT_CLIP)


def _shots_folder(tmp_path: Path, names: list[str]) -> Path:
    """Copy fixture plates and masks into one folder (a manifest's paths stay inside it)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in set(names):
        plate, mask = fixture_pair(name)
        shutil.copy(plate, folder / f"{name}.png")
        shutil.copy(mask, folder / f"{name}.mask.png")
    return folder


def _shot(shot_id: str, name: str, **extra) -> dict:
    return {"id": shot_id, "plate": f"{name}.png", "mask": f"{name}.mask.png", "config": FAST, **extra}


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_one_bad_shot_never_stops_the_others(cli, tmp_path, prefect_api):
    folder = _shots_folder(tmp_path, ["coffee_defect", "brick"])
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (tmp_path / "secret.png").write_bytes((folder / "brick.png").read_bytes())
    (folder / "link.png").symlink_to(tmp_path / "secret.png")
    (folder / "infinite.json").write_text('{"shapes": [{"type": "box", "xywh": [1e999, 0, 10, 10]}]}')
    manifest = write_manifest(folder, [
        _shot("sh010", "coffee_defect", prompt="<script>alert(1)</script>"),
        {"id": "sh020", "plate": "corrupt.png", "mask": "brick.mask.png"},
        {"id": "sh030", "plate": "../secret.png", "mask": "brick.mask.png"},
        {"id": "sh040", "plate": "link.png", "mask": "brick.mask.png"},
        _shot("sh050", "brick"),
        {"id": "sh060", "plate": "brick.png", "mask": "infinite.json"},
    ])
    out = tmp_path / "out"

    result = cli("nightly", manifest, "-o", out)

    assert result.code == 1, result.stderr
    summary = _summary(out)
    status = {row["id"]: row["status"] for row in summary["shots"]}
    assert status["sh020"] == status["sh030"] == status["sh040"] == status["sh060"] == "failed"
    assert status["sh010"] in ("pass", "flagged") and status["sh050"] in ("pass", "flagged")
    errors = {row["id"]: row["error"] for row in summary["shots"]}
    assert "not a readable image" in errors["sh020"]
    assert "escapes the manifest's folder" in errors["sh030"] and "escapes" in errors["sh040"]
    assert "not finite" in errors["sh060"]
    assert summary["counts"]["failed"] == 4 and summary["exit_code"] == 1
    for shot_id in ("sh010", "sh050"):
        assert (out / "shots" / shot_id / "clip.mp4").is_file()
        assert (out / "shots" / shot_id / "report.html").is_file()
    assert not (out / "shots" / "sh030" / "clean.png").exists()  # nothing was made from an escaping path

    index = (out / "index.html").read_text()
    assert all(f"sh0{i}0" in index for i in range(1, 7))
    report_html = (out / "shots" / "sh010" / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_html and "<script>alert" not in report_html
    timeline = otio.adapters.read_from_file(str(out / "flags.otio"))
    assert [clip.name for clip in timeline.find_clips()] == [f"sh0{i}0" for i in range(1, 7)]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        table = client.read_latest_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["keyframe-nightly-shots"])))
        markdown = client.read_latest_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["keyframe-nightly-summary"])))
    assert table and table[0].type == "table" and "sh020" in json.dumps(table[0].data)
    assert markdown and markdown[0].type == "markdown" and "4 failed" in markdown[0].data


def _staging_started(shots, ids):
    return shots.is_dir() and any(".partial-" in p.name for p in shots.iterdir())


def _one_shot_done(shots, ids):
    return any((shots / shot_id / "shot.json").exists() for shot_id in ids)


def _all_shots_done(shots, ids):
    return all((shots / shot_id / "shot.json").exists() for shot_id in ids)


KILL_POINTS = {  # when to SIGKILL the run -> how many shots may have finished by then
    "inside the first shot": (_staging_started, range(0, 4)),
    "between shots": (_one_shot_done, range(1, 4)),
    "after the last shot, before the summary": (_all_shots_done, range(4, 5)),
}


def test_a_second_run_on_the_same_folder_is_refused_in_one_line(cli, tmp_path):
    from support import assert_one_line_error

    folder = _shots_folder(tmp_path, ["brick"])
    manifest = write_manifest(folder, [_shot("sh010", "brick")])
    out = tmp_path / "out"
    out.mkdir()
    hold = "import fcntl, sys, time; h = open(sys.argv[1], 'a+'); fcntl.flock(h, fcntl.LOCK_EX); print(1, flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out / ".nightly.lock")], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()  # the other run holds the folder
        result = cli("nightly", manifest, "-o", out)
    finally:
        holder.kill()
        holder.wait()
    assert_one_line_error(result, 2, "another nightly run")  # refused before Prefect starts: no traceback
    assert not (out / "summary.json").exists() and not (out / "shots").exists()


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_killed_run_resumes_without_redoing_or_losing_shots(cli, tmp_path, prefect_env, kill_point):
    names = ["coffee_defect", "brick", "astronaut", "coffee"]  # all pass the gate with biharmonic fills
    folder = _shots_folder(tmp_path, names)
    ids = [f"sh{i}" for i in range(1, 5)]
    manifest = write_manifest(folder, [_shot(shot_id, name) for shot_id, name in zip(ids, names)])
    out = tmp_path / "out"
    shots = out / "shots"

    proc = subprocess.Popen(
        [sys.executable, "-m", "keyframe", "nightly", str(manifest), "-o", str(out), "--concurrency", "1"],
        env={**os.environ, **prefect_env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    ready, allowed = KILL_POINTS[kill_point]
    try:
        deadline = time.monotonic() + 240
        while not ready(shots, ids):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no shot finished in time"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {shot_id: (shots / shot_id / "shot.json").read_bytes() for shot_id in ids
                if (shots / shot_id / "shot.json").exists()}
    assert len(finished) in allowed, f"killed {kill_point} with {len(finished)} shots finished"

    result = cli("nightly", manifest, "-o", out)

    summary = _summary(out)
    assert [row["id"] for row in summary["shots"]] == ids  # each shot once, in manifest order
    assert all(row["status"] in ("pass", "flagged") for row in summary["shots"]), [(r["id"], r["error"]) for r in summary["shots"]]
    assert result.code == summary["exit_code"]
    for row in summary["shots"]:
        assert row["reused"] == (row["id"] in finished)
        assert (out / row["clip"]).is_file()
    for shot_id, record in finished.items():
        assert (shots / shot_id / "shot.json").read_bytes() == record  # not redone
    assert sorted(p.name for p in shots.iterdir()) == ids  # no staging folders left behind


def test_nightly_on_a_local_dask_cluster(cli, tmp_path):
    folder = _shots_folder(tmp_path, ["coffee_defect", "brick"])
    manifest = write_manifest(folder, [_shot("a", "coffee_defect"), _shot("b", "brick")])
    out = tmp_path / "out"

    result = cli("nightly", manifest, "-o", out, "--runner", "dask", "--concurrency", "2")

    summary = _summary(out)
    assert result.code == summary["exit_code"], result.stderr
    assert [row["status"] in ("pass", "flagged") for row in summary["shots"]] == [True, True]
    assert all((out / "shots" / shot_id / "clip.mp4").is_file() for shot_id in ("a", "b"))


def test_serve_registers_a_scheduled_deployment_on_a_work_pool(cli, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    folder = _shots_folder(tmp_path, ["coffee_defect"])
    manifest = write_manifest(folder, [_shot("a", "coffee_defect")])
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="keyframe-test", type="process"))

    result = cli("nightly", "serve", manifest, "-o", tmp_path / "out", "--pool", "keyframe-test", "--cron", "0 3 * * *")

    assert result.code == 0, result.stderr
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("keyframe-nightly/nightly")
    assert deployment.work_pool_name == "keyframe-test"
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    assert deployment.parameters["manifest"] == str(manifest.resolve())
    assert deployment.entrypoint == "flows/nightly.py:nightly_flow"


def test_serve_needs_a_prefect_server(cli_process, tmp_path):
    folder = _shots_folder(tmp_path, ["coffee_defect"])
    manifest = write_manifest(folder, [_shot("a", "coffee_defect")])

    result = cli_process("nightly", "serve", manifest, "-o", tmp_path / "out", env={"PREFECT_API_URL": ""})

    assert result.code == 2
    assert "prefect server start" in result.stderr.splitlines()[-1]
