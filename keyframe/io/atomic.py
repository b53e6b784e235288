"""Atomic writes: every output is written to a temporary name beside it, then renamed.

A stage that writes several files (a clip and its sidecar, a report and its plots) wraps them in
:func:`output_group`: inside it every write stays under its temporary name until the whole group
succeeds, and a failure anywhere removes them all, so a reader never finds half a result.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyframe.errors import KeyframeError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


@dataclass
class _Group:
    pending: dict[Path, Path] = field(default_factory=dict)  # final path -> temporary path
    created_dirs: list[Path] = field(default_factory=list)


_active_group: contextvars.ContextVar[_Group | None] = contextvars.ContextVar("keyframe_output_group", default=None)


def _write_error(target: Path, exc: OSError) -> KeyframeError:
    if exc.errno in _NOT_WRITABLE:
        return KeyframeError(f"output folder is not writable ({exc.strerror}): {target}")
    return KeyframeError(f"cannot write {target}: {exc.strerror}")


def check_output_dir(directory: str | Path, create: bool = True) -> Path:
    """Make sure ``directory`` can take outputs: an existing writable folder, or a new one.

    With ``create=False`` nothing is made: a missing folder only needs a writable parent (use
    this to validate ``-o`` before any work, then call again with ``create=True`` when writing,
    inside :func:`output_group`, so a failed run does not leave an empty folder behind).
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise KeyframeError(f"output directory is a file: {directory}")
    if not directory.exists():
        parent = directory.parent
        if not parent.is_dir():
            raise KeyframeError(f"output directory's parent does not exist: {parent}")
        if not create:
            if not os.access(parent, os.W_OK | os.X_OK):
                raise KeyframeError(f"output folder is not writable: {parent}")
            return directory
        try:
            directory.mkdir()
        except OSError as exc:
            raise _write_error(directory, exc) from None
        group = _active_group.get()
        if group is not None:
            group.created_dirs.append(directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise KeyframeError(f"output directory is not writable: {directory}")
    return directory


def cache_folder(directory: str | Path, what: str) -> Path:
    """A folder for a persistent cache, created with its parents if missing (KeyframeError naming ``what`` if it cannot be)."""
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyframeError(f"cannot create {what} {path}: {exc.strerror}") from None
    return path


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


def check_png_output(path: str | Path) -> Path:
    """Validate an image output path before any work: a ``.png`` (it keeps 16-bit depth and text
    chunks) in an existing, writable folder."""
    path = check_output_path(path)
    if path.suffix.lower() != ".png":
        raise KeyframeError(f"output must be a .png file (it keeps 16-bit depth and the parameters): {path}")
    return path


def pending_path(path: str | Path) -> Path:
    """Where ``path``'s content is right now: its temporary name while its group is open."""
    group = _active_group.get()
    path = Path(path)
    return group.pending.get(path, path) if group is not None else path


@contextlib.contextmanager
def output_group() -> Iterator[None]:
    """Commit every atomic write inside the block together, or none of them.

    Nested groups join the outermost one. On error every temporary file is removed, folders the
    group created are removed again if empty, and files that existed before are left as they were.
    """
    if _active_group.get() is not None:
        yield
        return
    group = _Group()
    token = _active_group.set(group)
    try:
        yield
        for final, tmp in group.pending.items():
            os.replace(tmp, final)
    except BaseException as exc:
        for tmp in group.pending.values():
            tmp.unlink(missing_ok=True)
        for directory in reversed(group.created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
            raise _write_error(next(iter(group.pending), Path(".")), exc) from None
        raise
    finally:
        _active_group.reset(token)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, now: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    The temporary name keeps the suffix so writers that pick a format by extension still work.
    On any error the temporary file is removed and ``path`` is untouched. Inside
    :func:`output_group` the rename waits for the whole group, unless ``now`` (an entry that must
    outlive a failed group, such as a stage cache's).
    """
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    group = None if now else _active_group.get()
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs follow the umask like any file
        if group is None:
            os.replace(tmp_path, path)
        else:
            previous = group.pending.pop(path, None)
            if previous is not None:
                previous.unlink(missing_ok=True)
            group.pending[path] = tmp_path
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.errno is not None and exc.strerror:
            raise _write_error(path, exc) from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def make_dirs(folder: str | Path) -> Path:
    """Create ``folder`` and its missing parents; inside :func:`output_group` they count as the group's."""
    folder = Path(folder)
    for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
        check_output_dir(missing)
    return folder


def write_bytes_now(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and at once, even inside an :func:`output_group`.

    For entries that must outlive a failed group, such as a stage cache: a reader finds the whole
    file or none, and a failed write (a full disk) leaves no temporary file behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
            raise _write_error(path, exc) from None
        raise
    return path


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


_held: set[Path] = set()
_held_lock = threading.Lock()


@contextlib.contextmanager
def hold_folder(folder: str | Path, lock_name: str, busy: str) -> Iterator[None]:
    """Hold ``folder`` for this process (an advisory ``flock`` on ``folder/lock_name``).

    Another process holding it is refused with ``busy`` (``{folder}`` is filled in) as a
    :class:`KeyframeError`. Holding it again within this process is allowed (re-entrant), so a
    caller can take it before starting work that takes it too.
    """
    folder = Path(folder).resolve()
    with _held_lock:
        again = folder in _held
        _held.add(folder)
    if again:
        yield
        return
    try:
        with open(folder / lock_name, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KeyframeError(busy.format(folder=folder)) from None
            yield
    finally:
        with _held_lock:
            _held.discard(folder)


def copy_file_atomic(source: str | Path, target: str | Path, verify: Callable[[str], None] | None = None) -> Path:
    """Copy ``source`` to ``target`` atomically, creating ``target``'s folders.

    The SHA-256 of the bytes copied is passed to ``verify``, which may raise to refuse them: then
    nothing is left at ``target``. Returns ``target``.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise KeyframeError(f"file not found: {source}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(target.parent, exc) from None
    try:
        reader = source.open("rb")
    except OSError as exc:
        raise KeyframeError(f"cannot read {source}: {exc.strerror}") from None
    digest = hashlib.sha256()
    with reader, atomic_path(target) as tmp:
        with tmp.open("wb") as writer:
            while block := reader.read(1 << 20):
                digest.update(block)
                writer.write(block)
        if verify is not None:
            verify(digest.hexdigest())
    return target
