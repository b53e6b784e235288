"""Real-photo clips with KNOWN motion, and the same clips with injected defects.

The helper warps a fixture plate with a homography per frame (a slow pan, zoom and roll), so the
true position of the masked region is known in every frame. It does not use the render stage.

Defects are composited into the masked region (with a 2-px soft edge, like a real paste):

- ``fixed``: the region's pixels stay where they were in frame 0 while the camera moves;
- ``slide``: the region moves with the camera plus an extra drift of ``slide_px`` per frame;
- ``flicker``: the region's brightness oscillates (+/- ``amount``, period 4 frames);
- ``blur``: the region blurs progressively (Gaussian sigma growing to ``amount`` * 10 px, default 4);
- ``color``: the region's colour shifts progressively (red up, blue down by ``amount``);
- ``boil``: fresh noise (sigma ``amount``) inside the region every frame, the texture "boils".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.masks import feather

DEFECTS = ("fixed", "slide", "flicker", "blur", "color", "boil")


@dataclass(frozen=True)
class KnownClip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    transforms: list[np.ndarray]  # plate -> frame t (3x3)
    true_masks: np.ndarray  # (T, H, W) bool: where the plate mask really is in frame t
    fps: float = 7.0


def camera_path(shape: tuple[int, int], n: int, *, pan=(1.6, -0.7), zoom=0.004, roll_deg=0.08,
                start_zoom=1.06) -> list[np.ndarray]:
    """Homographies plate -> frame t: about the image centre, zoom in, pan and a slight roll."""
    height, width = shape
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    out = []
    for t in range(n):
        s = start_zoom * (1.0 + zoom * t)
        a = np.deg2rad(roll_deg * t)
        rot = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
        to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
        back = np.array([[1, 0, cx + pan[0] * t], [0, 1, cy + pan[1] * t], [0, 0, 1.0]])
        out.append(back @ rot @ to_c)
    return out


def sway(shape: tuple[int, int], n: int, period: float = 120.0) -> list[np.ndarray]:
    """Homographies plate -> frame t of a camera swaying about the centre: pan, zoom and roll."""
    height, width = shape
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    out = []
    for t in range(n):
        phase = 2 * np.pi * t / period
        s, a = 1.08 + 0.04 * np.sin(phase / 2), np.deg2rad(0.6 * np.sin(phase))
        rot = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
        shift = np.array([[1, 0, cx + 0.06 * width * np.sin(phase)], [0, 1, cy + 0.03 * height * np.sin(2 * phase)],
                          [0, 0, 1.0]])
        out.append(shift @ rot @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]]))
    return out


def _warp(image: np.ndarray, h: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.warpPerspective(image, h, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def known_clip(plate: np.ndarray, mask: np.ndarray, n: int = 12, defect: str | None = None, *,
               amount: float | None = None, slide_px: float = 1.5, seed: int = 0, **path) -> KnownClip:
    """Render ``n`` frames of ``plate`` along :func:`camera_path`, optionally with a defect."""
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}")
    shape = plate.shape[:2]
    hs = camera_path(shape, n, **path)
    rng = np.random.default_rng(seed)
    soft = feather(mask, 2)
    frames, truth = [], []
    for t, h in enumerate(hs):
        frame = _warp(plate, h, shape).astype(np.float32)
        region_h = h
        if defect == "fixed":
            region_h = hs[0]
        elif defect == "slide":
            region_h = np.array([[1, 0, slide_px * t], [0, 1, 0.0], [0, 0, 1]]) @ h
        patch = _warp(plate, region_h, shape).astype(np.float32)
        alpha = _warp(soft, region_h, shape)[..., None]
        if defect == "flicker":
            patch = patch * (1.0 + (amount or 0.15) * np.sin(2 * np.pi * t / 4.0))
        elif defect == "blur" and t:
            sigma = (amount or 0.4) * 10.0 * t / (n - 1)
            patch = cv2.GaussianBlur(patch, (0, 0), sigma)
        elif defect == "color":
            k = (amount or 0.25) * t / (n - 1)
            patch = patch * np.array([1.0 + k, 1.0, 1.0 - k], np.float32)
        elif defect == "boil" and t:
            patch = patch + rng.normal(0.0, 255.0 * (amount or 0.06), patch.shape).astype(np.float32)
        frame = frame * (1.0 - alpha) + patch * alpha
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        truth.append(_warp(mask.astype(np.float32), region_h, shape) >= 0.5)
    return KnownClip(np.stack(frames), hs, np.stack(truth))


def subject_ellipse(size: tuple[int, int]) -> np.ndarray:
    """The scale clips' mask (uint8, 0/255): an ellipse on the astronaut's face, for a frame of ``size`` (h, w)."""
    height, width = size
    mask = np.zeros(size, np.uint8)
    cv2.ellipse(mask, (int(width * 0.42), int(height * 0.5)), (width // 14, height // 9), 0, 0, 360, 255, -1)
    return mask


def swaying_clip(photo: str = "astronaut", size: tuple[int, int] = (144, 256), n: int = 121, *,
                 pinned_from: int | None = None) -> tuple[np.ndarray, np.ndarray, KnownClip]:
    """A long clip: a ``skimage.data`` photo under :func:`sway`, with an ellipse on the subject.

    Returns the plate, its mask and the clip. With ``pinned_from``, the region stops following
    the camera at that frame and stays where it was on the screen (a pasted layer).
    """
    from skimage import data

    height, width = size
    plate = cv2.resize(getattr(data, photo)(), (width, height), interpolation=cv2.INTER_AREA)
    mask = subject_ellipse(size)
    soft = feather(mask > 0, 2)
    hs = sway(size, n)
    frames, truth = [], []
    for t, h in enumerate(hs):
        frame = _warp(plate, h, size).astype(np.float32)
        region_h = hs[pinned_from] if pinned_from is not None and t > pinned_from else h
        alpha = _warp(soft, region_h, size)[..., None]
        frame = frame * (1.0 - alpha) + _warp(plate, region_h, size).astype(np.float32) * alpha
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        truth.append(_warp(mask.astype(np.float32), region_h, size) >= 127.5)
    return plate, mask > 0, KnownClip(np.stack(frames), hs, np.stack(truth), fps=25.0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


# The calibration set the check's thresholds were chosen from (configs/default.yaml, check:).
# Run ``python tests/clips.py`` to print, per metric, the worst clean value and each defect's value.
PATHS = {
    "pan": {},
    "fast": {"pan": (3.0, -1.5), "zoom": 0.006, "roll_deg": 0.15},
    "back": {"pan": (-2.0, 1.0), "zoom": -0.003, "roll_deg": -0.1, "start_zoom": 1.12},
}
METRICS = ("float_px", "float_ratio", "slip_px", "slip_ratio", "flicker_excess", "warp_ratio", "drift_ssim", "drift_delta_e", "visible")


def calibration_table(names=("astronaut", "coffee", "chelsea", "rocket", "brick"), n: int = 16) -> list[dict]:
    """One row per (plate, camera path, variant): the extreme value of each verdict metric."""
    from support import load_pair

    from keyframe.config import CheckConfig
    from keyframe.io import read_clip, write_clip
    from keyframe.track import check_clip

    cfg = CheckConfig(lpips="off")
    rows = []
    for name in names:
        plate, mask = load_pair(name)
        for path_name, path in PATHS.items():
            for variant in ("clean", "clean-mp4", *DEFECTS):
                clip = known_clip(plate, mask, n, None if variant.startswith("clean") else variant, **path)
                frames = clip.frames
                if variant == "clean-mp4":  # real clips arrive H.264-compressed
                    import tempfile

                    with tempfile.TemporaryDirectory() as tmp:
                        frames = read_clip(write_clip(f"{tmp}/c.mp4", frames, 7.0)).frames
                result = check_clip(frames, plate, mask, cfg, fps=7.0, plate_to_frame0=clip.transforms[0])
                row = {"plate": name, "path": path_name, "variant": variant,
                       "codes": [r.code for r in result.reasons]}
                for key in METRICS:
                    values = [f[key] for f in result.per_frame if f.get(key) is not None]
                    row[key] = (min(values) if key == "visible" else max(values)) if values else None
                rows.append(row)
    return rows


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    table = calibration_table()
    for row in table:
        print(f"{row['plate']:9s} {row['path']:5s} {row['variant']:9s} {','.join(row['codes']) or 'pass':24s} "
              + " ".join(f"{k}={row[k]:.3g}" if row[k] is not None else f"{k}=None" for k in METRICS))
    print("\nworst clean value / smallest defect value per metric (clean and clean-mp4 together):")
    for key in METRICS:
        pick = min if key == "visible" else max
        clean = [r[key] for r in table if r["variant"].startswith("clean") and r[key] is not None]
        print(f"  {key:15s} clean worst {pick(clean):.4g}  |  "
              + "  ".join(f"{d} {(max if key == 'visible' else min)(r[key] for r in table if r['variant'] == d and r[key] is not None):.3g}"
                          for d in DEFECTS))
