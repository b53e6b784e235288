"""``python -m keyframe`` runs the CLI."""

from keyframe.cli import run

run()
