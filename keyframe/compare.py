"""Revision comparison: which of two revisions of a plate holds its edit more stably in motion.

Both revisions are checked with the same thresholds: rendered here with the same seed and
settings, or rendered elsewhere and each opened against its own plate
(:func:`keyframe.revisions.open_revision_clip` refuses a clip that is not of its plate). This
module compares the two check reports and writes the comparison (:func:`write_comparison`). Stability is judged first by the flagged part of each
clip (flagged frames; the flagged share of the clip when the clips differ in length or frame
rate), then by the mean *load* of the verdict's rules: each per-frame measure as a fraction of
its threshold (1.0 = at the threshold), averaged over frames and rules. Clips of different
lengths or frame rates are matched by time (:func:`keyframe.revisions.match_by_time`).
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
from keyframe.io import package_versions, write_clip, write_figure, write_json_atomic
from keyframe.pipeline import CLEAN, Revision
from keyframe.report.html import write_compare_html
from keyframe.report.outputs import flagged_frames, outline
from keyframe.revisions import match_by_time
from keyframe.verdict import RULES

SCHEMA = "keyframe.compare/1"
_LOAD_CAP = 100.0
_TIE = 1e-9
_EPS = 1e-6


def _timing(report: Mapping[str, Any]) -> tuple[int, float]:
    return len(report.get("frames") or []), float((report.get("summary") or {}).get("fps") or 1.0)


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
        ``flagged_frames`` (frames inside any reason's range), ``flagged_share`` (their fraction of
        the clip), ``load`` (mean rule load, None if nothing could be measured) and ``load_by_metric``.
    """
    frames = list(report.get("frames") or [])
    loads = {}
    for rule in RULES:
        limit = rule.threshold(cfg)
        values = [rule_load(row.get(rule.key), limit, rule.above) for row in frames]
        known = [v for v in values if v is not None]
        loads[rule.key] = round(float(np.mean(known)), 6) if known else None
    measured = [v for v in loads.values() if v is not None]
    flagged = int(flagged_frames(list(report.get("reasons") or []), len(frames)).sum())
    return {
        "flagged_frames": flagged,
        "flagged_share": round(flagged / len(frames), 6) if frames else 0.0,
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
        revision, ``metrics`` (each numeric summary value: ``a``, ``b``, ``delta``, ``why``),
        ``frames`` (per frame of the common timeline, its time, the frame of A and of B shown then
        and the delta of each judged measure; null where either is missing), ``frame_counts`` and
        ``timing`` (each clip's frames and fps, the common timeline's fps, and a ``note`` when the
        clips were matched by time).
    """
    (count_a, fps_a), (count_b, fps_b) = _timing(a), _timing(b)
    match = match_by_time(count_a, fps_a, count_b, fps_b)
    scores = {"a": instability(a, cfg), "b": instability(b, cfg)}
    flagged, unit = ("flagged_frames", "flagged frames") if match.note is None else ("flagged_share", "share of the clip flagged")
    keys = {name: (s[flagged], s["load"] if s["load"] is not None else float("inf")) for name, s in scores.items()}

    def shown(value: float) -> str:
        return str(value) if flagged == "flagged_frames" else f"{100 * value:.0f} %"

    if keys["a"][0] != keys["b"][0]:
        winner = min(keys, key=lambda n: keys[n][0])
        loser = "b" if winner == "a" else "a"
        why = f"{'fewer' if flagged == 'flagged_frames' else 'a smaller'} {unit} ({shown(keys[winner][0])} vs {shown(keys[loser][0])})"
    elif abs(keys["a"][1] - keys["b"][1]) > _TIE:
        winner = min(keys, key=lambda n: keys[n][1])
        why = (f"same {unit} ({shown(keys['a'][0])}); lower mean load of the verdict's measures "
               f"({scores[winner]['load']} vs {scores['b' if winner == 'a' else 'a']['load']}, 1.0 = at threshold)")
    else:
        winner, why = None, f"the two revisions are equally stable by {unit} and mean load"
    summary_a, summary_b = a.get("summary") or {}, b.get("summary") or {}
    metrics = {
        key: _delta(summary_a.get(key), summary_b.get(key))
        for key in sorted(set(summary_a) | set(summary_b))
        if not isinstance(summary_a.get(key, summary_b.get(key)), (dict, list, str))
    }
    frames_a, frames_b = list(a.get("frames") or []), list(b.get("frames") or [])
    per_frame = [
        {"frame": k, "time_s": round(k / match.fps, 4), "frame_a": i, "frame_b": j,
         **{rule.key: _delta(frames_a[i].get(rule.key), frames_b[j].get(rule.key))["delta"] for rule in RULES}}
        for k, (i, j) in enumerate(match.pairs)
        if i < len(frames_a) and j < len(frames_b)
    ]
    return {"schema": SCHEMA, "more_stable": winner, "why": why, "instability": scores, "metrics": metrics,
            "frames": per_frame, "frame_counts": {"a": count_a, "b": count_b},
            "timing": {"a": {"frames": count_a, "fps": fps_a}, "b": {"frames": count_b, "fps": fps_b},
                       "fps": match.fps, "matched_by_time": match.note is not None, "note": match.note}}


def against_previous(previous: Mapping[str, Any], new: Mapping[str, Any], cfg: CheckConfig) -> dict[str, Any]:
    """Whether a shot's new revision is steadier than its previous one (:func:`compare_reports`, A = previous).

    Returns
    -------
    dict
        ``steadier`` (True, False, or None when equally stable), ``more_stable`` (``"new"``,
        ``"previous"`` or None), ``why``, the previous revision's ``verdict`` and ``reasons``,
        and ``comparison`` (the full :func:`compare_reports` document).

    Examples
    --------
    >>> flagged = {"frames": [{"frame": 0}, {"frame": 1}], "reasons": [{"code": "float", "frames": [[1, 1]]}],
    ...            "verdict": "flagged", "summary": {"fps": 7.0}}
    >>> steady = {**flagged, "reasons": [], "verdict": "pass"}
    >>> against_previous(flagged, steady, CheckConfig())["steadier"]
    True
    """
    comparison = compare_reports(previous, new, cfg)
    winner = {"a": "previous", "b": "new", None: None}[comparison["more_stable"]]
    return {"steadier": None if winner is None else winner == "new", "more_stable": winner, "why": comparison["why"],
            "verdict": previous.get("verdict"), "reasons": list(previous.get("reasons") or []), "comparison": comparison}


def _frames_at(frames: Iterable[np.ndarray], indices: Iterable[int]) -> Iterator[np.ndarray]:
    """Frames ``indices`` (non-decreasing; repeats allowed) of a clip, read through once."""
    source = iter(frames)
    t, frame = -1, None
    for index in indices:
        while t < index:
            frame, t = next(source), t + 1
        yield frame


def side_by_side(
    frames_a: Iterable[np.ndarray],
    frames_b: Iterable[np.ndarray],
    masks_a: Sequence[np.ndarray],
    masks_b: Sequence[np.ndarray],
    reasons_a: Sequence[Mapping[str, Any]] = (),
    reasons_b: Sequence[Mapping[str, Any]] = (),
    pairs: Sequence[tuple[int, int]] | None = None,
) -> Iterator[np.ndarray]:
    """A and B next to each other, tracked region outlined (red on flagged frames), labelled; one
    frame at a time, each clip read through once (arrays or streams such as :class:`keyframe.io.ClipStream`).

    ``pairs`` lists the frame of A and of B shown together (``match_by_time``: each column
    non-decreasing); by default frame ``t`` beside frame ``t`` up to the shorter clip's length
    (the masks' lengths are the clips'). A panel shorter than the other is scaled to its height.

    Yields
    ------
    ndarray of shape (H, Wa + 8 + Wb, 3), uint8

    Examples
    --------
    >>> f = np.zeros((3, 32, 48, 3), np.uint8); m = np.zeros((3, 32, 48), bool)
    >>> [frame.shape for frame in side_by_side(f, f, m, m)]
    [(32, 104, 3), (32, 104, 3), (32, 104, 3)]
    """
    if pairs is None:
        pairs = [(t, t) for t in range(min(len(masks_a), len(masks_b)))]
    columns = (("A", frames_a, masks_a, reasons_a), ("B", frames_b, masks_b, reasons_b))
    flags = [flagged_frames(list(reasons), len(masks)) for _, _, masks, reasons in columns]
    streams = [_frames_at(frames, [pair[c] for pair in pairs]) for c, (_, frames, _, _) in enumerate(columns)]
    for pair, *frames in zip(pairs, *streams):
        panels = [outline(frame, masks[index], bool(flagged[index]))
                  for frame, index, (_, _, masks, _), flagged in zip(frames, pair, columns, flags)]
        height = max(panel.shape[0] for panel in panels)
        for column, panel in enumerate(panels):
            if panel.shape[0] != height:
                panel = cv2.resize(panel, (int(round(panel.shape[1] * height / panel.shape[0])), height),
                                   interpolation=cv2.INTER_LINEAR)
            cv2.putText(panel, columns[column][0], (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
            panels[column] = panel
        yield np.concatenate([panels[0], np.zeros((height, 8, 3), np.uint8), panels[1]], axis=1)


def compare_plot(path: str | Path, a: Mapping[str, Any], b: Mapping[str, Any], cfg: CheckConfig, *,
                 by_time: bool = False) -> Path:
    """Plot each judged measure per frame (per second with ``by_time``) for A and B, with its threshold; PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rules = [rule for rule in RULES if any(row.get(rule.key) is not None for row in [*a.get("frames", []), *b.get("frames", [])])]
    figure = Figure(figsize=(8, 1.8 * max(len(rules), 1) + 0.6), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(max(len(rules), 1), 1, sharex=True))
    axis = "time_s" if by_time else "frame"
    for ax, rule in zip(axes, rules):
        for name, report in (("A", a), ("B", b)):
            rows = report.get("frames") or []
            ax.plot([r[axis] for r in rows], [np.nan if r.get(rule.key) is None else r[rule.key] for r in rows],
                    marker=".", label=name)
        ax.axhline(rule.threshold(cfg), color="red", linestyle="--", linewidth=1, label="threshold")
        ax.set_title(f"{rule.key} ({rule.code})", fontsize=9)
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)" if by_time else "frame")
    return write_figure(path, figure)


def write_comparison(out_dir: Path, a: Revision, b: Revision, cfg: Config) -> dict[str, Any]:
    """Compare two checked revisions; write ``side_by_side.mp4``, ``compare.png``, ``compare.html``, ``compare.json``.

    The revisions' own outputs are expected in ``out_dir/a`` and ``out_dir/b``. Clips of
    different lengths or frame rates are matched by time (``timing.note`` says so).

    Returns
    -------
    dict
        The ``keyframe.compare/1`` document written to ``compare.json``.
    """
    comparison = compare_reports(a.report, b.report, cfg.check)
    pairs = [(row["frame_a"], row["frame_b"]) for row in comparison["frames"]]
    video = write_clip(out_dir / "side_by_side.mp4",
                       side_by_side(a.clip.frames, b.clip.frames, a.check.tracked_masks, b.check.tracked_masks,
                                    a.report["reasons"], b.report["reasons"], pairs),
                       comparison["timing"]["fps"], quality=cfg.report.overlay_quality,
                       preset=cfg.report.overlay_preset)
    plot = compare_plot(out_dir / "compare.png", a.report, b.report, cfg.check, by_time=abs(a.clip.fps - b.clip.fps) > _EPS)
    rendered_here = a.clip_path is None and b.clip_path is None
    result = {
        **comparison,
        "revisions": {rev.name: {**rev.describe(), "verdict": rev.report["verdict"], "reasons": rev.report["reasons"],
                                 "folder": rev.name} for rev in (a, b)},
        **({"seed": cfg.seed} if rendered_here else {}),
        "params": {"config": cfg.model_dump(mode="json")},
        "outputs": {"video": video.name, "plot": plot.name, "html": "compare.html"},
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_compare_html(out_dir, result)
    write_json_atomic(out_dir / "compare.json", result)
    return result
