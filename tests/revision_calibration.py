"""Calibration of ``check.plate_mismatch_delta_e``: is a clip of its plate, or of another revision?

Revisions of a fixture plate differ only inside the edit: the photo as is, and its edit filled by
Telea and by biharmonic inpainting. Each revision is rendered along the known camera paths of
``tests/clips.py`` and degraded as clips from elsewhere arrive (H.264 at two qualities, rescaled,
a global grade with blur and noise like a learned render's first frame). Frame 0 is aligned to
each revision's plate by features (no sidecar) and :func:`keyframe.track.align.edit_mismatch`
measured: the clip's own plate must stay below the threshold, every other revision above it.

Run ``python tests/revision_calibration.py`` to print the table and the worst case of each side.
"""

from __future__ import annotations

import tempfile

import cv2
import numpy as np
from clips import PATHS, known_clip
from support import PLATE_NAMES, load_pair

from keyframe.config import CheckConfig, InpaintConfig
from keyframe.inpaint import inpaint
from keyframe.io import read_clip, write_clip
from keyframe.track.align import align_plate, edit_mismatch


def revisions(name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The revisions of fixture ``name`` (photo as is, Telea fill, biharmonic fill) and its mask."""
    plate, mask = load_pair(name)
    fills = {backend: inpaint(plate, mask, InpaintConfig(backend=backend)).image for backend in ("telea", "biharmonic")}
    return {"photo": plate, **fills}, mask


def degraded(frame0: np.ndarray, how: str, folder: str) -> np.ndarray:
    """Frame 0 as a clip from elsewhere shows it."""
    if how.startswith("h264"):
        quality = {"h264": 8, "h264-q4": 4}[how]
        return read_clip(write_clip(f"{folder}/c.mp4", np.stack([frame0, frame0]), 7.0, quality=quality)).frames[0]
    if how == "scaled":
        h, w = frame0.shape[:2]
        return cv2.resize(frame0, (int(w * 1.5) // 2 * 2, int(h * 1.5) // 2 * 2), interpolation=cv2.INTER_CUBIC)
    if how == "graded":
        rng = np.random.default_rng(0)
        image = cv2.GaussianBlur(frame0.astype(np.float32), (0, 0), 0.8) * np.float32([1.06, 1.0, 0.93]) + 6.0
        return np.clip(image + rng.normal(0, 3.0, image.shape), 0, 255).astype(np.uint8)
    if how == "decoded":  # a latent decoder's first frame: fine detail lost, pixels nudged locally
        h, w = frame0.shape[:2]
        soft = cv2.resize(cv2.resize(frame0, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h),
                          interpolation=cv2.INTER_CUBIC)
        rng = np.random.default_rng(1)
        nudge = [cv2.GaussianBlur(rng.normal(0, 12.0, (h, w)).astype(np.float32), (0, 0), 8.0) for _ in range(2)]
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return cv2.remap(soft, grid_x + nudge[0], grid_y + nudge[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return frame0


def calibration_table(names=PLATE_NAMES) -> list[dict]:
    cfg = CheckConfig()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            plates, mask = revisions(name)
            for source, plate in plates.items():
                for path_name, path in PATHS.items():
                    frame0 = known_clip(plate, mask, 1, **path).frames[0]
                    for how in ("raw", "h264", "h264-q4", "scaled", "graded", "decoded"):
                        shown = degraded(frame0, how, folder)
                        for against, candidate in plates.items():
                            alignment = align_plate(candidate, shown, min_ncc=cfg.align_min_ncc,
                                                    min_inliers=cfg.align_min_inliers)
                            value = edit_mismatch(candidate, mask, shown, alignment.matrix,
                                                  ring_gap_px=cfg.ring_gap_px, ring_px=cfg.ring_px)
                            rows.append({"plate": name, "clip_of": source, "path": path_name, "how": how,
                                         "against": against, "own": source == against, "mismatch": value})
    return rows


if __name__ == "__main__":  # run from the repository root: python tests/revision_calibration.py
    table = calibration_table()
    for row in table:
        print(f"{row['plate']:9s} clip of {row['clip_of']:10s} {row['path']:4s} {row['how']:7s} vs {row['against']:10s} "
              f"{'own  ' if row['own'] else 'OTHER'} {row['mismatch']:.2f}")
    worst_own = max((r for r in table if r["own"]), key=lambda r: r["mismatch"])
    least_other = min((r for r in table if not r["own"]), key=lambda r: r["mismatch"])
    print(f"\nown plate, worst: {worst_own['mismatch']:.2f} ({worst_own})")
    print(f"another revision, least: {least_other['mismatch']:.2f} ({least_other})")
