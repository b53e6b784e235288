"""A model's clip kept on disk instead of in memory, for a stage cache to persist and the next stage to stream.

The camera's clip is already light (:class:`~keyframe.render.camera_frames.CameraFrames`: its
plate and move); a model backend's frames are an array. :func:`store_frames` writes that array
once, losslessly (FFV1), and returns the result with :class:`StoredFrames` in its place: the
persisted result names the file, and every later read decodes it a frame at a time, pixel for
pixel the frames rendered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io import ClipStream, array_sha256, clip_writer, make_dirs
from keyframe.render.base import RenderResult


@dataclass(eq=False)
class StoredFrames:
    """A clip stored losslessly at ``path``: iterate it (again and again) for its ``(H, W, 3)`` uint8 frames.

    Attributes
    ----------
    path : str
        The FFV1 ``.mkv`` file (named by the frames' SHA-256).
    shape : tuple of int
        ``(T, H, W, 3)``.
    """

    path: str
    shape: tuple[int, int, int, int]

    def __len__(self) -> int:
        return int(self.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        if not Path(self.path).is_file():
            raise KeyframeError(f"a stored render is missing ({self.path}); delete the folder's .keyframe-cache to render again")
        yield from ClipStream(self.path, max_frames=len(self), max_pixels=self.shape[1] * self.shape[2])


def store_frames(result: RenderResult, folder: str | Path) -> RenderResult:
    """``result`` with an array of frames written to ``folder/<sha256>.mkv`` and replaced by
    :class:`StoredFrames`; a result whose frames are not an array (the camera's) as it is.

    Examples
    --------
    >>> from keyframe.config import RenderConfig
    >>> from keyframe.render import render
    >>> camera = render(np.zeros((288, 512, 3), np.uint8), RenderConfig(frames=3))
    >>> store_frames(camera, "unused") is camera
    True
    """
    if not isinstance(result.frames, np.ndarray):
        return result
    path = make_dirs(folder) / f"{array_sha256(result.frames)}.mkv"
    if not path.is_file():
        with clip_writer(path, result.fps, lossless=True, now=True) as writer:
            for frame in result.frames:
                writer.write(frame)
    return dataclasses.replace(result, frames=StoredFrames(str(path), tuple(int(v) for v in result.frames.shape)))
