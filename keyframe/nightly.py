"""Nightly batches: the shot manifest and the ledger of finished shots (for resuming a run).

A manifest is a YAML file listing shots::

    shots:
      - id: sh010
        plate: plates/sh010.png      # relative to the manifest's folder
        mask: masks/sh010.png
        prompt: "clean wall"         # optional
        config:                      # optional, merged over the run's configuration
          render: {backend: camera}
        previous:                    # optional: the shot's last revision, to compare against
          plate: last/sh010.png
          clip: last/sh010.mp4       # rendered anywhere; video, frame folder or pattern
          mask: last/sh010.mask.png  # optional; the shot's mask by default

The file as a whole is refused (one line) when it is not YAML, has unknown keys, or repeats a
shot id. Paths are checked per shot by :func:`resolve_shot`: one shot whose plate lies outside the
manifest's folder fails on its own, and the other shots still run.

The ledger keeps each finished shot as one folder ``shots/<id>/`` holding its outputs and a
``shot.json`` record. A shot is built in a hidden staging folder and renamed into place in one
step, so a run killed at any moment leaves either the complete previous folder or the complete
new one, never half of either; :meth:`Ledger.recover` tidies what a killed run left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keyframe import __version__
from keyframe.config import Config, merge, validate
from keyframe.errors import KeyframeError
from keyframe.io import check_output_dir, clip_source, file_sha256, read_yaml_mapping, write_json_atomic

MANIFEST_SCHEMA = "keyframe.manifest/1"
SHOT_RECORD_SCHEMA = "keyframe.shot/1"
_SHOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FINISHED = ("pass", "flagged")


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
    config: dict[str, Any] = Field(default_factory=dict)
    previous: PreviousSpec | None = None

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not _SHOT_ID.match(value):
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

    def key(self) -> str:
        """Content key: the inputs' hashes, the prompt, the configuration and keyframe's version.

        A finished shot is redone only when this changes (the previous revision's files count
        too). The ``nightly`` section (how the batch runs: concurrency, task runner, retries)
        does not change a shot's outputs and is left out.
        """
        digest = hashlib.sha256()
        previous = self.previous.hashes() if self.previous is not None else []
        for part in (file_sha256(self.plate), file_sha256(self.mask), self.prompt or "",
                     self.config.model_dump_json(exclude={"nightly"}), __version__, *previous):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()


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

    The shot's ``prompt``, when given, becomes its ``inpaint.prompt``.

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
    config = validate(merge(base.model_dump(), overrides), f"shot {spec.id} config") if overrides else base
    return Shot(spec.id, plate, mask, spec.prompt, config, previous)


class Ledger:
    """The finished shots of one nightly output folder, one committed folder per shot.

    Parameters
    ----------
    out_dir : Path
        The run's output folder; shots live in ``out_dir/shots/<id>/``.
    """

    RECORD = "shot.json"

    def __init__(self, out_dir: str | Path):
        self.out_dir = check_output_dir(out_dir)
        self.shots_dir = check_output_dir(self.out_dir / "shots")

    def recover(self) -> list[str]:
        """Clean up after a killed run; returns what was done, one line each.

        A staging folder (``.<id>.partial-*``) is deleted: its shot was not finished. A replaced
        folder (``.<id>.old-*``) whose shot has no committed folder is put back (the run died
        between the two renames of :meth:`commit`); otherwise it is deleted.
        """
        actions = []
        for entry in sorted(self.shots_dir.iterdir()):
            name = entry.name
            if not name.startswith(".") or not entry.is_dir():
                continue
            shot_id, _, kind = name[1:].rpartition(".")
            final = self.shots_dir / shot_id
            if kind.startswith("old-") and not final.exists():
                os.rename(entry, final)
                actions.append(f"restored {shot_id} from an interrupted replace")
            elif kind.startswith(("partial-", "old-")):
                shutil.rmtree(entry)
                actions.append(f"removed unfinished {name}")
        return actions

    def record(self, shot_id: str) -> dict[str, Any] | None:
        """The committed record of ``shot_id``, or None if it has none (or it is unreadable)."""
        path = self.shots_dir / shot_id / self.RECORD
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def finished(self, shot_id: str, key: str) -> dict[str, Any] | None:
        """The record of ``shot_id`` if it finished (pass or flagged) with these exact inputs."""
        record = self.record(shot_id)
        if record and record.get("key") == key and record.get("status") in FINISHED:
            return record
        return None

    def staging(self, shot_id: str) -> Path:
        """A fresh hidden folder to build ``shot_id``'s outputs in."""
        path = self.shots_dir / f".{shot_id}.partial-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def commit(self, shot_id: str, staging: Path, record: dict[str, Any]) -> Path:
        """Write ``record`` into ``staging`` and rename it to ``shots/<id>/`` in one step.

        A previous folder of the same shot is moved aside first and deleted after.
        """
        record = {"schema": SHOT_RECORD_SCHEMA, "id": shot_id, **record}
        write_json_atomic(staging / self.RECORD, record)
        final = self.shots_dir / shot_id
        old = None
        if final.exists():
            old = self.shots_dir / f".{shot_id}.old-{uuid.uuid4().hex[:12]}"
            os.rename(final, old)
        os.rename(staging, final)
        if old is not None:
            shutil.rmtree(old)
        return final

