"""The layering rules of docs/ARCHITECTURE.md, checked on the syntax tree of every module.

- ``keyframe/`` never imports Prefect; only the CLI imports ``flows`` (inside the commands that
  run a flow), so the library works without the orchestration layer.
- Only ``keyframe/io/`` touches files: nothing else opens, writes, renames or deletes one.
- No module is longer than 400 lines, and ``flows/`` stays thin.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "keyframe"
IO = LIBRARY / "io"
#: Calls that touch the file system: ``name(...)`` as a plain call, or ``module.name(...)``.
FILE_CALLS = {"open"}
FILE_FUNCTIONS = {
    "os": {"open", "rename", "replace", "remove", "unlink", "rmdir", "makedirs", "mkdir", "fdopen"},
    "shutil": {"rmtree", "move", "copy", "copy2", "copyfile", "copytree"},
    "cv2": {"imread", "imwrite", "VideoWriter", "VideoCapture"},
    "np": {"save", "savez", "load", "fromfile"},
    "numpy": {"save", "savez", "load", "fromfile"},
}
#: Methods of ``pathlib.Path`` that read or change files.
FILE_METHODS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "unlink", "rename", "touch",
                "mkdir", "rmdir", "symlink_to", "hardlink_to"}


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(tree: ast.AST, *, top_level_only: bool = False) -> set[str]:
    """The top-level package of every absolute import (``import a.b`` and ``from a.b import c`` give ``a``)."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def file_operations(tree: ast.AST) -> list[str]:
    """Every call in ``tree`` that opens, reads, writes, moves or deletes a file, as ``line: call``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FILE_CALLS:
            found.append(f"{node.lineno}: {func.id}()")
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if owner in FILE_FUNCTIONS and func.attr in FILE_FUNCTIONS[owner]:
                found.append(f"{node.lineno}: {owner}.{func.attr}()")
            elif owner not in FILE_FUNCTIONS and func.attr in FILE_METHODS:
                found.append(f"{node.lineno}: .{func.attr}()")
    return found


def test_the_rules_see_what_they_forbid():
    code = "open(p)\nos.replace(a, b)\nPath(p).write_text('x')\nshutil.rmtree(d)\nout.unlink()\nnp.save(p, a)\n"
    assert len(file_operations(ast.parse(code))) == 6
    assert file_operations(ast.parse("text.replace('a', 'b')\nwrite_json_atomic(p, {})\n")) == []


def test_library_never_imports_prefect_and_only_the_cli_imports_flows():
    offenders = []
    for path in _modules(LIBRARY):
        rel = path.relative_to(ROOT)
        tree = _tree(path)
        if "prefect" in _imports(tree):
            offenders.append(f"{rel} imports prefect")
        cli = rel.parts[1] == "cli"
        if "flows" in _imports(tree, top_level_only=cli):
            offenders.append(f"{rel} imports flows" + (" at module level" if cli else ""))
    assert offenders == [], offenders


def test_library_imports_without_prefect_loaded():
    """Importing every stage, the pipeline and the CLI does not pull Prefect into the process."""
    code = (
        "import sys, importlib, pkgutil, keyframe\n"
        "for m in pkgutil.walk_packages(keyframe.__path__, 'keyframe.'):\n"
        "    if m.name != 'keyframe.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "print('prefect' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_only_keyframe_io_touches_files():
    """File access goes through keyframe.io (atomic writes, limits, one error style); the rest passes paths to it."""
    offenders = []
    for path in [*_modules(LIBRARY), *_modules(ROOT / "flows")]:
        if path.is_relative_to(IO):
            continue
        offenders += [f"{path.relative_to(ROOT)}:{where}" for where in file_operations(_tree(path))]
    assert offenders == [], offenders


def test_modules_stay_small_and_flows_thin():
    lines = {path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines())
             for path in [*_modules(LIBRARY), *_modules(ROOT / "flows")]}
    assert {str(p): n for p, n in lines.items() if n > 400} == {}
    assert sum(n for p, n in lines.items() if p.parts[0] == "flows") <= 600
