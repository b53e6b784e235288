"""``keyframe server``: a persistent Prefect server, found by the flow commands; stale pid files handled."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from keyframe import server
from keyframe.cli.flows import TEMPORARY_TIP, prefect_environment


@pytest.fixture
def keyframe_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KEYFRAME_HOME", str(tmp_path / "kf"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    return tmp_path / "kf"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _record(pid: int) -> None:
    server.write_json_atomic(server.pid_file(), {"pid": pid, "port": _free_port(), "database": "sqlite",
                                                 "log": "server.log", "started": "2026-11-30T00:00:00+00:00"})


def test_stale_pid_file_is_removed(keyframe_home, cli):
    server.server_dir().mkdir(parents=True)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _record(int(finished.stdout))  # that process is gone
    result = cli("server", "status")
    assert "removed the pid file of a server that had died" in result.stderr
    assert not server.pid_file().exists()
    assert json.loads(cli("server", "status", "--json").stdout)["running"] is False

    with subprocess.Popen(["sleep", "30"]) as other:  # a live process that is not a Prefect server (a reused pid)
        _record(other.pid)
        assert server.read_state() is None and not server.pid_file().exists()
        other.kill()
    assert cli("server", "stop").stderr.strip() == "not running"


def test_flow_commands_prefer_the_users_api_then_keyframes_server(keyframe_home, monkeypatch, tmp_path):
    assert server.flow_api_url() == (None, "temporary")
    assert prefect_environment() is True  # the command then ends with a tip naming `keyframe server start`
    assert "keyframe server start" in TEMPORARY_TIP and "PREFECT_API_URL" not in os.environ

    profiles = tmp_path / "prefect" / "profiles.toml"
    profiles.parent.mkdir(exist_ok=True)  # importing Prefect may have made it
    profiles.write_text('active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://render-farm:4200/api"\n')
    assert server.flow_api_url() == ("http://render-farm:4200/api", "PREFECT_API_URL")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert server.flow_api_url() == ("http://127.0.0.1:9/api", "PREFECT_API_URL")


def test_a_taken_port_is_refused_in_one_line(keyframe_home, cli):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        result = cli("server", "start", "--port", str(taken.getsockname()[1]))
    assert result.code == 2 and "is in use" in result.stderr and not server.pid_file().exists()


@pytest.mark.slow  # a real Prefect server: ~15 s to start on an idle 2-core machine, 40 s on a busy one
def test_start_status_stop(keyframe_home, cli_process, monkeypatch):
    port = _free_port()
    env = {"KEYFRAME_HOME": str(keyframe_home)}
    started = cli_process("server", "start", "--port", str(port), env=env)
    try:
        assert started.code == 0, started.stderr
        status = json.loads(cli_process("server", "status", "--json", env=env).stdout)
        assert status["running"] and status["healthy"] and status["ui_url"] == f"http://127.0.0.1:{port}"
        assert (keyframe_home / "server" / "prefect.db").is_file() and (keyframe_home / "server" / "server.log").is_file()
        assert server.flow_api_url() == (f"http://127.0.0.1:{port}/api", "keyframe server")
        try:
            prefect_environment()  # what prep, demo, compare and nightly do first
            assert os.environ["PREFECT_API_URL"] == f"http://127.0.0.1:{port}/api"
        finally:
            os.environ.pop("PREFECT_API_URL", None)
        again = cli_process("server", "start", "--port", str(port), env=env)
        assert again.code == 2 and "already running" in again.stderr
    finally:
        stopped = cli_process("server", "stop", env=env)
    assert stopped.code == 0 and stopped.stderr.startswith("stopped")
    assert not server.pid_file().exists() and not server.api_healthy(f"http://127.0.0.1:{port}/api")
    assert "not running" in cli_process("server", "status", env=env).stderr
