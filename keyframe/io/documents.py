"""YAML and JSON documents (configs, manifests, sidecars, model indexes): refused in one line when malformed.

YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import json
import tomllib
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


def read_json_object(path: str | Path, what: str, error: type[KeyframeError] = KeyframeError) -> dict[str, Any]:
    """Read a JSON file that must hold an object; parameters and errors as :func:`read_yaml_mapping`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{what} is not valid JSON ({type(exc).__name__}): {path}") from None
    if not isinstance(data, dict):
        raise error(f"{what} must hold a JSON object, not {type(data).__name__}: {path}")
    return data


def read_toml_table(path: str | Path, what: str, error: type[KeyframeError] = KeyframeError) -> dict[str, Any]:
    """Read a TOML file (a table by definition); parameters and errors as :func:`read_yaml_mapping`."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{what} is not valid TOML ({type(exc).__name__}): {path}") from None
