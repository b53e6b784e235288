"""Calibration set for the clip-level QC thresholds (configs/default.yaml, check: first_frame_* ...).

Good clips: real photos from ``skimage.data`` animated by the camera renderer (pan, zoom, rotate,
dolly; 25 frames; H.264 round trip as real clips arrive). Defects planted into those clips
before encoding, each at several strengths:

- ``fade``: the clip fades towards mid grey, reaching ``k`` of the way at the last frame;
- ``cast``: frame 0 gets a colour cast (red x (1+c), blue x (1-c)), the rest is untouched;
- ``swap``: frame 0 is replaced by the middle frame (frame 0 is not the plate's framing);
- ``frozen``: frames 10-13 repeat frame 9;
- ``black``: frames 12-13 are black (``level`` of the picture left);
- ``blur``: progressive Gaussian blur to sigma ``s`` px at the last frame;
- ``shift``: a progressive colour shift of the whole frame (red up, blue down by ``c``);
- ``darken``: the clip darkens progressively (RGB x (1 - ``k``) at the last frame).

``python tests/clip_qc_calibration.py`` prints, per metric, the worst good value and each
defect's mildest caught value (the table in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import tempfile

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "rocket", "camera", "stereo_motorcycle", "hubble_deep_field")
MOVES = ("pan", "zoom", "rotate", "dolly")
FRAMES = 25
DEFECTS = {
    "fade": (0.15, 0.25, 0.35),
    "cast": (0.06, 0.1),
    "swap": (None,),
    "frozen": (None,),
    "black": (0.05,),
    "blur": (1.0, 2.0),
    "shift": (0.1, 0.2),
    "darken": (0.15, 0.3),
}


def photo(name: str, width: int = 384) -> np.ndarray:
    """An ``skimage.data`` photo as RGB uint8, ``width`` px wide."""
    import skimage.data

    image = getattr(skimage.data, name)()
    image = image[0] if isinstance(image, tuple) else image
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    height = round(image.shape[0] * width / image.shape[1] / 2) * 2
    return cv2.resize(image[..., :3], (width, height), interpolation=cv2.INTER_AREA)


def good_clip(plate: np.ndarray, move: str):
    """The camera renderer's clip of ``plate`` (frames, plate_to_frame0)."""
    from keyframe.config import RenderConfig
    from keyframe.render import render

    result = render(plate, RenderConfig(frames=FRAMES, camera={"move": move}))
    return np.asarray(result.frames), np.asarray(result.plate_to_frame0)  # the camera renders frames as read: hold them here


def plant(frames: np.ndarray, defect: str, strength: float | None) -> np.ndarray:
    """``frames`` with one defect planted (see the module docstring)."""
    out = frames.astype(np.float32)
    n = len(out)
    ramp = np.arange(n, dtype=np.float32)[:, None, None, None] / (n - 1)
    if defect == "fade":
        out = out * (1 - strength * ramp) + 128.0 * strength * ramp
    elif defect == "cast":
        out[0] *= np.array([1 + strength, 1.0, 1 - strength], np.float32)
    elif defect == "swap":
        out[0] = out[n // 2]
    elif defect == "frozen":
        out[10:14] = out[9]
    elif defect == "black":
        out[12:14] *= strength
    elif defect == "blur":
        for t in range(1, n):
            out[t] = cv2.GaussianBlur(out[t], (0, 0), strength * t / (n - 1))
    elif defect == "shift":
        out = out * (1 + strength * ramp * np.array([1.0, 0.0, -1.0], np.float32))
    elif defect == "darken":
        out = out * (1 - strength * ramp)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def encoded(frames: np.ndarray) -> np.ndarray:
    """``frames`` after an H.264 round trip at the default quality."""
    from keyframe.io import read_clip, write_clip

    with tempfile.TemporaryDirectory() as tmp:
        return read_clip(write_clip(f"{tmp}/c.mp4", frames, 7.0)).frames


def calibration_rows(photos=PHOTOS, moves=MOVES, log=None, defects=None) -> list[dict]:
    """One row per (photo, move, variant): the QC summary and the reason codes."""
    from keyframe.config import CheckConfig
    from keyframe.metrics.clip_qc import check_clip_qc

    cfg = CheckConfig()
    rows = []
    for name in photos:
        plate = photo(name)
        for move in moves:
            frames, matrix = good_clip(plate, move)
            variants = [("good", None)] + [(d, s) for d, strengths in (defects or DEFECTS).items() for s in strengths]
            for defect, strength in variants:
                clip = encoded(frames if defect == "good" else plant(frames, defect, strength))
                qc = check_clip_qc(clip, plate, matrix, cfg)
                rows.append({"photo": name, "move": move, "variant": defect, "strength": strength,
                             "codes": [r.code for r in qc.reasons], **qc.summary})
                if log is not None:
                    log(rows[-1])
    return rows


# metric -> (summary key, the direction a defect moves it, the defects it targets)
TARGETS = {
    "plate_delta_e": ("plate_delta_e", max, ("cast",)),
    "plate_ssim": ("plate_ssim", min, ("swap",)),
    "brightness": ("max_brightness_shift", lambda v: max(v, key=abs), ("darken",)),
    "color_shift": ("max_color_shift", max, ("shift",)),
    "contrast_ratio": ("min_contrast_ratio", min, ("fade",)),
    "saturation_ratio": ("min_saturation_ratio", min, ("fade",)),
    "frame_change": ("min_frame_change", min, ("frozen",)),
    "luma_p99": ("min_luma_p99", min, ("black",)),
    "sharpness_ratio": ("min_sharpness_ratio", min, ("blur",)),
}


def print_table(rows: list[dict]) -> None:
    for metric, (key, worst, targets) in TARGETS.items():
        good = [r[key] for r in rows if r["variant"] == "good" and r[key] is not None]
        good_worst = worst(good) if good else None
        parts = []
        for defect in targets:
            for strength in DEFECTS[defect]:
                values = [r[key] for r in rows if r["variant"] == defect and r["strength"] == strength and r[key] is not None]
                # the defect's mildest clip: the value nearest to the good side
                mildest = {max: min, min: max}.get(worst, lambda v: min(v, key=abs))(values) if values else None
                parts.append(f"{defect}{'' if strength is None else f' {strength:g}'}: {mildest:.4g}")
        print(f"{metric:17s} good worst {good_worst:.4g} | " + "; ".join(parts))
    false_alarms = [r for r in rows if r["variant"] == "good" and r["codes"]]
    print(f"\ngood clips flagged: {len(false_alarms)} of {sum(r['variant'] == 'good' for r in rows)}")
    for r in false_alarms:
        print(f"  {r['photo']} {r['move']}: {r['codes']}")
    print("defect clips missed (by variant and strength):")
    for defect, strengths in DEFECTS.items():
        for strength in strengths:
            group = [r for r in rows if r["variant"] == defect and r["strength"] == strength]
            code = {"fade": "global_drift", "shift": "global_drift", "darken": "global_drift", "cast": "first_frame", "swap": "first_frame",
                    "blur": "sharpness"}.get(defect, defect)
            missed = [f"{r['photo']}/{r['move']}" for r in group if code not in r["codes"]]
            print(f"  {defect} {strength}: {len(missed)}/{len(group)} missed {' '.join(missed[:6])}")


if __name__ == "__main__":
    import json

    print_table(calibration_rows(log=lambda row: print(json.dumps(row), flush=True)))
