"""keyframe compare: two revisions rendered and checked alike; the planted defect is named less stable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flowkit import SHORT_CLIP, crash, fixture_pair, write_config

from keyframe.io import read_clip, read_mask, read_plate, write_image

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_compare_names_the_planted_defect_less_stable(cli, tmp_path):
    plate_path, mask_path = fixture_pair("coffee")
    plate = read_plate(plate_path)
    mask = read_mask(mask_path, plate.shape[:2])
    # The planted defect: a one-pixel checkerboard inside the edit, which aliases (shimmers)
    # under any camera move, as a bad fill of fine texture does.
    defect = plate.copy()
    ys, xs = np.nonzero(mask)
    defect[ys, xs] = np.where(((ys + xs) % 2 == 0)[:, None], 255, 0).astype(np.uint8)
    revision_b = write_image(tmp_path / "revision_b.png", defect)
    config = write_config(tmp_path / "cfg.yaml", SHORT_CLIP)
    out = tmp_path / "cmp"

    result = cli("compare", plate_path, revision_b, "--mask", mask_path, "-o", out, "--config", config)

    compared = json.loads((out / "compare.json").read_text())
    assert compared["more_stable"] == "a", compared["why"]
    assert "more stable: revision A" in result.stderr
    assert result.code == (1 if any(r["verdict"] != "pass" for r in compared["revisions"].values()) else 0)
    assert compared["revisions"]["b"]["verdict"] == "flagged"
    assert compared["instability"]["b"]["flagged_frames"] > compared["instability"]["a"]["flagged_frames"]
    assert compared["metrics"]["max_flicker_excess"]["delta"] > 0
    assert len(compared["frames"]) == 8 and "flicker_excess" in compared["frames"][1]
    for name in ("a", "b"):
        report = json.loads((out / name / "report.json").read_text())
        assert report["params"]["config"]["seed"] == compared["seed"]
        assert (out / name / "report.html").is_file()
    side = read_clip(out / "side_by_side.mp4")
    assert side.frames.shape[0] == 8 and side.frames.shape[2] == 2 * plate.shape[1] + 8
    assert (out / "compare.png").stat().st_size > 10_000


def test_a_prep_folder_is_a_revision(tmp_path):
    from keyframe.compare import revision_inputs

    from keyframe.errors import KeyframeError

    (tmp_path / "clean.png").write_bytes(b"")
    assert revision_inputs(tmp_path, None) == (tmp_path / "clean.png", tmp_path / "clean.mask.png")
    with pytest.raises(KeyframeError, match="--mask"):
        revision_inputs(tmp_path / "clean.png", None)
    with pytest.raises(KeyframeError, match="not a prep output"):
        revision_inputs(tmp_path / "..", None)


def test_a_compare_failing_part_way_leaves_no_outputs(cli, tmp_path, monkeypatch):
    import keyframe.compare

    monkeypatch.setattr(keyframe.compare, "compare_plot", crash("the plot crashed"))
    plate_path, mask_path = fixture_pair("coffee")
    out = tmp_path / "cmp"
    result = cli("compare", plate_path, plate_path, "--mask", mask_path, "-o", out,
                 "--config", write_config(tmp_path / "cfg.yaml", SHORT_CLIP))

    assert result.code == 3 and "the plot crashed" in result.stderr
    outputs = [p for p in out.rglob("*") if p.is_file() and ".keyframe-cache" not in p.parts]
    assert outputs == [], "both revisions had rendered, yet none of their files may be left without compare.json"
    assert any((out / ".keyframe-cache").rglob("*")), "the renders stay cached for the rerun"
