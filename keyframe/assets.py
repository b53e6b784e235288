"""Weights keyframe uses from the torch hub cache, installed from files the user brings.

keyframe never downloads. On an air-gapped render node the user copies a file across and runs
``keyframe weights add NAME FILE``: the file is checked against the SHA-256 prefix that
torchvision writes into its name (``alexnet-owt-7be5be79.pth`` must hash to ``7be5be79...``,
torch.hub's own check) and copied atomically into ``$TORCH_HOME/hub/checkpoints/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from keyframe.errors import WeightsError
from keyframe.io import copy_file_atomic, file_sha256
from keyframe.metrics.lpips import ALEXNET_WEIGHTS
from keyframe.metrics.weights import hub_checkpoint
from keyframe.track.flow import RAFT_WEIGHTS

_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's HASH_REGEX


@dataclass(frozen=True)
class HubWeights:
    """A torch hub checkpoint keyframe can use; its expected digest is the hex in its file name."""

    name: str
    filename: str
    purpose: str

    @property
    def sha256_prefix(self) -> str:
        return _HASH_IN_NAME.findall(self.filename)[-1]

    def path(self) -> Path:
        """Where torch (and keyframe) look for it."""
        return hub_checkpoint(self.filename)

    def verify(self, sha256: str, source: str | Path) -> None:
        """Refuse (one line) bytes whose SHA-256 does not start with the prefix in the file name."""
        if not sha256.startswith(self.sha256_prefix):
            raise WeightsError(
                f"{source} is not {self.filename} (the {self.purpose}): its SHA-256 starts {sha256[:len(self.sha256_prefix)]}, "
                f"expected {self.sha256_prefix}; the file is wrong or truncated, nothing was installed"
            )


ASSETS = {
    asset.name: asset
    for asset in (
        HubWeights("lpips", ALEXNET_WEIGHTS, "LPIPS AlexNet backbone (drift metric)"),
        HubWeights("raft", RAFT_WEIGHTS, "RAFT-small optical flow (check.flow: raft)"),
    )
}


def asset(name: str) -> HubWeights:
    """The asset called ``name``; an unknown name is refused in one line listing the known ones."""
    if name not in ASSETS:
        raise WeightsError(f"unknown weights '{name}'; known: {', '.join(ASSETS)}")
    return ASSETS[name]


def add_weights(name: str, source: str | Path) -> Path:
    """Verify ``source`` as the weights called ``name`` and install them; returns the installed path.

    Raises
    ------
    WeightsError
        One line: unknown name, missing file, or a hash that does not match (nothing is installed).
    """
    wanted = asset(name)
    return copy_file_atomic(source, wanted.path(), verify=lambda sha256: wanted.verify(sha256, source))


def installed_weights() -> list[dict[str, object]]:
    """Each asset: where it goes, whether it is there, and whether its content matches its name."""
    rows = []
    for item in ASSETS.values():
        path = item.path()
        present = path.is_file()
        rows.append({"name": item.name, "purpose": item.purpose, "file": item.filename, "path": str(path),
                     "installed": present, "verified": present and file_sha256(path).startswith(item.sha256_prefix),
                     "bytes": path.stat().st_size if present else None})
    return rows
