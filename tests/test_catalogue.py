"""The bad-input catalogue: every CLI command, every kind of bad input, one table.

Each case builds its inputs in a fresh folder and runs ``keyframe ...`` in-process. A bad input
must give exactly one line on stderr, exit 2 and write nothing; inputs that look odd but are
valid (16-bit, grey, RGBA, CMYK, mislabelled extensions, unicode paths) must simply work.
Stage-specific errors have their own tests beside each stage; this table is the promise that
all commands treat the same bad input the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from support import assert_one_line_error, mask_path, plate_path

PLATE, MASK = plate_path("coffee"), mask_path("coffee")


def png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cv2.imencode(".png", pixels)[1].tobytes())
    return path


def photo() -> np.ndarray:
    return np.asarray(Image.open(PLATE).convert("RGB"))


# --- builders: each returns a path to one kind of input, made inside folder ``d`` -----------------

def zero_byte(d: Path) -> Path:
    (d / "zero.png").write_bytes(b"")
    return d / "zero.png"


def truncated_png(d: Path) -> Path:
    data = PLATE.read_bytes()
    (d / "trunc.png").write_bytes(data[: len(data) // 2])
    return d / "trunc.png"


def text_as_png(d: Path) -> Path:
    (d / "notes.png").write_text("not an image\n")
    return d / "notes.png"


def folder_as_file(d: Path) -> Path:
    (d / "folder.png").mkdir()
    return d / "folder.png"


def missing(d: Path) -> Path:
    return d / "missing.png"


def one_pixel(d: Path) -> Path:
    return png(d / "one.png", np.zeros((1, 1, 3), np.uint8))


def plate_16bit(d: Path) -> Path:
    return png(d / "deep.png", cv2.cvtColor(photo(), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)


def plate_grey(d: Path) -> Path:
    return png(d / "grey.png", cv2.cvtColor(photo(), cv2.COLOR_RGB2GRAY))


def plate_rgba(d: Path) -> Path:
    Image.fromarray(np.dstack([photo(), np.full((288, 512), 200, np.uint8)])).save(d / "rgba.png")
    return d / "rgba.png"


def plate_cmyk_jpeg(d: Path) -> Path:
    Image.fromarray(photo()).convert("CMYK").save(d / "cmyk.jpg", quality=95)
    return d / "cmyk.jpg"


def jpeg_named_png(d: Path) -> Path:
    Image.fromarray(photo()).save(d / "really_a_jpeg.png", format="JPEG", quality=95)
    return d / "really_a_jpeg.png"


def unicode_plate(d: Path) -> Path:
    target = d / "plätes with spaces ✓" / "кадр 01.png"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(PLATE.read_bytes())
    return target


def mask_wrong_size(d: Path) -> Path:
    return png(d / "small_mask.png", np.full((100, 100), 255, np.uint8))


def mask_empty(d: Path) -> Path:
    return png(d / "empty_mask.png", np.zeros((288, 512), np.uint8))


def mask_full(d: Path) -> Path:
    return png(d / "full_mask.png", np.full((288, 512), 255, np.uint8))


def mask_soft(d: Path) -> Path:
    soft = cv2.GaussianBlur(cv2.imread(str(MASK), cv2.IMREAD_GRAYSCALE), (0, 0), 6)
    return png(d / "soft_mask.png", soft)


def mask_faint(d: Path) -> Path:
    """Values 1..40 only; the threshold config in the case makes it empty."""
    faint = (cv2.imread(str(MASK), cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8) * 40
    return png(d / "faint_mask.png", faint)


def mask_not_shapes(d: Path) -> Path:
    (d / "mask.json").write_text(json.dumps({"regions": "everything"}))
    return d / "mask.json"


def threshold_config(d: Path) -> Path:
    (d / "threshold.yaml").write_text("io:\n  mask_threshold: 128\n")
    return d / "threshold.yaml"


def limit_config(d: Path) -> Path:
    (d / "limit.yaml").write_text("io:\n  max_pixels: 10000\n")
    return d / "limit.yaml"


def unknown_key_config(d: Path) -> Path:
    (d / "typo.yaml").write_text("check:\n  flot_px: 3\n")
    return d / "typo.yaml"


def wrong_type_config(d: Path) -> Path:
    (d / "type.yaml").write_text("render:\n  frames: twenty\n")
    return d / "type.yaml"


def python_tag_config(d: Path) -> Path:
    (d / "evil.yaml").write_text("seed: !!python/object/apply:os.system ['touch pwned']\n")
    return d / "evil.yaml"


def clip_empty_folder(d: Path) -> Path:
    (d / "frames").mkdir()
    return d / "frames"


def clip_one_frame(d: Path) -> Path:
    png(d / "one_frame" / "0001.png", cv2.imread(str(PLATE)))
    return d / "one_frame"


def clip_text_as_mp4(d: Path) -> Path:
    (d / "clip.mp4").write_text("definitely not a video\n" * 40)
    return d / "clip.mp4"


def clip_mixed_sizes(d: Path) -> Path:
    png(d / "mixed" / "0001.png", np.zeros((288, 512, 3), np.uint8))
    png(d / "mixed" / "0002.png", np.zeros((144, 256, 3), np.uint8))
    return d / "mixed"


def clip_of_another_photo(d: Path) -> Path:
    other = cv2.imread(str(plate_path("rocket")))
    for t in range(4):
        png(d / "other" / f"{t:04d}.png", np.roll(other, 2 * t, axis=1))
    return d / "other"


def clip_of_plate(d: Path) -> Path:
    """A clip of PLATE (a slow pan), as rendered elsewhere."""
    pixels = cv2.imread(str(PLATE))
    for t in range(4):
        png(d / "ours" / f"{t:04d}.png", np.roll(pixels, 2 * t, axis=1))
    return d / "ours"


def clip_truncated_mp4(d: Path) -> Path:
    from keyframe.io import write_clip

    frames = np.stack([np.roll(photo(), 3 * t, axis=1) for t in range(8)])
    write_clip(d / "whole.mp4", frames, fps=7)
    data = (d / "whole.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(data[:2000])
    (d / "whole.mp4").unlink()
    return d / "cut.mp4"


def model_missing(d: Path) -> Path:
    return d / "no_such_model"


def model_index_only(d: Path, cls: str = "StableDiffusionInpaintPipeline") -> Path:
    (d / "model").mkdir()
    (d / "model" / "model_index.json").write_text(json.dumps({"_class_name": cls, "unet": ["diffusers", "UNet2DConditionModel"]}))
    return d / "model"


def model_wrong_class(d: Path) -> Path:
    return model_index_only(d, "StableVideoDiffusionPipeline")


def model_pickle_only(d: Path) -> Path:
    model = model_index_only(d)
    (model / "unet").mkdir()
    (model / "unet" / "config.json").write_text("{}")
    (model / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    return model


# --- hostile inputs found by fuzzing and fault injection (issue 19) --------------------------------

def mask_json(d: Path, text: str, name: str = "mask.json") -> Path:
    (d / name).write_text(text)
    return d / name


def box_json(box: str = "[100, 80, 60, 40]", **header: str) -> str:
    fields = "".join(f'"{k}": {v}, ' for k, v in header.items())
    return '{%s"shapes": [{"type": "box", "xywh": %s}]}' % (fields, box)


def polygon_json(points: np.ndarray) -> str:
    return json.dumps({"shapes": [{"type": "polygon", "points": points.tolist()}]})


def random_polygon(d: Path, count: int) -> Path:
    points = np.random.default_rng(19).uniform(0, [512, 288], size=(count, 2)).round(1)
    return mask_json(d, polygon_json(points), f"random{count}.json")


def nested_json(d: Path, depth: int = 20_000) -> Path:
    return mask_json(d, '{"shapes": ' + "[" * depth + "]" * depth + "}", "deep.json")


def config_text(d: Path, text: str, name: str = "cfg.yaml") -> Path:
    (d / name).write_text(text)
    return d / name


def strip_plate(d: Path, width: int, height: int) -> Path:
    return png(d / f"strip_{width}x{height}.png", np.full((height, width, 3), 128, np.uint8))


def png_chunk_bomb(d: Path) -> Path:
    """A valid PNG with a chunk declaring 0x7ffffff0 bytes before IEND (libpng would allocate 2 GB)."""
    data = PLATE.read_bytes()
    iend = data.rindex(b"IEND") - 4
    (d / "bomb.png").write_bytes(data[:iend] + (0x7FFFFFF0).to_bytes(4, "big") + b"zTXt" + b"\0" * 4096 + data[iend:])
    return d / "bomb.png"


def png_bad_crc(d: Path) -> Path:
    """IDAT bytes flipped: libpng prints "libpng error: IDAT: CRC error" on its own stderr."""
    data = bytearray(PLATE.read_bytes())
    data[data.index(b"IDAT") + 64] ^= 0xFF
    (d / "crc.png").write_bytes(bytes(data))
    return d / "crc.png"


def _ffmpeg(*args: str) -> None:
    import subprocess

    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True, capture_output=True)


def clip_bomb(d: Path) -> Path:
    """A ~30 KB mp4 of 400 black 1080p frames: 2.3 GiB once decoded."""
    _ffmpeg("-f", "lavfi", "-i", "color=black:s=1920x1080:r=25", "-frames:v", "400", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "bomb.mp4"))
    return d / "bomb.mp4"


def clip_size_change(d: Path) -> Path:
    """An mp4 whose H.264 stream switches from 256x144 to 512x288 after 4 frames."""
    for name, size in (("a", "256x144"), ("b", "512x288")):
        _ffmpeg("-f", "lavfi", "-i", f"testsrc=s={size}:r=7", "-frames:v", "4", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(d / f"{name}.h264"))
    (d / "ab.h264").write_bytes((d / "a.h264").read_bytes() + (d / "b.h264").read_bytes())
    _ffmpeg("-r", "7", "-f", "h264", "-i", str(d / "ab.h264"), "-c", "copy", str(d / "changes.mp4"))
    for name in ("a.h264", "b.h264", "ab.h264"):
        (d / name).unlink()
    return d / "changes.mp4"


def clip_with_sidecar(d: Path, transform: str) -> Path:
    clip = clip_of_another_photo(d)
    (d / "other.json").write_text('{"plate_to_frame0": %s}' % transform)
    return clip


def manifest(d: Path, text: str) -> Path:
    (d / "night.yaml").write_text(text)
    return d / "night.yaml"


def shots_yaml(ids: list[str]) -> str:
    return "shots:\n" + "".join(f"  - {{id: {i}, plate: p.png, mask: m.png}}\n" for i in ids)


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    command: str
    name: str
    args: Callable[[Path], list]
    code: int = 2
    says: str | None = None


def _ok_out(d: Path) -> Path:
    (d / "out").mkdir(exist_ok=True)
    return d / "out"


def out_png(d: Path) -> Path:
    return _ok_out(d) / "clean.png"


def out_mp4(d: Path) -> Path:
    return _ok_out(d) / "clip.mp4"


def _plate_cases(command: str, tail: Callable[[Path], list]) -> list[Case]:
    """The same bad plates through a command whose first argument is a plate."""
    return [
        Case(command, "zero-byte plate", lambda d: [zero_byte(d), *tail(d)], says="empty"),
        Case(command, "truncated plate", lambda d: [truncated_png(d), *tail(d)], says="truncated"),
        Case(command, "text file named .png", lambda d: [text_as_png(d), *tail(d)], says="not a readable image"),
        Case(command, "directory as plate", lambda d: [folder_as_file(d), *tail(d)], says="directory"),
        Case(command, "missing plate", lambda d: [missing(d), *tail(d)], says="not found"),
        Case(command, "1x1 plate", lambda d: [one_pixel(d), *tail(d)], says="smaller than"),
        Case(command, "plate over the pixel limit", lambda d: [PLATE, *tail(d), "--config", limit_config(d)], says="over the"),
    ]


def _mask_cases(command: str, head: Callable[[Path], list], tail: Callable[[Path], list]) -> list[Case]:
    return [
        Case(command, "mask of another size", lambda d: [*head(d), "--mask", mask_wrong_size(d), *tail(d)], says="but the plate is"),
        Case(command, "empty mask", lambda d: [*head(d), "--mask", mask_empty(d), *tail(d)], says="empty"),
        Case(command, "mask empty after threshold",
             lambda d: [*head(d), "--mask", mask_faint(d), *tail(d), "--config", threshold_config(d)], says="threshold"),
        Case(command, "json that holds no shapes", lambda d: [*head(d), "--mask", mask_not_shapes(d), *tail(d)], says="shapes"),
    ]


def _config_cases(command: str, args: Callable[[Path], list]) -> list[Case]:
    return [
        Case(command, "unknown config key", lambda d: [*args(d), "--config", unknown_key_config(d)], says="unknown key 'check.flot_px'"),
        Case(command, "wrong config type", lambda d: [*args(d), "--config", wrong_type_config(d)], says="bad value for 'render.frames'"),
        Case(command, "python tag in config", lambda d: [*args(d), "--config", python_tag_config(d)], says="not valid yaml"),
    ]


def inpaint_out(d: Path) -> list:
    return ["--mask", MASK, "-o", out_png(d)]


CASES: list[Case] = [
    # validate: odd-but-valid plates are read correctly
    *[Case("validate", name, lambda d, b=builder: [b(d)], code=0) for name, builder in [
        ("16-bit plate", plate_16bit), ("grey plate", plate_grey), ("RGBA plate", plate_rgba),
        ("CMYK JPEG plate", plate_cmyk_jpeg), ("JPEG named .png", jpeg_named_png), ("unicode and spaces in path", unicode_plate)]],
    # inpaint
    *_plate_cases("inpaint", inpaint_out),
    *_mask_cases("inpaint", lambda d: [PLATE], lambda d: ["-o", out_png(d)]),
    Case("inpaint", "full mask leaves nothing to fill from", lambda d: [PLATE, "--mask", mask_full(d), "-o", out_png(d)], says="whole plate"),
    Case("inpaint", "output folder missing", lambda d: [PLATE, "--mask", MASK, "-o", d / "nowhere" / "x.png"], says="does not exist"),
    Case("inpaint", "model folder missing", lambda d: [PLATE, *inpaint_out(d), "--backend", "diffusers", "--model", model_missing(d)], says="not"),
    Case("inpaint", "model folder with only model_index.json", lambda d: [PLATE, *inpaint_out(d), "--backend", "diffusers", "--model", model_index_only(d)], says="expected"),
    Case("inpaint", "video model given to inpaint", lambda d: [PLATE, *inpaint_out(d), "--backend", "diffusers", "--model", model_wrong_class(d)], says="StableVideoDiffusionPipeline"),
    Case("inpaint", "pickle-only weights", lambda d: [PLATE, *inpaint_out(d), "--backend", "diffusers", "--model", model_pickle_only(d)], says="pickle"),
    Case("inpaint", "unknown backend", lambda d: [PLATE, *inpaint_out(d), "--backend", "magic"], says="'inpaint.backend'"),
    Case("inpaint", "soft (non-binary) mask works", lambda d: [PLATE, "--mask", mask_soft(d), "-o", out_png(d)], code=0),
    Case("inpaint", "unicode and spaces in every path", lambda d: [unicode_plate(d), "--mask", MASK, "-o", unicode_plate(d).parent / "clean ✓.png"], code=0),
    *_config_cases("inpaint", lambda d: [PLATE, *inpaint_out(d)]),
    # gate
    *_plate_cases("gate", lambda d: []),
    *_mask_cases("gate", lambda d: [PLATE], lambda d: []),
    Case("gate", "heatmap folder's parent missing", lambda d: [PLATE, "--mask", MASK, "-o", d / "a" / "b"], says="does not exist"),
    Case("gate", "16-bit plate is gated", lambda d: [plate_16bit(d), "--mask", MASK], code=0),
    # render
    *_plate_cases("render", lambda d: ["-o", out_mp4(d)]),
    Case("render", "output folder missing", lambda d: [PLATE, "-o", d / "nowhere" / "clip.mp4"], says="does not exist"),
    Case("render", "zero frames", lambda d: [PLATE, "-o", out_mp4(d), "--frames", "0"], says="frames"),
    Case("render", "size that is not WxH", lambda d: [PLATE, "-o", out_mp4(d), "--size", "big"], says="size"),
    Case("render", "svd without weights", lambda d: [PLATE, "-o", out_mp4(d), "--backend", "svd", "--model", model_missing(d)], says="not"),
    Case("render", "image model given to svd", lambda d: [PLATE, "-o", out_mp4(d), "--backend", "svd", "--model", model_index_only(d)], says="StableDiffusionInpaintPipeline"),
    Case("render", "image model given to diffusers", lambda d: [PLATE, "-o", out_mp4(d), "--backend", "diffusers", "--model", model_index_only(d)], says="not a supported image-to-video pipeline"),
    Case("render", "end plate for the camera", lambda d: [PLATE, "-o", out_mp4(d), "--last", PLATE], says="takes no end plate"),
    *_config_cases("render", lambda d: [PLATE, "-o", out_mp4(d)]),
    # upscale
    *_plate_cases("upscale", lambda d: ["-o", out_png(d)]),
    *_mask_cases("upscale", lambda d: [PLATE], lambda d: ["-o", out_png(d)]),
    Case("upscale", "output folder missing", lambda d: [PLATE, "-o", d / "nowhere" / "up.png"], says="does not exist"),
    Case("upscale", "output that is not a PNG", lambda d: [PLATE, "-o", d / "up.jpg"], says=".png"),
    Case("upscale", "scale out of range", lambda d: [PLATE, "-o", out_png(d), "--scale", "1"], says="upscale.scale"),
    Case("upscale", "spandrel without a model", lambda d: [PLATE, "-o", out_png(d), "--backend", "spandrel"], says="needs a model"),
    Case("upscale", "spandrel model missing", lambda d: [PLATE, "-o", out_png(d), "--backend", "spandrel", "--model", d / "x.safetensors"], says="not found"),
    Case("upscale", "diffusers folder of another pipeline", lambda d: [PLATE, "-o", out_png(d), "--backend", "diffusers", "--model", model_index_only(d)], says="not an upscale pipeline"),
    Case("upscale", "unknown backend", lambda d: [PLATE, "-o", out_png(d), "--backend", "magic"], says="'upscale.backend'"),
    *_config_cases("upscale", lambda d: [PLATE, "-o", out_png(d)]),
    # check
    Case("check", "clip folder with no frames", lambda d: [clip_empty_folder(d), "--plate", PLATE, "--mask", MASK], says="0 frames"),
    Case("check", "clip with one frame", lambda d: [clip_one_frame(d), "--plate", PLATE, "--mask", MASK], says="at least 2"),
    Case("check", "text file named .mp4", lambda d: [clip_text_as_mp4(d), "--plate", PLATE, "--mask", MASK], says="not a readable video"),
    Case("check", "truncated mp4", lambda d: [clip_truncated_mp4(d), "--plate", PLATE, "--mask", MASK], says="not a readable video"),
    Case("check", "frames of mixed sizes", lambda d: [clip_mixed_sizes(d), "--plate", PLATE, "--mask", MASK], says="differ in size"),
    Case("check", "clip of another plate", lambda d: [clip_of_another_photo(d), "--plate", PLATE, "--mask", MASK, "-o", _ok_out(d) / "r"], says="plate"),
    Case("check", "missing clip", lambda d: [d / "nope.mp4", "--plate", PLATE, "--mask", MASK], says="not found"),
    Case("check", "bad plate", lambda d: [clip_of_another_photo(d), "--plate", truncated_png(d), "--mask", MASK], says="truncated"),
    *_mask_cases("check", lambda d: [clip_of_another_photo(d), "--plate", PLATE], lambda d: []),
    *_config_cases("check", lambda d: [clip_of_another_photo(d), "--plate", PLATE, "--mask", MASK]),
    # prep / compare / demo: refused before Prefect starts, nothing written
    *_plate_cases("prep", lambda d: ["--mask", MASK, "-o", d / "prep"]),
    *_mask_cases("prep", lambda d: [PLATE], lambda d: ["-o", d / "prep"]),
    Case("prep", "output folder's parent missing", lambda d: [PLATE, "--mask", MASK, "-o", d / "a" / "b"], says="does not exist"),
    Case("prep", "svd model without --render svd", lambda d: [PLATE, "--mask", MASK, "-o", d / "prep", "--model", model_missing(d)], says="--render svd"),
    Case("prep", "unknown renderer", lambda d: [PLATE, "--mask", MASK, "-o", d / "prep", "--render", "blender"], says="camera, svd or diffusers"),
    *_config_cases("prep", lambda d: [PLATE, "--mask", MASK, "-o", d / "prep"]),
    Case("compare", "plate revisions without a mask", lambda d: [PLATE, plate_path("coffee_defect"), "-o", d / "cmp"], says="mask"),
    Case("compare", "a broken revision", lambda d: [PLATE, truncated_png(d), "--mask", MASK, "-o", d / "cmp"], says="truncated"),
    Case("compare", "a missing revision folder", lambda d: [PLATE, d / "no_such_prep", "--mask", MASK, "-o", d / "cmp"], says="not found"),
    Case("compare", "only one clip", lambda d: [PLATE, PLATE, "--mask", MASK, "-o", d / "cmp", "--a-clip", clip_of_plate(d)], says="--b-clip"),
    Case("compare", "clips and --render", lambda d: [PLATE, PLATE, "--mask", MASK, "-o", d / "cmp", "--a-clip", clip_of_plate(d),
                                                     "--b-clip", clip_of_plate(d), "--render", "camera"], says="--render"),
    Case("compare", "missing clip B", lambda d: [PLATE, PLATE, "--mask", MASK, "-o", d / "cmp", "--a-clip", clip_of_plate(d),
                                                 "--b-clip", d / "nope.mp4"], says="revision B: clip not found"),
    Case("compare", "clip A of another plate", lambda d: [PLATE, PLATE, "--mask", MASK, "-o", d / "cmp", "--a-clip",
                                                          clip_of_another_photo(d), "--b-clip", clip_of_plate(d)], says="revision A"),
    Case("compare", "clip B with one frame", lambda d: [PLATE, PLATE, "--mask", MASK, "-o", d / "cmp", "--a-clip", clip_of_plate(d),
                                                        "--b-clip", clip_one_frame(d)], says="revision B"),
    Case("compare", "text file named .mp4 as clip A", lambda d: [PLATE, PLATE, "--mask", MASK, "-o", d / "cmp", "--a-clip",
                                                                 clip_text_as_mp4(d), "--b-clip", clip_of_plate(d)], says="not a readable video"),
    Case("demo", "output folder's parent missing", lambda d: ["-o", d / "a" / "b"], says="does not exist"),
    # nightly: the whole manifest is refused up front (a single bad shot is that shot's error: tests/flows)
    Case("nightly", "missing manifest", lambda d: [d / "none.yaml", "-o", d / "night"], says="not found"),
    Case("nightly", "manifest that is not YAML", lambda d: [manifest(d, "shots: [unclosed"), "-o", d / "night"], says="yaml"),
    Case("nightly", "python tag in the manifest",
         lambda d: [manifest(d, "shots: !!python/object/apply:os.system ['touch pwned']\n"), "-o", d / "night"], says="yaml"),
    Case("nightly", "duplicate shot ids", lambda d: [manifest(d, shots_yaml(["sh010", "sh020", "sh010"])), "-o", d / "night"], says="sh010"),
    Case("nightly", "shot id that is a path", lambda d: [manifest(d, shots_yaml(["../escape"])), "-o", d / "night"], says="id"),
    Case("nightly", "unknown manifest key", lambda d: [manifest(d, shots_yaml(["sh010"]) + "owner: me\n"), "-o", d / "night"], says="owner"),
    Case("nightly", "10 000 shots", lambda d: [manifest(d, shots_yaml([f"s{i:05d}" for i in range(10_000)])), "-o", d / "night"], says="max_shots"),
    # hostile inputs (issue 19): each refused in one line, before any work, in well under a second
    *[Case(command, name, lambda d, m=mask, a=args: [*a(d), "--mask", m(d)], says=says) for command, args in [
        ("validate", lambda d: [PLATE]), ("gate", lambda d: [PLATE]), ("inpaint", lambda d: [PLATE, "-o", out_png(d)]),
        ("check", lambda d: [clip_of_another_photo(d), "--plate", PLATE]), ("prep", lambda d: [PLATE, "-o", d / "prep"]),
    ] for name, mask, says in [
        ("json mask with 1e999", lambda d: mask_json(d, box_json("[1e999, 0, 10, 10]")), "not finite"),
        ("json mask with a 400-digit number", lambda d: mask_json(d, box_json("[1%s, 0, 10, 10]" % ("0" * 400))), "digits"),
        ("json mask with NaN", lambda d: mask_json(d, box_json("[NaN, 0, 10, 10]")), "nan"),
        ("json mask nested 20,000 deep", nested_json, "nested"),
        ("json mask with a duplicate key", lambda d: mask_json(d, '{"shapes": [], "shapes": []}'), "twice"),
        ("json mask width as a string", lambda d: mask_json(d, box_json(width='"512"', height="288")), "whole number"),
        ("json polygon far outside the plate", lambda d: mask_json(d, polygon_json(np.array([[0, 0], [1e300, 0], [0, 10]]))), "outside"),
        ("json polygon of 30,000 random points", lambda d: random_polygon(d, 30_000), "max_polygon_crossings"),
        ("mask covering the whole plate", mask_full, "whole plate"),
    ]],
    Case("validate", "json polygon of 300,000 points", lambda d: [PLATE, "--mask", random_polygon(d, 300_000)], says="max_mask_points"),
    *[Case(command, "config with a 5,000-digit number", lambda d, a=args: [*a(d), "--config", config_text(d, "seed: " + "9" * 5000)],
           says="characters") for command, args in [("validate", lambda d: [PLATE]), ("prep", lambda d: [PLATE, "--mask", MASK, "-o", d / "p"])]],
    Case("validate", "config nested 20,000 deep", lambda d: [PLATE, "--config", config_text(d, "io: " + "[" * 20000 + "]" * 20000)], says="nested"),
    Case("validate", "config with .inf", lambda d: [PLATE, "--config", config_text(d, "gate:\n  halo_max: .inf\n")], says="not finite"),
    Case("validate", "config with a duplicate section", lambda d: [PLATE, "--config", config_text(d, "io: {}\nio: {}\n")], says="twice"),
    Case("render", "20000x20 plate", lambda d: [strip_plate(d, 20000, 20), "-o", out_mp4(d)], says="max_aspect"),
    Case("gate", "20000x20 plate without a mask", lambda d: [strip_plate(d, 20000, 20)], says="max_aspect"),
    Case("gate", "16x9000 plate without a mask", lambda d: [strip_plate(d, 16, 9000)], says="max_aspect"),
    Case("render", "a size H.264 cannot encode", lambda d: [PLATE, "-o", out_mp4(d), "--size", "20000x2000"], says="16384"),
    *[Case(command, "PNG chunk declaring 0x7ffffff0 bytes", lambda d, a=args: [png_chunk_bomb(d), *a(d)], says="declares")
      for command, args in [("validate", lambda d: []), ("gate", lambda d: []), ("render", lambda d: ["-o", out_mp4(d)])]],
    *[Case(command, "PNG with a CRC error (libpng speaks)", lambda d, a=args: [png_bad_crc(d), *a(d)], says="crc")
      for command, args in [("validate", lambda d: []), ("inpaint", inpaint_out)]],
    Case("validate", "mask PNG with a CRC error", lambda d: [PLATE, "--mask", png_bad_crc(d)], says="crc"),
    Case("validate", "clip with one frame", lambda d: [PLATE, "--clip", clip_one_frame(d)], says="at least 2"),
    Case("validate", "20 KB mp4 of 400 black 1080p frames", lambda d: [PLATE, "--clip", clip_bomb(d)], says="max_clip_bytes"),
    # the check streams the clip (it never holds it, so io.max_clip_bytes does not apply): it meets
    # frame 0 first, and a black frame 0 does not show the plate
    Case("check", "20 KB mp4 of 400 black 1080p frames", lambda d: [clip_bomb(d), "--plate", PLATE, "--mask", MASK],
         says="does not match its plate"),
    Case("validate", "mp4 whose frame size changes mid-stream", lambda d: [PLATE, "--clip", clip_size_change(d)],
         says="mid-stream"),
    # streamed, the check meets this test pattern's frame 0 first (not the plate); a clip of the
    # plate that changes size is refused with "mid-stream" (tests/test_check_scale.py)
    Case("check", "mp4 whose frame size changes mid-stream", lambda d: [clip_size_change(d), "--plate", PLATE,
                                                                        "--mask", MASK], says="does not match its plate"),
    Case("check", "sidecar with a text transform", lambda d: [clip_with_sidecar(d, '"abc"'), "--plate", PLATE, "--mask", MASK], says="3x3"),
    Case("check", "sidecar nested 20,000 deep",
         lambda d: [clip_with_sidecar(d, "[" * 20000 + "]" * 20000), "--plate", PLATE, "--mask", MASK], says="nested"),
    # validate reads the sidecar the check will read, so it refuses what the check refuses
    Case("validate", "sidecar with a text transform", lambda d: [PLATE, "--clip", clip_with_sidecar(d, '"abc"')], says="3x3"),
    Case("validate", "sidecar that is not JSON", lambda d: [PLATE, "--clip", clip_with_sidecar(d, "{")], says="json"),
    Case("nightly", "shot id with a trailing newline", lambda d: [manifest(d, 'shots:\n  - {id: "s13\\n", plate: p.png, mask: m.png}\n'), "-o", d / "night"], says="id"),
    Case("nightly", "manifest with two shots: blocks", lambda d: [manifest(d, shots_yaml(["sh010"]) + shots_yaml(["sh020"])), "-o", d / "night"], says="twice"),
    Case("nightly", "manifest nested 20,000 deep", lambda d: [manifest(d, "shots: " + "[" * 20000 + "]" * 20000), "-o", d / "night"], says="nested"),
    # bench
    Case("bench render", "unknown architecture", lambda d: ["--arch", "svd-xxl", "--random-weights"], says="svd-xxl"),
    Case("bench render", "without --random-weights", lambda d: ["--arch", "tiny"], says="random"),
]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.command}: {c.name}" for c in CASES])
def test_catalogue(cli, tmp_path, case: Case):
    args = case.args(tmp_path)
    before = _files(tmp_path)
    result = cli(*case.command.split(), *args)
    if case.code == 0:
        assert result.code == 0, result.stderr
        return
    assert_one_line_error(result, case.code, case.says)
    assert _files(tmp_path) == before, "a failed command left files behind"


def test_the_catalogue_covers_every_command_with_many_cases():
    commands = {case.command for case in CASES}
    assert {"validate", "inpaint", "gate", "render", "upscale", "check", "prep", "demo", "nightly", "compare",
            "bench render"} <= commands
    assert len(CASES) >= 40


def _writing_commands(out: Path, clip: Path) -> dict[str, list]:
    """Each command that writes files, aimed at the folder ``out``."""
    return {
        "inpaint": ["inpaint", PLATE, "--mask", MASK, "-o", out / "clean.png"],
        "render": ["render", PLATE, "-o", out / "clip.mp4", "--frames", "12"],
        "gate": ["gate", PLATE, "--mask", MASK, "-o", out / "heatmaps"],
        "check": ["check", clip, "--plate", PLATE, "--mask", MASK, "-o", out / "report"],
        "upscale": ["upscale", PLATE, "--mask", MASK, "-o", out / "up.png"],
    }


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory) -> Path:
    from keyframe.cli import main

    clip = tmp_path_factory.mktemp("clip") / "clip.mp4"
    assert main(["render", str(PLATE), "-o", str(clip), "--frames", "8"]) == 0
    return clip


@pytest.mark.parametrize("command", ["inpaint", "render", "gate", "check", "upscale"])
def test_read_only_output_folder(cli, readonly_dir, camera_clip, command):
    result = cli(*_writing_commands(readonly_dir, camera_clip)[command])
    assert_one_line_error(result, 2, "writable")
    assert list(readonly_dir.iterdir()) == []


@pytest.mark.parametrize("command", ["inpaint", "render", "gate", "check", "upscale"])
def test_full_output_folder_leaves_no_partial_file(cli, full_dir, camera_clip, command):
    filler = full_dir / "filler"  # leave ~8 KiB: enough to start writing, not to finish
    filler.write_bytes(b"\0" * (56 * 1024))
    result = cli(*_writing_commands(full_dir, camera_clip)[command])
    assert_one_line_error(result, 2, "space")
    leftovers = [p for p in full_dir.rglob("*") if p.is_file() and p != filler]
    assert leftovers == [], leftovers
