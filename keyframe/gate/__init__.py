"""Motion-readiness gate: refuse plates whose flaws a video model would amplify.

Four criteria, one module each (``edge``, ``seam``, ``texture``, ``anatomy``), each returning a
:class:`Criterion` with a score, its threshold, pass/fail, a heatmap and a plain-language reason.
:func:`run_gate` runs them all; the gate passes unless a computed criterion fails (a criterion
that was not checked neither passes nor fails it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.config import GateConfig
from keyframe.gate import anatomy, edge, seam, texture
from keyframe.gate.criterion import CRITERIA, Criterion, check_inputs
from keyframe.io import check_output_dir, from_float, write_image
from keyframe.verdict import Reason

__all__ = ["CRITERIA", "Criterion", "GateResult", "run_gate", "write_heatmaps"]

for _module in (edge, seam, texture, anatomy):
    CRITERIA.register(_module.NAME)(_module.score)


@dataclass
class GateResult:
    """Every criterion's outcome; ``passed`` is False when any computed criterion failed."""

    criteria: dict[str, Criterion]

    @property
    def passed(self) -> bool:
        return all(criterion.passed is not False for criterion in self.criteria.values())

    @property
    def reasons(self) -> list[Reason]:
        """One reason per failed criterion, coded by its name; a criterion not checked is no reason."""
        return [Reason.of_plate(name, c.reason) for name, c in self.criteria.items() if c.passed is False]

    def to_dict(self, heatmap_paths: dict[str, str] | None = None, *, details: bool = True) -> dict[str, Any]:
        """JSON-ready ``{"pass", "criteria": {name: {"score", "threshold", "pass", "reason", "heatmap", "details"}}}``.

        ``heatmap`` is the path from ``heatmap_paths`` (as written by :func:`write_heatmaps`) or None.
        With ``details=False`` each criterion has exactly the five keys of the issue's ``--json`` shape.
        """
        paths = heatmap_paths or {}
        criteria = {}
        for name, c in self.criteria.items():
            entry = {
                "score": c.score,
                "threshold": c.threshold,
                "pass": c.passed,
                "reason": c.reason,
                "heatmap": None if paths.get(name) is None else str(paths[name]),
            }
            if details:
                entry["details"] = c.details
            criteria[name] = entry
        return {"pass": self.passed, "criteria": criteria}


def run_gate(plate: np.ndarray, mask: np.ndarray | None, cfg: GateConfig) -> GateResult:
    """Run every gate criterion on an edited plate.

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3)
        The edited plate, uint8/uint16 or float32 in [0, 1].
    mask : ndarray of shape (H, W) or None
        The edited region. Without it the seam is not checked and edge/anatomy look at the whole plate.
    cfg : GateConfig

    Returns
    -------
    GateResult

    Examples
    --------
    >>> from skimage import data
    >>> result = run_gate(data.astronaut(), None, GateConfig())
    >>> result.passed, result.criteria["seam"].passed
    (True, None)
    """
    rgb, mask = check_inputs(plate, mask)
    return GateResult({name: criterion(rgb, mask, cfg) for name, criterion in CRITERIA.items()})


def write_heatmaps(result: GateResult, out_dir: str | Path) -> dict[str, Path]:
    """Write each criterion's heatmap as an 8-bit grey PNG ``<out_dir>/<name>_heatmap.png``.

    Returns
    -------
    dict
        Criterion name -> path written (criteria without a heatmap are left out).
    """
    directory = check_output_dir(out_dir)
    return {
        name: write_image(directory / f"{name}_heatmap.png", from_float(criterion.heatmap))
        for name, criterion in result.criteria.items()
        if criterion.heatmap is not None
    }
