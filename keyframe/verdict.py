"""The one reason/verdict model of gate and check, and the check's rules: thresholds -> reasons.

A :class:`Reason` is why a plate or a clip is flagged (a gate criterion, or a check rule over a
range of frames); the verdict is ``flagged`` when there is any reason, else ``pass``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyframe.config import CheckConfig

CODES = ("cut", "float", "flicker", "drift", "warp", "lost")
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
    relative: tuple[str, str] | None = None  # (per-frame field, CheckConfig attribute) that must ALSO be above its limit
    attached: tuple[str, ...] | None = None  # only for a region attached to one of these layers (None: any)

    def __post_init__(self) -> None:
        limits = [self.limit] + ([self.relative[1]] if self.relative else [])
        if any(limit not in CheckConfig.model_fields for limit in limits) or self.code not in CODES:
            raise ValueError(f"rule {self.code}/{self.key}: no CheckConfig field {self.limit!r} or unknown code")

    def threshold(self, cfg: CheckConfig) -> float:
        """This rule's threshold in ``cfg``."""
        return getattr(cfg, self.limit)


RULES = (
    Rule("float", "float_px", "float_px", True, "px/frame of motion against the layer it belongs to",
         ("float_ratio", "float_ratio")),
    Rule("float", "slip_size", "slip_size", True, "of the region's size in accumulated slip against the moving subject it "
         "belongs to", ("slip_ratio", "slip_ratio"), ("subject", "mixed")),
    Rule("float", "slip_px", "slip_scene_px", True, "px of accumulated slip against the scene it belongs to",
         ("slip_ratio", "slip_ratio"), ("scene",)),
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


def lost_frames(per_frame: Sequence[dict[str, Any]], cfg: CheckConfig) -> list[bool]:
    """Per frame, whether the region is lost (less than ``cfg.lost_visible`` of it visible)."""
    return [row.get("visible") is not None and row["visible"] < cfg.lost_visible for row in per_frame]


def _exceeds(row: dict[str, Any], rule: Rule, cfg: CheckConfig, attached: str | None = None) -> float | None:
    """The rule's value in ``row`` when it is past its threshold (and its relative part too), else None.

    ``attached`` is the region's layer (None: the row's own ``attached``, or any).
    """
    value, limit = row.get(rule.key), rule.threshold(cfg)
    layer = attached or row.get("attached")
    if rule.attached is not None and layer is not None and layer not in rule.attached:
        return None
    if value is None or not (value > limit if rule.above else value < limit):
        return None
    if rule.relative is not None:
        ratio = row.get(rule.relative[0])
        if ratio is None or not ratio > getattr(cfg, rule.relative[1]):
            return None
    return value


def _threshold(rule: Rule, cfg: CheckConfig) -> str:
    text = f"threshold {rule.threshold(cfg):g}, check.{rule.limit}"
    if rule.relative is not None:
        text += f", and over {getattr(cfg, rule.relative[1]):g}x the surroundings' own motion, check.{rule.relative[1]}"
    return text


def judge(per_frame: Sequence[dict[str, Any]], cfg: CheckConfig, *, cut_at: int | None = None,
          attached: str | None = None) -> list[Reason]:
    """The reasons a clip is flagged, one per code, in the order of :data:`CODES`.

    A frame exceeds a rule when its value is past the rule's threshold (and, for float, its
    ratio to the surroundings' own motion past that one's); a value of ``None`` (not measurable
    in that frame) never exceeds. Runs shorter than ``cfg.min_run`` frames are ignored. A hard
    cut at frame ``cut_at`` is a reason of its own, and the region is lost from there on.
    Frames where the region is lost count only towards ``lost``: what little remains of it is too
    small for the other metrics to mean much. ``attached`` is the layer the region was judged
    against (rules for one layer only, such as the scene's slip, apply to it alone).

    Examples
    --------
    >>> rows = [{"visible": 1.0}, {"visible": 0.2}, {"visible": 0.1}]
    >>> [r.code for r in judge(rows, CheckConfig())]
    ['lost']
    """
    lost = lost_frames(per_frame, cfg)
    reasons = []
    if cut_at is not None:
        reasons.append(Reason("cut", f"cut: a hard scene cut at frame {cut_at} (the frame is not explained by the one "
                              f"before it, check.cut_similarity {cfg.cut_similarity:g}); the region is lost after it",
                              [[cut_at, cut_at]]))
    for code in CODES[1:]:
        rules = [r for r in RULES if r.code == code]
        hits = {rule: [_exceeds(row, rule, cfg, attached) for row in per_frame] for rule in rules}
        flags = [any(hits[r][i] is not None for r in rules) and (code == "lost" or not lost[i]) for i in range(len(per_frame))]
        ranges = frame_ranges(flags, cfg.min_run)
        if code == "lost" and cut_at is not None:
            ranges = [r for r in ranges if r[1] < cut_at - 1] + [[min([cut_at, *(r[0] for r in ranges if r[1] >= cut_at - 1)]),
                                                                   len(per_frame) - 1]]
        if not ranges:
            continue
        parts = []
        for rule in rules:
            found = [hits[rule][i] for a, b in ranges for i in range(a, b + 1) if hits[rule][i] is not None]
            if found:
                worst = (max if rule.above else min)(found)
                parts.append(f"{'up to' if rule.above else 'down to'} {worst:.3g} {rule.unit} ({_threshold(rule, cfg)})")
        if code == "lost" and cut_at is not None:
            parts.append(f"after the cut at frame {cut_at} the region is not in the shot")
        reasons.append(Reason(code, f"{code}: " + "; ".join(parts) + f" in frames {_describe(ranges)}", ranges))
    return reasons


def stability(per_frame: Sequence[dict[str, Any]], cfg: CheckConfig) -> float | None:
    """One number for how steady the edited region stayed: the headroom left to the nearest threshold.

    For every rule of :data:`RULES`, the worst frame's value as a fraction of its threshold
    (``lost``: the share of the region lost over the share that may be lost); stability is
    ``1 -`` the largest fraction. 1 means perfectly glued (no float, flicker, warp, drift or
    loss), 0 means the worst metric sits exactly at its threshold, below 0 it is past it. Higher
    is steadier; None when nothing could be measured. As in :func:`judge`, frames where the
    region is lost count only towards ``lost``, and a rule that also needs a relative value past
    its own limit (float against the surroundings' motion) counts the nearer of the two.

    Examples
    --------
    >>> cfg = CheckConfig()
    >>> rows = [{"float_px": 0.1, "float_ratio": 1.0, "visible": 1.0}, {"float_px": 0.2, "float_ratio": 1.0, "visible": 0.97}]
    >>> stability(rows, cfg)  # float 0.2 of its 0.4 px/frame threshold: half the headroom used
    0.5
    """
    lost = lost_frames(per_frame, cfg)
    fractions = []
    for rule in RULES:
        values = [row[rule.key] for row, gone in zip(per_frame, lost)
                  if row.get(rule.key) is not None and (rule.code == "lost" or not gone)]
        if not values:
            continue
        limit = rule.threshold(cfg)
        if not rule.above:  # a share that must stay above the limit: the share lost, over the share that may be lost
            fractions.append((1.0 - min(values)) / max(1.0 - limit, 1e-6))
        elif rule.relative is None:
            fractions.append(max(values) / limit)
        else:  # flagged only when past both limits: a frame is as close to failing as its nearer one allows
            key, relative = rule.relative
            fractions.append(max(min(row[rule.key] / limit, (row.get(key) or 0.0) / getattr(cfg, relative))
                                 for row, gone in zip(per_frame, lost) if row.get(rule.key) is not None and not gone))
    return None if not fractions else round(1.0 - max(fractions), 4)
