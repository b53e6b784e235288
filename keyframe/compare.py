"""Revision comparison: which of two revisions of a plate holds its edit more stably in motion.

Both revisions are rendered with the same seed and settings and checked with the same
thresholds; this module compares the two check reports. Stability is judged first by the number
of flagged frames, then by the mean *load* of the verdict's rules: each per-frame measure as a
fraction of its threshold (1.0 = at the threshold), averaged over frames and rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keyframe.config import CheckConfig, Config
from keyframe.errors import KeyframeError
from keyframe.inpaint.stage import mask_output_path
from keyframe.io import package_versions, write_clip, write_image, write_json_atomic
from keyframe.pipeline import CLEAN, Revision
from keyframe.report.chart import Panel, line_chart
from keyframe.report.outputs import flagged_frames, outline
from keyframe.verdict import RULES

SCHEMA = "keyframe.compare/1"
_LOAD_CAP = 100.0
_TIE = 1e-9


def revision_inputs(revision: Path, mask: Path | None) -> tuple[Path, Path]:
    """``(plate, mask)`` of a revision given as a plate file or a prep output folder."""
    revision = Path(revision)
    if revision.is_dir():
        plate = revision / CLEAN
        if not plate.is_file():
            raise KeyframeError(f"{revision} is a folder but not a prep output (no {CLEAN} in it)")
        return plate, mask if mask is not None else mask_output_path(plate)
    if mask is None:
        raise KeyframeError(f"revision {revision} is a plate file: give its mask with --mask")
    return revision, mask


def rule_load(value: float | None, limit: float, above: bool) -> float | None:
    """A measure as a fraction of its threshold, oriented so that > 1 means past it (capped at 100).

    Examples
    --------
    >>> rule_load(1.5, 3.0, above=True), rule_load(0.25, 0.5, above=False)
    (0.5, 2.0)
    """
    if value is None:
        return None
    if above:
        return float(min(max(value, 0.0) / limit, _LOAD_CAP))
    return float(min(limit / max(value, limit / _LOAD_CAP), _LOAD_CAP))


def instability(report: Mapping[str, Any], cfg: CheckConfig) -> dict[str, Any]:
    """How unstable one checked revision is.

    Parameters
    ----------
    report : mapping
        A ``keyframe.report/1`` dictionary with ``frames`` and ``reasons``.
    cfg : CheckConfig
        The thresholds the check used.

    Returns
    -------
    dict
        ``flagged_frames`` (frames inside any reason's range), ``load`` (mean rule load, None if
        nothing could be measured) and ``load_by_metric``.
    """
    frames = list(report.get("frames") or [])
    loads = {}
    for rule in RULES:
        limit = rule.threshold(cfg)
        values = [rule_load(row.get(rule.key), limit, rule.above) for row in frames]
        known = [v for v in values if v is not None]
        loads[rule.key] = round(float(np.mean(known)), 6) if known else None
    measured = [v for v in loads.values() if v is not None]
    return {
        "flagged_frames": int(flagged_frames(list(report.get("reasons") or []), len(frames)).sum()),
        "load": round(float(np.mean(measured)), 6) if measured else None,
        "load_by_metric": loads,
    }


def _delta(a: Any, b: Any) -> dict[str, Any]:
    numeric = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)]
    if all(numeric):
        return {"a": a, "b": b, "delta": round(float(b) - float(a), 7), "why": None}
    missing = [name for name, ok in zip("ab", numeric) if not ok]
    return {"a": a, "b": b, "delta": None, "why": f"not measured in revision {' and '.join(missing)}"}


def compare_reports(a: Mapping[str, Any], b: Mapping[str, Any], cfg: CheckConfig) -> dict[str, Any]:
    """Per-metric and per-frame deltas (``b - a``) and the more stable revision.

    Parameters
    ----------
    a, b : mapping
        The two revisions' ``keyframe.report/1`` dictionaries.
    cfg : CheckConfig
        The thresholds both checks used.

    Returns
    -------
    dict
        ``more_stable`` (``"a"``, ``"b"`` or None for a tie), ``why``, ``instability`` per
        revision, ``metrics`` (each numeric summary value: ``a``, ``b``, ``delta``, ``why``) and
        ``frames`` (per frame, the delta of each judged measure; null where either is missing).
    """
    scores = {"a": instability(a, cfg), "b": instability(b, cfg)}
    keys = {name: (s["flagged_frames"], s["load"] if s["load"] is not None else float("inf")) for name, s in scores.items()}
    if keys["a"][0] != keys["b"][0]:
        winner = min(keys, key=lambda n: keys[n][0])
        why = f"fewer flagged frames ({keys[winner][0]} vs {keys['b' if winner == 'a' else 'a'][0]})"
    elif abs(keys["a"][1] - keys["b"][1]) > _TIE:
        winner = min(keys, key=lambda n: keys[n][1])
        why = (f"same number of flagged frames ({keys['a'][0]}); lower mean load of the verdict's measures "
               f"({scores[winner]['load']} vs {scores['b' if winner == 'a' else 'a']['load']}, 1.0 = at threshold)")
    else:
        winner, why = None, "the two revisions are equally stable by flagged frames and mean load"
    summary_a, summary_b = a.get("summary") or {}, b.get("summary") or {}
    metrics = {
        key: _delta(summary_a.get(key), summary_b.get(key))
        for key in sorted(set(summary_a) | set(summary_b))
        if not isinstance(summary_a.get(key, summary_b.get(key)), (dict, list, str))
    }
    frames_a, frames_b = list(a.get("frames") or []), list(b.get("frames") or [])
    per_frame = [
        {"frame": t, **{rule.key: _delta(fa.get(rule.key), fb.get(rule.key))["delta"] for rule in RULES}}
        for t, (fa, fb) in enumerate(zip(frames_a, frames_b))
    ]
    return {"schema": SCHEMA, "more_stable": winner, "why": why, "instability": scores, "metrics": metrics,
            "frames": per_frame, "frame_counts": {"a": len(frames_a), "b": len(frames_b)}}


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(frame, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return frame


def side_by_side(
    frames_a: Iterable[np.ndarray],
    frames_b: Iterable[np.ndarray],
    masks_a: Sequence[np.ndarray],
    masks_b: Sequence[np.ndarray],
    reasons_a: Sequence[Mapping[str, Any]] = (),
    reasons_b: Sequence[Mapping[str, Any]] = (),
) -> Iterator[np.ndarray]:
    """A and B next to each other, tracked region outlined (red on flagged frames), labelled; frame by frame.

    Frames of different sizes are padded to the larger; the shorter clip sets the length. Only
    one frame of each clip is held at a time.

    Yields
    ------
    ndarray of shape (H, Wa + 8 + Wb, 3), uint8

    Examples
    --------
    >>> f = np.zeros((3, 32, 48, 3), np.uint8); m = np.zeros((3, 32, 48), bool)
    >>> np.stack(list(side_by_side(f, f, m, m))).shape
    (3, 32, 104, 3)
    """
    count = min(len(masks_a), len(masks_b))
    flags_a, flags_b = flagged_frames(list(reasons_a), len(masks_a)), flagged_frames(list(reasons_b), len(masks_b))
    for t, (frame_a, frame_b) in enumerate(zip(frames_a, frames_b)):
        if t >= count:
            break
        panels = [_label(outline(frame_a, masks_a[t], bool(flags_a[t])), "A"),
                  _label(outline(frame_b, masks_b[t], bool(flags_b[t])), "B")]
        height = max(p.shape[0] for p in panels)
        panels = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in panels]
        yield np.concatenate([panels[0], np.zeros((height, 8, 3), np.uint8), panels[1]], axis=1)


def compare_plot(path: str | Path, a: Mapping[str, Any], b: Mapping[str, Any], cfg: CheckConfig) -> Path:
    """Plot each judged measure per frame for A and B, with its threshold; PNG (drawn with OpenCV)."""
    rows_a, rows_b = list(a.get("frames") or []), list(b.get("frames") or [])
    count = max(len(rows_a), len(rows_b), 1)

    def column(rows: list[Mapping[str, Any]], key: str) -> list[float | None]:
        return [row.get(key) for row in rows] + [None] * (count - len(rows))

    rules = [rule for rule in RULES if any(row.get(rule.key) is not None for row in [*rows_a, *rows_b])]
    panels = [Panel(f"{rule.key} ({rule.code})", [("A", column(rows_a, rule.key)), ("B", column(rows_b, rule.key)),
                                                  ("threshold", [rule.threshold(cfg)] * count)]) for rule in rules]
    return write_image(path, line_chart(range(count), panels or [Panel("no measure available", [])]))


def write_comparison(out_dir: Path, a: Revision, b: Revision, cfg: Config) -> dict[str, Any]:
    """Compare two checked revisions; write ``compare.json``, ``side_by_side.mp4`` and ``compare.png``.

    Returns
    -------
    dict
        The ``keyframe.compare/1`` document written to ``compare.json``.
    """
    comparison = compare_reports(a.report, b.report, cfg.check)
    video = write_clip(out_dir / "side_by_side.mp4",
                       side_by_side(a.clip.frames, b.clip.frames, a.check.tracked_masks, b.check.tracked_masks,
                                    a.report["reasons"], b.report["reasons"]),
                       a.clip.fps, quality=cfg.io.video_quality)
    plot = compare_plot(out_dir / "compare.png", a.report, b.report, cfg.check)
    result = {
        **comparison,
        "revisions": {rev.name: {"input": str(rev.plate), "verdict": rev.report["verdict"],
                                 "reasons": rev.report["reasons"], "folder": rev.name} for rev in (a, b)},
        "seed": cfg.seed,
        "params": {"config": cfg.model_dump(mode="json")},
        "outputs": {"video": video.name, "plot": plot.name},
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(out_dir / "compare.json", result)
    return result
