"""``keyframe server start | status | stop``: a persistent local Prefect server for the flow commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from keyframe.cli.app import EXIT_OK, JsonOption, app, info, print_json
from keyframe.server import DEFAULT_PORT, pid_file, read_state, running_server, start_server, stop_server, user_api_url

server_app = typer.Typer(
    no_args_is_help=True,
    help="A Prefect server kept running in the background: prep, demo, compare and nightly then skip "
    "the ~15 s start of a temporary server on every run.",
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Loopback port for the API and UI.")] = DEFAULT_PORT,
    database: Annotated[
        Optional[str], typer.Option("--database", help="PostgreSQL URL (postgresql+asyncpg://...); default SQLite in keyframe's data folder.")
    ] = None,
) -> int:
    """Start the server in the background; returns once it answers."""
    info(f"starting a Prefect server on port {port} (a first start sets up its database: ~15-30 s)")
    state = start_server(port, database)
    info(f"running (pid {state.pid}): UI {state.ui_url}, API {state.api_url}; log {state.log}")
    _note_user_api()
    return EXIT_OK


def _note_user_api() -> None:
    if user_api_url():
        info(f"note: PREFECT_API_URL is set ({user_api_url()}); flow commands use that server, not this one")


@server_app.command("status")
def server_status(as_json: JsonOption = False) -> int:
    """Say whether the server runs, and where its UI is (runs and keyframe's report tables)."""
    stale = pid_file().exists()
    state = read_state()
    stale = stale and state is None
    healthy = running_server() is not None
    if as_json:
        print_json({"running": state is not None, "healthy": healthy, "pid_file": str(pid_file()),
                    **({} if state is None else {"pid": state.pid, "ui_url": state.ui_url, "api_url": state.api_url,
                                                 "database": state.database, "log": state.log, "started": state.started})})
    elif state is None:
        info(f"not running{' (removed the pid file of a server that had died)' if stale else ''}; "
             "start it with: keyframe server start")
    else:
        info(f"{'running' if healthy else 'started but not answering'} (pid {state.pid}, since {state.started}): "
             f"UI {state.ui_url}, API {state.api_url}; log {state.log}")
        _note_user_api()
    return EXIT_OK


@server_app.command("stop")
def server_stop() -> int:
    """Stop the server (its database stays, with every run)."""
    state = stop_server()
    info("not running" if state is None else f"stopped (pid {state.pid})")
    return EXIT_OK
