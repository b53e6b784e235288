"""Atomic writes: every output is written to a temporary name beside it, then renamed."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keyframe.errors import KeyframeError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def check_output_dir(directory: str | Path, create: bool = True) -> Path:
    """Make sure ``directory`` exists (creating it when its parent does) and is writable."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise KeyframeError(f"output directory is a file: {directory}")
    if not directory.exists():
        if not create or not directory.parent.is_dir():
            raise KeyframeError(f"output directory's parent does not exist: {directory.parent}")
        try:
            directory.mkdir()
        except OSError as exc:
            raise KeyframeError(f"cannot create output directory {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise KeyframeError(f"output directory is not writable: {directory}")
    return directory


def check_output_path(path: str | Path) -> Path:
    """Validate an output file path before any work: its folder exists and is writable."""
    path = Path(path)
    if path.is_dir():
        raise KeyframeError(f"output path is a directory, expected a file: {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise KeyframeError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise KeyframeError(f"output folder is not writable: {parent}")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    The temporary name keeps the suffix so writers that pick a format by extension still work.
    On any error the temporary file is removed and ``path`` is untouched.
    """
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs follow the umask like any file
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.errno is not None and exc.strerror:
            raise KeyframeError(f"cannot write {path}: {exc.strerror}") from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
