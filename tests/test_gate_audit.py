"""The untouched audit's colour side as a guarantee: masks laid anywhere on untouched real photos
raise no colour cast, and tints planted under the same masks are caught.

A quick slice of ``tests/gate_audit.py`` (the calibration photos at 512x288, 10 masks each; the
seam criterion only, ~10 s): the full audit with every criterion and both sizes is the script.
"""

from __future__ import annotations

import pytest

from gate_audit import AUDIT_PHOTOS, SIZES, cases, planted_casts
from keyframe.config import GateConfig
from keyframe.gate import seam

CFG = GateConfig()


@pytest.fixture(scope="module")
def untouched():
    return cases(AUDIT_PHOTOS, sizes=SIZES[:1])


def _cast_score(plate, mask) -> float:
    return seam.score(plate, mask, CFG).details["checks"]["colour_cast"]["value"]


def test_no_colour_cast_on_untouched_photos_masked_anywhere(untouched):
    scores = {item.name: _cast_score(item.plate, item.mask) for item in untouched}
    assert len(scores) == 140
    assert max(scores.values()) < CFG.colour_cast_max, max(scores.items(), key=lambda kv: kv[1])


def test_tints_under_the_same_masks_are_caught(untouched):
    tints = ("colour_shift", "cast_green", "cast_blue")
    caught = [
        _cast_score(image, item.mask) > CFG.colour_cast_max
        for item in untouched
        for kind, image in planted_casts(item.plate, item.mask).items()
        if kind in tints
    ]
    # 84 % at the calibration (both sizes); the misses are on busy outlines and a white saucer's clipping
    assert sum(caught) >= 0.75 * len(caught), f"{sum(caught)}/{len(caught)}"
