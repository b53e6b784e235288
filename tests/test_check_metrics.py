"""Metrics: warping error, flicker, float, appearance, LPIPS availability, the verdict's frame ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keyframe.config import CheckConfig
from keyframe.metrics import (
    LpipsMetric,
    delta_e_map,
    flicker_mae,
    lpips_status,
    judge_outline,
    ssim_map,
    to_lab,
    vbench_flicker,
    warping_error,
)
from keyframe.track.layers import SceneMotion, outline_motion
from keyframe.verdict import frame_ranges, judge


def test_warp_and_flicker_measure_the_compensated_residual():
    rng = np.random.default_rng(0)
    current = rng.random((30, 30)).astype(np.float32)
    valid = np.ones((30, 30), bool)
    assert warping_error(current, current, valid) == 0.0
    assert warping_error(current, current - 0.1, valid) == pytest.approx(0.01, rel=1e-4)
    assert flicker_mae(current, current - 0.1, valid) == pytest.approx(25.5, rel=1e-4)
    assert warping_error(current, current, ~valid) is None and flicker_mae(current, current, ~valid) is None


def test_vbench_flicker_formula():
    assert vbench_flicker([0.0, 0.0]) == 1.0
    assert vbench_flicker([25.5, None, 76.5]) == pytest.approx((255 - 51) / 255)
    assert vbench_flicker([None]) is None


def test_float_catches_a_region_that_does_not_zoom_with_its_surroundings():
    # a subject zooming about the region's centre: the mean translation is zero all round, so a
    # median-translation float would see nothing; the similarity fit across the outline does
    ys, xs = np.mgrid[0:80, 0:80].astype(np.float32)
    zoom = np.stack([(xs - 40) * 0.03, (ys - 40) * 0.03], -1)
    region = np.hypot(xs - 40, ys - 40) < 18
    still = SceneMotion(np.array([[1.0, 0, 0], [0, 1, 0]]), 1.0, 1.0)
    measure = dict(gap=3, width=10, sectors=16, layer_px=0.3, layer_rel=0.15)
    glued = outline_motion(zoom, region, np.ones_like(region), (0, 0), still, **measure)
    frozen = zoom.copy()
    frozen[region] = 0.0
    floating = outline_motion(frozen, region, np.ones_like(region), (0, 0), still, **measure)
    options = dict(tolerance_px=0.1, tolerance_rel=0.15)
    assert judge_outline(glued, "subject", **options).float_px < 0.05
    judged = judge_outline(floating, "subject", **options)
    # the slip at the inside band (~10 px from the centre): 0.03 px per px of radius
    assert judged.attached == "subject" and judged.float_px == pytest.approx(0.03 * 10, rel=0.25)
    assert judged.similarity[2] < -0.01 and abs(judged.similarity[0]) < 0.05  # a scale slip, no translation
    assert judged.discontinuous.mean() > 0.8


def test_appearance_maps():
    rng = np.random.default_rng(1)
    a = rng.random((40, 40)).astype(np.float32)
    assert ssim_map(a, a).min() == pytest.approx(1.0)
    assert ssim_map(a, np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1).astype(np.float32)).mean() < 0.9
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    shifted = rgb * np.array([1.2, 1.0, 0.8], np.float32)
    assert delta_e_map(to_lab(rgb), to_lab(rgb)).max() == 0 and delta_e_map(to_lab(rgb), to_lab(shifted)).min() > 5


def test_ssim_map_is_scikit_images_ssim():
    from skimage import data
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(2)
    plate = data.camera()[::2, ::2].astype(np.float32) / 255.0
    for other in (np.clip(plate + rng.normal(0, 0.05, plate.shape), 0, 1), np.roll(plate, 3, axis=1),
                  plate * 0.8 + 0.1, rng.random((9, 13))):
        other = other.astype(np.float32)
        image = plate[: other.shape[0], : other.shape[1]]
        _, expected = structural_similarity(image, other, data_range=1.0, full=True)
        ours = ssim_map(image, other)
        assert ours.shape == expected.shape and ours.dtype == np.float32
        assert np.abs(ours - expected).max() < 1e-3 and abs(ours.mean() - expected.mean()) < 1e-5


def test_lpips_is_unavailable_without_backbone_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    available, why = lpips_status()
    assert not available and "alexnet-owt-7be5be79.pth" in why and str(tmp_path) in why
    with pytest.raises(RuntimeError, match="unavailable"):
        LpipsMetric()


def test_lpips_code_path_runs_with_a_cached_backbone(tmp_path, monkeypatch):
    """Random AlexNet weights under the cache name: proves the plumbing only; the values mean nothing."""
    from torchvision.models import alexnet

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(alexnet(weights=None).state_dict(), tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    assert lpips_status() == (True, None)
    rgb = np.random.default_rng(2).random((40, 50, 3)).astype(np.float32)
    distance = LpipsMetric()(rgb, rgb[::-1].copy())
    assert distance.shape == (40, 50) and np.isfinite(distance).all()


def test_frame_ranges_and_min_run():
    assert frame_ranges([True, True, False, True, True, True]) == [[0, 1], [3, 5]]
    assert frame_ranges([True, False, True], min_run=2) == []


def test_judge_reports_every_code_with_its_threshold_and_ignores_nulls():
    cfg = CheckConfig()
    rows = [{"frame": i, "visible": 1.0, "float_px": None, "flicker_excess": 0.0} for i in range(6)]
    for i in (2, 3, 4):
        rows[i].update(float_px=2.0, float_ratio=0.9, flicker_excess=9.0)
    rows[1].update(float_px=5.0, float_ratio=0.1)  # fast but small against its surroundings' own motion
    rows[5]["drift_delta_e"] = 50.0  # one frame only: shorter than min_run
    reasons = judge(rows, cfg)
    assert [r.code for r in reasons] == ["float", "flicker"]
    assert reasons[0].frames == [[2, 4]] and "check.float_px" in reasons[0].message and "2 px/frame" in reasons[0].message
