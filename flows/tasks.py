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

import hashlib
import json
import logging
import threading
from collections.abc import Callable
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
from keyframe.config import CheckConfig, GateConfig, InpaintConfig, NightlyConfig, RenderConfig
from keyframe.errors import KeyframeError
from keyframe.gate import GateResult, run_gate
from keyframe.inpaint import InpaintResult, inpaint, load_pipeline
from keyframe.io import array_sha256, make_dirs, write_bytes_now
from keyframe.io.models import weights_fingerprint
from keyframe.io.results import decode_result, encode_result, forget_damaged_result, tidy_cache
from keyframe.pipeline import Stages
from keyframe.render import RenderResult, load_i2v, load_svd, render, render_model_source
from keyframe.track import CheckResult, check_clip

CACHE_DIR = ".keyframe-cache"
TRANSIENT = (OSError, TimeoutError)
#: Parameters that name a task run in the UI but do not change its result.
_LABELS = ("label",)


def flow_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task run (logs reach the server and the console),
    else a plain logger."""
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
        return  # not the layout stage_tasks sets up
    if forget_damaged_result(keys.folder / key, results.folder / key):
        flow_logger().warning("stage cache entry %s is damaged or missing its result; recomputing the stage", key)


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
        return encode_result(obj)

    def loads(self, blob: bytes) -> Any:
        return decode_result(blob)


class CacheStorage(LocalFileSystem):
    """A stage-cache folder whose entries are written atomically (Prefect's own writes in place).

    A full disk or a kill during a write leaves no partial entry: the bytes go to a temporary
    file beside the entry, renamed over it once complete (:func:`keyframe.io.write_bytes_now`).
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
    loader, section = {"svd": (load_svd, cfg.svd), "diffusers": (load_i2v, cfg.diffusers)}.get(cfg.backend, (None, None))
    if loader is None or not section.model:
        return None  # camera, or the stage itself reports a missing model
    return shared_model(loader, f"{cfg.backend}:{section.model_dump_json()}", section)


#: Cache keys from :func:`content_key`; stage_tasks binds where keys and results are kept.
CONTENT_POLICY = CacheKeyFnPolicy(cache_key_fn=content_key)
# Retries and result storage are bound per run by stage_tasks (from the nightly config).
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
def render_task(plate: np.ndarray, cfg: RenderConfig, seed: int, weights: str | None, label: str,
                last: np.ndarray | None = None) -> RenderResult:
    """Render a clip from the cleaned plate, towards the end plate ``last`` (``weights`` keys the cache)."""
    return render(plate, cfg, seed=seed, model=_render_model(cfg), last=last)


@task(name="check", task_run_name="check [{label}]", **_STAGE)
def check_task(
    frames: np.ndarray,
    plate: np.ndarray,
    mask: np.ndarray,
    cfg: CheckConfig,
    fps: float,
    plate_to_frame0: list[list[float]] | None,
    label: str,
    end_plate: np.ndarray | None = None,
    end_to_last: list[list[float]] | None = None,
) -> CheckResult:
    """Track the edited region through the clip and judge it (the last frame against ``end_plate``)."""
    return check_clip(frames, plate, mask, cfg, fps=fps, plate_to_frame0=plate_to_frame0, end_plate=end_plate, end_to_last=end_to_last)


_TASKS = (inpaint_task, gate_task, render_task, check_task)


def stage_tasks(out_dir: Path, nightly: NightlyConfig, label: str) -> Stages:
    """The chain's stages as tasks that persist their results in ``out_dir/.keyframe-cache``.

    Each cache key's small metadata record (``keys/``) is kept apart from the result it names
    (``results/``): Prefect then checks a key without loading the result, and writes the
    serializer's bytes as they are instead of embedding them in a JSON record. ``label`` names
    the task runs.
    """
    cache = Path(out_dir).resolve() / CACHE_DIR
    keys, results = CacheStorage(basepath=str(cache / "keys")), CacheStorage(basepath=str(cache / "results"))
    # Prefect takes a block as result storage only once saved on its server (one document per folder).
    results.save(f"keyframe-cache-{hashlib.sha256(str(cache).encode()).hexdigest()[:16]}", overwrite=True)
    for path in tidy_cache(keys.folder, results.folder):
        flow_logger().warning("stage cache entry %s is damaged or missing its result; removed, the stage is recomputed", path)
    options = dict(
        cache_policy=CONTENT_POLICY.configure(key_storage=keys),
        result_storage=results,
        result_serializer=ResultSerializer(),
        retries=nightly.retries,
        retry_delay_seconds=nightly.retry_delay_s,
    )
    inpaint_run, gate_run, render_run, check_run = (t.with_options(**options) for t in _TASKS)
    return Stages(
        inpaint=lambda plate, mask, cfg: inpaint_run(plate, mask, cfg.inpaint, cfg.seed,
                                                     weights_fingerprint(cfg.inpaint.model), label),
        gate=lambda image, edit, cfg: gate_run(image, edit, cfg.gate, label),
        render=lambda image, cfg, last=None: render_run(image, cfg.render, cfg.seed, weights_fingerprint(render_model_source(cfg.render)), label,
                                                        last),
        check=lambda clip, plate, edit, cfg, last=None: check_run(clip.frames, plate, edit, cfg.check, clip.fps,
                                                                  clip.plate_to_frame0, label, last, clip.last_to_frame),
    )
