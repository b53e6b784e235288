"""The ledger of a nightly output folder: one committed folder per finished shot, for resuming a run.

The ledger keeps each finished shot as one folder ``shots/<id>/`` holding its outputs and a
``shot.json`` record. A shot is built in a hidden staging folder and renamed into place in one
step, so a run killed at any moment leaves either the complete previous folder or the complete
new one, never half of either; :meth:`Ledger.recover` tidies what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from keyframe.io.atomic import check_output_dir, hold_folder, write_json_atomic

SHOT_RECORD_SCHEMA = "keyframe.shot/1"
FINISHED = ("pass", "flagged")


def lock_run_folder(out_dir: str | Path) -> contextlib.AbstractContextManager[None]:
    """Hold a nightly output folder for one run; a second run on the same folder is refused in one line.

    The CLI takes the lock before the flow starts (writing nothing), so a refused run prints no
    Prefect output; the flow takes it again (re-entrant within one process) for runs a deployment
    starts.
    """
    return hold_folder(out_dir, ".nightly.lock", "another nightly run is using {folder}")


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

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the folder for one nightly run (:func:`lock_run_folder`)."""
        return lock_run_folder(self.out_dir)

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

    def discard(self, staging: Path) -> None:
        """Delete a staging folder whose shot failed (its partial outputs are not kept)."""
        shutil.rmtree(staging, ignore_errors=True)

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

