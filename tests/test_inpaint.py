"""Inpaint stage with the weight-free backends: preservation, regions, dtypes, the planted defect, outputs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from support import PLATE_NAMES, load_pair, mask_path, plate_path
from scipy.ndimage import distance_transform_edt

from keyframe.config import InpaintConfig
from keyframe.inpaint import inpaint, write_inpaint
from keyframe.inpaint.composite import edit_zone
from keyframe.io import read_mask, read_plate, read_png_text, sidecar_path

CLASSICAL = ("telea", "ns", "biharmonic")


def random_mask(shape: tuple[int, int], rng: np.random.Generator, blobs: int = 3) -> np.ndarray:
    """A few random ellipses and polygons, like strokes an editor paints."""
    mask = np.zeros(shape, np.uint8)
    height, width = shape
    for _ in range(blobs):
        if rng.random() < 0.5:
            center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            axes = (int(rng.integers(4, 40)), int(rng.integers(4, 30)))
            cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            points = rng.integers([0, 0], [width, height], size=(int(rng.integers(3, 6)), 2)).astype(np.int32)
            points = (points - points.mean(axis=0)) * 0.15 + points.mean(axis=0)
            cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    return mask.astype(bool)


def assert_preserved(plate: np.ndarray, image: np.ndarray, mask: np.ndarray, reach: int) -> None:
    """Every pixel farther than ``reach`` (exact Euclidean distance) from the mask is bit-identical."""
    assert image.shape == plate.shape and image.dtype == plate.dtype
    far = distance_transform_edt(~mask) > reach
    assert np.array_equal(image[far], plate[far])


@pytest.mark.parametrize("backend", CLASSICAL)
@pytest.mark.parametrize("name", PLATE_NAMES)
def test_preservation_on_fixture_photos_with_random_masks(backend, name):
    plate, fixture_mask = load_pair(name)
    rng = np.random.default_rng(PLATE_NAMES.index(name))
    for mask, grow, feather in ((fixture_mask, 6, 4), (random_mask(plate.shape[:2], rng), 3, 7)):
        result = inpaint(plate, mask, InpaintConfig(backend=backend, grow=grow, feather=feather), seed=1)
        assert_preserved(plate, result.image, mask, grow + feather)
        assert not np.array_equal(result.image[mask], plate[mask])  # something was filled


@pytest.mark.parametrize("backend", CLASSICAL)
def test_zero_grow_and_feather_keeps_every_pixel_outside_the_mask(backend):
    plate, _ = load_pair("chelsea")
    mask = random_mask(plate.shape[:2], np.random.default_rng(7), blobs=4)
    cfg = InpaintConfig(backend=backend, grow=0, feather=0, blend="poisson")
    result = inpaint(plate, mask, cfg)
    assert np.array_equal(result.image[~mask], plate[~mask])
    assert np.array_equal(result.effective_mask > 0, mask)


@pytest.mark.parametrize("grow,feather", [(0, 0), (1, 0), (0, 1), (5, 3), (12, 9)])
def test_edit_zone_is_exactly_zero_beyond_grow_plus_feather(grow, feather):
    mask = random_mask((120, 160), np.random.default_rng(grow * 10 + feather))
    zone = edit_zone(mask, grow, feather)
    assert zone.dtype == np.float32 and zone.min() >= 0 and zone.max() <= 1
    assert (zone[mask] == 1).all()
    assert (zone[distance_transform_edt(~mask) > grow + feather] == 0).all()


@pytest.mark.parametrize("backend", CLASSICAL)
def test_16_bit_plate_keeps_its_depth_and_untouched_pixels(backend):
    plate8, mask = load_pair("rocket")
    low_bits = np.random.default_rng(3).integers(0, 257, plate8.shape)
    plate = (plate8.astype(np.uint16) * 257 - low_bits).clip(0, 65535).astype(np.uint16)
    result = inpaint(plate, mask, InpaintConfig(backend=backend))
    assert result.params["bit_depth"] == 16
    assert_preserved(plate, result.image, mask, 6 + 4)
    # the fill uses the 16-bit range, not 8-bit steps
    assert np.unique(result.image[mask] % 257).size > 10


def test_disconnected_regions_each_get_their_own_crop():
    plate, _ = load_pair("astronaut")
    mask = np.zeros(plate.shape[:2], bool)
    mask[20:40, 20:50] = True  # top left
    mask[230:260, 440:490] = True  # bottom right
    mask[120:135, 250:262] = True  # centre
    cfg = InpaintConfig(grow=2, feather=2, crop_padding=10)
    result = inpaint(plate, mask, cfg)
    assert len(result.regions) == 3
    boxes = sorted(region["box"] for region in result.regions)
    # each crop is its region plus grow + feather + padding, nowhere near the whole plate
    assert boxes == [[6, 6, 58, 48], [236, 106, 40, 43], [426, 216, 78, 58]]
    assert_preserved(plate, result.image, mask, 4)


def test_planted_defect_is_removed_and_fill_matches_surroundings():
    plate = read_plate(plate_path("coffee_defect"))
    mask = read_mask(mask_path("coffee_defect"), plate.shape[:2])
    lab = cv2.cvtColor(plate, cv2.COLOR_RGB2Lab).astype(np.float32)
    ring = (distance_transform_edt(~mask) > 12) & (distance_transform_edt(~mask) <= 24)

    def red(image):
        r, g, b = (image[..., c].astype(int) for c in range(3))
        return (r > 200) & (g < 45) & (b < 45)

    defect = (plate == (230, 20, 20)).all(axis=2)
    assert defect.sum() == 32 * 32 and (defect <= mask).all()  # the fixture's square, inside the mask
    assert red(plate).sum() >= 32 * 32
    defect_error = np.linalg.norm(lab[defect].mean(0) - lab[ring].mean(0))
    for backend in CLASSICAL:
        result = inpaint(plate, mask, InpaintConfig(backend=backend), seed=0)
        assert red(result.image).sum() == 0, backend
        filled = cv2.cvtColor(result.image, cv2.COLOR_RGB2Lab).astype(np.float32)[defect]
        # mean colour within 8 dE of the surroundings (measured ~3.5; the red square is ~66 away) ...
        error = np.linalg.norm(filled.mean(0) - lab[ring].mean(0))
        assert error < 8 and error < defect_error / 5, (backend, error, defect_error)
        # ... and not busier than the surroundings (measured 0.13-0.6 of their lightness spread)
        assert filled[:, 0].std() < lab[ring][:, 0].std(), backend


def test_same_seed_same_output_and_seed_changes_grain():
    plate, mask = load_pair("brick")
    cfg = InpaintConfig(seam_match="color+grain")
    first, again = inpaint(plate, mask, cfg, seed=5), inpaint(plate, mask, cfg, seed=5)
    assert np.array_equal(first.image, again.image)
    assert first.params == again.params and first.regions == again.regions
    assert not np.array_equal(first.image, inpaint(plate, mask, cfg, seed=6).image)


def test_progress_reaches_one():
    plate, mask = load_pair("coffee")
    seen = []
    inpaint(plate, mask, InpaintConfig(), progress=lambda done, total: seen.append(done / total))
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


def test_misuse_is_a_value_error():
    plate, mask = load_pair("coffee")
    with pytest.raises(ValueError, match="shape"):
        inpaint(plate, mask[:-1], InpaintConfig())
    with pytest.raises(ValueError, match="empty"):
        inpaint(plate, np.zeros_like(mask), InpaintConfig())
    with pytest.raises(ValueError, match="uint8 or uint16"):
        inpaint(plate.astype(np.float32), mask, InpaintConfig())


def test_write_inpaint_outputs_png_text_mask_and_sidecar(tmp_path):
    plate, mask = load_pair("coffee")
    result = inpaint(plate, mask, InpaintConfig(backend="ns"), seed=3)
    paths = write_inpaint(result, tmp_path / "clean.png", inputs={"plate": plate_path("coffee"), "mask": mask_path("coffee")}, seed=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.mask.png", "clean.png", "clean.png.json"]
    assert np.array_equal(read_plate(paths["image"]), result.image)
    written_mask = read_plate(paths["mask"])[..., 0]
    assert np.abs(written_mask / 255.0 - result.effective_mask).max() <= 0.5 / 255 + 1e-6
    text = read_png_text(paths["image"])
    assert "Inpaint backend: ns" in text["parameters"] and "Seed: 3" in text["parameters"]
    assert "Mask blur: 4" in text["parameters"] and json.loads(text["keyframe"]) == result.params
    sidecar = json.loads(sidecar_path(paths["image"]).read_text())
    assert sidecar["stage"] == "inpaint" and sidecar["seed"] == 3 and sidecar["params"] == result.params
    assert set(sidecar["inputs"]) == {"plate", "mask"} and sidecar["effective_mask"]["path"] == "clean.mask.png"
    assert sidecar["regions"] == result.regions
