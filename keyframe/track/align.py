"""Plate -> clip frame 0: the homography that puts the plate's mask on the clip's first frame.

The render stage's sidecar gives it exactly (``plate_to_frame0``). Without one it is estimated
from ORB features matched with a ratio test and a RANSAC homography. Either way the result is
verified photometrically (normalised cross-correlation of the warped plate and frame 0), so a
clip that does not show its plate is refused with one line instead of producing a garbage report.
:func:`edit_mismatch` goes one step further for revisions of one picture, which differ only
inside the edit: it measures whether frame 0 shows *this* plate's edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io.images import to_float
from keyframe.metrics import delta_e_map, to_lab
from keyframe.validation import check_frames, check_mask, check_plate

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


def _match_grade(source: np.ndarray, target: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``source`` with each channel's gain and offset fitted to ``target`` over ``where`` (least squares)."""
    out = source.copy()
    for c in range(source.shape[2]):
        x, y = source[..., c][where], target[..., c][where]
        if x.size < 2 or float(x.std()) < 1e-6:
            continue
        gain, offset = np.polyfit(x, y, 1)
        out[..., c] = np.clip(source[..., c] * gain + offset, 0.0, 1.0)
    return out


def edit_mismatch(plate: np.ndarray, mask: np.ndarray, frame0: np.ndarray, matrix: np.ndarray, *,
                  ring_gap_px: int = 3, ring_px: int = 16, blur_px: float = 1.5) -> float | None:
    """How much more frame 0 differs from the aligned plate inside the edit than around it (CIE76 ΔE).

    Two revisions of a plate differ only inside their edit, so a clip of the other revision still
    aligns with high correlation; its edited region, though, shows another fill. This is the
    median colour difference of the aligned plate and frame 0 inside the edit (eroded by
    ``ring_gap_px``, away from the alignment's edge error) minus the same median in a ring of
    background around it: a global grade, codec noise or a learned render's small deviations
    raise both alike and cancel, a different fill raises only the first. Both images are blurred
    by ``blur_px`` first, so grain and compression noise count little.

    Parameters
    ----------
    plate : ndarray of shape (h, w, 3)
        The plate (uint8 or uint16).
    mask : ndarray of shape (h, w), bool
        Its edited region.
    frame0 : ndarray of shape (H, W, 3), uint8
        The clip's first frame.
    matrix : ndarray of shape (3, 3)
        Plate -> frame-0 homography (:func:`align_plate`).

    Returns
    -------
    float or None
        ΔE excess of the edit over its ring; None when the edit or its ring has no pixel in frame 0.

    Examples
    --------
    >>> plate = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    >>> mask = np.zeros((64, 64), bool); mask[24:40, 24:40] = True
    >>> edit_mismatch(plate, mask, plate, np.eye(3)) < 0.5
    True
    """
    plate = check_plate(plate)
    mask = check_mask(mask, plate.shape[:2])
    frame0 = check_frames(np.asarray(frame0)[None])[0]
    size = (frame0.shape[1], frame0.shape[0])
    inside = cv2.warpPerspective(np.ones(mask.shape, np.uint8), matrix, size, flags=cv2.INTER_NEAREST) > 0
    region = cv2.warpPerspective(mask.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST) > 0
    outside = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ring = (outside > ring_gap_px) & (outside <= ring_gap_px + ring_px) & inside
    eroded = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > ring_gap_px
    core = (eroded if eroded.any() else region) & inside
    if not core.any() or not ring.any():
        return None
    warped = cv2.warpPerspective(to_float(plate), matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    frame = to_float(frame0)
    if blur_px > 0:
        warped, frame = (cv2.GaussianBlur(image, (0, 0), blur_px) for image in (warped, frame))
    warped = _match_grade(warped, frame, inside & (outside > ring_gap_px))
    difference = delta_e_map(to_lab(frame), to_lab(warped))
    return float(np.median(difference[core]) - np.median(difference[ring]))
