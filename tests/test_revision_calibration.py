"""check.align_max_edit_mismatch separates a clip of its own plate from a clip of another revision.

The nearest cases of the calibration set (``python tests/revision_calibration.py``): brick, whose
Telea and biharmonic fills of the same hole look most alike, after H.264 and a global grade.
"""

from __future__ import annotations

import pytest
from clips import known_clip
from revision_calibration import degraded, revisions

from keyframe.revisions import open_revision_clip
from keyframe.config import Config
from keyframe.errors import KeyframeError
from keyframe.io import write_clip

CFG = Config()


@pytest.fixture(scope="module")
def brick():
    return revisions("brick")


@pytest.mark.parametrize("how", ["h264", "graded"])
def test_own_plate_is_accepted_and_the_other_revision_refused(brick, how, tmp_path):
    plates, mask = brick
    frames = known_clip(plates["biharmonic"], mask, 2).frames
    clip = write_clip(tmp_path / "clip.mp4", [degraded(f, how, str(tmp_path)) for f in frames], 7.0)

    opened = open_revision_clip("revision A", clip, plates["biharmonic"], mask, CFG)
    assert opened.edit_mismatch < CFG.check.align_max_edit_mismatch / 2
    with pytest.raises(KeyframeError, match=r"^revision B: clip does not match its plate: .* other revision"):
        open_revision_clip("revision B", clip, plates["telea"], mask, CFG)
