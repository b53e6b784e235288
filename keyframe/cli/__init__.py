"""Command-line interface: ``keyframe <command> ...``. Each command lives in its own module."""

from keyframe.cli import validate  # noqa: F401  (registers the command)
from keyframe.cli import gate  # noqa: F401  (registers the command)
from keyframe.cli import inpaint  # noqa: F401  (registers the command)
from keyframe.cli import check  # noqa: F401  (registers the command)
from keyframe.cli import render  # noqa: F401  (registers the command)
from keyframe.cli import upscale  # noqa: F401  (registers the command)
from keyframe.cli import bench  # noqa: F401  (registers the command group)
from keyframe.cli import flows  # noqa: F401  (registers prep, demo, nightly, compare)
from keyframe.cli.app import app, main, run

__all__ = ["app", "main", "run"]
