"""YAML and JSON documents (configs, manifests, sidecars, masks, model indexes), parsed within bounds.

Every document is refused in one line, before it can cost much time or memory, when it is:
larger than :data:`MAX_DOCUMENT_BYTES`; nested deeper than :data:`MAX_DEPTH`; holding a number
longer than :data:`MAX_NUMBER_CHARS` digits or characters, or one that is not finite (``1e999``, ``NaN``,
``.inf``); or repeating a key inside one mapping (the later one would silently win). These limits
are constants rather than configuration because the configuration file itself is read with them.
YAML is read with ``yaml.SafeLoader`` only (no tags that build Python objects).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from keyframe.errors import KeyframeError

#: Largest document read, in bytes. A 10,000-shot manifest is ~0.6 MB and a 100,000-point polygon
#: mask ~4 MB, so 16 MiB leaves room while bounding the parser's memory to a few hundred MB.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: Deepest nesting of lists and mappings. keyframe's own documents nest at most 5 deep (a mask's
#: shapes -> shape -> points -> point); 64 is generous and far below Python's recursion limit.
MAX_DEPTH = 64
#: Longest number, in characters. A float64 needs at most 24 ("-2.2250738585072014e-308");
#: 5,000-digit integers would otherwise hit Python's int-parsing limit (ValueError) or cost time.
MAX_NUMBER_CHARS = 32


class DocumentError(ValueError):
    """A document outside the limits above; turned into the caller's :class:`KeyframeError`."""


def _no_constant(name: str) -> Any:
    raise DocumentError(f"{name} is not a number JSON allows")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise DocumentError(f"the key {key!r} appears twice in one object")
        mapping[key] = value
    return mapping


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_NUMBER_CHARS + 1))
# Only an exponent of 3+ digits can overflow a float64 (a mantissa is at most 32 digits here);
# such exponents are rare, so the number around one is found only then.
_BIG_EXPONENT = re.compile(rb"[eE]\+?[0-9]{3,}")
_MANTISSA = re.compile(rb"-?[0-9.]*$")


def _skeleton(data: bytes) -> bytes:
    """JSON text with every string emptied, so brackets and digits inside strings do not count."""
    return _JSON_STRING.sub(b'""', data)


def _depth(skeleton: bytes) -> int:
    chars = np.frombuffer(skeleton, np.uint8)
    steps = ((chars == ord("[")) | (chars == ord("{"))).astype(np.int8) - ((chars == ord("]")) | (chars == ord("}")))
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def json_depth(data: bytes) -> int:
    """Deepest ``[``/``{`` nesting of JSON text, found in one pass without parsing it."""
    return _depth(_skeleton(data))


def parse_json(data: bytes) -> Any:
    """Parse JSON text within the module's limits; raises :class:`DocumentError` (or ``ValueError``).

    The limits are checked on the text before it is parsed: its size, its nesting (a recursive
    parser would overflow the stack), digit runs (Python refuses integers over 4,300 digits, and
    parsing them is quadratic) and exponents that overflow to infinity.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{len(data)} bytes, over the {MAX_DOCUMENT_BYTES} byte limit")
    skeleton = _skeleton(data)
    depth = _depth(skeleton)
    if depth > MAX_DEPTH:
        raise DocumentError(f"nested {depth} deep (limit {MAX_DEPTH})")
    if _LONG_NUMBER.search(skeleton) is not None:
        raise DocumentError(f"a number of more than {MAX_NUMBER_CHARS} digits")
    for exponent in _BIG_EXPONENT.finditer(skeleton):
        mantissa = _MANTISSA.search(skeleton, max(exponent.start() - MAX_NUMBER_CHARS, 0), exponent.start())
        number = (mantissa.group() if mantissa else b"") + exponent.group()
        try:
            value = float(number)
        except ValueError:  # not a number after all: json.loads says so below
            continue
        if not math.isfinite(value):
            raise DocumentError(f"the number {number.decode()} is not finite")
    return json.loads(data.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_unique_pairs)


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses deep nesting, duplicate keys and unbounded or infinite numbers."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DocumentError(f"nested more than {MAX_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=True) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"]
        for i, key in enumerate(keys):
            if isinstance(key, (str, int, float, bool)) and key in keys[:i]:
                raise DocumentError(f"the key {key!r} appears twice in one mapping (line {node.start_mark.line + 1})")
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise DocumentError(f"a number of {len(node.value)} characters (limit {MAX_NUMBER_CHARS})")
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise DocumentError(f"the number {node.value} is not finite (line {node.start_mark.line + 1})")
        return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _BoundedLoader.construct_yaml_float)


def _read_bytes(path: Path, what: str, error: type[KeyframeError]) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise error(f"{what} is {size} bytes, over the {MAX_DOCUMENT_BYTES} byte limit for documents: {path}")
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, expected a file: {path}") from None
    except PermissionError:
        raise error(f"{what} is not readable (permission denied): {path}") from None


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
    text = _read_bytes(path, what, error)
    try:
        loader = _BoundedLoader(text.decode("utf-8"))  # a SafeLoader: no tags that build Python objects
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{what} {path} is not valid YAML: {first}") from None
    except DocumentError as exc:
        raise error(f"{what} {path} is refused: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping, not {type(data).__name__}")
    return data


def read_json(path: str | Path, what: str, error: type[KeyframeError] = KeyframeError) -> Any:
    """Read a JSON file within the limits of this module; parameters as :func:`read_yaml_mapping`."""
    path = Path(path)
    text = _read_bytes(path, what, error)
    try:
        return parse_json(text)
    except DocumentError as exc:
        raise error(f"{what} is refused ({exc}): {path}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{what} is not valid JSON ({type(exc).__name__}): {path}") from None


def read_json_object(path: str | Path, what: str, error: type[KeyframeError] = KeyframeError) -> dict[str, Any]:
    """Read a JSON file that must hold an object; parameters and errors as :func:`read_yaml_mapping`."""
    data = read_json(path, what, error)
    if not isinstance(data, dict):
        raise error(f"{what} must hold a JSON object, not {type(data).__name__}: {Path(path)}")
    return data
