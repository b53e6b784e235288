"""Thin Prefect tasks over the keyframe stages: one task per stage, cached by content.

Each stage task's cache key is the SHA-256 of its inputs' content (arrays by
:func:`keyframe.io.array_sha256`), its config section's JSON, the seed, a fingerprint of the
model weights it loads, the task's name and keyframe's version: a rerun with the same inputs
reuses the persisted result instead of recomputing it. Results are persisted in the output folder
(``<out>/.keyframe-cache``), so the cache travels with the outputs and two runs into different
folders never share one. Only transient errors (``OSError``, ``TimeoutError``) are retried; an
input or quality error (:class:`~keyframe.errors.KeyframeError`) fails at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import CacheKeyFnPolicy
from prefect.exceptions import MissingContextError
from prefect.filesystems import LocalFileSystem
from prefect.serializers import Serializer
from pydantic import BaseModel, Field

from keyframe import __version__
from keyframe.config import CheckConfig, GateConfig, InpaintConfig, NightlyConfig, RenderConfig, RenderSvdConfig
from keyframe.errors import KeyframeError
from keyframe.gate import GateResult, run_gate
from keyframe.inpaint import InpaintResult, inpaint, load_pipeline
from keyframe.io import array_sha256, file_sha256, make_dirs, write_bytes_now
from keyframe.render import RenderResult, load_svd, render
from keyframe.track import CheckResult, check_clip

CACHE_DIR = ".keyframe-cache"
_MAGIC = b"keyframe-result 1\n"
TRANSIENT = (OSError, TimeoutError)
#: Parameters that name a task run in the UI but do not change its result.
_LABELS = ("label",)


def flow_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task run (logs reach the server and the console);
    a plain logger when the chain runs without Prefect (the benchmark's direct calls)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("keyframe.flows")


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry OSError/TimeoutError, never a KeyframeError (bad input, bad weights)."""
    error = state.data
    return isinstance(error, TRANSIENT) and not isinstance(error, KeyframeError)


def _digest_value(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return array_sha256(value)
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, sort_keys=True, default=str)


def content_key(context: Any, parameters: dict[str, Any]) -> str:
    """Cache key of a stage task: its name, keyframe's version and the content of every input.

    A key whose persisted result is missing or cut short is forgotten here, so the stage
    recomputes instead of failing on the read (Prefect trusts a key record it finds).
    """
    digest = hashlib.sha256(f"{context.task.name}\0{__version__}\0".encode())
    for name in sorted(parameters):
        if name not in _LABELS:
            digest.update(name.encode() + b"\0" + _digest_value(parameters[name]).encode() + b"\0")
    key = f"{context.task.name}-{digest.hexdigest()}"
    _forget_if_damaged(key, keys=context.task.cache_policy.key_storage, results=context.task.result_storage)
    return key


def _forget_if_damaged(key: str, *, keys: Any, results: Any) -> None:
    if not isinstance(keys, CacheStorage) or not isinstance(results, CacheStorage):
        return  # not the layout Stages.for_output sets up
    record = keys.folder / key
    if record.exists() and not result_is_intact(results.folder / key):
        flow_logger().warning("stage cache entry %s is damaged or missing its result; recomputing the stage", key)
        record.unlink(missing_ok=True)


def weights_fingerprint(source: str | None) -> str | None:
    """Identify model weights for cache keys without reading gigabytes on every task.

    A local folder is fingerprinted by each file's relative path, size and modification time; a
    single file by its content; anything else (a Hugging Face id in the local cache) by its name.
    """
    if not source:
        return None
    path = Path(source).expanduser()
    if path.is_dir():
        listing = sorted(
            f"{p.relative_to(path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in path.rglob("*") if p.is_file()
        )
        return hashlib.sha256("\n".join(listing).encode()).hexdigest()
    if path.is_file():
        return file_sha256(path)
    return source


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
    """Whether ``path`` holds a whole stage result as :class:`ResultSerializer` writes it."""
    try:
        with path.open("rb") as stream:
            if stream.read(len(_MAGIC)) != _MAGIC:
                return False
            sizes = json.loads(stream.readline())["sizes"]
            return path.stat().st_size == stream.tell() + sum(sizes)
    except (OSError, ValueError, KeyError, TypeError):
        return False


class ResultSerializer(Serializer):
    """Persists stage results (keyframe dataclasses, arrays, plain data) without pickle.

    The file is a magic line, a JSON header (the result's structure, arrays by reference, and
    each array's byte length) and the arrays' raw bytes, so an 11 MB clip is written as it is in
    memory, with no base64 or JSON escaping. Prefect's default pickle serializer would load
    code-carrying pickles from the output folder on every cache hit; this one rebuilds only
    dataclasses defined in ``keyframe.*`` and numpy arrays, so a tampered cache file can at worst
    fail to load.
    """

    type: str = Field(default="keyframe-result", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        buffers: list[np.ndarray] = []
        structure = _encode(obj, buffers)
        header = json.dumps({"result": structure, "sizes": [b.nbytes for b in buffers]}, separators=(",", ":"))
        return b"".join([_MAGIC, header.encode(), b"\n", *(b.reshape(-1).view(np.uint8) for b in buffers)])

    def loads(self, blob: bytes) -> Any:
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


class CacheStorage(LocalFileSystem):
    """A stage-cache folder whose entries are written atomically (Prefect's own writes in place).

    A full disk or a kill during a write leaves no partial entry: the bytes go to a temporary
    file beside the entry, renamed over it once complete. :meth:`tidy` removes what older
    versions or a kill left behind.
    """

    _block_type_name = "keyframe stage cache"

    @property
    def folder(self) -> Path:
        return Path(self.basepath)

    def write_path(self, path: str, content: bytes, _sync: bool | None = None) -> str:
        target = self._resolve_path(path)
        make_dirs(target.parent)
        return str(write_bytes_now(target, content))

    async def awrite_path(self, path: str, content: bytes) -> str:
        return self.write_path(path, content)

    def tidy(self, intact: Callable[[Path], bool]) -> list[Path]:
        """Delete temporary files and entries ``intact`` rejects (0-byte, cut short); returns them."""
        if not self.folder.is_dir():
            return []
        removed = [p for p in self.folder.iterdir() if p.is_file() and (p.name.startswith(".") or not intact(p))]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed


_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def shared_model(loader: Callable[..., Any], key: str, *args: Any, **kwargs: Any) -> Any:
    """Load a model once per process and reuse it for every shot of a batch."""
    with _models_lock:
        if key not in _models:
            _models[key] = loader(*args, **kwargs)
        return _models[key]


def _inpaint_model(cfg: InpaintConfig) -> Any:
    if cfg.backend != "diffusers" or not cfg.model:
        return None  # the stage itself reports a missing model
    return shared_model(load_pipeline, f"inpaint:{cfg.model}:{cfg.allow_pickle}", cfg.model, allow_pickle=cfg.allow_pickle)


def _render_model(cfg: RenderConfig) -> Any:
    if cfg.backend != "svd" or not cfg.svd.model:
        return None
    svd: RenderSvdConfig = cfg.svd
    return shared_model(load_svd, f"svd:{svd.model_dump_json()}", svd)


#: Cache keys from :func:`content_key`; Stages.for_output binds where keys and results are kept.
CONTENT_POLICY = CacheKeyFnPolicy(cache_key_fn=content_key)
# Retries and result storage are bound per run by Stages.for_output (from the nightly config).
_STAGE = dict(cache_policy=CONTENT_POLICY, persist_result=True, retry_condition_fn=is_transient)


@task(name="inpaint", task_run_name="inpaint [{label}]", **_STAGE)
def inpaint_task(
    plate: np.ndarray, mask: np.ndarray, cfg: InpaintConfig, seed: int, weights: str | None, label: str
) -> InpaintResult:
    """Clean the masked region (``weights`` only keys the cache)."""
    return inpaint(plate, mask, cfg, seed=seed, model=_inpaint_model(cfg))


@task(name="gate", task_run_name="gate [{label}]", **_STAGE)
def gate_task(plate: np.ndarray, mask: np.ndarray, cfg: GateConfig, label: str) -> GateResult:
    """Motion-readiness gate of the cleaned plate."""
    return run_gate(plate, mask, cfg)


@task(name="render", task_run_name="render [{label}]", **_STAGE)
def render_task(plate: np.ndarray, cfg: RenderConfig, seed: int, weights: str | None, label: str) -> RenderResult:
    """Render a clip from the cleaned plate (``weights`` only keys the cache)."""
    return render(plate, cfg, seed=seed, model=_render_model(cfg))


@task(name="check", task_run_name="check [{label}]", **_STAGE)
def check_task(
    frames: np.ndarray,
    plate: np.ndarray,
    mask: np.ndarray,
    cfg: CheckConfig,
    fps: float,
    plate_to_frame0: list[list[float]] | None,
    label: str,
) -> CheckResult:
    """Track the edited region through the clip and judge it."""
    return check_clip(frames, plate, mask, cfg, fps=fps, plate_to_frame0=plate_to_frame0)


_TASKS = (inpaint_task, gate_task, render_task, check_task)


@dataclass(frozen=True)
class Stages:
    """The four stage callables a chain uses: Prefect tasks bound to an output folder, or plain functions."""

    inpaint: Callable[..., InpaintResult]
    gate: Callable[..., GateResult]
    render: Callable[..., RenderResult]
    check: Callable[..., CheckResult]

    @classmethod
    def for_output(cls, out_dir: Path, nightly: NightlyConfig) -> Stages:
        """Stage tasks that persist their results in ``out_dir/.keyframe-cache``.

        Each cache key's small metadata record (``keys/``) is kept apart from the result it names
        (``results/``): Prefect then checks a key without loading the result, and writes the
        serializer's bytes as they are instead of embedding them in a JSON record.
        """
        cache = Path(out_dir).resolve() / CACHE_DIR
        keys, results = CacheStorage(basepath=str(cache / "keys")), CacheStorage(basepath=str(cache / "results"))
        # Prefect takes a block as result storage only once saved on its server (one document per folder).
        results.save(f"keyframe-cache-{hashlib.sha256(str(cache).encode()).hexdigest()[:16]}", overwrite=True)
        for path in results.tidy(result_is_intact) + keys.tidy(lambda record: (results.folder / record.name).is_file()):
            flow_logger().warning("stage cache entry %s is damaged or missing its result; removed, the stage is recomputed", path)
        options = dict(
            cache_policy=CONTENT_POLICY.configure(key_storage=keys),
            result_storage=results,
            result_serializer=ResultSerializer(),
            retries=nightly.retries,
            retry_delay_seconds=nightly.retry_delay_s,
        )
        return cls(*(t.with_options(**options) for t in _TASKS))

    @classmethod
    def direct(cls) -> Stages:
        """The same stage functions without Prefect (no task runs, no cache), to measure its overhead."""
        return cls(*(t.fn for t in _TASKS))
