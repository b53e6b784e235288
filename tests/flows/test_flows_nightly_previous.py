"""keyframe nightly with each shot's previous revision: is the new revision steadier than the last one?"""

from __future__ import annotations

import json
import shutil

import pytest
from clips import known_clip
from flowkit import GATE_PASSING, SHORT_CLIP, fixture_pair, write_manifest
from support import load_pair

from keyframe.config import InpaintConfig, merge
from keyframe.inpaint import inpaint
from keyframe.io import write_clip, write_image

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_summary_says_whether_the_new_revision_is_steadier_than_the_previous(cli, tmp_path):
    folder = tmp_path / "in"
    (folder / "last").mkdir(parents=True)
    plate_path, mask_path = fixture_pair("coffee")
    shutil.copy(plate_path, folder / "coffee.png")
    shutil.copy(mask_path, folder / "coffee.mask.png")
    plate, mask = load_pair("coffee")
    # last night's revision, rendered elsewhere: another fill, whose region floats in its clip
    last = inpaint(plate, mask, InpaintConfig(backend="telea")).image
    write_image(folder / "last" / "coffee.png", last)
    write_clip(folder / "last" / "coffee.mp4", known_clip(last, mask, n=8, defect="fixed").frames, 7.0)
    fast = merge(GATE_PASSING, SHORT_CLIP)
    previous = {"plate": "last/coffee.png", "clip": "last/coffee.mp4"}
    manifest = write_manifest(folder, [
        {"id": "sh010", "plate": "coffee.png", "mask": "coffee.mask.png", "config": fast, "previous": previous},
        {"id": "sh020", "plate": "coffee.png", "mask": "coffee.mask.png", "config": fast,
         "previous": {**previous, "plate": "coffee.png"}},  # the clip is not of this plate (another fill)
        {"id": "sh030", "plate": "coffee.png", "mask": "coffee.mask.png", "config": fast},
    ])
    out = tmp_path / "out"

    result = cli("nightly", manifest, "-o", out)

    summary = json.loads((out / "summary.json").read_text())
    rows = {row["id"]: row for row in summary["shots"]}
    assert result.code == 1, result.stderr  # sh020 failed
    new = rows["sh010"]
    assert new["status"] == "pass", new["reasons"]
    assert new["previous"]["steadier"] is True and new["previous"]["more_stable"] == "new"
    assert new["previous"]["verdict"] == "flagged" and "float" in [r["code"] for r in new["previous"]["reasons"]]
    assert "fewer flagged frames" in new["previous"]["why"]
    assert new["previous"]["report"] == "shots/sh010/previous/report.html"
    assert (out / new["previous"]["report"]).is_file()
    compared = json.loads((out / "shots" / "sh010" / "compare.json").read_text())
    assert compared["more_stable"] == "b" and compared["b"] == "new revision"
    assert rows["sh020"]["status"] == "failed"
    assert rows["sh020"]["error"].startswith("previous revision: clip does not match its plate")
    assert not (out / "shots" / "sh020" / "clip.mp4").exists()  # refused before the render
    assert rows["sh030"]["previous"] is None
    index = (out / "index.html").read_text()
    assert "<th>vs previous</th>" in index and ">steadier</span>" in index
    assert 'href="shots/sh010/previous/report.html"' in index

    again = cli("nightly", manifest, "-o", out)  # unchanged inputs, previous revision included: nothing redone
    row = json.loads((out / "summary.json").read_text())["shots"][0]
    assert row["reused"] is True, again.stderr
    assert row["previous"] == new["previous"]  # a reused shot still says how it compares
