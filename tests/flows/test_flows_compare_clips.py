"""keyframe compare on clips rendered elsewhere: each checked against its own plate, the steadier named.

The shot: two revisions of the coffee plate (its edit filled by biharmonic and by Telea
inpainting), each "rendered elsewhere" as an H.264 clip along a known camera path
(``tests/clips.py``); the second revision's clip has a planted floating region (the edit stays
put while the camera moves), as a bad image-to-video render of a pasted fill does.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from clips import known_clip
from flowkit import fixture_pair
from support import assert_one_line_error, load_pair

from keyframe.config import InpaintConfig
from keyframe.inpaint import inpaint
from keyframe.io import read_clip, read_plate, write_clip, write_image, write_mask

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """Plates, mask and clips of two revisions: ``steady`` (biharmonic fill) and ``floating`` (Telea fill, floats)."""
    folder = tmp_path_factory.mktemp("shot")
    plate, mask = load_pair("coffee")
    paths = {"mask": fixture_pair("coffee")[1]}
    for name, backend, defect in (("steady", "biharmonic", None), ("floating", "telea", "fixed")):
        revision = inpaint(plate, mask, InpaintConfig(backend=backend)).image
        paths[f"{name}_plate"] = write_image(folder / f"{name}.png", revision)
        frames = known_clip(revision, mask, n=10, defect=defect).frames
        paths[f"{name}_clip"] = write_clip(folder / f"{name}.mp4", frames, 7.0)
    # the floating revision again, as another tool delivers it: 1.25x larger, 14 fps, 12 frames
    frames = read_clip(paths["floating_clip"]).frames
    height, width = frames.shape[1:3]
    bigger = np.stack([cv2.resize(f, (width * 5 // 4 // 2 * 2, height * 5 // 4 // 2 * 2), interpolation=cv2.INTER_CUBIC)
                       for f in frames])
    paths["floating_other_clip"] = write_clip(folder / "floating_14fps.mp4", np.repeat(bigger, 2, axis=0)[:12], 14.0)
    paths["stranger_clip"] = write_clip(folder / "stranger.mp4", known_clip(*load_pair("astronaut"), n=4).frames, 7.0)
    return paths


def _compare(cli, shot, out, a: str, b: str, *, a_clip: str | None = None, b_clip: str | None = None):
    return cli("compare", shot[f"{a}_plate"], shot[f"{b}_plate"], "-m", shot["mask"], "-o", out,
               "--a-clip", shot[a_clip or f"{a}_clip"], "--b-clip", shot[b_clip or f"{b}_clip"])


def test_the_steady_revision_is_named_more_stable(cli, shot, tmp_path):
    out = tmp_path / "cmp"
    result = _compare(cli, shot, out, "steady", "floating")

    assert result.code == 1, result.stderr  # revision B is flagged
    compared = json.loads((out / "compare.json").read_text())
    assert compared["more_stable"] == "a", compared["why"]
    assert "fewer flagged frames" in compared["why"]
    assert "more stable: revision A" in result.stderr
    assert compared["revisions"]["a"]["verdict"] == "pass"
    assert compared["revisions"]["b"]["verdict"] == "flagged"
    assert "float" in [r["code"] for r in compared["revisions"]["b"]["reasons"]]
    assert compared["revisions"]["b"]["rendered"] == "elsewhere"
    assert compared["revisions"]["b"]["clip"].endswith("floating.mp4")
    assert compared["revisions"]["a"]["opened"]["alignment"] == "features"  # no sidecar: aligned like `check`
    assert compared["revisions"]["a"]["opened"]["edit_mismatch"] < 0.5
    assert compared["metrics"]["max_slip_px"]["delta"] > 3
    assert compared["timing"]["note"] is None and len(compared["frames"]) == 10
    assert "seed" not in compared  # nothing was rendered here
    for name in ("a", "b"):
        report = json.loads((out / name / "report.json").read_text())
        assert report["inputs"]["clip"]["sha256"]
        assert (out / name / "report.html").is_file() and (out / name / "overlay.mp4").is_file()
        assert not (out / name / "clip.mp4").exists()
    html = (out / "compare.html").read_text()
    assert "Revision <strong>A</strong>" in html and 'href="a/report.html"' in html and "compare.png" in html
    side = read_clip(out / "side_by_side.mp4")
    assert side.frames.shape[0] == 10


def test_swapping_a_and_b_swaps_the_answer_also_across_sizes_lengths_and_frame_rates(cli, shot, tmp_path):
    out = tmp_path / "cmp"
    result = _compare(cli, shot, out, "floating", "steady", a_clip="floating_other_clip")

    assert result.code == 1, result.stderr
    compared = json.loads((out / "compare.json").read_text())
    assert compared["more_stable"] == "b", compared["why"]
    assert "share of the clip flagged" in compared["why"]
    timing = compared["timing"]
    assert timing["matched_by_time"] and timing["fps"] == 14.0
    assert timing["a"] == {"frames": 12, "fps": 14.0} and timing["b"] == {"frames": 10, "fps": 7.0}
    assert "matched by time" in timing["note"] and "last 0.57 s of B" in timing["note"]
    assert "note: the clips differ" in result.stderr
    assert compared["revisions"]["a"]["opened"]["size"] == [640, 360]
    # 12 frames at 14 fps = 0.86 s in common: 12 frames of A beside B's frames 0, 0, 1, 1, ...
    assert [(r["frame_a"], r["frame_b"]) for r in compared["frames"]][:4] == [(0, 0), (1, 0), (2, 1), (3, 1)]
    side = read_clip(out / "side_by_side.mp4")
    assert side.frames.shape[0] == 12 and abs(side.fps - 14.0) < 0.01
    assert side.frames.shape[1] == 360  # B is scaled to A's height
    assert "Note: the clips differ" in (out / "compare.html").read_text()


def test_revision_b_may_have_its_own_mask_and_size(cli, shot, tmp_path):
    """B was upscaled between revisions: its plate, mask and clip are all 1.5x A's."""
    plate, mask = load_pair("coffee")
    plate_b = read_plate(shot["floating_plate"])
    size = (plate.shape[1] * 3 // 2, plate.shape[0] * 3 // 2)
    big_plate = cv2.resize(plate_b, size, interpolation=cv2.INTER_CUBIC)
    big_mask = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST) > 0
    plate_path = write_image(tmp_path / "b_big.png", big_plate)
    mask_path = write_mask(tmp_path / "b_big.mask.png", big_mask)
    clip_path = write_clip(tmp_path / "b_big.mp4", known_clip(big_plate, big_mask, n=6).frames, 7.0)
    out = tmp_path / "cmp"

    result = cli("compare", shot["steady_plate"], plate_path, "-m", shot["mask"], "--b-mask", mask_path, "-o", out,
                 "--a-clip", shot["steady_clip"], "--b-clip", clip_path)

    assert result.code == 0, result.stderr  # both steady
    compared = json.loads((out / "compare.json").read_text())
    assert compared["revisions"]["b"]["mask"] == str(mask_path.resolve())
    assert compared["revisions"]["b"]["opened"]["size"] == list(size)
    assert compared["timing"]["a"]["frames"] == 10 and compared["timing"]["b"]["frames"] == 6
    assert len(compared["frames"]) == 6 and compared["more_stable"] in ("a", "b", None)


@pytest.mark.parametrize(
    ("a_clip", "b_clip", "which", "says"),
    [
        ("steady_clip", "steady_clip", "revision B", "differs from the plate"),  # a render of the other revision
        ("stranger_clip", "floating_clip", "revision A", "does not match its plate"),  # another picture
    ],
)
def test_a_clip_not_of_its_plate_is_refused_in_one_line_naming_which(cli, shot, tmp_path, a_clip, b_clip, which, says):
    out = tmp_path / "cmp"
    result = _compare(cli, shot, out, "steady", "floating", a_clip=a_clip, b_clip=b_clip)

    assert_one_line_error(result, 2, which)
    assert says in result.stderr
    assert not out.exists()


def test_clips_come_in_pairs(cli, shot, tmp_path):
    out = tmp_path / "cmp"
    result = cli("compare", shot["steady_plate"], shot["floating_plate"], "-m", shot["mask"], "-o", out,
                 "--a-clip", shot["steady_clip"])
    assert_one_line_error(result, 2, "--b-clip")
    assert not out.exists()
