"""Files keyframe ships beside its code: the default config and the demo's plate and mask.

The repository keeps them in its own ``configs/`` and ``fixtures/`` folders, the one source of
truth. A wheel carries copies built from those folders inside the package, under
``keyframe/data/`` with the same relative paths (``setup.py`` maps them); an editable install or a
source tree on ``PYTHONPATH`` reads the folders themselves, beside the ``keyframe/`` it imported.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from keyframe.errors import KeyframeError


def package_file(*parts: str) -> Path:
    """The shipped file at ``parts`` (e.g. ``"configs", "default.yaml"``), checked to exist.

    Raises
    ------
    KeyframeError
        One line when this installation lacks the file (a broken install, not a user error to fix
        by hand).

    Examples
    --------
    >>> package_file("configs", "default.yaml").name
    'default.yaml'
    """
    package = Path(str(importlib.resources.files("keyframe")))
    installed = package / "data"
    root = installed if installed.is_dir() else package.parent  # a wheel's copies, else the source tree
    if root.joinpath(*parts).is_file():
        return root.joinpath(*parts)
    raise KeyframeError(
        f"keyframe's {'/'.join(parts)} is missing from its installation ({package}); reinstall keyframe"
    )
