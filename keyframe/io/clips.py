"""Clips: video files through imageio-ffmpeg, or folders / printf patterns of frames.

:class:`ClipStream` decodes a clip one frame at a time (optionally a range of it, every n-th
frame), so no stage has to hold a whole clip; :func:`clip_writer` encodes one frame at a time.
:func:`read_clip` and :func:`write_clip` are the whole-array forms of the same two.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io.atomic import atomic_path, check_output_dir
from keyframe.io.images import read_plate, write_image

FRAME_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}
_PRINTF = re.compile(r"%0?\d*d")


@dataclass(frozen=True)
class Clip:
    """Decoded frames ``(T, H, W, 3)`` uint8 RGB and the frame rate."""

    frames: np.ndarray
    fps: float

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


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

    Opening reads only the header (size, frame rate, frame count where the container says);
    limits are enforced as frames are decoded, so a bad clip fails with one line, not a traceback.

    Parameters
    ----------
    path : str or Path
        Video file (mp4, mov, webm, ...), folder of frame images (sorted by name), or a printf
        pattern such as ``f/%04d.png``.
    fps : float
        Frame rate to report for frame sequences (videos carry their own).
    max_frames, max_pixels : int
        Refuse clips longer or larger than this.
    select : FrameRange, optional
        Only these frames (default: all).
    keep_bytes : int
        A clip whose selected frames (as the header counts them) fit in this many bytes is kept
        from the first iteration, so iterating again (e.g. for the overlay) does not decode it
        again; a larger one is decoded each time. Memory stays bounded either way.
    """

    def __init__(self, path: str | Path, *, fps: float = 7.0, max_frames: int = 2000, max_pixels: int = 64_000_000,
                 select: FrameRange | None = None, keep_bytes: int = 0) -> None:
        self.path, self.max_frames, self.max_pixels = path, max_frames, max_pixels
        self.select = select or FrameRange()
        self.keep_bytes, self._kept = keep_bytes, None
        self._files, self._pending = self._find_files(path), None
        if self._files is not None:
            first = self._read_file(self._files[0])
            self.height, self.width = first.shape[:2]
            self.fps, self.source_count = float(fps), len(self._files)
        else:
            self._pending = self._open_video()
            try:
                meta = next(self._pending)
            except (OSError, RuntimeError, StopIteration, KeyError, ValueError):
                raise KeyframeError(f"clip is not a readable video: {path}") from None
            self.width, self.height = meta["size"]
            self.fps = float(meta.get("fps") or 0) or 7.0
            duration = float(meta.get("duration") or 0)
            self.source_count = int(round(duration * self.fps)) or None
        if self.width * self.height > max_pixels:
            self.close()
            raise KeyframeError(f"clip frames are {self.width}x{self.height}, over the io.max_pixels limit: {path}")
        if self.source_count is not None and self.source_count > max_frames and self._files is not None:
            raise KeyframeError(f"clip has {self.source_count} frames, over the limit of {max_frames} "
                                f"(io.max_clip_frames): {path}")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return int(self.width), int(self.height)

    @property
    def count(self) -> int | None:
        """Frames the iteration will give (from the header for videos: an estimate), or None if unknown."""
        if self.source_count is None:
            return None
        stop = min(self.source_count, self.select.stop or self.source_count)
        return max(0, -(-(stop - self.select.start) // self.select.stride))

    def _find_files(self, path: str | Path) -> list[Path] | None:
        text = str(path)
        if _PRINTF.search(Path(text).name):
            files = _pattern_files(text)
        elif Path(path).is_dir():
            files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
        else:
            path = Path(path)
            if not path.exists():
                raise KeyframeError(f"clip not found: {path}")
            if path.stat().st_size == 0:
                raise KeyframeError(f"clip is an empty (zero-byte) file: {path}")
            return None
        if not files:
            raise KeyframeError(f"clip has 0 frames (no frame images found): {text}")
        return files

    def _read_file(self, file: Path) -> np.ndarray:
        frame = read_plate(file, max_pixels=self.max_pixels, min_side=1)
        return (frame // 257).astype(np.uint8) if frame.dtype == np.uint16 else frame

    def _open_video(self) -> Iterator[Any]:
        try:
            # passthrough: every coded frame exactly once (a variable-frame-rate clip is not padded
            # to a constant rate with duplicated frames, which would read as "no motion").
            return imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24", output_params=["-fps_mode", "passthrough"])
        except (OSError, RuntimeError, ValueError):
            raise KeyframeError(f"clip is not a readable video: {self.path}") from None

    def _raw(self) -> Iterator[np.ndarray]:
        if self._files is not None:
            for file in self._files:
                frame = self._read_file(file)
                if frame.shape[:2] != (self.height, self.width):
                    raise KeyframeError(f"clip frames differ in size ({self.width}x{self.height} vs "
                                        f"{frame.shape[1]}x{frame.shape[0]} at {file.name}): {self.path}")
                yield frame
            return
        reader, self._pending = self._pending, None
        try:
            if reader is None:
                reader = self._open_video()
                next(reader)
            for raw in reader:
                yield np.frombuffer(raw, np.uint8).reshape(self.height, self.width, 3)
        except (OSError, RuntimeError, StopIteration, KeyError, ValueError):
            raise KeyframeError(f"clip is not a readable video: {self.path}") from None
        finally:
            reader.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._kept is not None:
            yield from self._kept
            return
        fits = self.count is not None and self.count * self.width * self.height * 3 <= self.keep_bytes
        used, kept = 0, [] if fits else None  # decided up front: a clip too large is never buffered
        raw = self._raw()
        try:
            for index, frame in enumerate(raw):
                if index >= self.max_frames:
                    raise KeyframeError(f"clip has more than {self.max_frames} frames (io.max_clip_frames): {self.path}")
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

    def close(self) -> None:
        """Stop a decoder opened for the header and never iterated."""
        if self._pending is not None:
            self._pending.close()
            self._pending = None


def read_clip(path: str | Path, *, fps: float = 7.0, max_frames: int = 2000, max_pixels: int = 64_000_000,
              select: FrameRange | None = None) -> Clip:
    """Read a whole clip into memory (see :class:`ClipStream` for the parameters and to stream it).

    Returns
    -------
    Clip
        At least one frame; all frames the same size.
    """
    stream = ClipStream(path, fps=fps, max_frames=max_frames, max_pixels=max_pixels, select=select)
    return Clip(np.stack(list(stream)), stream.fps)


def _pattern_files(pattern: str) -> list[Path]:
    files = []
    start = 0 if Path(pattern % 0).exists() else 1
    index = start
    while Path(pattern % index).exists():
        files.append(Path(pattern % index))
        index += 1
    return files


class ClipWriter:
    """Encodes ``(H, W, 3)`` uint8 RGB frames one at a time into an H.264 mp4 (see :func:`clip_writer`)."""

    def __init__(self, path: Path, fps: float, quality: int, preset: str) -> None:
        self.path, self.fps, self.quality, self.preset = path, float(fps), quality, preset
        self.frames = 0
        self._encoder: Any = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        """Encode one frame (odd sizes are padded by one pixel: yuv420p needs even sizes)."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"clip frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        size = (frame.shape[1], frame.shape[0])
        if self._encoder is None:
            self._size = size
            self._encoder = imageio_ffmpeg.write_frames(
                str(self.path), size, fps=self.fps, codec="libx264", pix_fmt_out="yuv420p", quality=self.quality,
                macro_block_size=1, ffmpeg_log_level="error",
                output_params=["-preset", self.preset, "-movflags", "+faststart"])
            self._encoder.send(None)
        elif size != self._size:
            raise ValueError(f"clip frames differ in size: {self._size} then {size}")
        self._encoder.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None


@contextlib.contextmanager
def clip_writer(path: str | Path, fps: float, *, quality: int = 8, preset: str = "medium") -> Iterator[ClipWriter]:
    """A :class:`ClipWriter` whose file appears at ``path`` only if the block ends without an error.

    ``quality`` is imageio-ffmpeg's 0-10 scale; ``preset`` is x264's speed preset (``ultrafast``,
    ``veryfast``, ``medium`` (the default), ...): a faster preset makes a bigger file, not a worse one.

    Examples
    --------
    >>> with clip_writer(tmp / "c.mp4", fps=7.0) as writer:  # doctest: +SKIP
    ...     for frame in frames:
    ...         writer.write(frame)
    """
    with atomic_path(path) as tmp:
        writer = ClipWriter(tmp, fps, quality, preset)
        try:
            yield writer
        finally:
            writer.close()
        if not writer.frames:
            raise ValueError("write_clip needs at least one frame")


def write_clip(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, quality: int = 8,
               preset: str = "medium") -> Path:
    """Write uint8 RGB frames (a ``(T, H, W, 3)`` array or any iterable of ``(H, W, 3)`` frames) as an H.264 mp4."""
    if isinstance(frames, np.ndarray) and (frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8
                                           or len(frames) == 0):
        raise ValueError("write_clip needs a non-empty (T, H, W, 3) uint8 array")
    with clip_writer(path, fps, quality=quality, preset=preset) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def write_frames(directory: str | Path, frames: np.ndarray, pattern: str = "frame_{:04d}.png") -> list[Path]:
    """Write each frame as a PNG into ``directory`` (created if its parent exists)."""
    directory = check_output_dir(directory)
    return [write_image(directory / pattern.format(i), frame) for i, frame in enumerate(frames)]
