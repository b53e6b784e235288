"""Clips decoded one frame at a time: :class:`ClipStream`, and :class:`FrameRange` to pick frames of it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io.clips import (
    FRAME_SUFFIXES,
    _PRINTF,
    _Limits,
    _pattern_files,
    _sequence_size,
    _video_frames,
    _video_header,
    read_frame_file,
)
from keyframe.io.sidecar import file_sha256
from keyframe.validation import MIN_CLIP_FRAMES


@dataclass(frozen=True)
class FrameRange:
    """Which frames of a clip to use: ``start`` up to (not including) ``stop``, every ``stride``-th.

    Examples
    --------
    >>> FrameRange.parse("0:240", stride=2).as_dict()
    {'start': 0, 'stop': 240, 'stride': 2}
    >>> [i for i in range(10) if FrameRange(2, 8, 3).picks(i)]
    [2, 5]
    """

    start: int = 0
    stop: int | None = None
    stride: int = 1

    def __post_init__(self) -> None:
        if self.start < 0 or self.stride < 1 or (self.stop is not None and self.stop <= self.start):
            raise KeyframeError(f"frame range must be START:STOP with 0 <= START < STOP and a stride >= 1, "
                                f"got {self.start}:{'' if self.stop is None else self.stop} stride {self.stride}")

    @classmethod
    def parse(cls, text: str | None, stride: int = 1) -> FrameRange:
        """``"START:STOP"`` (either side may be empty) and a stride; ``None`` is the whole clip."""
        if not text:
            return cls(0, None, stride)
        start, sep, stop = text.partition(":")
        try:
            return cls(int(start or 0), int(stop) if stop else None, stride) if sep else cls(int(start), None, stride)
        except ValueError:
            raise KeyframeError(f"--frames must look like START:STOP (e.g. 0:240), got {text!r}") from None

    def picks(self, index: int) -> bool:
        """Is source frame ``index`` one of the frames used?"""
        return index >= self.start and (self.stop is None or index < self.stop) and (index - self.start) % self.stride == 0

    def done(self, index: int) -> bool:
        """Is source frame ``index`` past the range (nothing more to decode)?"""
        return self.stop is not None and index >= self.stop

    def source_frame(self, position: int) -> int:
        """The source frame number of the ``position``-th frame used."""
        return self.start + position * self.stride

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "stop": self.stop, "stride": self.stride}


class ClipStream:
    """A clip decoded one frame at a time; iterate it (again) to get its ``(H, W, 3)`` uint8 RGB frames.

    Opening reads only headers (size, frame rate, frame count where the container says), with the
    same ``io`` limits as :func:`keyframe.io.read_clip` except ``io.max_clip_bytes``: a stream
    never holds the clip, so its decoded size does not matter. Limits are checked again as frames
    are decoded, so a bad clip fails with one line, not a traceback.

    Parameters
    ----------
    path : str or Path
        Video file (mp4, mov, webm, ...), folder of frame images (sorted by name), or a printf
        pattern such as ``f/%04d.png``.
    fps : float
        Frame rate to report for frame sequences (videos carry their own).
    max_frames, max_pixels : int
        Refuse clips longer or larger than this (``io.max_clip_frames``, ``io.max_pixels``).
    select : FrameRange, optional
        Only these frames (default: all).
    keep_bytes : int
        A clip whose selected frames (as the header counts them) fit in this many bytes is kept
        from the first iteration, so iterating again (e.g. for the overlay) does not decode it
        again; a larger one is decoded each time. Memory stays bounded either way.
    """

    def __init__(self, path: str | Path, *, fps: float = 7.0, max_frames: int = 2000, max_pixels: int = 64_000_000,
                 select: FrameRange | None = None, keep_bytes: int = 0) -> None:
        self.path, self.select, self.keep_bytes = path, select or FrameRange(), keep_bytes
        self._limits = _Limits(max_frames, max_pixels, 1 << 62, MIN_CLIP_FRAMES)
        self._kept: list[np.ndarray] | None = None
        self._decoded: int | None = None  # frames a whole iteration gave
        text = str(path)
        if _PRINTF.search(Path(text).name):
            self._files: list[Path] | None = _pattern_files(text)
        elif Path(path).is_dir():
            self._files = sorted(p for p in Path(path).iterdir()
                                 if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
        else:
            self._files = None
            if not Path(path).exists():
                raise KeyframeError(f"clip not found: {path}")
            if Path(path).stat().st_size == 0:
                raise KeyframeError(f"clip is an empty (zero-byte) file: {path}")
        if self._files is not None:
            self.width, self.height = _sequence_size(self._files, self._limits, text)
            self.fps, self.source_count = float(fps), len(self._files)
        else:
            self.width, self.height, self.fps, expected = _video_header(Path(path), self._limits)
            self.source_count = expected or None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return int(self.width), int(self.height)

    @property
    def count(self) -> int | None:
        """Frames the iteration gives: exact once the clip was read through; before, from the header
        for videos (an estimate), or None if unknown."""
        if self._decoded is not None:
            return self._decoded
        if self.source_count is None:
            return None
        stop = min(self.source_count, self.select.stop or self.source_count)
        return max(0, -(-(stop - self.select.start) // self.select.stride))

    def _raw(self) -> Iterator[np.ndarray]:
        if self._files is None:
            return _video_frames(Path(self.path), self.width, self.height, self._limits)
        return (read_frame_file(file, self._limits.max_pixels) for file in self._files)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._kept is not None:
            yield from self._kept
            return
        fits = self.count is not None and self.count * self.width * self.height * 3 <= self.keep_bytes
        used, kept = 0, [] if fits else None  # decided up front: a clip too large is never buffered
        raw: Any = self._raw()
        try:
            for index, frame in enumerate(raw):
                if self.select.done(index):
                    break
                if self.select.picks(index):
                    used += 1
                    if kept is not None and (len(kept) + 1) * frame.nbytes <= self.keep_bytes:
                        kept.append(frame)
                    else:
                        kept = None
                    yield frame
        finally:
            raw.close()
        if kept:
            self._kept = kept
        if not used:
            raise KeyframeError(f"clip has 0 frames{' in the selected range' if self.select != FrameRange() else ''}: "
                                f"{self.path}")
        self._decoded = used

    def first(self) -> np.ndarray:
        """The first frame used (decodes only that far)."""
        frames = iter(self)
        try:
            return next(frames)
        finally:
            frames.close()

    def fingerprint(self) -> str:
        """SHA-256 of the clip's file (or frame files) and the frames selected: what its frames are made of."""
        digest = hashlib.sha256(json.dumps(self.select.as_dict()).encode())
        for file in self._files if self._files is not None else [Path(self.path)]:
            digest.update(file_sha256(file).encode())
        return digest.hexdigest()
