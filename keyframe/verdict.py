"""The one reason/verdict model of gate and check, and the check's rules: thresholds -> reasons.

A :class:`Reason` is why a plate or a clip is flagged (a gate criterion, or a check rule over a
range of frames); the verdict is ``flagged`` when there is any reason, else ``pass``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyframe.config import CheckConfig

CODES = ("float", "flicker", "drift", "warp", "lost")
PASS, FLAGGED = "pass", "flagged"


def verdict_of(reasons: Sequence[Any]) -> str:
    """``flagged`` when there is any reason, else ``pass``."""
    return FLAGGED if reasons else PASS


@dataclass(frozen=True)
class Reason:
    """Why a clip (or plate) was flagged: a code, a sentence, and the frames ``[[start, end], ...]`` (inclusive)."""

    code: str
    message: str
    frames: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "frames": [list(r) for r in self.frames]}

    @classmethod
    def of_plate(cls, code: str, why: str | None) -> Reason:
        """A reason about the plate itself (a failed gate criterion): no frame ranges.

        Examples
        --------
        >>> Reason.of_plate("seam", "colour step 7.1").to_dict()
        {'code': 'seam', 'message': 'seam: colour step 7.1', 'frames': []}
        """
        return cls(code, f"{code}: {why or 'failed'}", [])


@dataclass(frozen=True)
class Rule:
    """A check threshold: frames whose ``key`` is past ``cfg.<limit>`` count towards ``code``."""

    code: str
    key: str  # per-frame field
    limit: str  # the CheckConfig field holding the threshold (checked when the rule is made)
    above: bool  # flagged when the value is above (True) or below (False) the limit
    unit: str

    def __post_init__(self) -> None:
        if self.limit not in CheckConfig.model_fields or self.code not in CODES:
            raise ValueError(f"rule {self.code}/{self.key}: no CheckConfig field {self.limit!r} or unknown code")

    def threshold(self, cfg: CheckConfig) -> float:
        """This rule's threshold in ``cfg``."""
        return getattr(cfg, self.limit)


RULES = (
    Rule("float", "float_px", "float_px", True, "px/frame of motion against its surroundings"),
    Rule("float", "slip_px", "slip_px", True, "px of accumulated slip"),
    Rule("flicker", "flicker_excess", "flicker_levels", True, "grey levels more motion-compensated flicker than its surroundings"),
    Rule("warp", "warp_ratio", "warp_ratio", True, "x its surroundings' warping error"),
    Rule("drift", "drift_ssim", "drift_ssim", True, "SSIM lost against the plate beyond its surroundings"),
    Rule("drift", "drift_delta_e", "drift_delta_e", True, "dE of colour change against the plate beyond its surroundings"),
    Rule("drift", "drift_lpips", "drift_lpips", True, "LPIPS gained against the plate beyond its surroundings"),
    Rule("lost", "visible", "lost_visible", False, "of the region visible"),
)


def frame_ranges(flags: Sequence[bool], min_run: int = 1) -> list[list[int]]:
    """Inclusive ``[start, end]`` runs of True at least ``min_run`` long.

    Examples
    --------
    >>> frame_ranges([False, True, True, False, True], min_run=2)
    [[1, 2]]
    """
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= min_run:
                runs.append([start, i - 1])
            start = None
    return runs


def _describe(ranges: list[list[int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def judge(per_frame: Sequence[dict[str, Any]], cfg: CheckConfig) -> list[Reason]:
    """The reasons a clip is flagged, one per code, in the order of :data:`CODES`.

    A frame exceeds a rule when its value is past the rule's threshold; a value of ``None`` (not
    measurable in that frame) never exceeds. Runs shorter than ``cfg.min_run`` frames are ignored.
    Frames where the region is lost count only towards ``lost``: what little remains of it is too
    small for the other metrics to mean much.

    Examples
    --------
    >>> rows = [{"visible": 1.0}, {"visible": 0.2}, {"visible": 0.1}]
    >>> [r.code for r in judge(rows, CheckConfig())]
    ['lost']
    """
    lost = [row.get("visible") is not None and row["visible"] < cfg.lost_visible for row in per_frame]
    reasons = []
    for code in CODES:
        rules = [r for r in RULES if r.code == code]
        hits = {}
        for rule in rules:
            limit = rule.threshold(cfg)
            values = [row.get(rule.key) for row in per_frame]
            hits[rule] = [(v if v is not None and (v > limit if rule.above else v < limit) else None) for v in values]
        flags = [any(hits[r][i] is not None for r in rules) and (code == "lost" or not lost[i]) for i in range(len(per_frame))]
        ranges = frame_ranges(flags, cfg.min_run)
        if not ranges:
            continue
        parts = []
        for rule in rules:
            found = [hits[rule][i] for a, b in ranges for i in range(a, b + 1) if hits[rule][i] is not None]
            if found:
                worst = (max if rule.above else min)(found)
                parts.append(f"{'up to' if rule.above else 'down to'} {worst:.3g} {rule.unit} "
                             f"(threshold {rule.threshold(cfg):g}, check.{rule.limit})")
        reasons.append(Reason(code, f"{code}: " + "; ".join(parts) + f" in frames {_describe(ranges)}", ranges))
    return reasons
