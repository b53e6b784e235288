"""Nightly batches: the shot manifest and the ledger of finished shots (for resuming a run).

A manifest is a YAML file listing shots::

    shots:
      - id: sh010
        plate: plates/sh010.png      # relative to the manifest's folder
        mask: masks/sh010.png
        prompt: "clean wall"         # optional
        last: plates/sh010_end.png   # optional end plate of a keyframe pair (render: diffusers,
        last_mask: masks/sh010_end.png  # a first-last-frame model), with its own mask
        candidates: 3                # optional: best of 3 renders, the steadiest kept
        config:                      # optional, merged over the run's configuration
          render: {backend: camera}
        previous:                    # optional: the shot's last revision, to compare against
          plate: last/sh010.png
          clip: last/sh010.mp4       # rendered anywhere; video, frame folder or pattern
          mask: last/sh010.mask.png  # optional; the shot's mask by default

The file as a whole is refused (one line) when it is not YAML, has unknown keys, or repeats a
shot id. Paths are checked per shot by :func:`resolve_shot`: one shot whose plate lies outside the
manifest's folder fails on its own, and the other shots still run.

The ledger of finished shots (:class:`keyframe.io.ledger.Ledger`) is kept in ``keyframe.io``,
which does every file operation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
import re
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keyframe import __version__
from keyframe.compare import against_previous
from keyframe.config import Config, merge, validate
from keyframe.errors import KeyframeError
from keyframe.io import clip_source, file_sha256, read_json_object, read_yaml_mapping
from keyframe.io import write_json_atomic
from keyframe.io.ledger import FINISHED, SHOT_RECORD_SCHEMA, Ledger
from keyframe.pipeline import OUTPUT_KEYS, PlateEntry, Revision, locate, read_inputs
from keyframe.report.batch import steadier_text
from keyframe.report.html import write_html_index
from keyframe.report.otio import write_flags_otio

SUMMARY_SCHEMA = "keyframe.nightly/1"
STATUSES = ("pass", "flagged", "failed")
_SHOT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # whole id: fullmatch (no newline after it)
PREVIOUS = "previous"  # a shot's previous revision is checked into shots/<id>/previous/
__all__ = ["FINISHED", "PREVIOUS", "SHOT_RECORD_SCHEMA", "Ledger", "Manifest", "PreviousRevision", "Shot", "ShotSpec",
           "batch_row", "compare_with_previous", "load_manifest", "one_line", "resolve_shot", "steadier_text",
           "write_batch_outputs"]


class PreviousSpec(BaseModel):
    """A shot's previous revision as written in the manifest: its plate, its clip, optionally its mask."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plate: str = Field(min_length=1)
    clip: str = Field(min_length=1)
    mask: str | None = Field(None, min_length=1)


class ShotSpec(BaseModel):
    """One shot as written in the manifest (paths still relative, overrides unvalidated)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    plate: str = Field(min_length=1)
    mask: str = Field(min_length=1)
    prompt: str | None = None
    last: str | None = Field(None, min_length=1)
    last_mask: str | None = Field(None, min_length=1)
    candidates: int | None = Field(None, ge=1, le=32)  # best of N for this shot (render.candidates)
    config: dict[str, Any] = Field(default_factory=dict)
    previous: PreviousSpec | None = None

    @model_validator(mode="after")
    def _end_pair(self) -> ShotSpec:
        if (self.last is None) != (self.last_mask is None):
            raise ValueError("last and last_mask go together: the end plate is cleaned and gated with its own mask")
        return self

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not isinstance(value, str) or not _SHOT_ID.fullmatch(value):
            raise ValueError(
                "a shot id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return value


class Manifest(BaseModel):
    """A validated manifest: its shots (unique ids) and the folder its paths are relative to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shots: list[ShotSpec] = Field(min_length=1)
    folder: Path = Field(exclude=True, default=Path("."))

    @model_validator(mode="after")
    def _unique_ids(self) -> Manifest:
        seen: set[str] = set()
        for shot in self.shots:
            if shot.id in seen:
                raise ValueError(f"shot id {shot.id!r} appears more than once")
            seen.add(shot.id)
        return self


def load_manifest(path: str | Path, max_shots: int = 2000) -> Manifest:
    """Read and validate a manifest file (``yaml.safe_load`` only).

    Parameters
    ----------
    path : str or Path
        The manifest; shot paths are relative to its folder.
    max_shots : int
        Refuse manifests with more shots than this (``nightly.max_shots``).

    Returns
    -------
    Manifest

    Examples
    --------
    >>> manifest = load_manifest("night.yaml")  # doctest: +SKIP
    >>> [shot.id for shot in manifest.shots]  # doctest: +SKIP
    ['sh010', 'sh020']
    """
    path = Path(path)
    data = read_yaml_mapping(path, "manifest")
    shots = data.get("shots")
    if isinstance(shots, list) and len(shots) > max_shots:
        raise KeyframeError(
            f"manifest {path} has {len(shots)} shots, over the limit of {max_shots} (nightly.max_shots); split it"
        )
    try:
        return Manifest.model_validate({**data, "folder": path.resolve().parent})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        raise KeyframeError(f"manifest {path}: {where + ': ' if where else ''}{message}") from None


@dataclass(frozen=True)
class PreviousRevision:
    """A shot's previous revision, rendered elsewhere: confined absolute paths."""

    plate: Path
    clip: Path
    mask: Path

    def hashes(self) -> list[str]:
        """Content hashes of its plate, clip (file, or the folder of its frames) and mask."""
        for what, path in (("plate", self.plate), ("clip", clip_source(self.clip)), ("mask", self.mask)):
            if not path.exists():
                raise KeyframeError(f"previous {what} not found: {path}")
        return [file_sha256(self.plate), file_sha256(clip_source(self.clip)), file_sha256(self.mask)]


@dataclass(frozen=True)
class Shot:
    """A shot ready to run: absolute, confined paths and its own validated configuration."""

    id: str
    plate: Path
    mask: Path
    prompt: str | None
    config: Config
    previous: PreviousRevision | None = None
    last: tuple[Path, Path] | None = None  # end plate and its mask

    def key(self) -> str:
        """Content key: the inputs' hashes, the prompt, the configuration and keyframe's version.

        A finished shot is redone only when this changes (the previous revision's files count
        too). The ``nightly`` section (how the batch runs: concurrency, task runner, retries)
        does not change a shot's outputs and is left out.
        """
        digest = hashlib.sha256()
        previous = self.previous.hashes() if self.previous is not None else []
        ends = [file_sha256(path) for path in self.last] if self.last is not None else []
        for part in (file_sha256(self.plate), file_sha256(self.mask), *ends, self.prompt or "",
                     self.config.model_dump_json(exclude={"nightly"}), __version__, *previous):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()

    def check_inputs(self) -> tuple[int, ...]:
        """Read and validate every plate and mask the shot names (its end plate and previous
        revision's too), so a bad one refuses the shot before it runs (raises KeyframeError);
        return the start plate's shape."""
        pairs = [(self.plate, self.mask), *([self.last] if self.last else []),
                 *([(self.previous.plate, self.previous.mask)] if self.previous else [])]
        return [read_inputs(plate, mask, self.config)[0].shape for plate, mask in pairs][0]


def confined_path(folder: Path, relative: str, what: str) -> Path:
    """Resolve ``relative`` inside ``folder``; refuse absolute paths and any that escape it.

    Symbolic links are followed before the check, so a link pointing outside is refused too.
    """
    if Path(relative).is_absolute():
        raise KeyframeError(f"{what} path must be relative to the manifest's folder: {relative}")
    folder = folder.resolve()
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(folder):
        raise KeyframeError(f"{what} path escapes the manifest's folder: {relative}")
    return resolved


def resolve_shot(manifest: Manifest, spec: ShotSpec, base: Config) -> Shot:
    """Turn a manifest entry into a :class:`Shot`: confined paths, overrides merged over ``base``.

    The shot's ``prompt``, when given, becomes its ``inpaint.prompt``; its ``candidates``, its
    ``render.candidates`` (best of N).

    Raises
    ------
    KeyframeError
        A path escapes the manifest's folder, or the overrides are not valid configuration.
    """
    plate = confined_path(manifest.folder, spec.plate, "plate")
    mask = confined_path(manifest.folder, spec.mask, "mask")
    previous = None
    if spec.previous is not None:
        previous = PreviousRevision(
            confined_path(manifest.folder, spec.previous.plate, "previous plate"),
            confined_path(manifest.folder, spec.previous.clip, "previous clip"),
            confined_path(manifest.folder, spec.previous.mask, "previous mask") if spec.previous.mask else mask,
        )
    overrides = dict(spec.config)
    if spec.prompt is not None:  # the shot's prompt drives the diffusers inpaint backend
        overrides = merge(overrides, {"inpaint": {"prompt": spec.prompt}})
    if spec.candidates is not None:
        overrides = merge(overrides, {"render": {"candidates": spec.candidates}})
    config = validate(merge(base.model_dump(), overrides), f"shot {spec.id} config") if overrides else base
    last = None
    if spec.last is not None and spec.last_mask is not None:
        last = (confined_path(manifest.folder, spec.last, "last"), confined_path(manifest.folder, spec.last_mask, "last_mask"))
    return Shot(spec.id, plate, mask, spec.prompt, config, previous, last)


def one_line(error: BaseException) -> str:
    """An error as one line: its message, or its type when it has none."""
    text = " ".join(str(error).split())
    if isinstance(error, KeyframeError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def batch_row(shot_id: str, record: dict[str, Any], reused: bool) -> dict[str, Any]:
    """One shot's row of ``summary.json``: its record's outcome and its outputs under ``shots/<id>/``."""
    located = locate(record, Path("shots") / shot_id)
    paths = {k: located[k] for k in OUTPUT_KEYS if record.get(k)}
    return {
        "id": shot_id,
        "status": record["status"],
        "verdict": record.get("verdict"),
        "reasons": record.get("reasons") or [],
        "error": record.get("error"),
        "frames": record.get("frames"),
        "fps": record.get("fps"),
        "stopped_at_gate": record.get("stopped_at_gate", False),
        "previous": _previous_row(Path("shots") / shot_id, record.get("previous")),
        "reused": reused,
        **paths,
    }


def _previous_row(folder: Path, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    return {**previous, **{k: str(folder / previous[k]) for k in ("report", "compare") if previous.get(k)}}


def compare_with_previous(previous: Revision, out_dir: Path, entry: PlateEntry, cfg: Config) -> dict[str, Any]:
    """Whether a shot's new revision (its outputs in ``out_dir``) is steadier than its ``previous`` one.

    Writes ``compare.json`` beside the new revision's report (A = previous, B = new). Returns the
    summary's ``previous`` field: ``steadier``, ``more_stable``, ``why``, the previous revision's
    ``verdict`` and ``reasons``, and the paths of its ``report`` and of ``compare`` (relative).
    """
    links = {"report": f"{PREVIOUS}/report.html", "compare": None}
    if entry.stopped_at_gate:
        return {"steadier": None, "more_stable": None, "why": "the new revision stopped at the gate: no clip to compare",
                "verdict": previous.report["verdict"], "reasons": previous.report["reasons"], **links}
    result = against_previous(previous.report, read_json_object(out_dir / entry.paths["report"], "report"), cfg.check)
    comparison = {**result.pop("comparison"), "a": "previous revision", "b": "new revision",
                  "revisions": {"a": previous.describe()}}
    write_json_atomic(out_dir / "compare.json", comparison)
    return {**result, **links, "compare": "compare.json"}


def write_batch_outputs(out_dir: Path, manifest_path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``summary.json``, ``index.html`` and ``flags.otio`` for the batch; returns the summary."""
    counts = {status: sum(1 for row in rows if row["status"] == status) for status in STATUSES}
    summary = {
        "schema": SUMMARY_SCHEMA,
        "manifest": str(manifest_path),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": counts,
        "exit_code": 1 if counts["flagged"] or counts["failed"] else 0,
        "shots": rows,
    }
    write_json_atomic(out_dir / "summary.json", summary)
    absolute = [locate(row, out_dir) for row in rows]
    write_html_index(out_dir, [{**row, "report": row.get("html"), "vs_previous": steadier_text(row["previous"])} for row in absolute],
                     title=f"nightly: {manifest_path.name}", extra={"manifest": str(manifest_path),
                                                                    "created": summary["created"]})
    write_flags_otio(out_dir / "flags.otio", absolute, name=f"keyframe flags: {manifest_path.stem}")
    return summary


#: Bytes a shot holds per plate pixel besides its clip: the plate and its float32 RGB, grey and Lab
#: copies (inpaint, gate and check each make some), gate heatmaps and the check's working buffers.
#: With SHOT_BASE_BYTES, fitted to two measured shots (telea, camera render, check; peak RSS over
#: the process's start): 1024x576 x 121 frames 0.305 GiB, 1920x1080 x 49 frames 0.559 GiB.
PLATE_BYTES_PER_PIXEL = 128
#: Bytes a shot holds whatever its size (stage objects, flow backends, report documents).
SHOT_BASE_BYTES = 48 * 2**20
#: Frames of a camera render in flight at once (it renders each frame as it is read, never the clip).
CAMERA_FRAMES_HELD = 4


def shot_memory(plate_shape: tuple[int, ...], cfg: Config) -> int:
    """Estimated peak memory of one shot in bytes, from its plate and the clip it will render.

    A model's render holds its clip (``frames x width x height x 3`` bytes) once, a camera's :data:`CAMERA_FRAMES_HELD`
    frames whatever its length; plus a per-pixel allowance for the plate's working copies and a fixed base.

    >>> [round(shot_memory((1080, 1920, 3), Config(render={"frames": 121, "backend": b})) / 2**30, 2)
    ...  for b in ("svd", "camera")]
    [1.0, 0.32]
    """
    height, width = plate_shape[:2]
    if cfg.render.size:
        width, height = (int(v) for v in cfg.render.size.split("x"))
    frames = CAMERA_FRAMES_HELD if cfg.render.backend == "camera" else cfg.render.frames or 25
    return frames * width * height * 3 + plate_shape[0] * plate_shape[1] * PLATE_BYTES_PER_PIXEL + SHOT_BASE_BYTES


class MemoryBudget:
    """Admits shots while the estimated memory of those running fits a budget (and their count ``limit``).

    A shot larger than the whole budget still runs, alone, so a batch never stalls.

    Examples
    --------
    >>> budget = MemoryBudget(10, limit=3)
    >>> budget.admit("a", 6), budget.admit("b", 6), budget.admit("c", 4)
    (True, False, True)
    >>> budget.release("a"); budget.admit("b", 6)
    True
    """

    def __init__(self, budget: int, limit: int) -> None:
        self.budget, self.limit = budget, limit
        self.running: dict[str, int] = {}

    def admit(self, shot_id: str, need: int) -> bool:
        """Start counting ``shot_id`` if it fits now; say whether it was admitted."""
        used = sum(self.running.values())
        if self.running and (len(self.running) >= self.limit or used + need > self.budget):
            return False
        self.running[shot_id] = need
        return True

    def release(self, shot_id: str) -> None:
        """``shot_id`` finished: its memory is free again."""
        self.running.pop(shot_id, None)

    def run(self, pending: list[tuple[Any, str, int]], submit: Callable[[Any, str], Any],
            first_done: Callable[[list[Any]], Any]) -> Iterator[tuple[str, Any]]:
        """Submit ``(shot, key, need)`` items while they fit; yield ``(shot id, future)`` as each finishes.

        ``submit(shot, key)`` starts a shot and returns its future; ``first_done(futures)`` waits
        for one of them and returns it.
        """
        futures: dict[Any, str] = {}
        while pending or futures:
            while pending and self.admit(pending[0][0].id, pending[0][2]):  # start what fits in memory
                shot, key, _ = pending.pop(0)
                futures[submit(shot, key)] = shot.id
            future = first_done(list(futures))
            shot_id = futures.pop(future)
            self.release(shot_id)
            yield shot_id, future
