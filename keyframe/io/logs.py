"""Log files that long-running helper processes append to."""

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
