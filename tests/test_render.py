"""Render stage, camera backend and fit: frames match the recorded transforms; outputs; bad inputs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage.transform import ProjectiveTransform, warp

from keyframe.config import RenderConfig
from keyframe.io import read_clip, read_plate
from keyframe.render import camera_map, fit_plate, plan_camera, render, write_render
from support import assert_one_line_error, plate_path


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return read_plate(plate_path("coffee"))


def _interior(a: np.ndarray, b: np.ndarray, margin: int = 3) -> np.ndarray:
    """Absolute difference away from the border (where OpenCV and skimage handle edges differently)."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return diff[margin:-margin, margin:-margin]


@pytest.mark.parametrize("move", ["pan", "zoom", "rotate"])
def test_camera_frames_match_recorded_transforms(coffee, move):
    result = render(coffee, RenderConfig(frames=9, camera={"move": move}))
    assert result.frames.shape == (9, 288, 512, 3) and result.frames.dtype == np.uint8
    assert result.plate_to_frame0 == result.frame_transforms[0]
    assert result.motion["frame_transforms_exact"] is True
    plate = coffee.astype(np.float64) / 255.0
    for t in (0, 4, 8):
        matrix = np.array(result.frame_transforms[t])
        # independent resampler: skimage's bilinear warp with the inverse of the recorded matrix
        expected = warp(plate, ProjectiveTransform(matrix=np.linalg.inv(matrix)), order=1, mode="edge") * 255.0
        diff = _interior(result.frames[t], expected)
        assert diff.mean() < 0.6, (move, t, diff.mean())  # OpenCV samples at 1/32 px and rounds
        assert np.percentile(diff, 99.9) < 6, (move, t)


def test_moves_really_move(coffee):
    for move in ("pan", "zoom", "rotate", "dolly"):
        result = render(coffee, RenderConfig(frames=5, camera={"move": move}))
        first, last = np.array(result.frame_transforms[0]), np.array(result.frame_transforms[-1])
        assert not np.allclose(first, last), move
        assert np.abs(result.frames[0].astype(int) - result.frames[-1]).mean() > 5, move


def test_overscan_never_samples_outside_the_plate():
    for move, extra in (("pan", {"pan_x": 0.3, "pan_y": 0.1}), ("rotate", {"rotate": -10}), ("zoom", {"zoom": 0.7}),
                        ("dolly", {"dolly": 0.8})):
        plan = plan_camera((512, 288), RenderConfig(frames=7, camera={"move": move, **extra}))
        assert plan.overscan > 1.0, move
        for t in range(7):
            map_x, map_y = camera_map(plan, t)
            assert map_x.min() >= -1e-3 and map_x.max() <= 511 + 1e-3, move
            assert map_y.min() >= -1e-3 and map_y.max() <= 287 + 1e-3, move


def test_dense_map_is_ground_truth_for_dolly_with_parallax(coffee):
    cfg = RenderConfig(frames=6, camera={"move": "dolly", "dolly": 1.3, "parallax": 0.8})
    result = render(coffee, cfg)
    plan = plan_camera((512, 288), cfg)
    assert result.motion["frame_transforms_exact"] is False
    assert result.motion["max_parallax_px"] > 5
    for t in (2, 5):
        map_x, map_y = camera_map(plan, t)
        expected = np.stack(
            [ndimage.map_coordinates(coffee[..., c].astype(np.float64), [map_y, map_x], order=1, mode="nearest")
             for c in range(3)], axis=-1)
        diff = _interior(result.frames[t], expected)
        assert diff.mean() < 0.6 and np.percentile(diff, 99.9) < 6, t


def test_dolly_matrix_is_exact_on_the_reference_row_only():
    # odd height: the reference depth (1/2) falls on pixel row 90
    cfg = RenderConfig(frames=4, camera={"move": "dolly", "dolly": 1.3, "parallax": 0.8})
    plan = plan_camera((320, 181), cfg)
    xs = np.arange(320.0)
    for t in (1, 3):
        map_x, map_y = camera_map(plan, t)
        inverse = np.linalg.inv(plan.transforms[t])
        for row, exact in ((90, True), (180, False)):
            hx = inverse[0, 0] * xs + inverse[0, 1] * row + inverse[0, 2]
            hy = inverse[1, 0] * xs + inverse[1, 1] * row + inverse[1, 2]
            off = np.hypot(map_x[row] - hx, map_y[row] - hy).max()
            assert (off < 1e-3) == exact, (t, row, off)


def test_dolly_without_parallax_is_exactly_its_matrix():
    cfg = RenderConfig(frames=4, camera={"move": "dolly", "parallax": 0.0})
    plan = plan_camera((320, 180), cfg)
    assert plan.exact
    ys, xs = np.mgrid[0:180, 0:320].astype(np.float64)
    for t in range(4):
        inverse = np.linalg.inv(plan.transforms[t])
        map_x, map_y = camera_map(plan, t)
        assert np.allclose(map_x, inverse[0, 0] * xs + inverse[0, 2], atol=1e-3)
        assert np.allclose(map_y, inverse[1, 1] * ys + inverse[1, 2], atol=1e-3)


@pytest.mark.parametrize("policy", ["crop", "pad"])
def test_fit_transform_carries_points_exactly(policy):
    # a plate of sharp-ish Gaussian dots at fractional positions; their centroids must land where fit.matrix says
    height, width = 300, 500
    dots = [(60.3, 70.6), (250.5, 150.2), (430.8, 240.4)]
    ys, xs = np.mgrid[0:height, 0:width]
    plate = np.zeros((height, width), np.float64)
    for x, y in dots:
        plate += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 6.0**2))
    plate = np.repeat((plate / plate.max() * 65535).astype(np.uint16)[..., None], 3, axis=2)
    image, fit = fit_plate(plate, (256, 192), policy, multiple=64)
    assert image.shape == (192, 256, 3) and image.dtype == np.uint16
    grey = image[..., 0].astype(np.float64)
    checked = 0
    for x, y in dots:
        fx, fy, _ = fit.matrix @ np.array([x, y, 1.0])
        if not (11 <= fx < 245 and 11 <= fy < 181):
            continue  # cropped away
        x0, y0 = int(round(fx)), int(round(fy))
        window = grey[y0 - 10 : y0 + 11, x0 - 10 : x0 + 11]
        wy, wx = np.mgrid[y0 - 10 : y0 + 11, x0 - 10 : x0 + 11]
        cx, cy = (window * wx).sum() / window.sum(), (window * wy).sum() / window.sum()
        assert abs(cx - fx) < 0.1 and abs(cy - fy) < 0.1, (policy, (x, y), (cx, cy), (fx, fy))
        checked += 1
    assert checked >= 2


def test_camera_with_size_composes_fit_and_move(coffee):
    cfg = RenderConfig(frames=3, size="256x256", fit="crop", camera={"move": "rotate"})
    result = render(coffee, cfg)
    assert result.frames.shape == (3, 256, 256, 3)
    fit = np.array(result.fit["plate_to_fitted"])
    plan = plan_camera((512, 288), cfg)
    assert np.allclose(np.array(result.frame_transforms[2]), plan.fitted_transforms[2] @ fit)


def test_sixteen_bit_plate_renders_like_its_eight_bit_rounding(coffee):
    plate16 = coffee.astype(np.uint16) * 257 + 100
    cfg = RenderConfig(frames=3)
    expected = render(np.clip(np.rint(plate16 / 257.0), 0, 255).astype(np.uint8), cfg).frames
    assert np.array_equal(render(plate16, cfg).frames, expected)


def test_write_render_outputs_and_sidecar(coffee, tmp_path):
    result = render(coffee, RenderConfig(frames=5, camera={"move": "pan"}), seed=3)
    out = tmp_path / "clip.mp4"
    write_render(result, out, inputs={"plate": plate_path("coffee")}, seed=3, frames_dir=tmp_path / "frames")
    clip = read_clip(out)
    assert clip.frames.shape == (5, 288, 512, 3) and clip.fps == pytest.approx(7.0)
    assert np.abs(clip.frames.astype(int) - result.frames).mean() < 3  # H.264 at quality 8
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert [read_plate(p).tolist() == f.tolist() for p, f in zip(pngs, result.frames)] == [True] * 5
    side = json.loads((tmp_path / "clip.mp4.json").read_text())
    assert side["stage"] == "render" and side["backend"] == "camera" and side["seed"] == 3
    assert side["plate_to_frame0"] == result.plate_to_frame0
    assert side["frame_transforms"] == result.frame_transforms and len(side["frame_transforms"]) == 5
    assert side["params"]["camera"]["move"] == "pan" and side["params"]["frames"] == 5
    assert side["inputs"]["plate"]["sha256"] and side["versions"]["opencv-python-headless"]
    assert side["fit"] is None and side["model"] is None and side["motion"]["overscan"] > 1


def test_cli_camera_end_to_end(cli, tmp_path):
    out = tmp_path / "clip.mp4"
    result = cli("render", plate_path("chelsea"), "-o", out, "--frames", "6", "--fps", "12", "--size", "256x144", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 6 and summary["size"] == [256, 144] and summary["fps"] == 12
    side = json.loads((tmp_path / "clip.mp4.json").read_text())
    assert side["fit"]["size"] == [256, 144] and len(side["frame_transforms"]) == 6
    assert read_clip(out).frames.shape == (6, 144, 256, 3)


BAD_INPUTS = [
    (lambda d: ["render", d / "missing.png", "-o", d / "o.mp4"], "not found"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "nofolder" / "o.mp4"], "does not exist"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.avi"], ".mp4"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--size", "big"], "size"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--size", "255x144"], "even"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--frames", "0"], "frames"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--backend", "sora"], "backend"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--frames-dir", d / "afile"], "is a file"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--backend", "svd"], "needs a model"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--backend", "svd", "--model", d / "nope"], "not found"),
    (lambda d: ["render", plate_path("coffee"), "-o", d / "o.mp4", "--backend", "svd", "--model", d], "model_index.json"),
]


@pytest.mark.parametrize("case", range(len(BAD_INPUTS)))
def test_cli_bad_inputs_one_line_and_nothing_written(cli, tmp_path, case):
    (tmp_path / "afile").write_text("x")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    make_args, contains = BAD_INPUTS[case]
    result = cli(*make_args(tmp_path))
    assert_one_line_error(result, 2, contains)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_cli_bad_camera_config_is_one_line(cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("render:\n  camera:\n    move: dolly\n    dolly: 3.0\n    parallax: 1.5\n")
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "o.mp4", "--config", config)
    assert_one_line_error(result, 2, "near plane")
    assert not (tmp_path / "o.mp4").exists()


def test_warp_matches_opencv_convention():
    """The pixel-centre convention the transforms use is OpenCV's: a 2x resize maps x to 2x + 0.5."""
    plate = np.zeros((20, 20), np.uint8)
    plate[5, 7] = 255
    image, fit = fit_plate(plate[..., None].repeat(3, 2), (40, 40), multiple=8)
    resized = cv2.resize(plate, (40, 40), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(image[..., 0], resized)
    assert fit.matrix[:2].tolist() == [[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]]


def test_reflect_border_keeps_scale_and_mirrors_instead_of_black(coffee):
    cfg = RenderConfig(frames=3, camera={"move": "pan", "pan_x": 0.25, "border": "reflect"})  # 64 px each side
    plan = plan_camera((512, 288), cfg)
    assert plan.overscan == 1.0
    map_x, _ = camera_map(plan, 0)
    assert map_x.min() < -10  # the first frame looks past the plate's left edge
    frame = render(coffee, cfg).frames[0]
    mirrored = int(-map_x.min())
    assert np.array_equal(frame[:, mirrored - 5], frame[:, mirrored + 5])  # reflect-101 about the edge column
