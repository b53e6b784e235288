"""Clips: video files through imageio-ffmpeg, or folders / printf patterns of frames."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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


def read_clip(path: str | Path, *, fps: float = 7.0, max_frames: int = 2000, max_pixels: int = 64_000_000) -> Clip:
    """Read a clip from a video file, a folder of frames or a printf pattern such as ``f/%04d.png``.

    Parameters
    ----------
    path : str or Path
        Video file (mp4, mov, webm, ...), folder of frame images (sorted by name), or pattern.
    fps : float
        Frame rate to report for frame sequences (videos carry their own).
    max_frames : int
        Refuse clips longer than this.

    Returns
    -------
    Clip
        At least one frame; all frames the same size.
    """
    text = str(path)
    if _PRINTF.search(Path(text).name):
        files = _pattern_files(text)
        return _read_sequence(files, fps, max_frames, max_pixels, text)
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
        return _read_sequence(files, fps, max_frames, max_pixels, text)
    if not path.exists():
        raise KeyframeError(f"clip not found: {path}")
    if path.stat().st_size == 0:
        raise KeyframeError(f"clip is an empty (zero-byte) file: {path}")
    return _read_video(path, max_frames, max_pixels)


def _pattern_files(pattern: str) -> list[Path]:
    files = []
    start = 0 if Path(pattern % 0).exists() else 1
    index = start
    while Path(pattern % index).exists():
        files.append(Path(pattern % index))
        index += 1
    return files


def _read_sequence(files: list[Path], fps: float, max_frames: int, max_pixels: int, source: str) -> Clip:
    if not files:
        raise KeyframeError(f"clip has 0 frames (no frame images found): {source}")
    if len(files) > max_frames:
        raise KeyframeError(f"clip has {len(files)} frames, over the limit of {max_frames} (io.max_clip_frames): {source}")
    frames = []
    for file in files:
        frame = read_plate(file, max_pixels=max_pixels, min_side=1)
        if frame.dtype == np.uint16:
            frame = (frame // 257).astype(np.uint8)
        if frames and frame.shape != frames[0].shape:
            raise KeyframeError(
                f"clip frames differ in size ({frames[0].shape[1]}x{frames[0].shape[0]} vs "
                f"{frame.shape[1]}x{frame.shape[0]} at {file.name}): {source}"
            )
        frames.append(frame)
    return Clip(np.stack(frames), float(fps))


def _read_video(path: Path, max_frames: int, max_pixels: int) -> Clip:
    try:
        # passthrough: every coded frame exactly once (a variable-frame-rate clip is not padded
        # to a constant rate with duplicated frames, which would read as "no motion").
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=["-fps_mode", "passthrough"])
        meta = next(reader)
        width, height = meta["size"]
        if width * height > max_pixels:
            reader.close()
            raise KeyframeError(f"clip frames are {width}x{height}, over the io.max_pixels limit: {path}")
        frames = []
        for raw in reader:
            if len(frames) >= max_frames:
                reader.close()
                raise KeyframeError(f"clip has more than {max_frames} frames (io.max_clip_frames): {path}")
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
    except KeyframeError:
        raise
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError):
        raise KeyframeError(f"clip is not a readable video: {path}") from None
    if not frames:
        raise KeyframeError(f"clip has 0 frames: {path}")
    fps = float(meta.get("fps") or 0) or 7.0
    return Clip(np.stack(frames), fps)


def write_clip(path: str | Path, frames: np.ndarray, fps: float, *, quality: int = 8) -> Path:
    """Write ``(T, H, W, 3)`` uint8 RGB frames as an H.264 mp4 (yuv420p) atomically.

    Odd frame sizes are padded by one pixel (H.264 with yuv420p needs even sizes).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError("write_clip needs a non-empty (T, H, W, 3) uint8 array")
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    height, width = frames.shape[1:3]
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (width, height),
            fps=float(fps),
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=quality,
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"],
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
    return Path(path)


def write_frames(directory: str | Path, frames: np.ndarray, pattern: str = "frame_{:04d}.png") -> list[Path]:
    """Write each frame as a PNG into ``directory`` (created if its parent exists)."""
    directory = check_output_dir(directory)
    return [write_image(directory / pattern.format(i), frame) for i, frame in enumerate(frames)]
