"""Stage results on disk without pickle: keyframe dataclasses, numpy arrays and plain data.

The file is a magic line, a JSON header (the result's structure, arrays by reference, and each
array's byte length) and the arrays' raw bytes, so an 11 MB clip is written as it is in memory,
with no base64 or JSON escaping. Only dataclasses defined in ``keyframe.*`` and numpy arrays are
rebuilt, so a tampered file can at worst fail to load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.io.sidecar import array_sha256

_MAGIC = b"keyframe-result 1\n"


def _encode(value: Any, buffers: list[np.ndarray]) -> Any:
    """``value`` as JSON-ready data; each array becomes a reference into ``buffers``."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("cannot persist an array of Python objects in a stage result")
        buffers.append(np.ascontiguousarray(value))
        return {"__ndarray__": len(buffers) - 1, "dtype": value.dtype.str, "shape": value.shape}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        fields = {f.name: _encode(getattr(value, f.name), buffers) for f in dataclasses.fields(value)}
        return {"__dataclass__": f"{kind.__module__}:{kind.__qualname__}", "fields": fields}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, buffers), _encode(v, buffers)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"__tuple__" if isinstance(value, tuple) else "__list__": [_encode(v, buffers) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot persist a {type(value).__name__} in a stage result")


def _decode(value: Any, buffers: list[memoryview]) -> Any:
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return np.frombuffer(buffers[value["__ndarray__"]], dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if "__dataclass__" in value:
        module, _, name = value["__dataclass__"].partition(":")
        if not module.startswith("keyframe."):
            raise ValueError(f"refusing to rebuild {value['__dataclass__']}: not a keyframe result type")
        kind = getattr(importlib.import_module(module), name)
        if not dataclasses.is_dataclass(kind):
            raise ValueError(f"{value['__dataclass__']} is not a dataclass")
        result = object.__new__(kind)
        for field, encoded in value["fields"].items():
            object.__setattr__(result, field, _decode(encoded, buffers))
        return result
    if "__dict__" in value:
        return {_decode(k, buffers): _decode(v, buffers) for k, v in value["__dict__"]}
    if "__tuple__" in value:
        return tuple(_decode(v, buffers) for v in value["__tuple__"])
    return [_decode(v, buffers) for v in value["__list__"]]


def result_is_intact(path: Path) -> bool:
    """Whether ``path`` holds a whole stage result as :func:`encode_result` writes it."""
    try:
        with path.open("rb") as stream:
            if stream.read(len(_MAGIC)) != _MAGIC:
                return False
            sizes = json.loads(stream.readline())["sizes"]
            return path.stat().st_size == stream.tell() + sum(sizes)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def encode_result(obj: Any) -> bytes:
    """``obj`` as the bytes of a result file."""
    buffers: list[np.ndarray] = []
    structure = _encode(obj, buffers)
    header = json.dumps({"result": structure, "sizes": [b.nbytes for b in buffers]}, separators=(",", ":"))
    return b"".join([_MAGIC, header.encode(), b"\n", *(b.reshape(-1).view(np.uint8) for b in buffers)])


def decode_result(blob: bytes) -> Any:
    """The object :func:`encode_result` made ``blob`` from (ValueError if it is not one, or cut short)."""
    if not blob.startswith(_MAGIC):
        raise ValueError("not a keyframe stage result (unknown header)")
    end = blob.index(b"\n", len(_MAGIC))
    header = json.loads(blob[len(_MAGIC):end])
    data, buffers, offset = memoryview(blob), [], end + 1
    for size in header["sizes"]:
        if offset + size > len(blob):
            raise ValueError("truncated keyframe stage result")
        buffers.append(data[offset:offset + size])
        offset += size
    return _decode(header["result"], buffers)


def forget_damaged_result(record: Path, result: Path) -> bool:
    """Delete a cache key's ``record`` when the ``result`` it names is missing or damaged; True if it did."""
    if record.exists() and not result_is_intact(result):
        record.unlink(missing_ok=True)
        return True
    return False


def tidy_cache(keys: Path, results: Path) -> list[Path]:
    """Delete what a kill, a full disk or an older version left in a stage cache; returns the paths.

    Temporary files (hidden names) and results that are not intact (0 bytes, cut short) go, then
    every key record whose result is gone.
    """
    removed: list[Path] = []
    for folder, keep in ((results, result_is_intact), (keys, lambda record: (results / record.name).is_file())):
        damaged = [p for p in folder.iterdir() if p.is_file() and (p.name.startswith(".") or not keep(p))] if folder.is_dir() else []
        for path in damaged:
            path.unlink(missing_ok=True)
        removed += damaged
    return removed


def content_digest(prefix: str, inputs: dict[str, Any]) -> str:
    """SHA-256 of ``prefix`` and every input's content: arrays by their bytes, keyframe dataclasses
    (e.g. a camera clip's :class:`~keyframe.render.CameraFrames`) by their :func:`encode_result`
    bytes, a streamed clip by its files' (``fingerprint()``), pydantic models by their JSON, anything else by its sorted JSON; the inputs' order does
    not matter.

    Examples
    --------
    >>> content_digest("gate", {"b": 1, "a": np.zeros(2)}) == content_digest("gate", {"a": np.zeros(2), "b": 1})
    True
    """
    def text(value: Any) -> str:
        if isinstance(value, np.ndarray):
            return array_sha256(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return hashlib.sha256(encode_result(value)).hexdigest()
        if hasattr(value, "fingerprint"):  # a clip read from files (keyframe.io.ClipStream)
            return value.fingerprint()
        if hasattr(value, "model_dump_json"):
            return value.model_dump_json()
        return json.dumps(value, sort_keys=True, default=str)

    digest = hashlib.sha256(f"{prefix}\0".encode())
    for name in sorted(inputs):
        digest.update(name.encode() + b"\0" + text(inputs[name]).encode() + b"\0")
    return digest.hexdigest()
