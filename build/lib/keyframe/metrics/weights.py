"""Where torch keeps downloaded weights, found without importing torch (and never downloading)."""

from __future__ import annotations

import os
from pathlib import Path


def hub_checkpoint(filename: str) -> Path:
    """``$TORCH_HOME/hub/checkpoints/<filename>``, resolved the way ``torch.hub.get_dir()`` does.

    ``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch``, itself defaulting to ``~/.cache/torch``.

    Examples
    --------
    >>> hub_checkpoint("x.pth").name
    'x.pth'
    """
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(home) / "hub" / "checkpoints" / filename
