"""The check at production scale: streamed clips, compact masks, working size, frame ranges, lean start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref

import cv2
import numpy as np
import pytest
from clips import known_clip
from support import load_pair, mask_path, plate_path

from keyframe.config import CheckConfig, Config
from keyframe.errors import KeyframeError
from keyframe.io import ClipStream, FrameRange, read_clip, write_clip, write_json_atomic
from keyframe.nightly import MemoryBudget, shot_memory
from keyframe.track import check_clip

CFG = CheckConfig(lpips="off")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    plate, mask = load_pair("astronaut")
    clip = known_clip(plate, mask, n=10)
    write_clip(folder / "clean.mp4", clip.frames, 7.0)
    write_json_atomic(folder / "clean.mp4.json", {"plate_to_frame0": clip.transforms[0].tolist()})
    return folder, plate, mask, clip


def test_streamed_check_equals_the_whole_array_check(clean):
    folder, plate, mask, clip = clean
    h0 = clip.transforms[0]
    whole = check_clip(read_clip(folder / "clean.mp4").frames, plate, mask, CFG, fps=7.0, plate_to_frame0=h0)
    streamed = check_clip(ClipStream(folder / "clean.mp4"), plate, mask, CFG, fps=7.0, plate_to_frame0=h0)
    assert [r.to_dict() for r in streamed.per_frame] == [r.to_dict() for r in whole.per_frame]
    assert streamed.verdict == whole.verdict == "pass"
    assert np.array_equal(np.asarray(streamed.tracked_masks), np.asarray(whole.tracked_masks))
    assert streamed.tracked_masks.shape == (10, *plate.shape[:2])


def test_the_check_holds_a_bounded_window_of_frames(clean):
    _, plate, mask, clip = clean
    alive: list[weakref.ref] = []
    most = 0

    def frames():
        nonlocal most
        for frame in clip.frames:
            copy = frame.copy()  # a fresh array per frame, as a decoder gives
            alive.append(weakref.ref(copy))
            most = max(most, sum(ref() is not None for ref in alive))
            yield copy
            del copy

    result = check_clip(frames(), plate, mask, CFG, fps=7.0, plate_to_frame0=clip.transforms[0])
    assert len(result.per_frame) == 10
    assert most <= 3  # the previous frame, the current one, and the one just decoded


def test_tracked_masks_are_kept_compactly(clean):
    _, plate, mask, clip = clean
    result = check_clip(clip.frames, plate, mask, CFG, fps=7.0, plate_to_frame0=clip.transforms[0])
    kept = sum(bits.nbytes for _, _, bits in filter(None, result.tracked_masks.packed))
    assert kept < 0.1 * np.asarray(result.tracked_masks).nbytes


def test_working_size_measures_a_large_clip_at_the_working_size(clean):
    _, plate, mask, clip = clean
    big_plate = cv2.resize(plate, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    big_mask = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST).astype(bool)
    big = known_clip(big_plate, big_mask, n=6, pan=(3.2, -1.4))
    small = check_clip(big.frames, big_plate, big_mask, CFG.model_copy(update={"working_size": 512}), fps=7.0,
                       plate_to_frame0=big.transforms[0])
    full = check_clip(big.frames, big_plate, big_mask, CFG.model_copy(update={"working_size": 0}), fps=7.0,
                      plate_to_frame0=big.transforms[0])
    resolution = small.summary["resolution"]
    assert resolution["source"] == [1024, 576] and resolution["working"] == [512, 288]
    assert full.summary["resolution"]["working"] == [1024, 576]
    assert small.verdict == full.verdict == "pass"
    for a, b in zip(small.per_frame[1:], full.per_frame[1:]):  # reported in source pixels either way
        assert a.centroid_x == pytest.approx(b.centroid_x, abs=1.5)
        assert a.area_px == pytest.approx(b.area_px, rel=0.05)
        assert a.region_dx == pytest.approx(b.region_dx, abs=0.3)
    assert small.tracked_masks[3].shape == big_mask.shape


def test_frame_range_and_stride_are_checked_and_reported(cli, clean, tmp_path):
    folder, *_ = clean
    args = ["check", folder / "clean.mp4", "--plate", plate_path("astronaut"), "--mask", mask_path("astronaut")]
    result = cli(*args, "--frames", "2:9", "--stride", "2", "--no-overlay", "-o", tmp_path / "out")
    assert result.code == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["frames_used"] == {"start": 2, "stop": 9, "stride": 2}
    assert report["params"]["frames"] == {"start": 2, "stop": 9, "stride": 2}
    assert [row["time_s"] for row in report["frames"]] == [round(t / 7.0, 4) for t in (2, 4, 6, 8)]
    assert not (tmp_path / "out" / "overlay.mp4").exists()  # --no-overlay
    assert report["summary"]["alignment"]["source"] == "features"  # the sidecar has frame 0's transform only
    assert cli(*args, "--frames", "9:2").code == 2


def test_frame_range_takes_its_first_transform_from_the_sidecar(cli, clean, tmp_path):
    folder, _, _, clip = clean
    (tmp_path / "c.mp4").write_bytes((folder / "clean.mp4").read_bytes())
    write_json_atomic(tmp_path / "c.mp4.json", {"plate_to_frame0": clip.transforms[0].tolist(),
                                                "frame_transforms": [h.tolist() for h in clip.transforms]})
    args = ["check", tmp_path / "c.mp4", "--plate", plate_path("astronaut"), "--mask", mask_path("astronaut")]
    report = json.loads(cli(*args, "--frames", "4:", "--json").stdout)
    assert report["verdict"] == "pass" and len(report["frames"]) == 6
    assert report["summary"]["alignment"]["source"] == "sidecar"
    assert np.allclose(report["summary"]["alignment"]["plate_to_frame0"], clip.transforms[4])


def test_frame_range_selects_frames():
    assert [i for i in range(12) if FrameRange.parse("3:", stride=4).picks(i)] == [3, 7, 11]
    assert FrameRange.parse(None) == FrameRange()


def test_keyframe_check_runs_without_heavy_libraries(clean, tmp_path):
    folder = clean[0]
    argv = ["check", str(folder / "clean.mp4"), "--plate", str(plate_path("astronaut")), "--mask",
            str(mask_path("astronaut")), "-o", str(tmp_path / "out")]
    heavy = ("prefect", "matplotlib", "torch", "diffusers", "lpips", "scipy", "rich", "keyframe.gate", "keyframe.render")
    code = (f"import sys; from keyframe.cli import main; code = main({argv!r}); "
            f"print(code, [m for m in {heavy!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr
    assert (tmp_path / "out" / "overlay.mp4").is_file()


def test_nightly_memory_budget_bounds_shots_at_once():
    need = shot_memory((1080, 1920, 3), Config(render={"frames": 121, "backend": "diffusers"}))
    assert shot_memory((1080, 1920, 3), Config(render={"frames": 241, "backend": "diffusers"})) > need  # a model's clip is held
    camera = shot_memory((1080, 1920, 3), Config(render={"frames": 121}))
    assert camera == shot_memory((1080, 1920, 3), Config(render={"frames": 241})) < need  # the camera streams its frames
    budget = MemoryBudget(int(2.5 * need), limit=8)
    admitted = [budget.admit(f"s{i}", need) for i in range(4)]
    assert admitted == [True, True, False, False]
    budget.release("s0")
    assert budget.admit("s2", need) and not budget.admit("s3", need)
    alone = MemoryBudget(need // 2, limit=8)  # a shot over the whole budget still runs, alone
    assert alone.admit("big", need) and not alone.admit("next", 1)


def test_a_small_clip_is_kept_for_the_second_pass_a_large_one_is_decoded_again(clean, tmp_path):
    folder, *_ = clean
    (tmp_path / "c.mp4").write_bytes((folder / "clean.mp4").read_bytes())
    kept = ClipStream(tmp_path / "c.mp4", keep_bytes=64 * 2**20)
    decoded = ClipStream(tmp_path / "c.mp4", keep_bytes=2 * 512 * 288 * 3)  # room for two frames only
    first, again = list(kept), list(decoded)
    (tmp_path / "c.mp4").unlink()
    assert [f.tolist() for f in list(kept)] == [f.tolist() for f in first]  # no decoder needed the second time
    with pytest.raises(KeyframeError):
        list(decoded)  # the file is gone: it had to be decoded again
    assert len(again) == 10


def test_a_clip_of_the_plate_that_changes_size_mid_stream_is_refused(cli, clean, tmp_path):
    import imageio_ffmpeg

    _, plate, mask, clip = clean
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for name, frames in (("a", clip.frames[:5]), ("b", [cv2.resize(f, (256, 144)) for f in clip.frames[5:]])):
        write_clip(tmp_path / f"{name}.mp4", np.stack(frames), 7.0)
        subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(tmp_path / f"{name}.mp4"), "-c", "copy", "-bsf:v",
                        "h264_mp4toannexb", "-f", "h264", str(tmp_path / f"{name}.h264")], check=True)
    (tmp_path / "ab.h264").write_bytes((tmp_path / "a.h264").read_bytes() + (tmp_path / "b.h264").read_bytes())
    subprocess.run([ffmpeg, "-v", "error", "-y", "-r", "7", "-f", "h264", "-i", str(tmp_path / "ab.h264"), "-c", "copy",
                    str(tmp_path / "changes.mp4")], check=True)
    out = tmp_path / "out"
    result = cli("check", tmp_path / "changes.mp4", "--plate", plate_path("astronaut"), "--mask",
                 mask_path("astronaut"), "-o", out)
    assert result.code == 2 and "mid-stream" in result.stderr, result.stderr
    assert not out.exists()


def test_memory_budget_runs_shots_as_they_fit():
    class Shot:
        def __init__(self, name):
            self.id = name

    started, done = [], []
    budget = MemoryBudget(10, limit=4)
    pending = [(Shot("a"), "k", 6), (Shot("b"), "k", 6), (Shot("c"), "k", 3)]

    def submit(shot, key):
        started.append((shot.id, sorted(budget.running)))
        return shot.id

    for shot_id, future in budget.run(pending, submit, lambda futures: futures[0]):
        done.append(shot_id)
    assert done == ["a", "b", "c"] and not pending and not budget.running
    assert started == [("a", ["a"]), ("b", ["b"]), ("c", ["b", "c"])]  # b waited for a; c fit beside b


def test_every_command_is_known_to_the_lazy_cli():
    from keyframe.cli import COMMANDS, register
    from keyframe.cli.app import app

    register()
    import typer

    names = set(typer.main.get_command(app).commands)
    assert names <= set(COMMANDS), names - set(COMMANDS)
