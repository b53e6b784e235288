"""The clip's frames as the check takes them: one at a time, validated, at the working size."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from keyframe.config import CheckConfig
from keyframe.errors import InputError
from keyframe.track.layers import SceneMotion, SceneTracker
from keyframe.validation import MIN_CLIP_FRAMES, check_clip_length, check_frames


class WorkingFrames:
    """The clip's frames as the tracker takes them: validated, scaled to the working size, counted,
    and each one's camera motion measured (:class:`keyframe.track.layers.SceneTracker`).

    Frames pass through one at a time (an array's are views), so a streamed clip is never held.
    The tracker is given frames up to a hard cut (the first frame of a new shot); :meth:`drain`
    takes the rest. ``on_frame``, when set, sees every frame at the clip's own size as it passes
    (the whole-clip measurements of :mod:`keyframe.metrics.clip_qc`), in order, on a second thread
    while the tracker works on the same frame (OpenCV and NumPy release the GIL, so on a
    multi-core machine it is off the critical path); one frame at most is in flight, so memory
    stays bounded. :meth:`drain` returns once it has seen the last frame.
    """

    def __init__(self, frames: np.ndarray | Iterable[np.ndarray], cfg: CheckConfig) -> None:
        if isinstance(frames, np.ndarray):
            frames = check_frames(frames, min_frames=MIN_CLIP_FRAMES)
        source: Iterator[np.ndarray] = iter(frames)
        self.count, self.cut_similarity = 0, cfg.cut_similarity
        self.first = self._check(next(source, None))
        self._source = itertools.chain([self.first], source)
        height, width = self.first.shape[:2]
        self.scale = min(1.0, cfg.working_size / max(height, width)) if cfg.working_size else 1.0
        self.working = (max(1, round(height * self.scale)), max(1, round(width * self.scale)))
        self.scenes: list[SceneMotion | None] = []
        self.cut_at: int | None = None
        self._scene = SceneTracker()
        self.on_frame: Callable[[np.ndarray], None] | None = None
        self._beside: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def _check(self, frame: np.ndarray | None) -> np.ndarray:
        if frame is None:
            check_clip_length(0)
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self.count and frame.shape != self.first.shape:
            raise InputError(f"clip frames differ in size: {self.first.shape} then {frame.shape} at frame {self.count}")
        return frame

    def _frames(self) -> Iterator[np.ndarray]:
        for frame in self._source:
            frame = self._check(frame)
            self.count += 1
            if self.on_frame is not None:
                self._hand_over(frame)
            if self.scale < 1.0:
                frame = cv2.resize(frame, self.working[::-1], interpolation=cv2.INTER_AREA)
            scene = self._scene(frame)
            self.scenes.append(scene)
            if self.cut_at is None and scene is not None and scene.similarity < self.cut_similarity:
                self.cut_at = self.count - 1
            yield frame

    def _hand_over(self, frame: np.ndarray) -> None:
        """Give ``frame`` to ``on_frame`` on the second thread, once it is done with the previous one."""
        if self._beside is None:
            self._beside = ThreadPoolExecutor(1, thread_name_prefix="on-frame")
        self._wait()
        self._pending = self._beside.submit(self.on_frame, frame)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # its exception, if any, is raised here

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self._frames():
            if self.cut_at is not None:  # a new shot: the region is not in it
                return
            yield frame

    def drain(self) -> int:
        """Take (decode and measure the camera of, not track) the frames after the region was lost
        or the shot cut; return the clip's length."""
        for _ in self._frames():
            pass
        self._wait()
        if self._beside is not None:
            self._beside.shutdown()
        check_clip_length(self.count)
        return self.count

    def resolution(self) -> dict[str, Any]:
        """Which size each metric was measured at (report.json ``summary.resolution``)."""
        source, working = list(self.first.shape[1::-1]), list(self.working[::-1])
        return {"source": source, "working": working, "scale": round(self.scale, 6),
                "tracking": working, "motion": working, "warp": working, "flicker": working, "appearance": working,
                "units": "positions, areas and motions (float, slip) in source pixels"}
