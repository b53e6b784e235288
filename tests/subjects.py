"""Moving-subject clips from real photos, with known layers, and the same clips with defects.

A subject cut out of ``skimage.data.astronaut()`` (head and shoulders) moves over a background
photo (``skimage.data.chelsea()``: fur, a textured static scene) that has its own camera motion. The subject translates, rotates
about the neck, scales, and deforms non-rigidly: a mouth opening (the jaw drops under a smooth
displacement bump) and a head turn (a cylindrical sideways field across the head, with shading
that changes face and hair alike). Frame 0 *is* the plate (plate -> frame 0 is the identity).

Edited regions (plate masks): ``face`` (an ellipse inside the head: its ring is hair, skin and
neck), ``suit`` (on the suit's sleeve: its ring is the same suit, like a bow tie on a jacket) and
``wall`` (static scenery beside the subject).

Variants (what the region's pixels do):

- ``natural``: the region is part of what it lies on (no defect); ``natural-mp4`` the same after
  H.264; ``occluded`` the same with an occluder sliding over part of the region
  and its ring (a disc of ``skimage.data.coffee()``'s wooden table); ``rough`` the same as real
  footage arrives: motion blur along the camera's motion, fresh sensor noise, the exposure
  drifting (+8 %, warmer) and H.264;
- ``pinned``: the region's pixels stay where they were in frame 0 (pasted on the screen);
  ``rough-pinned`` the same, roughened as ``rough``;
- ``follow50`` / ``follow80``: the region follows its layer at 50 % / 80 % of its motion;
- ``lag2``: the region shows its layer's motion two frames late;
- ``flicker``: the region's brightness oscillates +/-15 % (period 4 frames);
- ``morph``: the region cross-dissolves into a rippled copy of itself while its surroundings hold;
- ``cut``: from the middle frame on, another shot (``skimage.data.rocket()``, panning).

Run ``python tests/subjects.py`` for the calibration table (configs/default.yaml cites it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

from keyframe.masks import feather

SIZE = (288, 512)  # frame (height, width)
SCALE = 0.55  # astronaut photo -> subject size in the frame
OFFSET = (138.0, 38.0)  # where the scaled photo's top-left corner sits in the plate
MARGIN = 96  # background pixels beyond the frame on every side, for the camera to move into
VARIANTS = ("natural", "natural-mp4", "occluded", "rough", "pinned", "rough-pinned", "follow50", "follow80", "lag2",
            "flicker", "morph", "cut")
EXPECTED = {"natural": set(), "natural-mp4": set(), "occluded": set(), "rough": set(), "pinned": {"float"},
            "rough-pinned": {"float"}, "follow50": {"float"}, "follow80": {"float"}, "lag2": {"float"},
            "flicker": {"flicker"}, "morph": {"drift"}, "cut": {"cut"}}
REGIONS = ("face", "suit", "wall")


@dataclass(frozen=True)
class Script:
    """How the camera and the subject move (per frame t of n)."""

    pan: tuple[float, float] = (0.0, 0.0)  # camera px/frame (the scene moves the other way on screen)
    jitter: float = 0.0  # hand-held camera: px of smooth shake
    zoom: float = 0.0  # camera zoom per frame
    walk: tuple[float, float] = (0.0, 0.0)  # subject px/frame in the world
    sway: tuple[float, float] = (0.0, 0.0)  # subject oscillation amplitude (px), periods 12 and 8 frames
    tilt_deg: float = 0.0  # head tilt amplitude about the neck (degrees, period 10 frames)
    grow: float = 0.0  # subject scale per frame
    mouth_px: float = 0.0  # jaw drop amplitude (px in the photo), period 6 frames
    turn_px: float = 0.0  # head-turn displacement reached at the last frame (px in the photo)
    shade: float = 0.0  # head-turn shading reached at the last frame (fraction, face and hair alike)


SCRIPTS = {
    "talk": Script(pan=(1.5, -0.5), jitter=0.6, sway=(4.0, 2.0), tilt_deg=2.0, mouth_px=7.0),
    "turn": Script(pan=(-0.5, 0.2), jitter=0.8, sway=(1.0, 0.6), tilt_deg=4.0, turn_px=12.0, shade=0.15),
    "walk": Script(pan=(-1.5, 0.0), zoom=0.003, walk=(2.5, 0.3), sway=(0.0, 1.5), grow=0.006, mouth_px=4.0),
}


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0, x], [0, 1, y], [0, 0, 1]])


def _about(point: tuple[float, float], scale: float, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    rot = np.array([[scale * np.cos(a), -scale * np.sin(a), 0], [scale * np.sin(a), scale * np.cos(a), 0], [0, 0, 1]])
    return _translate(*point) @ rot @ _translate(-point[0], -point[1])


def _photo_point(x: float, y: float) -> tuple[float, float]:
    """Astronaut-photo pixel -> plate pixel."""
    return OFFSET[0] + SCALE * x, OFFSET[1] + SCALE * y


@dataclass(frozen=True)
class Pose:
    camera: np.ndarray  # 3x3 world (= plate background) -> screen
    subject: np.ndarray  # 3x3 plate -> screen for subject points (includes the camera)
    mouth: float  # jaw drop, photo px
    turn: float  # head-turn displacement, photo px
    shade: float


def poses(script: Script, n: int) -> list[Pose]:
    """The camera and subject pose of every frame; frame 0 is the identity (the plate)."""
    centre = (SIZE[1] / 2.0, SIZE[0] / 2.0)
    neck = _photo_point(222, 200)
    out = []
    for t in range(n):
        shake = script.jitter * np.array([np.sin(1.3 * t) * np.sin(0.7 * t), np.sin(0.9 * t + 1) - np.sin(1.0)])
        camera = _translate(-script.pan[0] * t + shake[0], -script.pan[1] * t + shake[1]) @ _about(centre, 1 + script.zoom * t, 0)
        sway = (script.sway[0] * np.sin(2 * np.pi * t / 12), script.sway[1] * np.sin(2 * np.pi * t / 8))
        move = _translate(script.walk[0] * t + sway[0], script.walk[1] * t + sway[1])
        head = _about(neck, 1 + script.grow * t, script.tilt_deg * np.sin(2 * np.pi * t / 10))
        out.append(Pose(camera, camera @ move @ head, script.mouth_px * (1 - np.cos(2 * np.pi * t / 6)) / 2,
                        script.turn_px * t / max(n - 1, 1), script.shade * t / max(n - 1, 1)))
    return out


def _subject_layers() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo and its head-and-shoulders alpha (photo coordinates)."""
    photo = data.astronaut()
    alpha = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(alpha, (224, 90), (72, 82), 0, 0, 360, 1, -1)
    body = np.array([(150, 160), (300, 160), (330, 215), (355, 260), (365, 511), (25, 511), (50, 280), (110, 215)])
    cv2.fillPoly(alpha, [body], 1)
    return photo, feather(alpha.astype(bool), 2)


def _deform(mouth: float, turn: float) -> tuple[np.ndarray, np.ndarray]:
    """Backward displacement (photo px) of the non-rigid head motion: jaw drop and head turn."""
    ys, xs = np.mgrid[0:512, 0:512].astype(np.float32)
    jaw = np.exp(-((xs - 222) ** 2) / (2 * 40.0**2)) * np.clip((ys - 128) / 12.0, 0, 1) * np.clip((215 - ys) / 40.0, 0, 1)
    head = np.clip((200 - ys) / 30.0, 0, 1) * np.clip(1 - np.abs(xs - 222) / 95.0, 0, 1)
    bulge = np.cos(np.clip((xs - 222) / 95.0, -1, 1) * np.pi / 2) * head
    return (-turn * bulge).astype(np.float32), (-mouth * jaw).astype(np.float32)


def region_mask(name: str) -> np.ndarray:
    """The edited region ``name`` (see :data:`REGIONS`) as a plate mask."""
    mask = np.zeros(SIZE, np.uint8)
    if name == "face":
        centre, axes = _photo_point(222, 118), (int(SCALE * 40), int(SCALE * 50))
    elif name == "suit":
        centre, axes = _photo_point(112, 330), (int(SCALE * 34), int(SCALE * 40))
    elif name == "wall":
        centre, axes = (70.0, 90.0), (26, 32)
    else:
        raise ValueError(f"unknown region {name!r}")
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def _map(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen pixel -> source pixel maps of the inverse of ``matrix`` (source -> screen)."""
    inverse = np.linalg.inv(matrix)
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float64)
    den = inverse[2, 0] * xs + inverse[2, 1] * ys + inverse[2, 2]
    return (((inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]) / den).astype(np.float32),
            ((inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]) / den).astype(np.float32))


def _sample(image: np.ndarray, mx: np.ndarray, my: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=border)


class Scene:
    """Renders frames of the subject over its background for a list of poses."""

    def __init__(self) -> None:
        photo, alpha = _subject_layers()
        self.photo, self.alpha = photo.astype(np.float32), alpha.astype(np.float32)
        big = (SIZE[1] + 2 * MARGIN, SIZE[0] + 2 * MARGIN)
        self.background = cv2.resize(data.chelsea(), big, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        self.other = cv2.resize(data.rocket(), big, interpolation=cv2.INTER_AREA).astype(np.float32)
        wood = cv2.resize(data.coffee()[300:400, 0:100], (80, 80), interpolation=cv2.INTER_AREA).astype(np.float32)
        self.occluder, self.occluder_alpha = wood, feather(np.hypot(*np.mgrid[-40:40, -40:40]) < 34, 2).astype(np.float32)

    def background_at(self, camera: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        mx, my = _map(camera @ _translate(-MARGIN, -MARGIN))
        return _sample(self.background if image is None else image, mx, my, cv2.BORDER_REFLECT)

    def subject_maps(self, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        """Screen pixel -> photo pixel of the subject in this pose (non-rigid part included)."""
        to_photo = np.linalg.inv(_translate(*OFFSET) @ np.diag([SCALE, SCALE, 1.0]))
        mx, my = _map(pose.subject @ np.linalg.inv(to_photo))
        dx, dy = _deform(pose.mouth, pose.turn)
        return mx + _sample(dx, mx, my), my + _sample(dy, mx, my)

    def render(self, pose: Pose) -> np.ndarray:
        frame = self.background_at(pose.camera)
        mx, my = self.subject_maps(pose)
        alpha = _sample(self.alpha, mx, my)[..., None]
        subject = _sample(self.photo, mx, my)
        if pose.shade:
            ramp = np.clip((mx - 222) / 95.0, -1, 1)[..., None] * np.clip((210 - my) / 30.0, 0, 1)[..., None]
            subject = subject * (1 - pose.shade * ramp)
        return frame * (1 - alpha) + subject * alpha

    def plate_maps(self, region: str, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        """Screen pixel -> plate pixel of the region's own layer in this pose."""
        if region == "wall":
            return _map(pose.camera)
        mx, my = self.subject_maps(pose)
        return OFFSET[0] + SCALE * mx, OFFSET[1] + SCALE * my


def _blend(pose_a: Pose, pose_b: Pose, f: float) -> Pose:
    """``pose_a`` moved ``f`` of the way towards ``pose_b`` (matrices and deformations alike)."""
    mix = lambda a, b: a + f * (b - a)  # noqa: E731
    return Pose(mix(pose_a.camera, pose_b.camera), mix(pose_a.subject, pose_b.subject), mix(pose_a.mouth, pose_b.mouth),
                mix(pose_a.turn, pose_b.turn), mix(pose_a.shade, pose_b.shade))


@dataclass(frozen=True)
class SubjectClip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    plate: np.ndarray  # (H, W, 3) uint8 = frame 0
    mask: np.ndarray  # (H, W) bool
    fps: float = 7.0


def subject_clip(script: str = "talk", region: str = "face", variant: str = "natural", n: int = 12) -> SubjectClip:
    """Render one calibration clip (see the module docstring for the names)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    scene = Scene()
    path = poses(SCRIPTS[script], n)
    mask = region_mask(region)
    frames = [scene.render(pose) for pose in path]
    plate = np.clip(np.rint(frames[0]), 0, 255).astype(np.uint8)
    soft = feather(mask, 2).astype(np.float32)
    ripple_y, ripple_x = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float32)
    rippled = _sample(plate.astype(np.float32), ripple_x + 3.0 * np.sin(ripple_y / 4.0), ripple_y + 3.0 * np.cos(ripple_x / 5.0))
    for t in range(1, n):
        frame = frames[t]
        region_pose = {"pinned": path[0], "rough-pinned": path[0], "follow50": _blend(path[0], path[t], 0.5), "follow80": _blend(path[0], path[t], 0.8),
                       "lag2": path[max(t - 2, 0)]}.get(variant, path[t])  # fmt: skip
        if variant in ("pinned", "rough-pinned", "follow50", "follow80", "lag2", "flicker", "morph"):
            mx, my = scene.plate_maps(region, region_pose)
            content = _sample(plate.astype(np.float32), mx, my)
            if variant == "flicker":
                content = content * (1.0 + 0.15 * np.sin(2 * np.pi * t / 4.0))
            elif variant == "morph":
                k = t / (n - 1)
                content = content * (1 - k) + _sample(rippled, mx, my) * k
            alpha = _sample(soft, mx, my)[..., None]
            frame = frame * (1 - alpha) + content * alpha
        if variant == "occluded":
            ys, xs = np.nonzero(mask)
            centre = np.array([xs.mean() + 70.0 - 8.0 * t, ys.mean() + 42.0])
            frame = _overlay(frame, scene.occluder, scene.occluder_alpha, centre)
        if variant == "cut" and t >= n // 2:
            frame = scene.background_at(_translate(-4.0 * (t - n // 2), 0), scene.other)
        if variant.startswith("rough"):
            frame = _roughen(frame, path[t].camera[:2, 2] - path[t - 1].camera[:2, 2], t / (n - 1), t)
        frames[t] = frame
    clip = np.clip(np.rint(np.stack(frames)), 0, 255).astype(np.uint8)
    if variant in ("natural-mp4", "rough", "rough-pinned"):
        import tempfile

        from keyframe.io import read_clip, write_clip

        with tempfile.TemporaryDirectory() as tmp:
            clip = read_clip(write_clip(f"{tmp}/c.mp4", clip, 7.0)).frames
    return SubjectClip(clip, plate, mask)


def _roughen(frame: np.ndarray, motion: np.ndarray, progress: float, seed: int) -> np.ndarray:
    """What a real camera adds: blur along its ``motion`` (px over the exposure), noise, exposure drift."""
    length = max(int(round(np.hypot(*motion) * 1.5)) | 1, 3)
    kernel = np.zeros((length, length), np.float32)
    angle = np.arctan2(motion[1], motion[0])
    c = (length - 1) / 2
    cv2.line(kernel, (int(round(c - c * np.cos(angle))), int(round(c - c * np.sin(angle)))),
             (int(round(c + c * np.cos(angle))), int(round(c + c * np.sin(angle)))), 1.0)
    blurred = cv2.filter2D(frame.astype(np.float32), -1, kernel / kernel.sum())
    exposure = 1.0 + 0.08 * progress * np.array([1.03, 1.0, 0.95], np.float32)  # brighter and warmer
    noise = np.random.default_rng(seed).normal(0.0, 3.0, frame.shape).astype(np.float32)
    return blurred * exposure + noise


def _overlay(frame: np.ndarray, image: np.ndarray, alpha: np.ndarray, centre: np.ndarray) -> np.ndarray:
    mx, my = _map(_translate(centre[0] - image.shape[1] / 2, centre[1] - image.shape[0] / 2))
    a = _sample(alpha, mx, my)[..., None]
    return frame * (1 - a) + _sample(image, mx, my) * a


METRICS = ("float_px", "float_ratio", "slip_px", "slip_ratio", "slip_size", "flicker_excess", "warp_ratio", "drift_ssim",
           "drift_delta_e", "visible", "scene_similarity")


def run_extreme(values: list, run: int, low: bool = False) -> float | None:
    """The most extreme level held for ``run`` frames in a row: what a threshold must clear to flag it.

    Examples
    --------
    >>> run_extreme([0.1, 0.9, 0.2, 0.5, 0.6], 2)
    0.5
    """
    pick, hold = (min, max) if low else (max, min)
    windows = [values[i : i + run] for i in range(len(values) - run + 1)]
    held = [hold(w) for w in windows if all(v is not None for v in w)]
    if not held:  # fewer measured frames than a run (e.g. cut early): the single values
        held = [v for v in values if v is not None]
    return pick(held) if held else None


def calibration_table(n: int = 12) -> list[dict]:
    """One row per (script, region, variant): codes, attachment and each metric's extreme value.

    Extremes are held for ``check.min_run`` frames in a row (:func:`run_extreme`), as the verdict
    reads them; the scene similarity is the single lowest frame (a cut is one frame).
    """
    from keyframe.config import CheckConfig
    from keyframe.track import check_clip

    cfg = CheckConfig(lpips="off")
    rows = []
    for script in SCRIPTS:
        for region in REGIONS:
            for variant in VARIANTS:
                clip = subject_clip(script, region, variant, n)
                result = check_clip(clip.frames, clip.plate, clip.mask, cfg, fps=clip.fps, plate_to_frame0=np.eye(3))
                row = {"script": script, "region": region, "variant": variant,
                       "codes": [r.code for r in result.reasons], "attached": result.attachment.layer}
                for key in METRICS:
                    row[key] = run_extreme([f.get(key) for f in result.per_frame],
                                           1 if key == "scene_similarity" else cfg.min_run,
                                           low=key in ("visible", "scene_similarity"))
                rows.append(row)
    return rows


# metric -> the defects it is meant to catch (its "mildest defect" columns)
TARGETS = {"float_px": ("pinned", "follow50", "follow80", "lag2"), "float_ratio": ("pinned", "follow50", "follow80", "lag2"),
           "slip_px": ("pinned", "follow50", "follow80", "lag2"), "slip_ratio": ("pinned", "follow50", "follow80", "lag2"),
           "slip_size": ("pinned", "follow50", "follow80", "lag2"),
           "flicker_excess": ("flicker",), "warp_ratio": ("flicker",), "drift_ssim": ("morph",),
           "drift_delta_e": ("morph",), "visible": (), "scene_similarity": ("cut",)}


def margins(table: list[dict]) -> list[str]:
    """Per metric: the worst natural clip and the mildest clip of each defect it targets (per-clip extremes)."""
    lines = []
    natural = [row for row in table if not EXPECTED[row["variant"]]]
    for key in METRICS:
        low = key in ("visible", "scene_similarity")  # flagged when low
        pick, mild = (min, max) if low else (max, min)
        clean = [row[key] for row in natural if row[key] is not None]
        parts = []
        for variant in TARGETS[key]:
            values = [row[key] for row in table if row["variant"] == variant and row[key] is not None]
            parts.append(f"{variant} {mild(values):.3g}")
        lines.append(f"  {key:16s} natural worst {pick(clean):.4g}  |  mildest: " + "  ".join(parts))
    return lines


if __name__ == "__main__":
    table = calibration_table()
    wrong = 0
    for row in table:
        ok = set(row["codes"]) - {"lost"} == EXPECTED[row["variant"]] or (
            EXPECTED[row["variant"]] and EXPECTED[row["variant"]] <= set(row["codes"]))
        wrong += not ok
        print(f"{'  ' if ok else '!!'} {row['script']:5s} {row['region']:6s} {row['variant']:11s} {row['attached']:8s} "
              f"{','.join(row['codes']) or 'pass':22s} "
              + " ".join(f"{k}={row[k]:.3g}" if row[k] is not None else f"{k}=None" for k in METRICS))
    print(f"\n{wrong} of {len(table)} clips judged wrong (!!); per-clip extremes:")
    print("\n".join(margins(table)))
