"""Command-line interface: ``keyframe <command> ...``. Each command lives in its own module."""

from keyframe.cli import validate  # noqa: F401  (registers the command)
from keyframe.cli import gate  # noqa: F401  (registers the command)
from keyframe.cli import inpaint  # noqa: F401  (registers the command)
from keyframe.cli import check  # noqa: F401  (registers the command)
from keyframe.cli.app import app, main, run

__all__ = ["app", "main", "run"]
