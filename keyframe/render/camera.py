"""The weight-free camera renderer: a deterministic camera move over the plate, with known motion.

Moves (``render.camera.move``), each about the image centre, over ``T`` frames whose progress
``u`` runs 0 -> 1 (``ease_in_out`` = smoothstep):

- ``pan``: translate by ``(pan_x * W, pan_y * H)`` in total, centred (``-half .. +half``).
- ``zoom``: scale ``zoom ** u`` (a constant-speed push in, or pull out below 1).
- ``rotate``: rotate by ``u * rotate`` degrees (positive = counter-clockwise on screen).
- ``dolly``: move the camera forward so a reference plane scales by ``dolly ** u``; other depths
  scale by the pinhole law ``s = 1 / (1 - (1 - 1/z) (1 + parallax (d - 1/2)))`` with ``d`` from
  a depth proxy: a screen-space vertical ramp (``d = 0`` far at the top row, ``1`` near at the
  bottom row, like a ground plane). ``parallax = 0`` is a pure zoom. The per-frame 3x3 recorded
  for a dolly is the reference plane's (``d = 1/2``, the middle row); :func:`camera_map` gives the
  exact dense map of every frame.

Borders (``render.camera.border``): ``overscan`` zooms in by the smallest factor for which no
frame pixel samples outside the plate in any frame (no invented pixels); ``reflect`` keeps the
scale and mirrors the plate past its edges.

Every frame is one resampling of the (fitted) plate, bilinear, by ``cv2.warpPerspective``
(``cv2.remap`` for a dolly); OpenCV quantises sample positions to 1/32 pixel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.config import RenderCameraConfig, RenderConfig
from keyframe.errors import KeyframeError
from keyframe.render.fit import Fit, parse_size, plan_fit

DEFAULT_FRAMES = 25
_MAX_OVERSCAN = 64.0


@dataclass(frozen=True)
class CameraPlan:
    """Everything that fixes the camera motion for one plate size and config.

    Attributes
    ----------
    size : tuple of int
        ``(width, height)`` of the frames.
    fit : Fit or None
        Plate -> render size, or ``None`` when frames have the plate's size.
    overscan : float
        Extra zoom about the centre applied to every frame (1 = none).
    progress : ndarray (T,)
        Eased progress of each frame in [0, 1].
    moves : ndarray (T, 3, 3)
        Fitted plate -> frame ``t`` before the overscan (for a dolly: the reference plane).
    camera : RenderCameraConfig
        The move's parameters.
    """

    size: tuple[int, int]
    fit: Fit | None
    overscan: float
    progress: np.ndarray
    moves: np.ndarray
    camera: RenderCameraConfig

    @property
    def fitted_transforms(self) -> np.ndarray:
        """``(T, 3, 3)`` fitted plate -> frame ``t``, overscan included."""
        return _about_centre(np.eye(2) * self.overscan, _centre(self.size)) @ self.moves

    @property
    def plate_to_fitted(self) -> np.ndarray:
        """3x3 plate -> fitted plate (identity when not fitted)."""
        return np.eye(3) if self.fit is None else self.fit.matrix

    @property
    def transforms(self) -> np.ndarray:
        """``(T, 3, 3)`` plate -> frame ``t`` (original plate pixel coordinates)."""
        return self.fitted_transforms @ self.plate_to_fitted

    @property
    def exact(self) -> bool:
        """Whether :attr:`transforms` describe every pixel exactly (False for a dolly with parallax)."""
        return not (self.camera.move == "dolly" and self.camera.parallax > 0)


def _centre(size: tuple[int, int]) -> np.ndarray:
    return np.array([(size[0] - 1) / 2.0, (size[1] - 1) / 2.0])


def _about_centre(linear: np.ndarray, centre: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """3x3 for ``q = linear @ (p - centre) + centre + shift``."""
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre - linear @ centre + (0 if shift is None else shift)
    return matrix


def _ease(n_frames: int, easing: str) -> np.ndarray:
    u = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)
    return u * u * (3.0 - 2.0 * u) if easing == "ease_in_out" else u


def _move_matrices(camera: RenderCameraConfig, progress: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(T, 3, 3)`` fitted plate -> frame, before overscan (dolly: its reference plane)."""
    width, height = size
    centre = _centre(size)
    out = []
    for u in progress:
        if camera.move == "pan":
            shift = -(u - 0.5) * np.array([camera.pan_x * width, camera.pan_y * height])
            out.append(_about_centre(np.eye(2), centre, shift))
        elif camera.move == "rotate":
            theta = np.deg2rad(u * camera.rotate)
            # y points down, so this rotation turns the picture counter-clockwise on screen.
            rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
            out.append(_about_centre(rot, centre))
        else:
            scale = (camera.zoom if camera.move == "zoom" else camera.dolly) ** u
            out.append(_about_centre(np.eye(2) * scale, centre))
    return np.stack(out)


def _depth_proxy(ys: np.ndarray, height: int) -> np.ndarray:
    """Screen-space depth proxy: 0 (far) at the top row, 1 (near) at the bottom row."""
    return ys / max(height - 1, 1)


def _dolly_scale(camera: RenderCameraConfig, u: float, depth: np.ndarray) -> np.ndarray:
    """Per-pixel magnification of a forward dolly at progress ``u`` for proxy depth ``depth``."""
    push = 1.0 - 1.0 / camera.dolly**u  # camera travel x reference inverse depth
    return 1.0 / (1.0 - push * (1.0 + camera.parallax * (depth - 0.5)))


def _frame_to_fitted(
    plan: CameraPlan, t: int, xs: np.ndarray, ys: np.ndarray, overscan: float
) -> tuple[np.ndarray, np.ndarray]:
    """Map frame-``t`` pixel coordinates back to fitted-plate coordinates under ``overscan``."""
    width, height = plan.size
    cx, cy = _centre(plan.size)
    depth = _depth_proxy(ys, height)  # a screen-space ramp: read at the frame row
    xs, ys = cx + (xs - cx) / overscan, cy + (ys - cy) / overscan  # undo the overscan zoom
    if plan.camera.move == "dolly":
        scale = _dolly_scale(plan.camera, float(plan.progress[t]), depth)
        return cx + (xs - cx) / scale, cy + (ys - cy) / scale
    inverse = np.linalg.inv(plan.moves[t])
    return inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2], inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]


def _border_points(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    width, height = size
    xs = np.arange(width, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)
    return (
        np.concatenate([xs, xs, np.zeros(height), np.full(height, width - 1.0)]),
        np.concatenate([np.zeros(width), np.full(width, height - 1.0), ys, ys]),
    )


def _smallest_overscan(plan: CameraPlan) -> float:
    """Smallest zoom >= 1 for which every frame's border maps inside the plate (bisection).

    The border suffices: the map is affine for homographies, and for the dolly each row's
    extremes lie in the outer columns and each row's ``y`` is hit in the outer columns too.
    """
    width, height = plan.size
    bx, by = _border_points(plan.size)

    def inside(overscan: float) -> bool:
        for t in range(len(plan.progress)):
            x, y = _frame_to_fitted(plan, t, bx, by, overscan)
            if x.min() < -1e-9 or y.min() < -1e-9 or x.max() > width - 1 + 1e-9 or y.max() > height - 1 + 1e-9:
                return False
        return True

    if inside(1.0):
        return 1.0
    if not inside(_MAX_OVERSCAN):
        raise KeyframeError("this camera move leaves the plate at any zoom; reduce it or use render.camera.border: reflect")
    lo, hi = 1.0, _MAX_OVERSCAN
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if inside(mid) else (mid, hi)
    return hi


def plan_camera(plate_size: tuple[int, int], cfg: RenderConfig) -> CameraPlan:
    """Plan the camera move for a plate of ``plate_size`` = ``(width, height)``.

    Parameters
    ----------
    plate_size : tuple of int
        The plate's ``(width, height)``.
    cfg : RenderConfig
        ``frames`` (default 25), ``size`` (default: the plate's size), ``fit`` and ``camera``.

    Returns
    -------
    CameraPlan

    Examples
    --------
    >>> from keyframe.config import RenderConfig
    >>> plan = plan_camera((512, 288), RenderConfig(frames=3))
    >>> plan.transforms.shape, plan.exact
    ((3, 3, 3), True)
    """
    camera = cfg.camera
    if camera.move == "dolly":
        worst = (1.0 - 1.0 / camera.dolly) * (1.0 + camera.parallax / 2.0)
        if worst >= 0.9:
            raise KeyframeError(
                f"render.camera.dolly {camera.dolly} with parallax {camera.parallax} passes the near plane; reduce either"
            )
    n_frames = cfg.frames or DEFAULT_FRAMES
    fit = None
    size = tuple(int(v) for v in plate_size)
    if cfg.size is not None:
        target = parse_size(cfg.size)
        if target[0] % 2 or target[1] % 2:
            raise KeyframeError(f"--size {cfg.size}: H.264 video needs even width and height")
        fit = plan_fit(plate_size, target, cfg.fit, multiple=2)
        size = fit.size
    progress = _ease(n_frames, camera.easing)
    plan = CameraPlan(size, fit, 1.0, progress, _move_matrices(camera, progress, size), camera)
    if camera.border == "overscan":
        plan = dataclasses.replace(plan, overscan=_smallest_overscan(plan))
    return plan


def camera_map(plan: CameraPlan, t: int, *, fitted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The exact dense map of frame ``t``: for each frame pixel, where it samples the plate.

    This is ground truth for every move, including a dolly with parallax (where the 3x3
    transforms describe only the reference plane). ``cv2.remap(mask, map_x, map_y,
    cv2.INTER_NEAREST)`` carries a plate mask into frame ``t``.

    Parameters
    ----------
    plan : CameraPlan
        From :func:`plan_camera`.
    t : int
        Frame index.
    fitted : bool
        Return fitted-plate coordinates (what the renderer samples) instead of plate coordinates.

    Returns
    -------
    map_x, map_y : ndarray (H, W) float32
        Plate pixel coordinates sampled by each frame pixel.
    """
    if not 0 <= t < len(plan.progress):
        raise ValueError(f"frame index {t} out of range 0..{len(plan.progress) - 1}")
    width, height = plan.size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    map_x, map_y = _frame_to_fitted(plan, t, xs, ys, plan.overscan)
    if not fitted and plan.fit is not None:
        back = np.linalg.inv(plan.fit.matrix)
        map_x, map_y = back[0, 0] * map_x + back[0, 2], back[1, 1] * map_y + back[1, 2]
    return map_x.astype(np.float32), map_y.astype(np.float32)


def _max_parallax(plan: CameraPlan) -> float:
    """Largest distance (pixels) between the dense map and the recorded 3x3, over all frames.

    The deviation grows with the distance from the centre, so the frame border holds the maximum.
    """
    bx, by = _border_points(plan.size)
    worst = 0.0
    for t, matrix in enumerate(plan.fitted_transforms):
        map_x, map_y = _frame_to_fitted(plan, t, bx, by, plan.overscan)
        inverse = np.linalg.inv(matrix)
        hx = inverse[0, 0] * bx + inverse[0, 1] * by + inverse[0, 2]
        hy = inverse[1, 0] * bx + inverse[1, 1] * by + inverse[1, 2]
        worst = max(worst, float(np.hypot(map_x - hx, map_y - hy).max()))
    return worst
