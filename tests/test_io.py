"""Media I/O round trips: plates, masks, clips, atomic writes and sidecars."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
from PIL import Image

from support import load_pair, mask_path, plate_path
from keyframe.errors import KeyframeError
from keyframe.io.documents import json_depth
from keyframe.io import (
    atomic_path,
    file_sha256,
    image_size,
    read_clip,
    read_json,
    read_mask,
    read_plate,
    read_png_text,
    read_yaml_mapping,
    sidecar_path,
    write_clip,
    write_frames,
    write_image,
    write_mask,
    write_sidecar,
)


@pytest.fixture(scope="module")
def coffee():
    return read_plate(plate_path("coffee"))


def test_fixture_plate_is_rgb_uint8(coffee):
    assert coffee.shape == (288, 512, 3)
    assert coffee.dtype == np.uint8
    assert coffee.std() > 20  # a real photo, not a flat or striped image
    assert np.abs(np.diff(coffee.astype(int), axis=1)).mean() > 1


@pytest.mark.parametrize("depth", [8, 16])
def test_png_round_trip_is_bit_exact(tmp_path, coffee, depth):
    image = coffee if depth == 8 else (coffee.astype(np.uint16) * 257 + 3)
    write_image(tmp_path / "p.png", image, text={"parameters": "Steps: 20, Seed: 7"})
    back = read_plate(tmp_path / "p.png")
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)
    assert read_png_text(tmp_path / "p.png")["parameters"] == "Steps: 20, Seed: 7"


def test_grey_plate_becomes_rgb(tmp_path, coffee):
    grey = coffee[:, :, 1].copy()
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    back = read_plate(tmp_path / "g.png")
    assert back.shape == (288, 512, 3)
    np.testing.assert_array_equal(back[:, :, 0], grey)


def test_rgba_alpha_dropped_with_warning(tmp_path, coffee):
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="alpha"):
        back = read_plate(tmp_path / "a.png")
    np.testing.assert_array_equal(back, coffee)


@pytest.mark.parametrize(("suffix", "kwargs", "tolerance"), [(".jpg", {"quality": 95}, 12), (".tif", {}, 0), (".webp", {"lossless": True}, 0)])
def test_other_formats(tmp_path, coffee, suffix, kwargs, tolerance):
    Image.fromarray(coffee).save(tmp_path / f"p{suffix}", **kwargs)
    back = read_plate(tmp_path / f"p{suffix}")
    assert back.shape == coffee.shape
    assert np.abs(back.astype(int) - coffee).mean() <= tolerance


def test_16bit_tiff_keeps_depth(tmp_path, coffee):
    deep = coffee.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "d.tif"), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    back = read_plate(tmp_path / "d.tif")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, deep)


def test_exif_orientation_is_applied(tmp_path, coffee):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    stored = np.rot90(coffee, 1)
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "r.jpg", quality=98, exif=exif)
    back = read_plate(tmp_path / "r.jpg")
    assert back.shape == coffee.shape
    assert np.abs(back.astype(int) - coffee).mean() < 6


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
@pytest.mark.parametrize("orientation, stored", [(3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, 1)),
                                                 (8, lambda a: np.rot90(a, -1))])
def test_exif_orientation_is_applied_exactly_once_for_every_format(tmp_path, coffee, suffix, orientation, stored):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(stored(coffee))).save(tmp_path / f"o{suffix}", exif=exif, quality=98)
    back = read_plate(tmp_path / f"o{suffix}")
    assert back.shape == coffee.shape  # 90 degrees: the upright shape, not the stored one
    assert np.abs(back.astype(int) - coffee).mean() < 6  # 180 degrees: not turned back again
    assert image_size(tmp_path / f"o{suffix}", "plate") == (coffee.shape[1], coffee.shape[0])


def test_grey_alpha_mask_is_read_from_its_grey_channel(tmp_path):
    grey = np.zeros((72, 128), np.uint8)
    grey[20:40, 30:60] = 255
    Image.fromarray(np.dstack([grey, np.full_like(grey, 255)]), "LA").save(tmp_path / "la.png")
    assert np.array_equal(read_mask(tmp_path / "la.png", grey.shape), grey > 0)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])  # an opaque RGBA: its grey, not its alpha
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert np.array_equal(read_mask(tmp_path / "opaque.png", grey.shape), grey > 0)


@pytest.mark.parametrize("text, says", [
    ('{"a": 1, "a": 2}', "twice"), ('{"a": 1e999}', "not finite"), ('{"a": -Infinity}', "not a number"),
    ('{"a": %s}' % ("7" * 5000), "digits"), ("[" * 100_000 + "]" * 100_000, "nested"),
])
def test_json_documents_are_parsed_within_bounds(tmp_path, text, says):
    (tmp_path / "d.json").write_text(text)
    with pytest.raises(KeyframeError, match=says):
        read_json(tmp_path / "d.json", "document")


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": ["[[[[", {"b": "}}]]"}]}') == 3


@pytest.mark.parametrize("text, says", [
    ("a: 1\na: 2\n", "twice"), ("a: .inf\n", "not finite"), ("a: " + "9" * 5000, "characters"),
    ("a: " + "[" * 20_000 + "]" * 20_000, "nested"), ("a: !!python/object/apply:os.system ['true']", "yaml"),
])
def test_yaml_documents_are_parsed_within_bounds(tmp_path, text, says):
    (tmp_path / "d.yaml").write_text(text)
    with pytest.raises(KeyframeError, match=f"(?i){says}"):
        read_yaml_mapping(tmp_path / "d.yaml", "config file")


@pytest.mark.parametrize("count", [30_000, 300_000])
def test_a_polygon_of_random_points_is_refused_at_once(tmp_path, count):
    points = np.random.default_rng(0).uniform(0, [512, 288], size=(count, 2))
    (tmp_path / "m.json").write_text(json.dumps({"shapes": [{"type": "polygon", "points": points.tolist()}]}))
    started = time.perf_counter()
    with pytest.raises(KeyframeError, match="max_polygon_crossings|max_mask_points"):
        read_mask(tmp_path / "m.json", (288, 512))
    assert time.perf_counter() - started < 20  # it filled for minutes before (issue 19); ~0.1-2 s now


def test_a_traced_outline_of_many_points_is_filled(tmp_path):
    angle = np.linspace(0, 2 * np.pi, 50_000, endpoint=False)
    points = np.stack([256 + 100 * np.cos(angle), 144 + 80 * np.sin(angle)], axis=1)
    (tmp_path / "m.json").write_text(json.dumps({"shapes": [{"type": "polygon", "points": points.tolist()}]}))
    mask = read_mask(tmp_path / "m.json", (288, 512))
    assert abs(mask.sum() - np.pi * 100 * 80) < 0.02 * np.pi * 100 * 80


def test_clip_budget_is_checked_from_the_header_before_decoding(tmp_path, moving_frames):
    write_clip(tmp_path / "c.mp4", moving_frames, fps=7)
    frame_bytes = moving_frames[0].nbytes
    with pytest.raises(KeyframeError, match="max_clip_bytes"):
        read_clip(tmp_path / "c.mp4", max_bytes=frame_bytes * (len(moving_frames) - 1))
    assert len(read_clip(tmp_path / "c.mp4", max_bytes=frame_bytes * len(moving_frames)).frames) == len(moving_frames)
    write_frames(tmp_path / "seq", moving_frames)
    with pytest.raises(KeyframeError, match="max_clip_bytes"):
        read_clip(tmp_path / "seq", max_bytes=frame_bytes)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    """A 30000x30000 PNG header with almost no data: 900 MP if anything tried to decode it."""
    import struct
    import zlib

    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
    bomb = b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _png_chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises(KeyframeError, match="over the 64 MP limit"):
        read_plate(tmp_path / "bomb.png")


def test_masks_from_png_alpha_and_json(tmp_path):
    plate, mask = load_pair("coffee")
    assert mask.dtype == bool and 0.01 < mask.mean() < 0.2
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[..., 3] = mask * 255
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "alpha.png", mask.shape), mask)

    shapes = {"shapes": [{"type": "box", "xywh": [10, 20, 30, 40]}, {"type": "polygon", "points": [[100, 100], [150, 100], [125, 140]]}]}
    (tmp_path / "m.json").write_text(json.dumps(shapes))
    from_json = read_mask(tmp_path / "m.json", (288, 512))
    assert from_json[20:60, 10:40].all() and not from_json[61, 10]
    assert from_json[110, 125] and not from_json[99, 125]


def test_mask_threshold(tmp_path):
    soft = np.zeros((64, 64), np.uint8)
    soft[10:20, 10:20] = 100
    soft[30:40, 30:40] = 250
    cv2.imwrite(str(tmp_path / "soft.png"), soft)
    assert read_mask(tmp_path / "soft.png", (64, 64)).sum() == 200
    assert read_mask(tmp_path / "soft.png", (64, 64), threshold=128).sum() == 100


def test_write_mask_soft_and_hard(tmp_path):
    soft = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    write_mask(tmp_path / "soft.png", soft)
    back = cv2.imread(str(tmp_path / "soft.png"), cv2.IMREAD_UNCHANGED)
    assert back.ndim == 2 and back.max() == 255 and back.min() == 0


@pytest.fixture(scope="module")
def moving_frames(coffee):
    return np.stack([np.roll(coffee, 3 * t, axis=1) for t in range(6)])


def test_mp4_round_trip(tmp_path, moving_frames):
    write_clip(tmp_path / "c.mp4", moving_frames, fps=7)
    clip = read_clip(tmp_path / "c.mp4")
    assert clip.frames.shape == moving_frames.shape
    assert clip.fps == pytest.approx(7)
    assert np.abs(clip.frames.astype(int) - moving_frames).mean() < 4  # lossy but close


def test_a_rotated_phone_clip_is_read_upright(tmp_path, moving_frames, capfd):
    import subprocess

    import imageio_ffmpeg

    write_clip(tmp_path / "c.mp4", moving_frames, fps=7)
    height, width = moving_frames.shape[1:3]
    for degrees, size in ((90, (width, height)), (-90, (width, height)), (180, (height, width))):
        rotated = tmp_path / f"rotated{degrees}.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-display_rotation", str(degrees), "-i",
                        tmp_path / "c.mp4", "-c", "copy", rotated], check=True)  # metadata only, as a phone writes it
        clip = read_clip(rotated)
        assert clip.frames.shape == (len(moving_frames), *size, 3) and clip.fps == pytest.approx(7)
    assert capfd.readouterr().err == ""


def test_odd_sized_clip_is_padded_to_even(tmp_path, moving_frames):
    odd = moving_frames[:, :287, :511]
    write_clip(tmp_path / "odd.mp4", odd, fps=7)
    assert read_clip(tmp_path / "odd.mp4").frames.shape[1:3] == (288, 512)


def test_frame_folder_and_pattern_round_trip(tmp_path, moving_frames):
    write_frames(tmp_path / "frames", moving_frames)
    from_dir = read_clip(tmp_path / "frames", fps=12)
    np.testing.assert_array_equal(from_dir.frames, moving_frames)
    assert from_dir.fps == 12
    from_pattern = read_clip(tmp_path / "frames" / "frame_%04d.png")
    np.testing.assert_array_equal(from_pattern.frames, moving_frames)


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_when_the_new_one_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("approved")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "approved"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_sidecar_records_hashes_params_seed_versions(tmp_path):
    out = write_image(tmp_path / "o.png", np.zeros((16, 16, 3), np.uint8))
    write_sidecar(out, stage="test", inputs={"plate": plate_path("coffee"), "mask": mask_path("coffee")}, params={"grow": 4}, seed=9)
    data = json.loads(sidecar_path(out).read_text())
    assert data["inputs"]["plate"]["sha256"] == file_sha256(plate_path("coffee"))
    assert data["output_sha256"] == file_sha256(out)
    assert data["params"] == {"grow": 4} and data["seed"] == 9
    assert {"numpy", "keyframe", "python"} <= set(data["versions"])


def test_outputs_follow_the_umask_not_mkstemps_0600(tmp_path):
    import os

    out = write_image(tmp_path / "o.png", np.zeros((8, 8, 3), np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_variable_frame_rate_clip_reads_each_coded_frame_once(tmp_path, moving_frames):
    """Frames are not duplicated to a constant rate (duplicates would read as 'no motion')."""
    import subprocess

    import imageio_ffmpeg

    write_clip(tmp_path / "c.mp4", moving_frames, fps=6)
    # retime: the first 3 frames 0.1 s apart, the rest 0.5 s apart
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(tmp_path / "c.mp4"), "-vf",
         "setpts='if(lt(N,3),N*0.1/TB,(0.3+(N-3)*0.5)/TB)'", "-fps_mode", "vfr", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", str(tmp_path / "vfr.mp4")],
        check=True,
    )
    frames = read_clip(tmp_path / "vfr.mp4").frames
    assert len(frames) == len(moving_frames)
    assert all(np.abs(frames[i + 1].astype(int) - frames[i]).mean() > 1 for i in range(len(frames) - 1))


def test_output_group_commits_all_files_together(tmp_path):
    from keyframe.io import output_group, write_json_atomic

    with output_group():
        write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
        write_json_atomic(tmp_path / "a.png.json", {"sha": file_sha256(tmp_path / "a.png")})  # reads the pending file
        assert not (tmp_path / "a.png").exists()  # nothing visible until the group ends
    assert json.loads((tmp_path / "a.png.json").read_text())["sha"] == file_sha256(tmp_path / "a.png")


def test_output_group_failure_removes_every_file_and_new_folder(tmp_path):
    from keyframe.io import check_output_dir, output_group, write_json_atomic

    (tmp_path / "kept.txt").write_text("approved")
    with pytest.raises(RuntimeError):
        with output_group():
            folder = check_output_dir(tmp_path / "report")
            write_json_atomic(folder / "report.json", {"verdict": "pass"})
            write_json_atomic(tmp_path / "kept.txt", {"overwritten": True})
            raise RuntimeError("the plot failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
    assert (tmp_path / "kept.txt").read_text() == "approved"


def test_sidecar_names_inputs_in_its_own_folder_relatively(tmp_path):
    """A folder built under a staging name and renamed keeps true input paths (nightly shots)."""
    staging = tmp_path / ".sh010.partial"
    staging.mkdir()
    clean = write_image(staging / "clean.png", np.zeros((8, 8, 3), np.uint8))
    clip = write_image(staging / "clip.png", np.ones((8, 8, 3), np.uint8))
    write_sidecar(clip, stage="render", inputs={"plate": clean, "mask": mask_path("coffee")}, params={}, seed=0)
    data = json.loads(sidecar_path(clip).read_text())
    assert data["inputs"]["plate"]["path"] == "clean.png"
    assert data["inputs"]["mask"]["path"] == str(mask_path("coffee"))
