"""Revisions rendered elsewhere: a clip opened against its own plate, and two clips matched by time.

A clip made in ComfyUI or by a hosted model comes without our render sidecar, at any size,
length and frame rate. :func:`open_revision_clip` aligns its plate to frame 0 as ``keyframe
check`` does and refuses, in one line naming the revision, a clip that is not of its plate;
:func:`match_by_time` pairs the frames of two such clips for a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.config import Config
from keyframe.errors import KeyframeError
from keyframe.io import ClipStream, read_plate_to_frame0
from keyframe.track.align import align_plate, edit_mismatch
from keyframe.validation import MIN_CLIP_FRAMES, check_clip_length

_EPS = 1e-6


@dataclass(frozen=True)
class RevisionClip:
    """A clip rendered elsewhere, opened against its own plate by :func:`open_revision_clip`."""

    frames: ClipStream  # decoded a frame at a time, each time it is read
    fps: float
    plate_to_frame0: np.ndarray  # 3x3, verified
    alignment: str  # "sidecar" | "features"
    edit_mismatch: float | None  # ΔE of the edit in frame 0 vs the plate, beyond its ring
    last_to_frame: np.ndarray | None = None  # end plate -> last frame: not known here, the check aligns it

    def as_dict(self) -> dict[str, Any]:
        return {"frames": self.frames.count, "fps": self.fps, "size": list(self.frames.size),
                "alignment": self.alignment,
                "edit_mismatch": None if self.edit_mismatch is None else round(self.edit_mismatch, 3)}


def open_revision_clip(label: str, clip_path: str | Path, plate: np.ndarray, mask: np.ndarray, cfg: Config) -> RevisionClip:
    """Open a revision's clip and make sure it is a clip of ``plate``; refuse it in one line if not.

    Only its header and first frame are read here; the clip is decoded as a stream each time it is
    read afterwards (a clip up to ``io.keep_clip_mb`` is kept from its first full read).

    The plate is aligned to frame 0 (the render sidecar's transform when ``CLIP.json`` lies beside
    the clip, else feature matching, as ``keyframe check`` does), so clips of any size, length or
    frame rate are accepted. A clip of another picture fails the alignment; a clip of another
    revision of the same picture aligns but shows another edit, which
    :func:`keyframe.track.align.edit_mismatch` measures against ``check.align_max_edit_mismatch``.

    Parameters
    ----------
    label : str
        The revision as errors name it (``"revision A"``, ``"previous revision"``).
    clip_path : str or Path
        Video file, frame folder or printf pattern.
    plate, mask : ndarray
        The revision's plate and edit mask.
    cfg : Config
        ``io`` limits and the ``check`` alignment thresholds.

    Raises
    ------
    KeyframeError
        ``<label>: ...`` when the clip is unreadable or not of its plate.
    """
    try:
        clip = ClipStream(clip_path, max_frames=cfg.io.max_clip_frames, max_pixels=cfg.io.max_pixels,
                          keep_bytes=cfg.io.keep_clip_mb * 2**20)
        if clip.count is not None:  # a header's count; a clip without one is counted as the check decodes it
            check_clip_length(clip.count, MIN_CLIP_FRAMES, where=str(clip_path))
        first = clip.first()
        _, transform = read_plate_to_frame0(clip_path)
        alignment = align_plate(plate, first, transform, min_ncc=cfg.check.align_min_ncc,
                                min_inliers=cfg.check.align_min_inliers)
    except KeyframeError as error:
        raise KeyframeError(f"{label}: {error} ({clip_path})") from None
    mismatch = edit_mismatch(plate, mask, first, alignment.matrix, ring_gap_px=cfg.check.ring_gap_px,
                             ring_px=cfg.check.ring_px)
    limit = cfg.check.align_max_edit_mismatch
    if mismatch is not None and mismatch > limit:
        raise KeyframeError(
            f"{label}: clip does not match its plate: inside the edit its first frame differs from the plate by "
            f"{mismatch:.1f} dE more than around it (limit {limit}, check.align_max_edit_mismatch); "
            f"is it a render of the other revision? ({clip_path})"
        )
    return RevisionClip(clip, clip.fps, alignment.matrix, alignment.source, mismatch)


@dataclass(frozen=True)
class TimeMatch:
    """Frames of A and B shown at the same time: ``pairs[k] = (i, j)`` at ``k / fps`` seconds."""

    pairs: list[tuple[int, int]]
    fps: float
    note: str | None  # why and how the clips were matched by time; None when they match frame for frame


def match_by_time(count_a: int, fps_a: float, count_b: int, fps_b: float) -> TimeMatch:
    """Match two clips' frames by time over the span both cover.

    Clips of the same length and frame rate match frame for frame. Otherwise the common timeline
    runs at the faster clip's rate and each clip contributes the frame on screen at that time.

    Examples
    --------
    >>> match_by_time(3, 7.0, 3, 7.0).pairs
    [(0, 0), (1, 1), (2, 2)]
    >>> match = match_by_time(2, 7.0, 5, 14.0)
    >>> match.pairs, match.fps
    ([(0, 0), (0, 1), (1, 2), (1, 3)], 14.0)
    """
    if count_a == count_b and abs(fps_a - fps_b) < _EPS:
        return TimeMatch([(t, t) for t in range(count_a)], float(fps_a), None)
    fps = float(max(fps_a, fps_b))
    span_a, span_b = count_a / fps_a, count_b / fps_b
    span = min(span_a, span_b)
    count = max(1, int(np.floor(span * fps + _EPS)))
    pairs = [(min(int(np.floor(k * fps_a / fps + _EPS)), count_a - 1), min(int(np.floor(k * fps_b / fps + _EPS)), count_b - 1))
             for k in range(count)]
    note = (f"the clips differ in length or frame rate (A: {count_a} frames at {fps_a:g} fps = {span_a:.2f} s, "
            f"B: {count_b} frames at {fps_b:g} fps = {span_b:.2f} s): frames are matched by time over the "
            f"{span:.2f} s both cover, at {fps:g} fps, each clip showing the frame on screen at that time")
    if abs(span_a - span_b) > 0.5 / fps:
        note += f"; the last {abs(span_a - span_b):.2f} s of {'A' if span_a > span_b else 'B'} have no counterpart"
    if abs(fps_a - fps_b) > _EPS:
        note += "; per-frame measures (float in px/frame, flicker, warp) grow with the time between frames, so they favour the faster clip"
    return TimeMatch(pairs, fps, note)
