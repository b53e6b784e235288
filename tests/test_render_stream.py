"""Guarantees that render, the prep chain's outputs, compare and the contact sheet stream the clip:
their memory does not grow with its length, and streaming changes no pixel.

Peak memory is tracemalloc's (numpy and OpenCV frames are allocated through it); each case runs
a short and a long clip and allows the long one at most two frames more.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from keyframe.compare import side_by_side
from keyframe.config import Config, RenderConfig
from keyframe.io import ClipStream, read_clip, write_clip
from keyframe.pipeline import render_and_check, write_checked_clip
from keyframe.render import CameraFrames, plan_camera, render, write_render
from keyframe.render.fit import apply_fit
from keyframe.report import build_report
from keyframe.report.html import contact_sheet
from support import load_pair

SHORT, LONG = 4, 24


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    return load_pair("coffee")


def peak_bytes(run: Callable[[], object]) -> int:
    """Peak traced memory while ``run()`` runs (above what was allocated before it)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_flat(peak: Callable[[int], int], frame_bytes: int) -> None:
    """The peak for LONG frames is within two frames of the peak for SHORT frames."""
    short, long = peak(SHORT), peak(LONG)
    held = (long - short) / frame_bytes
    assert held < 2, f"{LONG - SHORT} more frames cost {held:.1f} frames of memory ({short} -> {long} bytes)"


def test_camera_render_to_video_holds_no_clip(pair, tmp_path):
    plate, _ = pair

    def peak(frames: int) -> int:
        return peak_bytes(lambda: write_render(render(plate, RenderConfig(frames=frames)), tmp_path / f"{frames}.mp4",
                                               inputs={}, seed=0))

    assert_flat(peak, plate.nbytes)
    assert read_clip(tmp_path / f"{LONG}.mp4").frames.shape == (LONG, *plate.shape)


@pytest.mark.parametrize("camera", [{"move": "pan"}, {"move": "rotate", "border": "reflect"},
                                    {"move": "dolly", "parallax": 0.5}])
def test_camera_frames_are_the_renderers_warps_pixel_for_pixel(pair, camera):
    """Each frame is the one resampling of the fitted plate the renderer always made, whenever it is read."""
    plate, _ = pair
    cfg = RenderConfig(frames=5, size="384x216", camera=camera)
    frames = render(plate, cfg).frames
    plan = plan_camera((plate.shape[1], plate.shape[0]), cfg)
    fitted = apply_fit(plate, plan.fit)
    assert isinstance(frames, CameraFrames) and len(frames) == 5 and frames.shape == (5, 216, 384, 3)
    for t in (0, 2, 4):
        if plan.exact:
            expected = cv2.warpPerspective(fitted, plan.fitted_transforms[t], plan.size, flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REFLECT_101)
        else:
            ys, xs = np.mgrid[0:216, 0:384].astype(np.float64)
            from keyframe.render.camera import _frame_to_fitted

            map_x, map_y = _frame_to_fitted(plan, t, xs, ys, plan.overscan)
            expected = cv2.remap(fitted, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT_101)
        np.testing.assert_array_equal(frames[t], expected)
    np.testing.assert_array_equal(np.stack(list(frames)), np.stack(list(frames)))  # read again: the same frames
    np.testing.assert_array_equal(frames[-1], frames[4])


def test_render_check_and_report_outputs_hold_no_clip(pair, tmp_path):
    """The prep chain after the gate: render, check, clip + overlay + report.html written."""
    plate, mask = (cv2.resize(pair[0], (256, 144), interpolation=cv2.INTER_AREA),
                   cv2.resize(pair[1].astype(np.uint8), (256, 144), interpolation=cv2.INTER_NEAREST) > 0)

    def peak(frames: int) -> int:
        cfg = Config(render={"frames": frames})

        def run() -> None:
            clip, check = render_and_check(plate, mask, cfg)
            (tmp_path / str(frames)).mkdir()
            write_checked_clip(tmp_path / str(frames), clip, check, build_report(check=check, inputs={}, params={}), cfg,
                               clip_inputs={}, media={}, title="t")
        return peak_bytes(run)

    assert_flat(peak, plate.nbytes * 4)  # the check's per-frame records and bit-packed masks grow a little
    assert read_clip(tmp_path / str(LONG) / "overlay.mp4").frames.shape[0] == LONG


def _frames(count: int, size: tuple[int, int], seen: list[int]) -> Iterator[np.ndarray]:
    """A clip made frame by frame (as a decoder gives it), counting how many were made."""
    for t in range(count):
        seen[0] += 1
        yield np.full((*size, 3), 10 * t % 256, np.uint8)


def test_side_by_side_streams_both_clips_once(tmp_path):
    mask_a, mask_b = np.zeros((72, 128), bool), np.zeros((36, 64), bool)
    mask_a[20:40, 30:60] = mask_b[10:20, 15:30] = True

    def peak(frames: int) -> int:
        seen = [0, 0]
        pairs = [(t, t // 2) for t in range(frames)]  # B at half A's rate: its frames repeat
        run = lambda: write_clip(tmp_path / f"{frames}.mp4", side_by_side(  # noqa: E731
            _frames(frames, (72, 128), seen[0:1]), _frames(frames // 2, (36, 64), seen[1:2]), [mask_a] * frames,
            [mask_b] * (frames // 2), pairs=pairs), 7.0)
        return peak_bytes(run)

    assert_flat(peak, 72 * (128 + 8 + 128) * 3)
    clip = read_clip(tmp_path / f"{LONG}.mp4").frames
    assert clip.shape == (LONG, 72, 264, 3)


def test_side_by_side_stream_equals_arrays():
    rng = np.random.default_rng(0)
    frames_a, frames_b = rng.integers(0, 255, (6, 60, 80, 3), np.uint8), rng.integers(0, 255, (4, 40, 64, 3), np.uint8)
    masks_a, masks_b = np.zeros((6, 60, 80), bool), np.zeros((4, 40, 64), bool)
    masks_a[:, 10:30, 20:50] = masks_b[:, 5:20, 10:40] = True
    pairs = [(0, 0), (1, 0), (2, 1), (4, 2), (5, 3)]
    reasons = [{"code": "float", "frames": [[1, 2]]}]
    from_arrays = list(side_by_side(frames_a, frames_b, masks_a, masks_b, reasons, (), pairs))
    from_streams = list(side_by_side(iter(frames_a), iter(frames_b), masks_a, masks_b, reasons, (), pairs))
    assert len(from_arrays) == 5 and from_arrays[0].shape == (60, 80 + 8 + 96, 3)  # B scaled to A's height
    for a, b in zip(from_arrays, from_streams):
        np.testing.assert_array_equal(a, b)
    assert (from_arrays[1][:, :80] != frames_a[1]).any()  # the outline is drawn


def test_contact_sheet_of_a_decoded_stream_keeps_only_its_frames(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (LONG, 72, 128, 3), np.uint8)
    masks = np.zeros((LONG, 72, 128), bool)
    masks[:, 20:40, 30:60] = True
    path = write_clip(tmp_path / "c.mp4", frames, 7.0, quality=10)
    decoded = read_clip(path).frames
    sheet = contact_sheet(ClipStream(path), masks, n_frames=4, width=64)
    np.testing.assert_array_equal(sheet, contact_sheet(decoded, masks, n_frames=4, width=64))

    def peak(count: int) -> int:
        seen = [0]
        return peak_bytes(lambda: contact_sheet(_frames(count, (72, 128), seen), masks[:count], n_frames=4, width=64))

    assert_flat(peak, frames[0].nbytes)


def test_a_models_clip_is_stored_losslessly_and_persisted_by_name(tmp_path):
    """A flow's render stage keeps a model's frames on disk (FFV1): the cached result names the file,
    and reading it back gives every pixel rendered."""
    from keyframe.io.results import decode_result, encode_result
    from keyframe.render import RenderResult
    from keyframe.render.stored import StoredFrames, store_frames

    frames = np.random.default_rng(2).integers(0, 255, (6, 37, 51, 3), np.uint8)  # odd sizes: no padding
    stored = store_frames(RenderResult(frames, 7.0, np.eye(3).tolist(), None, {}, None, "svd"), tmp_path / "clips")
    blob = encode_result(stored)
    assert isinstance(stored.frames, StoredFrames) and len(blob) < frames.nbytes / 4
    again = decode_result(blob).frames
    assert again.shape == frames.shape and stored.size == (51, 37)
    np.testing.assert_array_equal(np.stack(list(again)), frames)
    np.testing.assert_array_equal(np.stack(list(again)), frames)  # read again
