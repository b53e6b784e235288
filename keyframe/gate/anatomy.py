"""Anatomy criterion: are the faces in and near the edit plausible? (Hands: see below.)

Faces are found with scikit-image's LBP frontal-face cascade (its weights ship inside
scikit-image) on a copy of the whole plate scaled down to ``face_detect_side`` pixels (the same
faces with or without a mask; the mask only decides which are near enough to check). The
cascade gives no confidence score and no landmarks, so each face gets a confidence of its own:
the cascade is run again on the face (at a fixed size, every window position and scale, no
merging) and on its mirror image, and the smaller of the two window counts is the face's
``support``. A real frontal face is found by many windows both ways round; a face whose halves no
longer agree (a slid half, a swirl) is found by few, at least one way round. A face distorted so
far that the cascade no longer finds it is not checked at all: the check cannot see what is gone.

Hands are not checked: no hand detector whose weights ship inside its package is installed (see
:data:`HANDS_WHY`). The criterion says so in its reason and details; it never implies they passed.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from skimage import data as skdata
from skimage.feature import Cascade

from keyframe.config import GateConfig
from keyframe.gate.criterion import (
    SEVERITY_LIMIT,
    Check,
    Criterion,
    check_inputs,
    has_boundary,
    judge,
    neighbourhood,
    paste,
)
from keyframe.masks import Box, distance_to

NAME = "anatomy"
FACE_PX = 48  # faces are re-checked at this width (the cascade's 24 px window fits twice)
HANDS_WHY = (
    "no hand detector with bundled weights is installed: mediapipe 0.10.21, the last release that "
    "ships hand models, declares numpy<2 and is not a dependency of keyframe"
)


@lru_cache(maxsize=1)
def _cascade() -> Cascade:
    return Cascade(skdata.lbp_frontal_face_cascade_filename())


def _to_u8(grey: np.ndarray) -> np.ndarray:
    return np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)


def detect_faces(grey: np.ndarray, max_side: int) -> list[Box]:
    """Frontal faces in a grey [0, 1] image scaled down to ``max_side``, as boxes in its own pixels."""
    scale = min(1.0, max_side / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    side = min(small.shape)
    if side < 24:
        return []
    found = _cascade().detect_multi_scale(
        _to_u8(small), scale_factor=1.25, step_ratio=1.5, min_size=(24, 24), max_size=(side, side),
        min_neighbor_number=3,
    )
    faces = []
    for face in found:
        y0, x0 = int(face["r"] / scale), int(face["c"] / scale)
        faces.append(Box(y0, y0 + int(face["height"] / scale), x0, x0 + int(face["width"] / scale)))
    return faces


def face_support(grey: np.ndarray, face: Box) -> tuple[int, int]:
    """Cascade windows that accept ``face`` as it is and mirrored (each window position and scale counted)."""
    height, width = face.shape
    margin = width // 2
    crop = grey[max(face.y0 - margin, 0) : face.y1 + margin, max(face.x0 - margin, 0) : face.x1 + margin]
    scale = FACE_PX / width
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = _to_u8(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation))
    limits = {"min_size": (int(FACE_PX * 0.6),) * 2, "max_size": (int(FACE_PX * 1.5),) * 2}
    counts = []
    for view in (small, np.ascontiguousarray(small[:, ::-1])):
        windows = _cascade().detect_multi_scale(
            view, scale_factor=1.1, step_ratio=1, min_neighbor_number=1, intersection_score_threshold=1.0, **limits
        )
        counts.append(len(windows))
    return counts[0], counts[1]


def score(plate: np.ndarray, mask: np.ndarray | None, cfg: GateConfig) -> Criterion:
    """Score the anatomy criterion: faces in and near the edit (or anywhere, without a mask).

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3)
        The edited plate, uint8/uint16 or float32 in [0, 1].
    mask : ndarray of shape (H, W) or None
        The edited region; faces within ``face_search_px`` of it are checked.
    cfg : GateConfig

    Returns
    -------
    Criterion
        Score = worst face's support as a multiple of its limit (above 1 fails); 0 when no face
        is in or near the edit. Hands are reported as not checked in ``details``.

    Examples
    --------
    >>> from skimage import data
    >>> result = score(data.astronaut(), None, GateConfig())
    >>> result.details["faces_found"], result.details["hands"]["checked"]
    (1, False)
    """
    rgb, mask = check_inputs(plate, mask)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hands = {"checked": False, "why": HANDS_WHY}
    faces = detect_faces(grey, cfg.face_detect_side)
    scope, where = "whole plate", "in the plate"
    if has_boundary(mask):
        box = neighbourhood(mask, cfg.face_search_px)
        near = paste(distance_to(mask[box.slices]) <= cfg.face_search_px, box, mask.shape) > 0
        faces = [face for face in faces if near[face.slices].any()]
        scope, where = "edit and its surroundings", "in or near the edit"
    heatmap = np.zeros(grey.shape, np.float32)
    details = {"scope": scope, "faces_found": len(faces), "faces": [], "hands": hands,
               "landmarks": "not checked: the LBP face cascade gives boxes only",
               "heatmap_shows": "face boxes, brighter the less plausible"}
    hands_note = f"; hands not checked ({HANDS_WHY})"
    if not faces:
        reason = f"no frontal face {where} (profile and half-hidden faces are not detected){hands_note}"
        return Criterion(NAME, 0.0, SEVERITY_LIMIT, True, reason, heatmap, details)
    checks, reasons = {}, {}
    for index, face in enumerate(faces, start=1):
        as_is, mirrored = face_support(grey, face)
        key = f"face_{index}_support"
        checks[key] = Check(float(min(as_is, mirrored)), float(cfg.face_support_min), "min")
        reasons[key] = (
            f"face {index} at x={face.x0}, y={face.y0} looks distorted (the face detector barely accepts it: "
            f"{as_is} windows as is, {mirrored} mirrored, needs {cfg.face_support_min} both ways): "
            "the video model will morph it"
        )
        details["faces"].append({"x": face.x0, "y": face.y0, "width": face.shape[1], "height": face.shape[0],
                                 "support": as_is, "support_mirrored": mirrored})
        heatmap[face.slices] = np.maximum(heatmap[face.slices], min(checks[key].severity, 1.0))
    result = judge(NAME, checks, reasons, f"{len(faces)} face(s) {where} look plausible", heatmap, details)
    result.reason += hands_note
    return result
