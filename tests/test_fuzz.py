"""Fuzzing: mutated plates, masks, clips and configs, through the CLI in-process, with a fixed seed.

Every mutated input must give exit 0, 1 or 2 (never 3: a crash), exactly one stderr line when it
is refused, nothing written when a command fails, and an answer within a time budget. The
mutations are the ones that broke keyframe before (issue 19): flipped and inserted bytes, cut
files, extreme 32-bit fields (PNG chunk lengths, image sizes), and in JSON/YAML extreme numbers,
deep nesting, duplicate keys and wrong types.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from support import mask_path, plate_path

SEED = 19
CASES = 300
BUDGET_S = 10.0  # per run; the slowest honest case (a clip read) takes well under a second
EXTREME_INTS = (0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFF0, 0x7FFFFFFF, 0xFFFFFFFF)
EXTREME_TOKENS = ("1e999", "-1e999", "NaN", "1" + "0" * 400, "1e300", "-0", '"512"', "true", "null", "[]", "{}")


def _small_inputs(folder: Path) -> dict[str, Path]:
    """Small valid inputs of every kind, made from the coffee fixture."""
    rgb = cv2.resize(np.asarray(Image.open(plate_path("coffee")).convert("RGB")), (128, 72), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(cv2.imread(str(mask_path("coffee")), cv2.IMREAD_GRAYSCALE), (128, 72), interpolation=cv2.INTER_NEAREST)
    files = {"plate.png": folder / "plate.png", "plate.jpg": folder / "plate.jpg", "plate.tif": folder / "plate.tif",
             "mask.png": folder / "mask.png", "mask.json": folder / "mask.json", "clip.mp4": folder / "clip.mp4",
             "config.yaml": folder / "config.yaml"}
    for name in ("plate.png", "plate.jpg", "plate.tif"):
        Image.fromarray(rgb).save(files[name])
    cv2.imwrite(str(files["mask.png"]), mask)
    files["mask.json"].write_text(json.dumps({"width": 128, "height": 72, "shapes": [
        {"type": "polygon", "points": [[40, 20], [90, 22], [70, 60]]}, {"type": "box", "xywh": [5, 5, 20, 10]}]}))
    from keyframe.io import write_clip

    write_clip(files["clip.mp4"], np.stack([np.roll(rgb, 2 * t, axis=1) for t in range(6)]), fps=7)
    files["config.yaml"].write_text("io:\n  max_pixels: 64000000\n  mask_threshold: 0\ngate:\n  band: 6\nseed: 3\n")
    return files


# --- mutations ------------------------------------------------------------------------------------

def flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= rng.randrange(1, 256)
    return bytes(out)


def cut(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def insert(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]


def extreme_int(data: bytes, rng: random.Random) -> bytes:
    """An extreme 32-bit big-endian field, mostly in the header where lengths and sizes live."""
    at = rng.randrange(min(len(data) - 4, 256)) if rng.random() < 0.7 else rng.randrange(len(data) - 4)
    return data[:at] + rng.choice(EXTREME_INTS).to_bytes(4, "big") + data[at + 4:]


def repeat(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    piece = data[start:start + rng.randint(1, 4096)]
    return data[:start] + piece * rng.randint(2, 4) + data[start:]


def extreme_token(text: str, rng: random.Random) -> str:
    """Replace one number of a JSON/YAML text by an extreme token."""
    import re

    numbers = list(re.finditer(r"-?\d+(?:\.\d+)?", text))
    if not numbers:
        return text + rng.choice(EXTREME_TOKENS)
    match = rng.choice(numbers)
    return text[:match.start()] + rng.choice(EXTREME_TOKENS) + text[match.end():]


def deep(text: str, rng: random.Random) -> str:
    depth = rng.choice((70, 2_000, 50_000))
    at = rng.choice([i for i, c in enumerate(text) if c in "[:"] or [0]) + 1
    return text[:at] + " " + "[" * depth + "]" * depth + ", " + text[at:]


def duplicate_key(text: str, rng: random.Random) -> str:
    if text.lstrip().startswith("{"):
        return text.replace("{", '{"shapes": [], ', 1)
    return text + "seed: 4\n"


BINARY: list[Callable[[bytes, random.Random], bytes]] = [flip, cut, insert, extreme_int, repeat]
TEXT: list[Callable[[str, random.Random], str]] = [extreme_token, deep, duplicate_key]


def _text_or_bytes(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.6:
        return rng.choice(TEXT)(data.decode(), rng).encode()
    return rng.choice(BINARY)(data, rng)


# --- the cases ------------------------------------------------------------------------------------

def _case(index: int, inputs: dict[str, Path], folder: Path) -> list[str]:
    """Build mutated case ``index`` in ``folder``; returns the CLI arguments that read it."""
    rng = random.Random(SEED * 100_003 + index)
    target = rng.choice(list(inputs))
    data = inputs[target].read_bytes()
    mutated = _text_or_bytes(data, rng) if target.endswith((".json", ".yaml")) else rng.choice(BINARY)(data, rng)
    path = folder / f"mutated{Path(target).suffix}"
    path.write_bytes(mutated)
    files = {**inputs, target: path}
    out = folder / "out"
    out.mkdir()
    if target.startswith("plate") and index % 6 == 0:  # a command that writes: nothing may be left on failure
        return ["inpaint", str(files[target]), "--mask", str(files["mask.png"]), "--backend", "telea", "-o", str(out / "clean.png")]
    plate = files[target] if target.startswith("plate") else files["plate.png"]
    args = ["validate", str(plate), "--config", str(files["config.yaml"])]
    if target.startswith("mask"):
        args += ["--mask", str(files[target])]
    if target == "clip.mp4":
        args += ["--clip", str(files[target])]
    return args


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return _small_inputs(tmp_path_factory.mktemp("fuzz-inputs"))


def test_mutated_inputs_never_crash_and_fail_cleanly(cli, tmp_path, inputs):
    (tmp_path / "cases").mkdir()
    failures, slowest, codes = [], (0.0, None), {0: 0, 1: 0, 2: 0}
    for index in range(CASES):
        folder = tmp_path / "cases" / str(index)
        folder.mkdir()
        args = _case(index, inputs, folder)
        before = set(folder.rglob("*"))
        started = time.perf_counter()
        result = cli(*args)
        took = time.perf_counter() - started
        slowest = max(slowest, (took, index), key=lambda pair: pair[0])
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
        problem = None
        if result.code not in (0, 1, 2):
            problem = f"exit {result.code}"
        elif result.code == 2 and len(lines) != 1:
            problem = f"{len(lines)} stderr lines"
        elif result.code == 2 and set(folder.rglob("*")) != before:
            problem = "files left behind"
        elif took > BUDGET_S:
            problem = f"took {took:.1f} s"
        if problem:
            failures.append(f"case {index} ({' '.join(args[:1])} {Path(args[1]).name}...): {problem}: {result.stderr[-300:]}")
        codes[result.code] = codes.get(result.code, 0) + 1
    assert not failures, "\n".join(failures[:10])
    # the fuzzing reached both sides: many refusals, and mutations that still read as valid
    assert codes[2] >= CASES // 4 and codes[0] >= CASES // 20, codes
