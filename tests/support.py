"""Helpers shared by the tests: fixture paths, loaders and the one-line-error assertion.

Kept out of ``conftest.py`` so test modules can import them by a unique name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keyframe.io import read_mask, read_plate

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
PLATE_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "brick")


def plate_path(name: str) -> Path:
    return FIXTURES / "plates" / f"{name}.png"


def mask_path(name: str) -> Path:
    return FIXTURES / "masks" / f"{name}.png"


def load_pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixture plate ``name`` and its mask, as arrays."""
    plate = read_plate(plate_path(name))
    return plate, read_mask(mask_path(name), plate.shape[:2])


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def assert_one_line_error(result: CliResult, code: int = 2, contains: str | None = None) -> None:
    """A user error: the given exit code, exactly one line on stderr, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert result.code == code, (result.code, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    if contains is not None:
        assert contains.lower() in lines[0].lower(), lines[0]
