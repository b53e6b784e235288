"""Files of the background processes keyframe starts: a pid file, an append-only log, ``/proc``."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from keyframe.errors import KeyframeError


def open_log(path: str | Path) -> BinaryIO:
    """Open ``path`` for appending (created if missing), to hand to a subprocess as its output."""
    try:
        return Path(path).open("ab")
    except OSError as exc:
        raise KeyframeError(f"cannot write the log {path}: {exc.strerror}") from None


def log_tail(path: str | Path, lines: int = 1) -> str:
    """The last ``lines`` non-empty lines of a log, joined by `` | `` ("" when it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def remove_pid_file(path: str | Path) -> None:
    """Remove a pid file (gone already is fine)."""
    Path(path).unlink(missing_ok=True)


def command_line(pid: int) -> bytes | None:
    """The command line of process ``pid`` from ``/proc``, or None where there is no ``/proc`` (macOS)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b"" if Path("/proc/self").exists() else None
    except OSError:
        return None
