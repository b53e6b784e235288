"""Plate -> clip frame 0: the homography that puts the plate's mask on the clip's first frame.

The render stage's sidecar gives it exactly (``plate_to_frame0``). Without one it is estimated
from ORB features matched with a ratio test and a RANSAC homography. Either way the result is
verified photometrically (normalised cross-correlation of the warped plate and frame 0), so a
clip that does not show its plate is refused with one line instead of producing a garbage report.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.errors import KeyframeError

_VERIFY_WIDTH = 320  # the NCC verification runs on images this wide (it only needs the coarse layout)


@dataclass(frozen=True)
class Alignment:
    """How the plate maps onto frame 0."""

    matrix: np.ndarray  # 3x3, plate pixel coords -> frame-0 pixel coords
    source: str  # "sidecar" | "features"
    ncc: float  # correlation of the warped plate with frame 0 (1 = identical layout)
    inliers: int | None  # RANSAC inliers (None when the sidecar gave the transform)

    def as_dict(self) -> dict:
        return {"source": self.source, "ncc": round(self.ncc, 4), "inliers": self.inliers,
                "plate_to_frame0": np.round(self.matrix, 8).tolist()}


def _grey(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _estimate(plate_grey: np.ndarray, frame_grey: np.ndarray, features: int) -> tuple[np.ndarray | None, int]:
    orb = cv2.ORB.create(nfeatures=features)
    kp1, des1 = orb.detectAndCompute(plate_grey, None)
    kp2, des2 = orb.detectAndCompute(frame_grey, None)
    if des1 is None or des2 is None or len(kp1) < 4 or len(kp2) < 4:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des1, des2, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 4:
        return None, len(good)
    src = np.float32([kp1[m.queryIdx].pt for m in good])
    dst = np.float32([kp2[m.trainIdx].pt for m in good])
    matrix, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, 2.0, maxIters=4000, confidence=0.999)
    if matrix is None:
        return None, 0
    keep = inlier_mask.ravel().astype(bool)
    if keep.sum() >= 8:  # refit on the inliers only, least squares, for sub-pixel accuracy
        matrix, _ = cv2.findHomography(src[keep], dst[keep], 0)
    return matrix, int(keep.sum())


def warped_ncc(plate_grey: np.ndarray, frame_grey: np.ndarray, matrix: np.ndarray) -> float:
    """Normalised cross-correlation of the plate warped by ``matrix`` with frame 0, where they overlap."""
    scale = min(1.0, _VERIFY_WIDTH / frame_grey.shape[1])
    small = np.diag([scale, scale, 1.0])
    size = (max(int(round(frame_grey.shape[1] * scale)), 8), max(int(round(frame_grey.shape[0] * scale)), 8))
    frame = cv2.resize(frame_grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    warped = cv2.warpPerspective(plate_grey.astype(np.float32), small @ matrix, size, flags=cv2.INTER_AREA,
                                 borderValue=-1.0)
    valid = warped >= 0
    if valid.mean() < 0.25:
        return 0.0
    a, b = warped[valid] - warped[valid].mean(), frame[valid] - frame[valid].mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def align_plate(plate: np.ndarray, frame0: np.ndarray, plate_to_frame0: np.ndarray | None = None, *,
                min_ncc: float = 0.6, min_inliers: int = 25, features: int = 3000) -> Alignment:
    """Find (or verify) the homography from plate pixels to clip frame-0 pixels.

    Parameters
    ----------
    plate, frame0 : ndarray of shape (H, W, 3)
        The plate (uint8 or uint16) and the clip's first frame (uint8); sizes may differ.
    plate_to_frame0 : array-like of shape (3, 3), optional
        The transform from the render sidecar. When given it is verified, not re-estimated.
    min_ncc : float
        Smallest correlation of the warped plate with frame 0 accepted as "the same picture".
    min_inliers : int
        Fewest RANSAC inliers accepted for an estimated transform.

    Returns
    -------
    Alignment

    Raises
    ------
    KeyframeError
        When the clip does not match its plate (too few matches or too low a correlation).
    """
    plate_grey, frame_grey = _grey(plate), _grey(frame0)
    if plate_to_frame0 is not None:
        matrix = np.asarray(plate_to_frame0, dtype=np.float64)
        if matrix.shape != (3, 3) or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-9:
            raise KeyframeError("plate_to_frame0 must be an invertible 3x3 matrix of finite numbers")
        source, inliers = "sidecar", None
    else:
        matrix, inliers = _estimate(plate_grey, frame_grey, features)
        if matrix is None or inliers < min_inliers:
            raise KeyframeError(
                f"clip does not match its plate: only {inliers} feature matches agree on a transform "
                f"(need {min_inliers}, check.align_min_inliers)"
            )
        source = "features"
    ncc = warped_ncc(plate_grey, frame_grey, matrix)
    if ncc < min_ncc:
        raise KeyframeError(
            f"clip does not match its plate: frame 0 correlates {ncc:.2f} with the aligned plate "
            f"(need {min_ncc}, check.align_min_ncc)"
        )
    return Alignment(matrix, source, ncc, inliers)
