"""``keyframe doctor``: every capability with availability, reason and the way to enable it."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator

import pytest

EXPECTED = {"torch", "gpu", "half_precision", "lpips", "raft", "model:inpaint.model", "model:render.svd.model",
            "face_detector", "hands", "ffmpeg_h264", "chromium", "prefect_server", "dask_scheduler"}


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """No weights, no Prefect or keyframe server, nothing configured."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KEYFRAME_HOME", str(tmp_path / "keyframe"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return tmp_path


@contextlib.contextmanager
def health_server() -> Iterator[str]:
    """A stand-in Prefect API on a free loopback port that answers its health check; yields its URL."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api"
    finally:
        server.shutdown()
        server.server_close()


def _doctor(cli, *args) -> dict:
    result = cli("doctor", "--json", *args)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema"] == "keyframe.doctor/1"
    return {cap["name"]: cap for cap in report["capabilities"]}


def test_doctor_lists_every_capability_with_why_and_how(cli, bare_machine):
    caps = _doctor(cli)
    assert EXPECTED <= set(caps)
    for cap in caps.values():
        assert set(cap) == {"name", "title", "available", "detail", "why", "enable"}
        assert isinstance(cap["available"], bool)
        assert (cap["why"] is None) == cap["available"], cap
    lpips = caps["lpips"]
    assert not lpips["available"] and lpips["detail"] == str(bare_machine / "torch/hub/checkpoints/alexnet-owt-7be5be79.pth")
    assert lpips["enable"] == "keyframe weights add lpips /path/to/alexnet-owt-7be5be79.pth"
    assert not caps["hands"]["available"] and "numpy<2" in caps["hands"]["why"]
    assert caps["ffmpeg_h264"]["available"] and caps["face_detector"]["available"]
    assert not caps["prefect_server"]["available"] and caps["prefect_server"]["enable"] == "keyframe server start"
    assert caps["model:render.svd.model"]["detail"] == "not configured"
    assert not caps["dask_scheduler"]["available"]


def test_doctor_sees_weights_models_and_servers(cli, bare_machine, monkeypatch):
    checkpoints = bare_machine / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "alexnet-owt-7be5be79.pth").write_bytes(b"present")
    with socket.create_server(("127.0.0.1", 0)) as scheduler, health_server() as api_url:
        config = bare_machine / "doctor.yaml"
        config.write_text(f"render:\n  svd:\n    model: {bare_machine / 'no-such-model'}\n"
                          f"nightly:\n  dask_address: tcp://127.0.0.1:{scheduler.getsockname()[1]}\n")
        monkeypatch.setenv("PREFECT_API_URL", api_url)
        caps = _doctor(cli, "--config", config)
    assert caps["lpips"]["available"]
    svd = caps["model:render.svd.model"]
    assert not svd["available"] and "no-such-model" in svd["why"]
    assert caps["prefect_server"]["available"] and caps["prefect_server"]["detail"] == f"{api_url} (PREFECT_API_URL)"
    assert caps["dask_scheduler"]["available"]

    caps = _doctor(cli, "--config", config)  # both gone now
    assert not caps["prefect_server"]["available"] and "nothing answers" in caps["prefect_server"]["why"]
    assert not caps["dask_scheduler"]["available"] and "cannot connect" in caps["dask_scheduler"]["why"]


def test_doctor_prints_a_table_and_refuses_a_bad_config(cli, bare_machine):
    result = cli("doctor")
    assert result.code == 0
    first_column = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.count("│") > 2]
    assert "lpips" in first_column and "prefect_server" in first_column
    assert cli("doctor", "--config", bare_machine / "missing.yaml").code == 2
