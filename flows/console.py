"""What Prefect prints on the console: never a traceback for an error that is the user's.

An input or output error (:class:`~keyframe.errors.KeyframeError`: a bad plate, a full disk, a
folder another run holds) is reported by the CLI as one line, or recorded as the shot's error in a
nightly batch. Prefect would also log it with its traceback, once for the task and once for the
flow; :func:`hide_user_errors` drops those records from the console (the Prefect server still
receives them). Unexpected errors keep their tracebacks.
"""

from __future__ import annotations

import logging
import re

from prefect.logging.handlers import PrefectConsoleHandler

from keyframe.errors import KeyframeError


def _user_error_names() -> set[str]:
    names, pending = set(), [KeyframeError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return names


class UserErrorFilter(logging.Filter):
    """Drop a log record that reports a :class:`KeyframeError`, with or without its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, KeyframeError):
            return False
        # "Finished in state Failed('Task run encountered an exception KeyframeError: ...')"
        pattern = r"(?:encountered an exception|failed with exception):? (?:%s)\b" % "|".join(_user_error_names())
        return re.search(pattern, record.getMessage()) is None


def hide_user_errors(level: str | None = None) -> None:
    """Add :class:`UserErrorFilter` to Prefect's console handlers (once), and set their ``level``.

    The level is the one ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL`` names; it is applied here too
    because Prefect reads that variable only when its logging is first set up.
    """
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, PrefectConsoleHandler):
            continue
        if level is not None:
            handler.setLevel(level)
        if not any(isinstance(f, UserErrorFilter) for f in handler.filters):
            handler.addFilter(UserErrorFilter())
