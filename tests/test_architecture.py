"""Layout rules the brief fixes: the library never imports Prefect; flows stay thin over it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_library_never_imports_prefect():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "keyframe").rglob("*.py") if "prefect" in _imported_modules(p)]
    assert offenders == [], f"keyframe/ must not import prefect: {offenders}"


def test_library_imports_without_prefect_loaded():
    """Importing every stage and the CLI does not pull Prefect into the process."""
    code = (
        "import sys, importlib, pkgutil, keyframe\n"
        "for m in pkgutil.walk_packages(keyframe.__path__, 'keyframe.'):\n"
        "    if not m.name.startswith(('keyframe.cli', 'keyframe.__main__')):\n"
        "        importlib.import_module(m.name)\n"
        "print('prefect' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_only_keyframe_io_opens_files():
    """File access goes through keyframe.io (atomic writes, limits); other modules pass paths to it."""
    suspicious = ("open(", ".write_bytes(", ".write_text(", "cv2.imwrite(", "cv2.imread(", "np.save(")
    offenders = []
    for path in (ROOT / "keyframe").rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[1] in ("io", "cli"):
            continue
        text = path.read_text(encoding="utf-8")
        # "open(" as a name of its own (open, Path.open), not Popen( or urlopen(
        offenders += [f"{rel}: {s}" for s in suspicious if re.search(r"(?<![A-Za-z_])" + re.escape(s), text)]
    assert offenders == [], offenders
