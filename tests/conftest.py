"""Shared test fixtures: a CLI runner (in-process and as a subprocess) and special output folders."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from keyframe.cli import main
from support import FIXTURES, CliResult

# keyframe's data folder (the `keyframe server` pid file and database): never the user's own
os.environ["KEYFRAME_HOME"] = tempfile.mkdtemp(prefix="keyframe-home-")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def cli(capfd):
    """Run ``keyframe ARGS`` in-process; returns exit code, stdout and stderr.

    Output is captured at the file descriptors, so what C libraries (libpng, OpenCV, ffmpeg)
    print there counts against the one-line-error promise too.
    """

    def run(*args: str | Path) -> CliResult:
        code = main([str(a) for a in args])
        captured = capfd.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_process():
    """Run ``keyframe ARGS`` as a separate process (for signals, sockets, real exit codes)."""

    def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "keyframe", *[str(a) for a in args]],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@contextlib.contextmanager
def _tmpfs(options: str, why_skip: str):
    """Mount a small tmpfs for the block (root only); skip the test where mounting is refused."""
    point = Path(tempfile.mkdtemp(prefix="kf-mnt-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
    if proc.returncode != 0:
        point.rmdir()
        pytest.skip(why_skip)
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)
        point.rmdir()


@pytest.fixture
def readonly_dir(tmp_path):
    """An output directory nobody can write to: a read-only tmpfs as root, chmod 555 otherwise."""
    if os.geteuid() != 0:
        tmp_path.chmod(0o555)
        yield tmp_path
        tmp_path.chmod(0o755)
        return
    with _tmpfs("size=1m,ro,mode=0755", "running as root without permission to mount a read-only tmpfs") as point:
        yield point


@pytest.fixture
def full_dir():
    """An output directory on a 64 KiB tmpfs: writes past that fail with ENOSPC."""
    with _tmpfs("size=64k,mode=0755", "no permission to mount a size-limited tmpfs") as point:
        yield point


@pytest.fixture
def cli_as_other_user():
    """Run ``keyframe ARGS`` as an unprivileged user (root reads files whatever their mode)."""
    if os.geteuid() != 0:
        return lambda *args: pytest.skip("already unprivileged")

    def run(*args: str | Path) -> CliResult:
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "keyframe", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def shared_tmp():
    """A temp folder other users can enter (for tests that run as another user)."""
    folder = Path(tempfile.mkdtemp(prefix="kf-shared-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def one_torch_thread():
    """The test machine's cores are shared: two OpenMP threads there ran the tiny diffusion models
    ~10x slower than one. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
