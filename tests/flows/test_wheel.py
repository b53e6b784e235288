"""The wheel works on its own: built, installed away from the source tree, it runs the demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist", "*.egg-info", ".pytest_cache",
                                    "tests", "benchmarks", "docs", "keyframe-demo", "out")


def _pip(*args: str | Path, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """keyframe's wheel, built from a copy of the tree (no build/ left here) and installed with ``--target``."""
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_SOURCE)
    _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist", tmp / "src", cwd=tmp)
    (wheel,) = (tmp / "dist").glob("keyframe-*.whl")
    _pip("install", "--no-deps", "--no-index", "-q", "--target", tmp / "site", wheel, cwd=tmp)
    return tmp / "site"


def _python(site: Path, code_or_module: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -S`` with the wheel first, then this process's import path without the source tree.

    ``-S`` skips site-packages' ``.pth`` files, so no editable install of a checkout is active.
    """
    venv = Path(sys.prefix).resolve()  # a checkout's own .venv (as on CI) holds the dependencies: keep it
    deps = [p for p in sys.path if p and Path(p).is_dir()
            and (Path(p).resolve().is_relative_to(venv) or not Path(p).resolve().is_relative_to(ROOT))]
    environment = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(site), *dict.fromkeys(deps)])}
    return subprocess.run([sys.executable, "-S", *code_or_module], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_wheel_installs_keyframe_names_only(installed):
    top_level = sorted(p.name for p in installed.iterdir() if not p.name.endswith((".dist-info", "bin")))
    assert top_level == ["keyframe", "keyframe_flows"]
    assert (installed / "keyframe" / "data" / "configs" / "default.yaml").read_bytes() == (
        ROOT / "configs" / "default.yaml").read_bytes()
    assert not (installed / "keyframe" / "data" / "fixtures" / "make_fixtures.py").exists()


@pytest.mark.slow  # the demo's flow run on the session's Prefect server: ~5 s, plus that server's start
def test_wheel_runs_the_demo_from_an_unrelated_folder(installed, tmp_path, prefect_env):
    probe = ("import json, keyframe, importlib.util as u; from keyframe.config import default_config_path as d;"
             "print(json.dumps([keyframe.__file__, str(d()), u.find_spec('flows') is None]))")
    where = _python(installed, ["-c", probe], tmp_path, prefect_env)
    assert where.returncode == 0, where.stderr
    module, config, no_flows = json.loads(where.stdout)
    assert Path(module).is_relative_to(installed) and Path(config).is_relative_to(installed) and no_flows

    demo = _python(installed, ["-m", "keyframe", "demo", "--json"], tmp_path, prefect_env)
    assert demo.returncode in (0, 1), demo.stderr
    located = json.loads(demo.stdout)
    report = json.loads((tmp_path / "keyframe-demo" / "report.json").read_text())
    assert report["verdict"] in ("pass", "flagged") and Path(located["html"]).is_file()
    assert report["inputs"]["plate"]["path"].startswith(str(installed))
