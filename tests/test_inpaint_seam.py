"""Seam matching lowers the seam measure (keyframe.seam.measure_seam) compared with --seam-match none."""

from __future__ import annotations

import numpy as np
import pytest
from support import PLATE_NAMES, load_pair
from test_inpaint_diffusers import FAST, pipe, tiny_dir  # noqa: F401  (module-scoped fixtures)

from keyframe.config import InpaintConfig
from keyframe.inpaint import inpaint
from keyframe.inpaint.composite import match_color, poisson_blend
from keyframe.io import to_float
from keyframe.seam import measure_seam


def seam_of(result):
    """The seam where the fill dominates (effective mask above one half)."""
    return measure_seam(result.image, result.effective_mask > 0.5)


def grain_mismatch(measure) -> float:
    """How far the grain ratio is from 1, symmetric for too clean and too noisy."""
    return abs(float(np.log(measure.grain_ratio)))


@pytest.mark.parametrize("name", PLATE_NAMES)
def test_grain_matching_brings_a_clean_fill_to_the_plates_grain(name):
    plate, mask = load_pair(name)
    smooth = {"backend": "telea", "texture": "none"}  # the Gaussian grain alone, without texture synthesis
    none = seam_of(inpaint(plate, mask, InpaintConfig(**smooth, seam_match="none")))
    matched = seam_of(inpaint(plate, mask, InpaintConfig(**smooth, seam_match="color+grain")))
    # telea fills are smooth: grain ratio 0.16-0.39 on these photos; matched 0.96-1.2
    assert none.grain_ratio < 0.5
    assert grain_mismatch(matched) < 0.25 and grain_mismatch(matched) < grain_mismatch(none) / 3


@pytest.mark.parametrize("name", PLATE_NAMES)
def test_color_matching_lowers_the_step_of_a_smooth_fill(name):
    plate, mask = load_pair(name)
    smooth = {"backend": "biharmonic", "texture": "none"}
    none = seam_of(inpaint(plate, mask, InpaintConfig(**smooth, seam_match="none")))
    matched = seam_of(inpaint(plate, mask, InpaintConfig(**smooth, seam_match="color")))
    # measured: 1.4-5.9 dE without matching, 0.8-2.9 with
    assert matched.color_step < 0.8 * none.color_step


def test_diffusion_fill_seam_is_matched_in_colour_and_grain(pipe):  # noqa: F811
    plate, mask = load_pair("coffee")
    results = {
        mode: seam_of(inpaint(plate, mask, InpaintConfig(**FAST, seam_match=mode, texture="none"), seed=1, model=pipe))
        for mode in ("none", "color+grain")
    }
    none, matched = results["none"], results["color+grain"]
    # a random-weight model's fill is far off in colour (~54 dE) and in grain; matching cuts both
    assert none.color_step > 15 and matched.color_step < none.color_step / 2
    assert grain_mismatch(matched) < grain_mismatch(none) and grain_mismatch(matched) < 0.25
    assert matched.gradient_ridge < none.gradient_ridge


def test_match_color_and_poisson_remove_a_colour_cast():
    """A fill with a colour cast (as a model's VAE round trip gives) pasted into a real photo."""
    plate, mask = load_pair("chelsea")
    image = to_float(plate)
    cast = image + np.array([0.12, -0.05, 0.08], np.float32)  # the backend's whole crop is off

    def pasted(fill):
        return np.where(mask[..., None], fill, image)

    before = measure_seam(pasted(cast), mask).color_step
    colour = measure_seam(pasted(match_color(cast, image, mask, ~mask, 8)), mask).color_step
    restored = poisson_blend(cast, image, mask)
    assert before > 10 and colour < before / 4 and measure_seam(pasted(restored), mask).color_step < before / 4
    # Poisson keeps the fill's detail and takes the plate's colour: a uniform cast disappears
    assert np.abs(restored[mask] - image[mask]).max() < 1e-3
