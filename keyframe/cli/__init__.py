"""Command-line interface: ``keyframe <command> ...``. Each command lives in its own module.

A command registers itself on the typer ``app`` when its module is imported. :func:`main` imports
only the module of the command it is asked to run, so ``keyframe check`` does not pay for the
inpainting, gate, render and Prefect modules' start-up; :func:`register` with no command (and
``--help``) registers them all on ``keyframe.cli.app.app``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

#: command name -> the module under keyframe.cli that registers it
COMMANDS = {"validate": "validate", "gate": "gate", "inpaint": "inpaint", "check": "check", "render": "render",
            "upscale": "upscale", "bench": "bench", "prep": "flows", "demo": "flows", "nightly": "flows",
            "compare": "flows", "doctor": "doctor", "weights": "weights", "server": "server"}


def register(argv: list[str] | None = None) -> None:
    """Import the module of the command ``argv`` names, or every command module if it names none."""
    name = next((arg for arg in argv or [] if not arg.startswith("-")), None)
    modules = [COMMANDS[name]] if name in COMMANDS else [m.name for m in pkgutil.iter_modules(__path__) if m.name != "app"]
    for module in modules:
        importlib.import_module(f"keyframe.cli.{module}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    register(argv)
    from keyframe.cli.app import main as run_app

    return run_app(argv)


def run() -> None:
    """Console-script wrapper: ``sys.exit(main())``."""
    sys.exit(main())


__all__ = ["COMMANDS", "main", "register", "run"]
