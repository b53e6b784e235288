"""The CLI skeleton and the foundation's bad-input catalogue (one line, exit 2, nothing written)."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from support import assert_one_line_error, mask_path, plate_path
from keyframe.errors import KeyframeError
from keyframe.io import write_clip, write_image


def test_help_and_version(cli):
    result = cli("--help")
    assert result.code == 0
    assert "validate" in result.stdout
    version = cli("--version")
    assert version.code == 0 and version.stdout.startswith("keyframe ")


def test_validate_reports_inputs_as_json(cli, tmp_path):
    frames = np.zeros((3, 32, 48, 3), np.uint8)
    write_clip(tmp_path / "c.mp4", frames, fps=5)
    result = cli("validate", plate_path("coffee"), "--mask", mask_path("coffee"), "--clip", tmp_path / "c.mp4", "--json")
    assert result.code == 0, result.stderr
    import json

    facts = json.loads(result.stdout)
    assert facts["plate"]["width"] == 512 and facts["clip"]["frames"] == 3
    assert 0 < facts["mask"]["coverage"] < 1


def _png_bytes(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def make_bad_input(kind: str, folder):
    """Build one bad input in ``folder``; returns the CLI arguments after ``keyframe validate``."""
    good_plate, good_mask = plate_path("coffee"), mask_path("coffee")
    if kind == "zero-byte plate":
        (folder / "z.png").write_bytes(b"")
        return [folder / "z.png"]
    if kind == "truncated png":
        data = plate_path("coffee").read_bytes()
        (folder / "t.png").write_bytes(data[: len(data) // 3])
        return [folder / "t.png"]
    if kind == "text file named .png":
        (folder / "x.png").write_text("this is not an image\n")
        return [folder / "x.png"]
    if kind == "directory instead of file":
        (folder / "d.png").mkdir()
        return [folder / "d.png"]
    if kind == "missing file":
        return [folder / "missing.png"]
    if kind == "1x1 plate":
        (folder / "one.png").write_bytes(_png_bytes(np.zeros((1, 1, 3), np.uint8)))
        return [folder / "one.png"]
    if kind == "plate over pixel limit":
        (folder / "limit.yaml").write_text("io:\n  max_pixels: 100000\n")
        return [good_plate, "--config", folder / "limit.yaml"]
    if kind == "mask of another size":
        (folder / "m.png").write_bytes(_png_bytes(np.full((100, 100), 255, np.uint8)))
        return [good_plate, "--mask", folder / "m.png"]
    if kind == "empty mask":
        (folder / "m.png").write_bytes(_png_bytes(np.zeros((288, 512), np.uint8)))
        return [good_plate, "--mask", folder / "m.png"]
    if kind == "mask empty after threshold":
        (folder / "m.png").write_bytes(_png_bytes(np.full((288, 512), 40, np.uint8)))
        (folder / "t.yaml").write_text("io:\n  mask_threshold: 128\n")
        return [good_plate, "--mask", folder / "m.png", "--config", folder / "t.yaml"]
    if kind == "non-image json mask":
        (folder / "m.json").write_text('{"name": "not a mask"}')
        return [good_plate, "--mask", folder / "m.json"]
    if kind == "invalid json mask":
        (folder / "m.json").write_text('{"shapes": [')
        return [good_plate, "--mask", folder / "m.json"]
    if kind == "clip with 0 frames":
        (folder / "frames").mkdir()
        return [good_plate, "--clip", folder / "frames"]
    if kind == "clip that is not a video":
        (folder / "c.mp4").write_text("not a video at all\n" * 50)
        return [good_plate, "--clip", folder / "c.mp4"]
    if kind == "frame folder with mixed sizes":
        (folder / "frames").mkdir()
        write_image(folder / "frames" / "0001.png", np.zeros((32, 32, 3), np.uint8))
        write_image(folder / "frames" / "0002.png", np.zeros((32, 48, 3), np.uint8))
        return [good_plate, "--clip", folder / "frames"]
    if kind == "unknown config key":
        (folder / "c.yaml").write_text("io:\n  max_pixelz: 3\n")
        return [good_plate, "--config", folder / "c.yaml"]
    if kind == "wrong config type":
        (folder / "c.yaml").write_text("io:\n  max_pixels: many\n")
        return [good_plate, "--config", folder / "c.yaml"]
    if kind == "unknown option":
        return [good_plate, "--no-such-option"]
    raise AssertionError(kind)


BAD_INPUTS = {
    "zero-byte plate": "empty",
    "truncated png": "truncated",  # header or pixel decode, whichever fails first, says so
    "text file named .png": "not a readable image",
    "directory instead of file": "directory",
    "missing file": "not found",
    "1x1 plate": "smaller than",
    "plate over pixel limit": "over the",
    "mask of another size": "but the plate is",
    "empty mask": "empty",
    "mask empty after threshold": "threshold",
    "non-image json mask": "shapes",
    "invalid json mask": "not valid json",
    "clip with 0 frames": "0 frames",
    "clip that is not a video": "not a readable video",
    "frame folder with mixed sizes": "differ in size",
    "unknown config key": "unknown key 'io.max_pixelz'",
    "wrong config type": "bad value for 'io.max_pixels'",
    "unknown option": "no such option",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2(cli, tmp_path, kind):
    args = make_bad_input(kind, tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = cli("validate", *args)
    assert_one_line_error(result, 2, BAD_INPUTS[kind])
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_unreadable_plate(cli_as_other_user, shared_tmp):
    target = shared_tmp / "secret.png"
    shutil.copy(plate_path("coffee"), target)
    target.chmod(0o000)
    assert_one_line_error(cli_as_other_user("validate", target), 2, "not readable")


def test_output_in_missing_directory_and_read_only_directory(tmp_path, readonly_dir):
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(KeyframeError, match="does not exist"):
        write_image(tmp_path / "missing" / "o.png", image)
    with pytest.raises(KeyframeError, match="not writable|Read-only"):
        write_image(readonly_dir / "o.png", image)
    assert list(readonly_dir.iterdir()) == []


def test_full_disk_leaves_no_partial_file(full_dir):
    noise = np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)  # ~800 kB as PNG
    with pytest.raises(KeyframeError, match="No space left"):
        write_image(full_dir / "big.png", noise)
    assert list(full_dir.iterdir()) == []


def test_unexpected_error_is_one_line_with_debug_hint(cli, monkeypatch):
    import keyframe.cli.validate as command

    def explode(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(command, "read_plate", explode)
    result = cli("validate", plate_path("coffee"))
    assert_one_line_error(result, 3, "run with --debug")
    with pytest.raises(ZeroDivisionError):
        cli("--debug", "validate", plate_path("coffee"))


class _Terminal:
    """A stderr that says it is a terminal, holding what is written to it."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_bar_draws_on_a_terminal_only(monkeypatch, capsys):
    from keyframe.cli import app as cli_app

    with cli_app.progress_bar("checking") as progress:  # captured stderr: not a terminal
        progress(1, 2)
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    cli_app.console.cache_clear()
    try:
        with cli_app.progress_bar("checking", unit="tiles") as progress:
            progress(1, 2)
    finally:
        cli_app.console.cache_clear()
    assert "checking" in terminal.text and "1/2" in terminal.text and "tiles" in terminal.text
