"""The camera renderer's clip as a stream: each frame is made when it is read, never the whole clip at once.

A camera clip is fixed by its plate and the ``render`` config (:func:`keyframe.render.camera.plan_camera`),
so :class:`CameraFrames` holds only those (one frame's worth of pixels) and renders frame ``t``
on demand: iterating it again, or reading a few frames for a contact sheet, costs warps, not memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from keyframe.config import RenderConfig
from keyframe.render.base import RENDERERS, Progress, RenderResult, to_uint8
from keyframe.render.camera import CameraPlan, _max_parallax, camera_map, plan_camera
from keyframe.render.fit import apply_fit


@dataclass(eq=False)
class CameraFrames:
    """A camera move's frames, rendered one at a time as they are read.

    Iterate it (as often as needed) for ``(H, W, 3)`` uint8 RGB frames; ``frames[t]`` renders
    one frame; ``len(frames)`` and :attr:`shape` need no rendering. ``np.asarray(frames)``
    materialises the whole clip (for small clips and tests only).

    Attributes
    ----------
    plate : ndarray (H, W, 3) uint8
        The plate as given (8-bit).
    config : dict
        The ``render`` config section (JSON-ready) the move was planned from.

    Examples
    --------
    >>> frames = render_camera(np.zeros((288, 512, 3), np.uint8), RenderConfig(frames=4)).frames
    >>> len(frames), frames.shape, frames[3].shape
    (4, (4, 288, 512, 3), (288, 512, 3))
    """

    plate: np.ndarray
    config: dict[str, Any]

    @property
    def plan(self) -> CameraPlan:
        """The move (planned once, then kept beside the plate)."""
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = plan_camera((self.plate.shape[1], self.plate.shape[0]), RenderConfig.model_validate(self.config))
            self.__dict__["_plan"] = plan
        return plan

    def _fitted(self) -> np.ndarray:
        image = self.__dict__.get("_fitted_plate")
        if image is None:
            image = self.plate if self.plan.fit is None else apply_fit(self.plate, self.plan.fit)
            self.__dict__["_fitted_plate"] = image
        return image

    def __len__(self) -> int:
        return len(self.plan.progress)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(T, H, W, 3)``, as the clip's array would have."""
        width, height = self.plan.size
        return len(self), height, width, 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def __getitem__(self, t: int) -> np.ndarray:
        """Render frame ``t`` (negative counts from the end)."""
        n_frames = len(self)
        if not -n_frames <= t < n_frames:
            raise IndexError(f"frame {t} out of range for {n_frames} frames")
        t %= n_frames
        plan, image = self.plan, self._fitted()
        if plan.exact:
            return cv2.warpPerspective(image, plan.fitted_transforms[t], plan.size, flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REFLECT_101)
        map_x, map_y = camera_map(plan, t, fitted=True)
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(len(self)):
            yield self[t]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, np.uint8)
        for t, frame in enumerate(self):
            out[t] = frame
        return out if dtype is None else out.astype(dtype)


@RENDERERS.register("camera")
def render_camera(
    plate: np.ndarray,
    cfg: RenderConfig,
    *,
    seed: int = 0,
    model: Any = None,
    progress: Progress | None = None,
) -> RenderResult:
    """Render a deterministic camera move over ``plate`` (no weights, no randomness).

    The frames come as :class:`CameraFrames`: each is rendered when it is read (written to a
    video, checked, shown), so no stage holds the clip.

    Parameters
    ----------
    plate : ndarray (H, W, 3) uint8 or uint16
        RGB plate; 16-bit plates are rounded to 8 bits (video is 8-bit).
    cfg : RenderConfig
        ``frames``, ``fps``, ``size``, ``fit`` and the ``camera`` section.
    seed : int
        Recorded only: the camera move is deterministic.
    model : None
        Unused (the camera needs no model); accepted for the :class:`Renderer` protocol.
    progress : callable, optional
        ``progress(done, total)``: called once, when the move is planned (frames are rendered as they are read).

    Returns
    -------
    RenderResult
        ``frame_transforms`` are exact plate -> frame matrices (a dolly's reference plane).

    Examples
    --------
    >>> plate = np.zeros((288, 512, 3), np.uint8)
    >>> render_camera(plate, RenderConfig(frames=4)).frames.shape
    (4, 288, 512, 3)
    """
    if model is not None:
        raise ValueError("the camera backend takes no model")
    frames = CameraFrames(to_uint8(plate), cfg.model_dump(mode="json"))
    plan = frames.plan
    width, height = plan.size
    n_frames = len(plan.progress)
    if progress is not None:
        progress(n_frames, n_frames)
    transforms = plan.transforms
    motion = {
        "move": plan.camera.move,
        "overscan": plan.overscan,
        "progress": [float(u) for u in plan.progress],
        "frame_transforms_exact": plan.exact,
        "depth_proxy": "vertical ramp, 0 far at the top row, 1 near at the bottom row" if not plan.exact else None,
        "max_parallax_px": _max_parallax(plan) if not plan.exact else 0.0,
        "dense_map": "keyframe.render.camera.camera_map(plan_camera(plate_size, cfg), t)",
    }
    params = {
        "backend": "camera",
        "frames": n_frames,
        "fps": cfg.fps,
        "size": f"{width}x{height}",
        "fit": cfg.fit if plan.fit is not None else None,
        "camera": plan.camera.model_dump(),
    }
    return RenderResult(
        frames=frames,
        fps=float(cfg.fps),
        plate_to_frame0=transforms[0].tolist(),
        frame_transforms=[m.tolist() for m in transforms],
        params=params,
        model_info=None,
        backend="camera",
        fit=None if plan.fit is None else plan.fit.to_dict(),
        motion=motion,
    )
