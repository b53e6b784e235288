"""Injected defects on real-photo clips are flagged with the right code; clean clips pass.

The thresholds these tests exercise were chosen from the calibration set in ``tests/clips.py``
(``python tests/clips.py`` prints it); configs/default.yaml cites the numbers.
"""

from __future__ import annotations

import pytest
from clips import known_clip
from support import load_pair

from keyframe.config import CheckConfig
from keyframe.io import read_clip, write_clip
from keyframe.track import check_clip

CFG = CheckConfig(lpips="off")
EXPECTED = {"fixed": "float", "slide": "float", "flicker": "flicker", "blur": "drift", "color": "drift", "boil": "warp"}


def _check(name, defect, **path):
    plate, mask = load_pair(name)
    clip = known_clip(plate, mask, n=12, defect=defect, **path)
    return check_clip(clip.frames, plate, mask, CFG, fps=7.0, plate_to_frame0=clip.transforms[0])


@pytest.mark.parametrize("name", ["astronaut", "brick"])
@pytest.mark.parametrize("defect", sorted(EXPECTED))
def test_defect_is_flagged_with_its_code(name, defect):
    result = _check(name, defect)
    codes = [r.code for r in result.reasons]
    assert result.verdict == "flagged"
    assert EXPECTED[defect] in codes, codes
    reason = next(r for r in result.reasons if r.code == EXPECTED[defect])
    assert reason.frames and all(0 < a <= b <= 11 for a, b in reason.frames)
    assert "threshold" in reason.message and "check." in reason.message


@pytest.mark.parametrize("defect", ["fixed", "slide"])
def test_floating_patch_is_not_mistaken_for_other_failures(defect):
    result = _check("chelsea", defect)
    assert [r.code for r in result.reasons] == ["float"]
    assert result.summary["max_slip_px"] > 3 * CFG.slip_scene_px  # camera-only clips: the region is on the scene


def test_float_frames_start_where_the_slip_passes_its_threshold():
    result = _check("astronaut", "slide")  # 1.5 px/frame extra: 3 px after 2 frames
    reason = next(r for r in result.reasons if r.code == "float")
    assert reason.frames[0][0] <= 2 and reason.frames[-1][1] == 11


def test_clean_clip_passes_after_h264_compression(tmp_path):
    plate, mask = load_pair("rocket")
    clip = known_clip(plate, mask, n=12, pan=(3.0, -1.5), zoom=0.006, roll_deg=0.15)
    frames = read_clip(write_clip(tmp_path / "c.mp4", clip.frames, 7.0)).frames
    result = check_clip(frames, plate, mask, CFG, fps=7.0, plate_to_frame0=clip.transforms[0])
    assert result.verdict == "pass", [r.message for r in result.reasons]
