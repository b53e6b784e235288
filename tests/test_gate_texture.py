"""The gate's texture criterion, colour cast and sparse-plate behaviour on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from keyframe.config import GateConfig
from keyframe.gate import edge, run_gate, seam, texture
from keyframe.gate.colour import colour_cast
from keyframe.io import to_float
from keyframe.report.json import gate_reasons
from keyframe.seam import noise_sigma

CFG = GateConfig()


def _crop(image: np.ndarray, top: int = 0) -> np.ndarray:
    """A 512x288 float32 RGB crop of a photo (grey photos repeated on three channels)."""
    image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return to_float(np.ascontiguousarray(image[top : top + 288, :512, :3]))


def _ellipse(cx: int, cy: int, ax: int = 44, ay: int = 32) -> np.ndarray:
    mask = np.zeros((288, 512), np.uint8)
    cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return mask > 0


def _soft_grainy_fill(plate: np.ndarray, mask: np.ndarray, seed: int = 0) -> np.ndarray:
    """The editors' complaint: same local colour, softer (blur sigma 2), white grain at the plate's noise level."""
    grey = cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY)
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((37, 37), np.uint8)).astype(bool) & ~mask
    grain = np.random.default_rng(seed).normal(0, noise_sigma(grey, ring), mask.shape).astype(np.float32)
    filled = plate.copy()
    filled[mask] = (cv2.GaussianBlur(plate, (0, 0), 2.0) + grain[..., None])[mask]
    return np.clip(filled, 0, 1)


@pytest.fixture(scope="module")
def gravel():
    return _crop(data.gravel(), 100), _ellipse(300, 150)


def test_soft_grainy_fill_fails_texture_with_a_plain_reason(gravel):
    plate, mask = gravel
    result = run_gate(_soft_grainy_fill(plate, mask), mask, CFG)
    found = result.criteria["texture"]
    assert found.passed is False and not result.passed
    assert found.details["checks"]["fine_detail"]["value"] < 0.5
    assert "% of the fine detail its surroundings predict" in found.reason
    assert {"code": "texture", "message": f"texture: {found.reason}", "frames": []} in gate_reasons(result.to_dict())
    # the heatmap points at the fill, not at its surroundings
    assert found.heatmap[mask].mean() > 0.5 and found.heatmap[~mask].max() == 0.0


def test_untouched_texture_passes(gravel):
    plate, mask = gravel
    found = texture.score(plate, mask, CFG)
    assert found.passed is True and 0.8 < found.details["checks"]["fine_detail"]["value"] < 1.25


def test_smooth_sky_is_not_mistaken_for_a_soft_fill():
    plate = _crop(data.rocket(), 0)  # the sky above the launch tower: smooth, legitimately
    mask = _ellipse(90, 60, 40, 28)
    found = texture.score(plate, mask, CFG)
    assert found.passed is True, found.reason
    assert run_gate(plate, mask, CFG).criteria["edge"].passed is True


def test_without_an_edit_texture_is_not_checked():
    found = texture.score(_crop(data.gravel()), None, CFG)
    assert found.passed is None and found.reason.startswith("not checked")


@pytest.mark.parametrize("top", [0, 250, 500])
def test_dark_sparse_plate_is_not_flagged_for_edge(top):
    plate = _crop(data.hubble_deep_field(), top)
    for cx, cy in [(100, 80), (250, 200), (400, 100), (150, 220)]:
        found = edge.score(plate, _ellipse(cx, cy), CFG)
        assert found.passed is True, (top, cx, cy, found.reason)


def test_a_darkening_shows_on_a_flat_wall_and_not_in_texture():
    shade = np.float32([-14 / 255] * 3)  # 14 levels darker: the "visible on a flat wall, not in foliage"
    sky, sky_mask = _crop(data.rocket(), 0), _ellipse(90, 60, 40, 28)
    grass, grass_mask = _crop(data.grass()), _ellipse(250, 140)
    shaded_sky = np.where(sky_mask[..., None], np.clip(sky + shade, 0, 1), sky)
    shaded_grass = np.where(grass_mask[..., None], np.clip(grass + shade, 0, 1), grass)
    on_sky, on_grass = colour_cast(shaded_sky, sky_mask, CFG.band), colour_cast(shaded_grass, grass_mask, CFG.band)
    assert on_sky.visibility > 3 * on_grass.visibility and on_grass.delta_e > on_sky.delta_e  # same shift, more texture
    assert on_sky.shift[0] < -2 and on_sky.describe() == "darker"
    flagged = seam.score(shaded_sky, sky_mask, CFG)
    assert flagged.passed is False and "darker" in flagged.reason
    assert seam.score(sky, sky_mask, CFG).passed is True and seam.score(shaded_grass, grass_mask, CFG).passed is True


def test_a_tint_stands_out_of_texture_that_varies_in_lightness():
    # grey grass varies in lightness only: a bluish patch on it shows, though its lightness
    # variation hides a darkening of the same size
    tint = np.float32([0, 0, 14 / 255])
    grass, mask = _crop(data.grass()), _ellipse(250, 140)
    tinted = np.where(mask[..., None], np.clip(grass + tint, 0, 1), grass)
    found = seam.score(tinted, mask, CFG)
    assert found.passed is False and "bluer" in found.reason
    assert colour_cast(grass, mask, CFG.band).visibility < 0.3 * CFG.colour_cast_max


def test_a_lighting_gradient_is_not_a_cast():
    wall = np.full((288, 512, 3), 0.6, np.float32)
    ramp = np.linspace(-0.15, 0.15, 512, dtype=np.float32)[None, :, None]  # light falling across the wall
    noise = np.random.default_rng(0).normal(0, 0.01, wall.shape).astype(np.float32)
    found = colour_cast(np.clip(wall + ramp + noise, 0, 1), _ellipse(256, 144), CFG.band)
    assert found.visibility < 0.5 * CFG.colour_cast_max


def test_colour_noise_on_a_clean_sky_is_flagged_for_its_grain():
    plate = _crop(data.rocket(), 0)
    mask = _ellipse(90, 60, 40, 28)
    noise = np.random.default_rng(1).normal(0, 0.03, plate.shape).astype(np.float32)  # independent per channel
    noisy = np.where(mask[..., None], np.clip(plate + noise, 0, 1), plate)
    result = run_gate(noisy, mask, CFG)
    assert result.passed is False
    assert result.criteria["seam"].details["checks"]["grain_mismatch"]["pass"] is False
    assert "noisier than the plate around it" in result.criteria["seam"].reason
    # texture measures the chroma noise as well (about 5x the sky's), but untouched patches of the
    # edit's shape over the launch structure below read as far off, so its grain level leaves the
    # verdict to the seam
    ratios = result.criteria["texture"].details["grain_ratios"]
    assert min(ratios["red-green"], ratios["yellow-blue"]) > 4


def test_texture_does_not_depend_on_resolution(gravel):
    plate, mask = gravel
    big = lambda image: cv2.resize(image, (1024, 576), interpolation=cv2.INTER_CUBIC).clip(0, 1)  # noqa: E731
    big_mask = cv2.resize(mask.astype(np.uint8), (1024, 576), interpolation=cv2.INTER_NEAREST) > 0
    untouched = texture.score(big(plate), big_mask, CFG)
    soft = texture.score(big(_soft_grainy_fill(plate, mask)), big_mask, CFG)
    assert untouched.passed is True and soft.passed is False
    small = texture.score(plate, mask, CFG).details["checks"]["fine_detail"]["value"]
    assert untouched.details["checks"]["fine_detail"]["value"] == pytest.approx(small, abs=0.1)
    assert soft.heatmap.shape == (576, 1024) and soft.heatmap[big_mask].mean() > 0.5


def test_a_cast_is_judged_alike_at_twice_the_resolution():
    sky, mask = _crop(data.rocket(), 0), _ellipse(90, 60, 40, 28)
    cast = np.where(mask[..., None], np.clip(sky + np.float32([0, 0, 10 / 255]), 0, 1), sky)
    big = cv2.resize(cast, (1024, 576), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    big_mask = cv2.resize(mask.astype(np.uint8), (1024, 576), interpolation=cv2.INTER_NEAREST) > 0
    at_512 = seam.score(cast, mask, CFG).details["checks"]["colour_cast"]["value"]
    at_1024 = seam.score(big, big_mask, CFG).details["checks"]["colour_cast"]["value"]
    assert at_1024 == pytest.approx(at_512, rel=0.2) and at_512 > CFG.colour_cast_max


def test_a_hard_edged_tint_on_a_face_draws_a_colour_ridge():
    # a warm patch pasted hard over Grace Hopper's cheek: the face's own shading varies too much
    # for the cast measure, but the tint's outline is a colour edge nothing else on the face has
    from gate_audit import plate_at
    from gate_calibration import colour_shift

    plate = plate_at("grace_hopper", (512, 288))
    mask = _ellipse(236, 93, 40, 30)
    tinted = colour_shift(plate, mask.astype(np.float32))
    found = seam.score(tinted, mask, CFG)
    checks = found.details["checks"]
    assert checks["colour_ridge"]["pass"] is False and "a colour edge follows the edit's outline" in found.reason
    assert checks["colour_cast"]["pass"] is True  # ΔE 8.5 against the face's own variation: 4.4, limit 7.3
    assert seam.score(plate, mask, CFG).passed is True
