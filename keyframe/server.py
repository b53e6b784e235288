"""A persistent local Prefect server that keyframe starts, finds and stops (``keyframe server``).

Every flow command (``prep``, ``demo``, ``compare``, ``nightly``) needs a Prefect API. Without
one, Prefect starts a temporary server inside the process, which costs ~15 s on every run; with
``keyframe server start`` running, the same commands use it and start in about a second.

The server is ``prefect server start`` in a background process of its own, bound to loopback on
a fixed port, with its database (SQLite by default, or a PostgreSQL URL), log and pid file in
keyframe's data folder: ``$KEYFRAME_HOME``, else ``$XDG_DATA_HOME/keyframe``, else
``~/.local/share/keyframe``. Prefect itself is never imported here: the server runs as a
subprocess and is reached over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from keyframe.errors import KeyframeError
from keyframe.io import cache_folder, read_json_object, write_json_atomic
from keyframe.io.documents import read_toml_table
from keyframe.io.processes import command_line, log_tail, open_log, remove_pid_file

HOST = "127.0.0.1"
DEFAULT_PORT = 4217  # beside Prefect's own default (4200), so a server the user runs keeps its port
START_TIMEOUT_S = 180.0  # a first start migrates a new database: ~13 s idle, much more on a busy machine
STOP_TIMEOUT_S = 20.0
#: The offline settings every keyframe-started Prefect process gets (no analytics, no telemetry).
OFFLINE = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@dataclass(frozen=True)
class ServerState:
    """What the pid file (``server/server.json``) records about a started server."""

    pid: int
    port: int
    database: str
    log: str
    started: str

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"


def data_dir() -> Path:
    """keyframe's data folder (not created here)."""
    if os.environ.get("KEYFRAME_HOME"):
        return Path(os.environ["KEYFRAME_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    return Path(base).expanduser() / "keyframe"


def server_dir() -> Path:
    return data_dir() / "server"


def pid_file() -> Path:
    return server_dir() / "server.json"


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect API answers its health check at ``api_url`` (e.g. ``http://host:4200/api``)."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_server(pid: int) -> bool:
    """The process ``pid`` is alive and, where ``/proc`` says, a Prefect server (not a reused pid)."""
    if not _alive(pid):
        return False
    command = command_line(pid)
    return command is None or (b"prefect" in command and b"server" in command)  # None: no /proc, trust the pid


def read_state() -> ServerState | None:
    """The recorded server, or None; a pid file left by a server that is gone is removed."""
    path = pid_file()
    if not path.is_file():
        return None
    try:
        recorded = read_json_object(path, "keyframe server pid file")
        state = ServerState(**{key: recorded[key] for key in ServerState.__dataclass_fields__})
    except (KeyframeError, KeyError, TypeError):
        state = None
    if state is None or not _is_server(state.pid):
        remove_pid_file(path)  # stale: the server died without `keyframe server stop`
        return None
    return state


def running_server() -> ServerState | None:
    """The keyframe server if it is running and answering, else None."""
    state = read_state()
    return state if state is not None and api_healthy(state.api_url) else None


def user_api_url() -> str | None:
    """``PREFECT_API_URL`` as the user set it: in the environment, or in the active Prefect profile."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles_path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = read_toml_table(profiles_path, "Prefect profiles")
    except KeyframeError:
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    value = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(value) if value else None


def flow_api_url() -> tuple[str | None, str]:
    """The Prefect API flow commands should use, and where it comes from.

    Returns ``(url, source)``: the user's own ``PREFECT_API_URL`` first, then a running keyframe
    server, else ``(None, "temporary")`` (Prefect then starts a temporary server in-process).
    """
    url = user_api_url()
    if url:
        return url, "PREFECT_API_URL"
    state = running_server()
    if state is not None:
        return state.api_url, "keyframe server"
    return None, "temporary"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((HOST, port)) != 0


def start_server(port: int = DEFAULT_PORT, database: str | None = None, timeout: float = START_TIMEOUT_S) -> ServerState:
    """Start ``prefect server start`` in the background and return once its API answers.

    Parameters
    ----------
    port : int
        Loopback port for the API and UI.
    database : str, optional
        A SQLAlchemy URL (``postgresql+asyncpg://user:pass@host/db``); default SQLite in the data folder.
    timeout : float
        Seconds to wait for the server to answer before stopping it and failing.

    Raises
    ------
    KeyframeError
        One line: already running, port taken, or the server did not come up (with its log's last line).
    """
    running = read_state()
    if running is not None:
        raise KeyframeError(f"a keyframe server is already running (pid {running.pid}) at {running.ui_url}")
    if not _port_free(port):
        raise KeyframeError(f"port {port} on {HOST} is in use; pick another with --port")
    folder = cache_folder(server_dir().absolute(), "keyframe's data folder")
    database = database or f"sqlite+aiosqlite:///{folder / 'prefect.db'}"
    log = folder / "server.log"
    env = {**os.environ, **OFFLINE, "PREFECT_HOME": str(folder / "prefect-home"),
           "PREFECT_SERVER_DATABASE_CONNECTION_URL": database, "PREFECT_UI_API_URL": f"http://{HOST}:{port}/api"}
    for client_or_legacy in ("PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL"):
        env.pop(client_or_legacy, None)
    with open_log(log) as sink:  # the server appends to its log for as long as it runs
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    state = ServerState(pid=process.pid, port=port, database=_redacted(database), log=str(log),
                        started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_json_atomic(pid_file(), asdict(state))
    deadline = time.monotonic() + timeout
    try:
        while not api_healthy(state.api_url, timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                why = "exited" if process.poll() is not None else f"did not answer within {timeout:.0f} s"
                raise KeyframeError(f"the Prefect server {why}; see {log}: {log_tail(log)}")
            time.sleep(0.25)
    except BaseException:  # failed or interrupted (Ctrl-C): leave no half-started server behind
        stop_server()
        raise
    return state


def stop_server(timeout: float = STOP_TIMEOUT_S) -> ServerState | None:
    """Stop the keyframe server (SIGTERM, then SIGKILL after ``timeout``); returns what was stopped."""
    state = read_state()
    if state is None:
        return None
    try:
        os.killpg(state.pid, signal.SIGTERM)  # its own session: uvicorn and any service workers
        deadline = time.monotonic() + timeout
        while _alive(state.pid) and time.monotonic() < deadline:
            _reap(state.pid)
            time.sleep(0.1)
        if _alive(state.pid):
            os.killpg(state.pid, signal.SIGKILL)
            _reap(state.pid, block=True)
    except ProcessLookupError:
        pass
    remove_pid_file(pid_file())
    return state


def _reap(pid: int, block: bool = False) -> None:
    """Collect the exit status when the server is our own child (a zombie still looks alive)."""
    try:
        os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        pass


def _redacted(url: str) -> str:
    """A database URL without its password, for the pid file and messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
