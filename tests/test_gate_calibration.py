"""The gate against its labelled calibration set: defects fail their criterion, good edits pass.

The set is 14 real photos x ~20 edits (about 300 gate runs, ~20 s on an idle 2-core machine,
built once for the module), and the thresholds are checked with the untouched audit's 140 runs at
512x288 among the good edits (~9 s): smaller would no longer pin every threshold to the table.
"""

from __future__ import annotations

import pytest

from gate_audit import AUDIT_PHOTOS, SIZES, audit, cases
from gate_calibration import DEFECTS, HELD_OUT, KNOWN_WRONG, build, photos, row, separation, wrong
from keyframe.config import GateConfig
from keyframe.gate import run_gate

# config key of each sub-check's limit
LIMITS = {
    "focal_sharpness": "focal_sharpness_min",
    "relative_sharpness": "relative_sharpness_min",
    "halo": "halo_max",
    "grain_mismatch": "grain_mismatch_max",
    "gradient_ridge": "gradient_ridge_max",
    "colour_ridge": "colour_ridge_max",
    "colour_cast": "colour_cast_max",
    "fine_detail": "texture_detail_min",
    "grain_level": "texture_grain_max",
    "face_1_support": "face_support_min",
}


@pytest.fixture(scope="module")
def outcomes():
    cfg = GateConfig()
    return {case.name: (case, run_gate(case.plate, case.mask, cfg)) for case in build()}


def test_held_out_photos_are_not_calibrated_on():
    assert set(HELD_OUT).isdisjoint(photos())


def test_only_the_known_cases_are_wrong(outcomes):
    assert {name for name, (case, result) in outcomes.items() if wrong(case, result)} == set(KNOWN_WRONG)


#: a 14-level darkening is a change of lightness, the very thing texture varies in: it is caught
#: where the outline is calm (camera's sky, Grace Hopper's backdrop, the moon, the dark sky, the
#: retina, the stained cell's pale ground) and not on grass, gravel, fur, brick or handwriting, as
#: the issue asks ("a 14-level shift is visible on a flat wall and not in foliage")
CALM_SHADES = {"camera", "grace_hopper", "moon", "hubble_deep_field", "retina", "immunohistochemistry"}


@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_each_defect_kind_fails_its_criterion(outcomes, kind):
    cases = [(case, result) for case, result in outcomes.values() if case.kind == kind]
    caught = [case.name for case, result in cases if not wrong(case, result)]
    assert {case.name for case, _ in cases} - set(caught) <= set(KNOWN_WRONG)
    if kind == "shade":
        assert {f"{photo}/shade" for photo in CALM_SHADES} <= set(caught)
    else:
        assert len(caught) >= max(1, len(cases) // 2 if len(cases) > 2 else 1), (kind, caught)


def test_soft_fills_are_caught_by_texture_with_a_plain_reason(outcomes):
    soft = [(case, result) for case, result in outcomes.values()
            if case.kind in {"soft_grain", "telea_grain", "soft_coarse_grain", "stage_fill"}]
    flagged = [result.criteria["texture"] for case, result in soft if result.criteria["texture"].passed is False]
    # 43/52 since the edit is judged against untouched patches of its shape (46/52 before, with 21 false
    # alarms in 280 untouched audit runs; none now): the rest are in KNOWN_WRONG or caught by edge
    assert len(flagged) >= 0.8 * len(soft)
    assert all("of the fine detail its surroundings predict" in c.reason or "grain" in c.reason for c in flagged)
    missed = {case.name for case, result in soft if result.criteria["texture"].passed is not False}
    assert missed <= set(KNOWN_WRONG) | {case.name for case, result in soft if result.criteria["edge"].passed is False}


def test_thresholds_are_the_tables_suggestions(outcomes):
    cfg = GateConfig()
    # the untouched audit's runs are good edits too (its 512x288 half, ~9 s: the 1024x576 half moves
    # no suggestion by more than the 3 % allowed here)
    untouched = [found["values"] for found in audit(cases(AUDIT_PHOTOS, sizes=SIZES[:1]), cfg)]
    table = separation([row(case, result) for case, result in outcomes.values()], untouched)
    assert set(table) == set(LIMITS)
    for key, found in table.items():
        limit = getattr(cfg, LIMITS[key])
        assert found["suggested"] == pytest.approx(limit, rel=0.03, abs=0.5 if key == "face_1_support" else 0), key


def test_good_edits_pass_every_criterion(outcomes):
    good = [(case, result) for case, result in outcomes.values() if case.expect_fail is None]
    assert len(good) >= 60
    for case, result in good:
        if case.name not in KNOWN_WRONG:
            assert result.passed, (case.name, {k: c.reason for k, c in result.criteria.items() if c.passed is False})
