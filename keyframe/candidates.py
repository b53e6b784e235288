"""Best of N: render several variants of a plate, check each, keep the steadiest.

Editors re-roll renders until one holds; this does the rolling for them. The variants are
deterministic for the same inputs:

- learned backends (``svd``, ``diffusers``): the same settings with seeds ``seed, seed + 1, ...``;
- the camera backend (no randomness): the configured move first, then the other moves at the
  configured amplitude, then every move again at half the amplitude, a quarter, ... A gentler or
  different move is what an editor tries when a region floats.

Each variant's check gives a :func:`keyframe.verdict.stability` (headroom to the nearest
threshold, higher is steadier); :func:`select_candidate` keeps the steadiest that passes, else the
steadiest of all, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyframe.config import CheckConfig, Config, RenderCameraConfig, RenderConfig
from keyframe.render import RenderResult
from keyframe.track import CheckResult
from keyframe.verdict import stability

CAMERA_MOVES = ("zoom", "pan", "rotate", "dolly")


@dataclass(frozen=True)
class Candidate:
    """One variant to render: its id (``c0``, ``c1``, ...), what differs (``params``), and how to render it."""

    id: str
    params: dict[str, Any]
    render: RenderConfig
    seed: int

    def config(self, base: Config) -> Config:
        """``base`` with this candidate's render settings and seed."""
        return base.model_copy(update={"render": self.render, "seed": self.seed})


def scaled_move(camera: RenderCameraConfig, move: str, amplitude: float) -> RenderCameraConfig:
    """``camera`` set to ``move`` with its size scaled by ``amplitude`` (1 = as configured).

    Examples
    --------
    >>> scaled_move(RenderCameraConfig(), "zoom", 0.5).zoom
    1.075
    """
    return camera.model_copy(update={
        "move": move,
        "pan_x": camera.pan_x * amplitude,
        "pan_y": camera.pan_y * amplitude,
        "zoom": 1.0 + (camera.zoom - 1.0) * amplitude,
        "rotate": camera.rotate * amplitude,
        "dolly": 1.0 + (camera.dolly - 1.0) * amplitude,
    })


def plan_candidates(cfg: RenderConfig, count: int, seed: int) -> list[Candidate]:
    """The ``count`` variants to render (the first is always the configuration as given).

    Examples
    --------
    >>> [c.params for c in plan_candidates(RenderConfig(), 3, seed=0)]
    [{'move': 'zoom', 'amplitude': 1.0}, {'move': 'pan', 'amplitude': 1.0}, {'move': 'rotate', 'amplitude': 1.0}]
    >>> [c.params for c in plan_candidates(RenderConfig(backend="svd"), 2, seed=7)]
    [{'seed': 7}, {'seed': 8}]
    """
    if count < 1:
        raise ValueError(f"candidates must be at least 1, got {count}")
    if cfg.backend != "camera":
        return [Candidate(f"c{i}", {"seed": seed + i}, cfg, seed + i) for i in range(count)]
    moves = [cfg.camera.move, *(m for m in CAMERA_MOVES if m != cfg.camera.move)]
    found = []
    for i in range(count):
        amplitude = 0.5 ** (i // len(moves))
        move = moves[i % len(moves)]
        camera = scaled_move(cfg.camera, move, amplitude)
        found.append(Candidate(f"c{i}", {"move": move, "amplitude": amplitude}, cfg.model_copy(update={"camera": camera}), seed))
    return found


@dataclass
class CandidateRun:
    """A rendered and checked candidate."""

    candidate: Candidate
    clip: RenderResult
    check: CheckResult

    def record(self, cfg: CheckConfig) -> dict[str, Any]:
        """The report's entry: ``{id, params, stability, verdict, reasons}``."""
        return {
            "id": self.candidate.id,
            "params": self.candidate.params,
            "stability": stability(self.check.per_frame, cfg),
            "verdict": self.check.verdict,
            "reasons": [reason.to_dict() for reason in self.check.reasons],
        }


@dataclass
class BestOf:
    """Every candidate's run, their report entries, and the one kept (``selected``) with why."""

    runs: list[CandidateRun]
    records: list[dict[str, Any]]
    selected: str
    why: str

    @property
    def chosen(self) -> CandidateRun:
        return next(run for run in self.runs if run.candidate.id == self.selected)


def best_of(runs: list[CandidateRun], cfg: CheckConfig) -> BestOf:
    """Score every checked candidate and keep the steadiest (:func:`select_candidate`)."""
    records = [run.record(cfg) for run in runs]
    selected, why = select_candidate(records)
    return BestOf(runs, records, selected, why)


def select_candidate(records: list[dict[str, Any]]) -> tuple[str, str]:
    """The id of the steadiest passing candidate (else the steadiest of all) and a sentence saying why.

    Ties keep the earlier candidate, so the choice is deterministic.

    Examples
    --------
    >>> select_candidate([{"id": "c0", "stability": 0.2, "verdict": "pass"},
    ...                   {"id": "c1", "stability": 0.6, "verdict": "flagged"},
    ...                   {"id": "c2", "stability": 0.4, "verdict": "pass"}])[0]
    'c2'
    """
    if not records:
        raise ValueError("no candidates to select from")

    def score(record: dict[str, Any]) -> float:
        return float("-inf") if record["stability"] is None else record["stability"]

    passing = [r for r in records if r["verdict"] == "pass"]
    pool = passing or records
    best = max(pool, key=score)  # max keeps the first of equals
    shown = "n/a" if best["stability"] is None else f"{best['stability']:.3f}"
    others = [r for r in pool if r is not best]
    runner_up = f"; next best {max(others, key=score)['id']} at {score(max(others, key=score)):.3f}" if others else ""
    if passing:
        why = f"{best['id']} is the steadiest of {len(passing)} passing candidate(s) of {len(records)} (stability {shown}{runner_up})"
    else:
        why = f"no candidate passed; {best['id']} is the steadiest of {len(records)} (stability {shown}{runner_up})"
    return best["id"], why
