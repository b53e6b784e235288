"""Helpers shared by the flow tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
#: Short clips keep every flow test fast; the stages' own tests cover full-length clips.
SHORT_CLIP = {"render": {"frames": 8}}
#: The classical backend whose fills (with the default texture synthesis) pass the calibrated gate
#: on the fixtures.
GATE_PASSING = {"inpaint": {"backend": "biharmonic"}}


def crash(message: str):
    """A stand-in for a stage function that fails with an internal error (``ValueError(message)``)."""

    def crashed(*args: Any, **kwargs: Any) -> None:
        raise ValueError(message)

    return crashed


def fixture_pair(name: str) -> tuple[Path, Path]:
    return FIXTURES / "plates" / f"{name}.png", FIXTURES / "masks" / f"{name}.png"


def write_config(path: Path, *sections: dict[str, Any]) -> Path:
    """A ``--config`` file merging ``sections``."""
    from keyframe.config import merge

    data: dict[str, Any] = {}
    for section in sections:
        data = merge(data, section)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def write_manifest(folder: Path, shots: list[dict[str, Any]]) -> Path:
    """``folder/night.yaml`` listing ``shots``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "night.yaml"
    path.write_text(yaml.safe_dump({"shots": shots}, sort_keys=False), encoding="utf-8")
    return path
