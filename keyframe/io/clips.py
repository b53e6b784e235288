"""Clips: video files through imageio-ffmpeg, or folders / printf patterns of frames.

:func:`read_clip` reads a whole clip into memory (within ``io.max_clip_bytes``);
:class:`keyframe.io.stream.ClipStream` decodes one frame at a time. :func:`clip_writer` encodes
one frame at a time; :func:`write_clip` writes an array or any iterable of frames through it.
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io.atomic import atomic_path, check_output_dir
from keyframe.io.images import image_size, read_plate, write_image
from keyframe.validation import MIN_CLIP_FRAMES, check_clip_length, check_clip_size, check_image_size

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


def read_clip(path: str | Path, *, fps: float = 7.0, max_frames: int = 2000, max_pixels: int = 64_000_000,
              max_bytes: int = 1 << 30, min_frames: int = MIN_CLIP_FRAMES) -> Clip:
    """Read a clip from a video file, a folder of frames or a printf pattern such as ``f/%04d.png``.

    Parameters
    ----------
    path : str or Path
        Video file (mp4, mov, webm, ...), folder of frame images (sorted by name), or pattern.
    fps : float
        Frame rate to report for frame sequences (videos carry their own).
    max_frames : int
        Refuse clips longer than this (``io.max_clip_frames``).
    max_pixels : int
        Refuse frames larger than this (``io.max_pixels``).
    max_bytes : int
        Refuse clips whose decoded frames would take more memory than this (``io.max_clip_bytes``):
        checked from the container's header (or every frame file's header) before any frame is
        decoded, and again while decoding, so a small file of many large frames is refused cheaply.
    min_frames : int
        Refuse clips shorter than this; the check compares frames, so it needs 2.

    Returns
    -------
    Clip
        Between ``min_frames`` and ``max_frames`` frames, all the same size.
    """
    text = str(path)
    limits = _Limits(max_frames, max_pixels, max_bytes, min_frames)
    if _PRINTF.search(Path(text).name):
        return _read_sequence(_pattern_files(text), fps, limits, text)
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
        return _read_sequence(files, fps, limits, text)
    if not path.exists():
        raise KeyframeError(f"clip not found: {path}")
    if path.stat().st_size == 0:
        raise KeyframeError(f"clip is an empty (zero-byte) file: {path}")
    return _read_video(path, limits)


@dataclass(frozen=True)
class _Limits:
    """The ``io`` limits a clip is read within (the rules live in :mod:`keyframe.validation`)."""

    max_frames: int
    max_pixels: int
    max_bytes: int
    min_frames: int

    def check(self, frames: int, width: int, height: int, source: str, *, about: bool = False) -> None:
        """Refuse ``frames`` frames of ``width`` x ``height`` (``about``: a count from a header)."""
        check_image_size(width, height, max_pixels=self.max_pixels, what="clip frame", where=source)
        check_clip_size(frames, width, height, max_frames=self.max_frames, max_bytes=self.max_bytes, about=about,
                        where=source)

    def check_length(self, frames: int, source: str) -> None:
        check_clip_length(frames, self.min_frames, where=source)


def clip_source(path: str | Path) -> Path:
    """The file or folder a clip is read from: the video file or frame folder itself, a pattern's folder.

    Examples
    --------
    >>> clip_source("shots/f/%04d.png").as_posix()
    'shots/f'
    """
    path = Path(path)
    return path.parent if _PRINTF.search(path.name) else path


def _pattern_files(pattern: str) -> list[Path]:
    files = []
    start = 0 if Path(pattern % 0).exists() else 1
    index = start
    while Path(pattern % index).exists():
        files.append(Path(pattern % index))
        index += 1
    return files


def _read_sequence(files: list[Path], fps: float, limits: _Limits, source: str) -> Clip:
    width, height = _sequence_size(files, limits, source)
    frames = np.empty((len(files), height, width, 3), np.uint8)
    for i, file in enumerate(files):
        frames[i] = read_frame_file(file, limits.max_pixels)
    return Clip(frames, float(fps))


# What ``ffmpeg -i CLIP`` says of the clip: its first video stream (size, rate), the duration, and
# the rotation a phone records (ffmpeg >= 5: "displaymatrix: rotation of -90.00 degrees"; older:
# "rotate : 90"), which the decoder applies.
_VIDEO_STREAM = re.compile(r"^\s*Stream #.*?: Video: .*?, (\d+)x(\d+)[ ,].*$", re.M)
_FPS = re.compile(r" (\d+(?:\.\d+)?) fps")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees|^\s*rotate\s*:\s*(-?\d+)", re.M | re.I)


def _probe(path: Path) -> tuple[int, int, float, float]:
    """``(width, height, fps, duration)`` of the frames the decoder will deliver, decoding none.

    One ``ffmpeg -i`` that opens no decoder (about a third of the CPU of one that does); a
    quarter-turn rotation in the clip's metadata swaps the size, as the decoder rotates frames
    upright. 0 for an unknown rate or duration.
    """
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)]
    log = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL).stderr.decode("utf-8", "replace")
    stream = _VIDEO_STREAM.search(log)
    if stream is None:
        raise KeyframeError(f"clip is not a readable video: {path}")
    width, height = int(stream[1]), int(stream[2])
    side_data = log[stream.end():].split("Stream #", 1)[0]  # this stream's own lines
    rotation = _ROTATION.search(side_data)
    if rotation and round(float(rotation[1] or rotation[2]) / 90) % 2:
        width, height = height, width
    fps = _FPS.search(stream[0])
    duration = _DURATION.search(log)
    seconds = int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else 0.0
    return width, height, float(fps[1]) if fps else 0.0, seconds


# ffmpeg's line when the decoded frames change parameters (>= 5: "changed to <fmt>, WxH, ...";
# 4.x: "frame changed from size:WxH ... to size:WxH").
_SIZE_CHANGE = re.compile(r"video parameters changed to [^,]*(?:\([^)]*\))?, (\d+)x(\d+)|frame changed from .*? to size:(\d+)x(\d+)")


def _size_changes(log: str, size: tuple[int, int]) -> tuple[int, int] | None:
    """The first frame size other than ``size`` that ffmpeg's log reports, or None."""
    for match in _SIZE_CHANGE.finditer(log):
        found = tuple(int(v) for v in (match.group(1, 2) if match.group(1) else match.group(3, 4)))
        if found != size:
            return found
    return None


def _video_header(path: Path, limits: _Limits) -> tuple[int, int, float, int]:
    """``(width, height, fps, frame count from the header or 0)``, checked against ``limits``."""
    width, height, fps, duration = _probe(path)
    fps = fps or 7.0
    expected = round(duration * fps) if 0 < duration < math.inf else 0  # the header gives 10 ms steps
    limits.check(min(expected, limits.max_frames), width, height, str(path), about=True)  # the count is exact below
    return width, height, fps, expected


def _video_frames(path: Path, width: int, height: int, limits: _Limits) -> Iterator[np.ndarray]:
    """Decode ``path`` a frame at a time (each a new ``(H, W, 3)`` array), checking ``limits`` as it goes.

    passthrough: every coded frame exactly once (a variable-frame-rate clip is not padded to a
    constant rate with duplicated frames, which would read as "no motion"). ffmpeg rescales
    frames whose size changes mid-stream; its log says so, and such a clip is refused at its end.
    """
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-nostats", "-hide_banner", "-v", "info", "-i", str(path),
               "-map", "0:v:0", "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    count = 0
    with tempfile.TemporaryFile() as log:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL) as ffmpeg:
            try:
                while True:
                    frame = np.empty((height, width, 3), np.uint8)
                    if ffmpeg.stdout.readinto(memoryview(frame).cast("B")) != frame.nbytes:
                        break  # the end (a last partial frame is dropped, as a truncated file's)
                    count += 1
                    limits.check(count, width, height, str(path))
                    yield frame
            finally:
                ffmpeg.kill()
        log.seek(0)
        changed = _size_changes(log.read(1 << 20).decode("utf-8", "replace"), (width, height))
    if changed:
        raise KeyframeError(f"clip changes frame size mid-stream ({width}x{height} to {changed[0]}x{changed[1]}): {path}")
    if count == 0:
        raise KeyframeError(f"clip is not a readable video (no frame could be decoded): {path}")
    limits.check_length(count, str(path))


def _read_video(path: Path, limits: _Limits) -> Clip:
    width, height, fps, expected = _video_header(path, limits)
    frames = np.empty((max(expected, 1), height, width, 3), np.uint8)
    count = 0
    for frame in _video_frames(path, width, height, limits):
        if count == len(frames):  # the header undercounted: grow by half
            frames = np.concatenate([frames, np.empty((len(frames) // 2 + 1, height, width, 3), np.uint8)])
        frames[count] = frame
        count += 1
    return Clip(frames[:count], fps)


def _sequence_size(files: list[Path], limits: _Limits, source: str) -> tuple[int, int]:
    """Every frame file's size from its header (all alike), checked against ``limits``, before any is decoded."""
    if not files:
        raise KeyframeError(f"clip has 0 frames (no frame images found): {source}")
    limits.check_length(len(files), source)
    if len(files) > limits.max_frames:  # before reading every file's header
        limits.check(len(files), 1, 1, source)
    first = None
    for file in files:
        width, height = image_size(file, "clip frame", limits.max_pixels)
        if first is not None and (width, height) != first:
            raise KeyframeError(
                f"clip frames differ in size ({first[0]}x{first[1]} vs {width}x{height} at {file.name}): {source}"
            )
        first = (width, height)
    limits.check(len(files), *first, source)
    return first


def read_frame_file(file: Path, max_pixels: int) -> np.ndarray:
    """One frame image as ``(H, W, 3)`` uint8 (16-bit frames rounded to 8 bits)."""
    frame = read_plate(file, max_pixels=max_pixels, min_side=1, max_aspect=None)
    return (frame // 257).astype(np.uint8) if frame.dtype == np.uint16 else frame


class ClipWriter:
    """Encodes ``(H, W, 3)`` uint8 RGB frames one at a time into an H.264 mp4, or a lossless FFV1
    video (see :func:`clip_writer`)."""

    def __init__(self, path: Path, fps: float, quality: int, preset: str, log: Any, lossless: bool = False) -> None:
        self.path, self.fps, self.quality, self.preset, self.log = path, float(fps), quality, preset, log
        self.lossless = lossless
        self.frames = 0
        self.ffmpeg: subprocess.Popen | None = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        """Encode one frame (H.264: odd sizes are padded by one pixel, yuv420p needs even sizes)."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"clip frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        pad_h, pad_w = (0, 0) if self.lossless else (frame.shape[0] % 2, frame.shape[1] % 2)
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        size = (frame.shape[1], frame.shape[0])
        if self.ffmpeg is None:
            self._size = size
            # The command imageio-ffmpeg's write_frames builds, run here so that ffmpeg's messages go
            # to a log (not the terminal) and its exit status is checked: a full disk mid-encode is an error.
            codec = (["-vcodec", "ffv1", "-level", "3", "-pix_fmt", "bgr0"] if self.lossless else
                     ["-vcodec", "libx264", "-preset", self.preset, "-pix_fmt", "yuv420p",
                      "-crf", str(int((1 - self.quality / 10.0) * 51)), "-movflags", "+faststart"])
            command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo",
                       "-s", f"{size[0]}x{size[1]}", "-pix_fmt", "rgb24", "-r", str(Fraction(self.fps).limit_denominator()),
                       "-i", "-", "-an", *codec, "-v", "error", str(self.path)]
            self.ffmpeg = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log,
                                           bufsize=0)
        elif size != self._size:
            raise ValueError(f"clip frames differ in size: {self._size} then {size}")
        with contextlib.suppress(BrokenPipeError):  # ffmpeg stopped early: its status says why
            self.ffmpeg.stdin.write(np.ascontiguousarray(frame).data)
        self.frames += 1

    def close(self) -> int:
        """Finish the encode; ffmpeg's exit status."""
        if self.ffmpeg is None:
            return 0
        with contextlib.suppress(BrokenPipeError):
            self.ffmpeg.stdin.close()
        return self.ffmpeg.wait()


@contextlib.contextmanager
def clip_writer(path: str | Path, fps: float, *, quality: int = 8, preset: str = "medium",
                lossless: bool = False, now: bool = False) -> Iterator[ClipWriter]:
    """A :class:`ClipWriter` whose file appears at ``path`` only if the block ends without an error.

    ``quality`` is 0-10 (10 best; ``io.video_quality``); ``preset`` is x264's speed preset
    (``ultrafast``, ``superfast``, ``veryfast``, ``medium`` (the default), ...): a faster preset
    makes a bigger file, not a worse one. ``lossless``: FFV1 instead of H.264 (``path`` a ``.mkv``),
    every pixel decoded back exactly (a stage's clip kept on disk instead of in memory). ``now``:
    the file appears as soon as the block ends, even inside an :func:`~keyframe.io.output_group`.

    Examples
    --------
    >>> with clip_writer(tmp / "c.mp4", fps=7.0) as writer:  # doctest: +SKIP
    ...     for frame in frames:
    ...         writer.write(frame)
    """
    with atomic_path(path, now=now) as tmp, tempfile.TemporaryFile() as log:
        writer = ClipWriter(tmp, fps, quality, preset, log, lossless)
        try:
            yield writer
        except BaseException:
            if writer.ffmpeg is not None:
                writer.ffmpeg.kill()
                writer.ffmpeg.wait()
            raise
        if not writer.frames:
            raise ValueError("write_clip needs at least one frame")
        if writer.close() != 0:
            log.seek(0)
            said = [line.strip() for line in log.read(1 << 16).decode("utf-8", "replace").splitlines() if line.strip()]
            reason = next((line for line in said if "No space left" in line), said[-1] if said else "no message")
            raise KeyframeError(f"could not encode {Path(path).name} (ffmpeg: {reason})")


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


def write_frames(directory: str | Path, frames: Iterable[np.ndarray], pattern: str = "frame_{:04d}.png") -> list[Path]:
    """Write each frame as a PNG into ``directory`` (created if its parent exists)."""
    directory = check_output_dir(directory)
    return [write_image(directory / pattern.format(i), frame) for i, frame in enumerate(frames)]
