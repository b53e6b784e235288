"""Best of N, library side: deterministic variants, one stability number, and the selection rule."""

from __future__ import annotations

import numpy as np
import pytest
from clips import known_clip
from support import load_pair

from keyframe.candidates import plan_candidates, select_candidate
from keyframe.config import CheckConfig, RenderCameraConfig, RenderConfig
from keyframe.render import render
from keyframe.track import check_clip
from keyframe.verdict import stability


def test_camera_variants_start_with_the_configuration_then_other_moves_then_gentler():
    cfg = RenderConfig(camera=RenderCameraConfig(move="pan", pan_x=0.2))
    found = plan_candidates(cfg, 6, seed=3)
    assert [c.id for c in found] == ["c0", "c1", "c2", "c3", "c4", "c5"]
    assert [(c.params["move"], c.params["amplitude"]) for c in found] == [
        ("pan", 1.0), ("zoom", 1.0), ("rotate", 1.0), ("dolly", 1.0), ("pan", 0.5), ("zoom", 0.5)]
    assert found[0].render == cfg and {c.seed for c in found} == {3}
    assert found[4].render.camera.pan_x == pytest.approx(0.1)
    assert found[5].render.camera.zoom == pytest.approx(1 + 0.15 / 2)
    assert plan_candidates(cfg, 6, seed=3) == found  # deterministic


def test_learned_backends_vary_the_seed_only():
    cfg = RenderConfig(backend="svd")
    found = plan_candidates(cfg, 3, seed=10)
    assert [(c.seed, c.params) for c in found] == [(10, {"seed": 10}), (11, {"seed": 11}), (12, {"seed": 12})]
    assert all(c.render == cfg for c in found)


def test_stability_is_the_headroom_to_the_nearest_threshold():
    cfg = CheckConfig()
    rows = [{"float_px": 0.1, "warp_ratio": 1.5, "visible": 0.94}, {"float_px": 0.2, "warp_ratio": None, "visible": 1.0}]
    # worst fractions: float none (no ratio to the surroundings given), warp 1.5 / 3 = 0.5, lost 0.06 / 0.6 = 0.1 -> 1 - 0.5
    assert stability(rows, cfg) == 0.5
    assert stability([{"float_px": None}], cfg) is None
    assert stability([{"flicker_excess": 4.0}], cfg) == -1.0  # twice the threshold: past it
    # float is flagged only when it is also large against the surroundings' own motion: the nearer limit counts
    assert stability([{"float_px": 1.6, "float_ratio": 0.15}], cfg) == 0.5  # 4x its px limit, half its ratio limit
    # as in the verdict, a frame where the region is lost counts only towards `lost`
    assert stability([{"float_px": 0.1, "visible": 1.0}, {"float_px": 5.0, "visible": 0.1}], cfg) == -0.5


def test_stability_ranks_a_steady_clip_above_a_floating_one():
    plate, mask = load_pair("coffee")
    cfg = CheckConfig()
    scores = {}
    for defect in (None, "slide"):
        clip = known_clip(plate, mask, n=10, defect=defect)
        result = check_clip(clip.frames, plate, mask, cfg, fps=clip.fps, plate_to_frame0=clip.transforms[0].tolist())
        scores[defect] = (stability(result.per_frame, cfg), result.verdict)
    assert scores[None][1] == "pass" and scores[None][0] > 0
    assert scores["slide"][1] == "flagged" and scores["slide"][0] < 0 < scores[None][0]


def test_selection_prefers_passing_then_steadiest_then_earliest():
    records = [{"id": "c0", "stability": 0.3, "verdict": "pass"}, {"id": "c1", "stability": 0.9, "verdict": "flagged"},
               {"id": "c2", "stability": 0.5, "verdict": "pass"}, {"id": "c3", "stability": 0.5, "verdict": "pass"}]
    chosen, why = select_candidate(records)
    assert chosen == "c2" and "steadiest of 3 passing" in why and "0.500" in why
    none_pass = [{**r, "verdict": "flagged"} for r in records]
    chosen, why = select_candidate(none_pass)
    assert chosen == "c1" and why.startswith("no candidate passed")
    assert select_candidate([{"id": "c0", "stability": None, "verdict": "flagged"}])[0] == "c0"


def test_camera_candidates_render_and_check_with_a_stability_each():
    plate, mask = load_pair("coffee")
    small = (slice(None, None, 2), slice(None, None, 2))
    plate, mask = plate[small].copy(), mask[small].copy()
    records = []
    for candidate in plan_candidates(RenderConfig(frames=6), 2, seed=0):
        clip = render(plate, candidate.render, seed=candidate.seed)
        result = check_clip(clip.frames, plate, mask, CheckConfig(), fps=clip.fps, plate_to_frame0=clip.plate_to_frame0)
        records.append({"id": candidate.id, "stability": stability(result.per_frame, CheckConfig()), "verdict": result.verdict})
        assert clip.params["camera"]["move"] == candidate.params["move"]
    assert all(r["stability"] is not None for r in records)
    chosen, _ = select_candidate(records)
    assert chosen == max(records, key=lambda r: (r["verdict"] == "pass", r["stability"]))["id"]
