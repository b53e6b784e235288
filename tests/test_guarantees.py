"""The promises in README's "What keyframe guarantees": determinism, no network, safe loading,
no half-written outputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from support import ROOT, mask_path, plate_path

# Installed as sitecustomize in every Python process of the run (Prefect's server included): any
# connection or name lookup that leaves the machine is logged and refused.
SOCKET_GUARD = textwrap.dedent(
    """
    import ipaddress, os, socket

    LOG = os.environ["KEYFRAME_NETWORK_LOG"]

    def _local(host):
        if host in (None, "", "localhost") or str(host).startswith("/"):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _refuse(what):
        with open(LOG, "a") as log:
            log.write(what + "\\n")
        raise OSError(101, "network access blocked by the keyframe test: " + what)

    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse(f"connect {address}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse(f"connect_ex {address}")
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _local(host):
            _refuse(f"getaddrinfo {host}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    """
)

VOLATILE_KEYS = {"created", "seconds"}  # wall-clock facts, the only things allowed to differ


def _normalised_json(value):
    if isinstance(value, dict):
        return {k: _normalised_json(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_normalised_json(v) for v in value]
    return value


def _comparable(path: Path):
    data = path.read_bytes()
    if path.suffix == ".json" or path.name.endswith(".json"):
        return _normalised_json(json.loads(data))
    if path.suffix == ".html":
        text = data.decode()
        return re.sub(r"(&#34;|\")?(created|seconds)(&#34;|\")?(</th><td>|: )[^<,\n]*", "", text)
    return data


def _run_demo(out: Path, workdir: Path) -> subprocess.CompletedProcess:
    guard = workdir / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(SOCKET_GUARD)
    env = {
        **os.environ,
        "PYTHONPATH": str(guard),
        "KEYFRAME_NETWORK_LOG": str(workdir / "network.log"),
        "PREFECT_HOME": str(workdir / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)  # its own temporary server, as a user's first run
    return subprocess.run([sys.executable, "-m", "keyframe", "demo", "-o", str(out)], capture_output=True, text=True,
                          env=env, timeout=400)


def test_demo_twice_is_byte_identical_and_never_touches_the_network(tmp_path):
    out = tmp_path / "demo"
    first = _run_demo(out, tmp_path)
    assert first.returncode in (0, 1), first.stderr[-2000:]
    kept = tmp_path / "first"
    shutil.move(out, kept)
    second = _run_demo(out, tmp_path)
    assert second.returncode == first.returncode, second.stderr[-2000:]

    log = tmp_path / "network.log"
    assert not log.exists(), f"network access was attempted:\n{log.read_text()}"

    outputs = sorted(p.relative_to(kept) for p in kept.rglob("*") if p.is_file() and ".keyframe-cache" not in p.parts)
    assert {"report.json", "clean.png", "clip.mp4", "report.html", "flags.otio"} <= {str(p) for p in outputs}
    assert outputs == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and ".keyframe-cache" not in p.parts)
    different = [str(rel) for rel in outputs if _comparable(kept / rel) != _comparable(out / rel)]
    assert different == [], f"outputs differ between two runs: {different}"


def test_the_guard_really_blocks(tmp_path):
    """The socket guard itself refuses and logs an outside connection (so the test above means something)."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SOCKET_GUARD)
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError as e:\n    print(e)"
    env = {**os.environ, "PYTHONPATH": str(guard), "KEYFRAME_NETWORK_LOG": str(tmp_path / "log")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "blocked" in out.stdout
    assert "192.0.2.1" in (tmp_path / "log").read_text()


def _sources() -> list[Path]:
    return [p for folder in ("keyframe", "flows") for p in (ROOT / folder).rglob("*.py")]


def test_yaml_is_only_ever_safe_loaded():
    unsafe = re.compile(r"yaml\.(load|unsafe_load|full_load|load_all)\(|Loader=yaml\.(Loader|UnsafeLoader|FullLoader)")
    offenders = [str(p.relative_to(ROOT)) for p in _sources() if unsafe.search(p.read_text())]
    assert offenders == []
    from keyframe.io import documents

    assert issubclass(documents._BoundedLoader, yaml.SafeLoader)  # the one loader documents are read with


def test_no_pickle_loading_outside_the_explicit_opt_in():
    """torch.load and pickle.load never run implicitly; weights load through safetensors by default."""
    risky = re.compile(r"\bpickle\.loads?\(|\btorch\.load\((?![^)]*weights_only=True)")
    offenders = [str(p.relative_to(ROOT)) for p in _sources() if risky.search(p.read_text())]
    assert offenders == []


def test_a_stage_failing_mid_write_leaves_nothing(cli, tmp_path, monkeypatch):
    """The clip is fully encoded, then its sidecar fails: neither may be left behind."""
    import keyframe.render as render_module

    def broken_sidecar(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(render_module, "write_sidecar", broken_sidecar)
    result = cli("render", plate_path("coffee"), "-o", tmp_path / "clip.mp4", "--frames", "6")
    assert result.code == 2 and "Input/output error" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_same_seed_same_bytes_for_each_stage_command(cli, tmp_path):
    """Each stage on its own, twice in one folder: identical bytes apart from wall-clock keys."""
    runs = []
    for attempt in ("a", "b"):
        out = tmp_path / "run"
        out.mkdir()
        assert cli("inpaint", plate_path("coffee_defect"), "--mask", mask_path("coffee_defect"), "-o", out / "clean.png", "--seed", "5").code == 0
        assert cli("render", out / "clean.png", "-o", out / "clip.mp4", "--seed", "5", "--frames", "10").code == 0
        assert cli("gate", out / "clean.png", "--mask", out / "clean.mask.png", "-o", out / "gate").code in (0, 1)
        assert cli("check", out / "clip.mp4", "--plate", out / "clean.png", "--mask", out / "clean.mask.png", "-o", out / "check").code in (0, 1)
        runs.append({p.relative_to(out): _comparable(p) for p in sorted(out.rglob("*")) if p.is_file()})
        shutil.move(out, tmp_path / attempt)
    assert runs[0].keys() == runs[1].keys()
    assert [str(k) for k in runs[0] if runs[0][k] != runs[1][k]] == []
