"""``flags.otio``: an OpenTimelineIO timeline an editor opens in DaVinci Resolve.

One clip per shot, referencing the rendered clip (or the cleaned plate when the gate stopped the
shot before rendering), with a RED marker over each flagged frame range whose comment carries the
reasons. Frame ranges are ``[start, end]`` inclusive, as in ``report.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import opentimelineio as otio

from keyframe.io import write_text_atomic

#: Length given to a shot that has no clip (a still plate or a failed shot), in frames.
STILL_FRAMES = 24
STILL_FPS = 24.0


def merge_ranges(reasons: list[dict[str, Any]], n_frames: int) -> list[tuple[int, int, list[dict[str, Any]]]]:
    """Disjoint flagged ranges ``(start, end, reasons overlapping it)``, in frame order.

    A reason without frame ranges (a gate reason, a whole-clip measure) covers every frame.

    Examples
    --------
    >>> r1 = {"code": "flicker", "message": "m", "frames": [[2, 4], [9, 9]]}
    >>> r2 = {"code": "drift", "message": "m", "frames": [[4, 6]]}
    >>> [(s, e, [r["code"] for r in rs]) for s, e, rs in merge_ranges([r1, r2], 12)]
    [(2, 6, ['flicker', 'drift']), (9, 9, ['flicker'])]
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    spans = []
    for reason in reasons:
        for start, end in reason.get("frames") or [[0, n_frames - 1]]:
            start, end = max(int(start), 0), min(int(end), n_frames - 1)
            if end >= start:
                spans.append((start, end, reason))
    merged: list[tuple[int, int, list[dict[str, Any]]]] = []
    for start, end, reason in sorted(spans, key=lambda span: (span[0], span[1])):
        if merged and start <= merged[-1][1] + 1:
            last_start, last_end, members = merged[-1]
            if not any(member is reason for member in members):
                members.append(reason)
            merged[-1] = (last_start, max(last_end, end), members)
        else:
            merged.append((start, end, [reason]))
    return merged


def _reference(shot: dict[str, Any], n_frames: int, fps: float) -> otio.core.MediaReference:
    media = shot.get("clip") or shot.get("plate")
    if shot.get("status") == "failed" or not media:
        return otio.schema.MissingReference()
    available = otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(n_frames, fps))
    return otio.schema.ExternalReference(target_url=Path(media).resolve().as_uri(), available_range=available)


def _markers(shot: dict[str, Any], n_frames: int, fps: float) -> list[otio.schema.Marker]:
    reasons = list(shot.get("reasons") or [])
    if shot.get("status") == "failed":
        reasons = [{"code": "error", "message": shot.get("error") or "the shot failed", "frames": []}]
    markers = []
    for start, end, members in merge_ranges(reasons, n_frames):
        codes = sorted({str(r.get("code")) for r in members})
        marked = otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, fps), otio.opentime.RationalTime(end - start + 1, fps)
        )
        markers.append(
            otio.schema.Marker(
                name=f"{', '.join(codes)} (frames {start}-{end})",
                marked_range=marked,
                color=otio.schema.MarkerColor.RED,
                comment="; ".join(f"{r.get('code')}: {r.get('message')}" for r in members),
                metadata={"keyframe": {"codes": codes, "frames": [start, end]}},
            )
        )
    return markers


def flags_timeline(shots: list[dict[str, Any]], *, name: str = "keyframe flags") -> otio.schema.Timeline:
    """Build the flags timeline: one clip per shot on one video track, RED markers on flags.

    Parameters
    ----------
    shots : list of dict
        Each ``{"id", "status": "pass"|"flagged"|"failed", "clip": path or None, "plate": path
        or None, "frames": int or None, "fps": float or None, "reasons": [{"code", "message",
        "frames": [[start, end], ...]}], "error": str or None}``.
    name : str
        Timeline name.

    Returns
    -------
    opentimelineio.schema.Timeline

    Examples
    --------
    >>> shot = {"id": "sh010", "status": "flagged", "clip": "sh010/clip.mp4", "frames": 14, "fps": 7.0,
    ...         "reasons": [{"code": "flicker", "message": "flicker above 0.02", "frames": [[3, 5]]}]}
    >>> clip = flags_timeline([shot]).tracks[0][0]
    >>> clip.markers[0].marked_range.start_time.value, clip.markers[0].color
    (3.0, 'RED')
    """
    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="keyframe", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for shot in shots:
        has_clip = bool(shot.get("clip")) and shot.get("status") != "failed"
        n_frames = int(shot.get("frames") or 0) if has_clip else STILL_FRAMES
        fps = float(shot.get("fps") or 0) if has_clip else STILL_FPS
        if n_frames < 1 or fps <= 0:
            raise ValueError(f"shot {shot.get('id')!r} has a clip but no frame count or frame rate")
        clip = otio.schema.Clip(
            name=str(shot["id"]),
            media_reference=_reference(shot, n_frames, fps),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(n_frames, fps)
            ),
            metadata={"keyframe": {"status": shot.get("status"), "error": shot.get("error")}},
        )
        clip.markers.extend(_markers(shot, n_frames, fps))
        track.append(clip)
    return timeline


def write_flags_otio(path: str | Path, shots: list[dict[str, Any]], *, name: str = "keyframe flags") -> Path:
    """Write :func:`flags_timeline` of ``shots`` to ``path`` (``.otio`` JSON) atomically."""
    timeline = flags_timeline(shots, name=name)
    return write_text_atomic(path, otio.adapters.write_to_string(timeline, "otio_json"))
