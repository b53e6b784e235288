"""YAML documents (configs, manifests): read with ``yaml.safe_load`` only, refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from keyframe.errors import KeyframeError


def read_yaml_mapping(path: str | Path, what: str, error: type[KeyframeError] = KeyframeError) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (an empty file is an empty mapping).

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for messages ("config file", "manifest").
    error : type
        The :class:`KeyframeError` subclass to raise.

    Returns
    -------
    dict
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{what} {path} is not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping, not {type(data).__name__}")
    return data
