"""The typer application, its global options and the one place errors become exit codes."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.exceptions import TyperException

from keyframe import __version__
from keyframe.config import Config, load_config
from keyframe.errors import KeyframeError
from keyframe.registry import Progress

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FLAGGED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

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
        say(f"keyframe {__version__}", sys.stdout)
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


def say(message: str, stream: Any = None) -> None:
    """Print one line as it is (no markup) on ``stream`` (default stderr)."""
    stream = sys.stderr if stream is None else stream
    stream.write(f"{message}\n")
    stream.flush()


def info(message: str) -> None:
    """A status line for people, on stderr so stdout stays machine-readable."""
    say(message)


@functools.cache
def console(stream: str = "stdout") -> Console:
    """rich's console on ``"stdout"`` or ``"stderr"`` (for tables, colour and progress bars), made
    on first use so commands that print plain lines do not pay rich's start-up."""
    from rich.console import Console

    return Console(stderr=stream == "stderr", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def progress_bar(label: str, *, unit: str = "", percent: bool = False) -> Iterator[Progress]:
    """A transient progress bar on stderr, shown only on a terminal; yields the ``progress(done,
    total)`` callback a stage takes. Piped or captured stderr gets nothing from it, so an error
    raised while it runs is still the one line on stderr.

    ``unit`` follows the count ("tiles"); ``percent`` shows a percentage instead of the count.
    """
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

    count = TextColumn("{task.percentage:>3.0f}%") if percent else MofNCompleteColumn()
    columns = (TextColumn(label), BarColumn(), count, *((TextColumn(unit),) if unit else ()), TimeElapsedColumn())
    with Bar(*columns, console=console("stderr"), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    if sys.stderr.isatty():
        console("stderr").print(f"[yellow]warning:[/] {_one_line(message)}", markup=True)
    else:
        say(f"warning: {_one_line(message)}")


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
            say(f"error: {message}")
        return EXIT_USAGE
    except typer.Abort:
        say("aborted")
        return EXIT_USAGE
    except typer.Exit as exc:
        return exc.exit_code
    except KeyframeError as exc:
        say(f"error: {_one_line(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if debug:
            raise
        say(f"internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def run() -> None:
    """Console-script wrapper: ``sys.exit(main())``."""
    sys.exit(main())
