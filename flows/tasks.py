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
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task, unmapped
from prefect.cache_policies import CacheKeyFnPolicy
from prefect.exceptions import MissingContextError, ObjectAlreadyExists
from prefect.filesystems import LocalFileSystem
from prefect.serializers import Serializer
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from keyframe import __version__
from keyframe.config import CheckConfig, Config, GateConfig, InpaintConfig, NightlyConfig, RenderConfig, UpscaleConfig
from keyframe.errors import KeyframeError
from keyframe.gate import GateResult, run_gate
from keyframe.inpaint import InpaintResult, inpaint, shared_pipeline
from keyframe.io import make_dirs, write_bytes_now
from keyframe.io.models import weights_fingerprint
from keyframe.io.results import content_digest, decode_result, encode_result, forget_damaged_result, tidy_cache
from keyframe.pipeline import Stages
from keyframe.render import RenderResult, render, render_model_source, shared_render_model
from keyframe.render.stored import store_frames
from keyframe.track import CheckResult, check_clip
from keyframe.upscale import UpscaleResult, shared_upscale_model, upscale

CACHE_DIR = ".keyframe-cache"
TRANSIENT = (OSError, TimeoutError)
#: Parameters that do not change a task's result: its name in the UI, where it keeps a model's clip.
_LABELS = ("label", "store")


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


def content_key(context: Any, parameters: dict[str, Any]) -> str:
    """Cache key of a stage task: its name, keyframe's version and the content of every input.

    A key whose persisted result is missing or cut short is forgotten here, so the stage
    recomputes instead of failing on the read (Prefect trusts a key record it finds).
    """
    inputs = {name: value for name, value in parameters.items() if name not in _LABELS}
    prefix = f"{context.task.name}\0{__version__}"
    key = f"{context.task.name}-{content_digest(prefix, inputs)}"
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


_block_save_lock = threading.Lock()


def save_cache_block(storage: CacheStorage, name: str) -> None:
    """Save ``storage`` on the Prefect server under ``name`` (Prefect takes only saved blocks as result storage).

    The first save also registers the block's type and schema; shots starting together (Dask
    threads or worker processes) race to register them, and the loser's ``ObjectAlreadyExists``
    only means the other one got there first, so the save is tried once more.
    """
    with _block_save_lock:
        try:
            storage.save(name, overwrite=True)
        except ObjectAlreadyExists:
            storage.save(name, overwrite=True)


#: Cache keys from :func:`content_key`; stage_tasks binds where keys and results are kept.
CONTENT_POLICY = CacheKeyFnPolicy(cache_key_fn=content_key)
# Retries and result storage are bound per run by stage_tasks (from the nightly config).
_STAGE = dict(cache_policy=CONTENT_POLICY, persist_result=True, retry_condition_fn=is_transient)


@task(name="inpaint", task_run_name="inpaint [{label}]", **_STAGE)
def inpaint_task(
    plate: np.ndarray, mask: np.ndarray, cfg: InpaintConfig, seed: int, weights: str | None, label: str
) -> InpaintResult:
    """Clean the masked region (``weights`` only keys the cache)."""
    return inpaint(plate, mask, cfg, seed=seed, model=shared_pipeline(cfg))


@task(name="gate", task_run_name="gate [{label}]", **_STAGE)
def gate_task(plate: np.ndarray, mask: np.ndarray, cfg: GateConfig, label: str) -> GateResult:
    """Motion-readiness gate of the cleaned plate."""
    return run_gate(plate, mask, cfg)


@task(name="render", task_run_name="render [{label}]", **_STAGE)
def render_task(plate: np.ndarray, cfg: RenderConfig, seed: int, weights: str | None, label: str,
                last: np.ndarray | None = None, store: str | None = None) -> RenderResult:
    """Render a clip from the cleaned plate, towards the end plate ``last`` (``weights`` keys the cache);
    a model's frames are kept in the folder ``store``, losslessly, and streamed from there (the result names the file)."""
    result = render(plate, cfg, seed=seed, model=shared_render_model(cfg), last=last)
    return result if store is None else store_frames(result, store)


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


@task(name="upscale", task_run_name="upscale [{label}]", **_STAGE)
def upscale_task(
    plate: np.ndarray, mask: np.ndarray, cfg: UpscaleConfig, seed: int, weights: str | None, label: str
) -> UpscaleResult:
    """Upscale the cleaned plate and measure the edit's uniformity (``weights`` only keys the cache)."""
    return upscale(plate, cfg, mask=mask, seed=seed, model=shared_upscale_model(cfg))


_TASKS = (inpaint_task, gate_task, render_task, check_task, upscale_task)


def task_runner(cfg: NightlyConfig) -> Any:
    """The task runner the shots run on: a bounded thread pool, or Dask (a cluster or a local one)."""
    if cfg.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=cfg.concurrency)
    from prefect_dask import DaskTaskRunner

    if cfg.dask_address:
        return DaskTaskRunner(address=cfg.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": cfg.concurrency,
            "threads_per_worker": 1,
            "processes": cfg.dask_processes,
            "dashboard_address": None,
        }
    )


def stage_tasks(out_dir: Path, nightly: NightlyConfig, label: str) -> Stages:
    """The chain's stages as tasks that persist their results in ``out_dir/.keyframe-cache``.

    Each cache key's small metadata record (``keys/``) is kept apart from the result it names
    (``results/``): Prefect then checks a key without loading the result, and writes the
    serializer's bytes as they are instead of embedding them in a JSON record. ``label`` names
    the task runs. Best of N's candidates are rendered, then checked, as mapped tasks: in parallel
    on the flow's task runner.
    """
    cache = Path(out_dir).resolve() / CACHE_DIR
    keys, results = CacheStorage(basepath=str(cache / "keys")), CacheStorage(basepath=str(cache / "results"))
    store = str(cache / "clips")  # model renders' frames, losslessly (keyframe.render.stored)
    # Prefect takes a block as result storage only once saved on its server (one document per folder).
    save_cache_block(results, f"keyframe-cache-{hashlib.sha256(str(cache).encode()).hexdigest()[:16]}")
    for path in tidy_cache(keys.folder, results.folder):
        flow_logger().warning("stage cache entry %s is damaged or missing its result; removed, the stage is recomputed", path)
    options = dict(
        cache_policy=CONTENT_POLICY.configure(key_storage=keys),
        result_storage=results,
        result_serializer=ResultSerializer(),
        retries=nightly.retries,
        retry_delay_seconds=nightly.retry_delay_s,
    )
    inpaint_run, gate_run, render_run, check_run, upscale_run = (t.with_options(**options) for t in _TASKS)

    def names(configs: list[Config]) -> list[str]:
        return [f"{label} c{i}" for i in range(len(configs))]

    def render_many(image: np.ndarray, configs: list[Config], last: np.ndarray | None) -> list[RenderResult]:
        return render_run.map(unmapped(image), [c.render for c in configs], [c.seed for c in configs],
                              [weights_fingerprint(render_model_source(c.render)) for c in configs], names(configs),
                              unmapped(last), unmapped(store)).result()

    def check_many(clips: list[RenderResult], plate: np.ndarray, edit: np.ndarray, configs: list[Config],
                   last: np.ndarray | None) -> list[CheckResult]:
        return check_run.map([c.frames for c in clips], unmapped(plate), unmapped(edit), [c.check for c in configs],
                             [c.fps for c in clips], [c.plate_to_frame0 for c in clips], names(configs), unmapped(last),
                             [c.last_to_frame for c in clips]).result()

    return Stages(
        inpaint=lambda plate, mask, cfg: inpaint_run(plate, mask, cfg.inpaint, cfg.seed,
                                                     weights_fingerprint(cfg.inpaint.model), label),
        gate=lambda image, edit, cfg: gate_run(image, edit, cfg.gate, label),
        render=lambda image, cfg, last=None: render_run(image, cfg.render, cfg.seed, weights_fingerprint(render_model_source(cfg.render)),
                                                        label, last, store),
        check=lambda clip, plate, edit, cfg, last=None: check_run(clip.frames, plate, edit, cfg.check, clip.fps,
                                                                  clip.plate_to_frame0, label, last, clip.last_to_frame),
        upscale=lambda image, edit, cfg: upscale_run(image, edit, cfg.upscale, cfg.seed,
                                                     weights_fingerprint(cfg.upscale.model), label),
        render_many=render_many,
        check_many=check_many,
    )
