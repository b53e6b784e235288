"""The typer application, its global options and the one place errors become exit codes."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.exceptions import TyperException
from rich.console import Console

from keyframe import __version__
from keyframe.config import Config, load_config
from keyframe.errors import KeyframeError

EXIT_OK = 0
EXIT_FLAGGED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)

app = typer.Typer(
    name="keyframe",
    help="Prepare still keyframes (plates) for image-to-video generation and prove the clips are stable.\n\n"
    "Exit codes: 0 success/pass, 1 quality failure (flagged), 2 usage or input error, 3 internal error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="YAML file merged over configs/default.yaml.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON to stdout.")]
AttachOption = Annotated[Optional[str], typer.Option(
    "--attach", help="What the edited region belongs to when judging float and drift: auto (default: chosen from "
    "the motion across its outline, and the report says why), scene (static scenery) or subject (a moving "
    "person or object). Overrides check.attach.")]


def _version_callback(value: bool) -> None:
    if value:
        stdout.print(f"keyframe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for unexpected errors.")] = False,
) -> None:
    """keyframe command-line interface."""


def config_from(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Load the configuration for a command: defaults, then ``--config``, then CLI options."""
    return load_config(path, overrides)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (nothing else goes to stdout with ``--json``)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """A status line for people, on stderr so stdout stays machine-readable."""
    stderr.print(message)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    stderr.print(f"[yellow]warning:[/] {_one_line(message)}", markup=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map every outcome to an exit code.

    KeyframeError -> one line, exit 2; usage errors -> exit 2; anything unexpected -> one
    line plus a hint about ``--debug``, exit 3 (or the traceback with ``--debug``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    warnings.showwarning = _show_warning
    try:
        result = app(args=argv, prog_name="keyframe", standalone_mode=False)
    except TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        message = _one_line(exc.format_message())
        if message:  # empty when the help was shown because no command was given
            stderr.print(f"error: {message}", markup=False)
        return EXIT_USAGE
    except typer.Abort:
        stderr.print("aborted", markup=False)
        return EXIT_USAGE
    except typer.Exit as exc:
        return exc.exit_code
    except KeyframeError as exc:
        stderr.print(f"error: {_one_line(exc)}", markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        stderr.print("interrupted", markup=False)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if debug:
            raise
        stderr.print(
            f"internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)", markup=False
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def run() -> None:
    """Console-script wrapper: ``sys.exit(main())``."""
    sys.exit(main())
