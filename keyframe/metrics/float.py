"""Float: does the region move with what it belongs to, or like a pasted-on layer?

Measured across the region's outline against the motion layer it is attached to (see
:mod:`keyframe.track.layers` for the layers, the outline sectors and the attachment). Each
frame, the discontinuity vectors of the judged sectors (motion just inside the outline minus the
attached layer's motion just outside) are fitted with a similarity about the region's centre
(least squares, then once more without the sectors it explains worst), so translation, rotation
and scale slips all count while flow noise, incoherent between sectors, mostly falls out, and a
few sectors beside an occluder do not tilt it. Its RMS over the sectors is ``float_px``; divided by the attached surroundings'
own speed it is ``float_ratio`` (a pasted layer ~1, half speed ~0.5).

The accumulated ``slip_px`` is measured from appearance (:mod:`keyframe.metrics.register`): the
region's content is registered with the plate as its layer carries it, so a slow slip is seen in
full (the flow, smoothed across the outline, sees about half of it) and no flow noise piles up.
What the layer predicts inside the region is one affine for the scene (the camera is rigid), and
for a subject a smoothing thin-plate spline through its ring (Duchon 1977; Wahba 1990) whose
points are placed on the plate from their own appearance patch by patch, so the prediction bends
with a turning head or an opening jaw and does not lean towards a region that slips. One affine
carried into a turning head cuts across its bulge: on the calibration head turn
(``tests/subjects.py``, ``turn``) that alone, with the true motion, left the untouched face 2.4 px
of "slip" by frame 11, as much as the 80 % follower's true slip; the spline leaves 0.3 px.
Frames that cannot be registered (the content itself changed) keep the last registered slip;
before any, the per-frame similarities summed stand in. ``slip_ratio`` divides the slip by how
far the layer itself carried the outline since frame 0 (``travel``): a region following its layer
at 80 % reads ~0.2 however the layer moves, while an untouched region's error does not grow with
the layer's travel. ``slip_size`` divides it by the region's size (the RMS distance of its outline
from its centre): what remains of a subject's bend after the spline grows with the size of what
bends, so on a subject slip is judged in that unit, the same on a face 60 px across or 150 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FloatFrame:
    """The float of one frame against the layer it was judged against."""

    attached: str  # "scene" | "subject" | "mixed"
    float_px: float  # coherent discontinuity across the outline, RMS over the judged sectors (px/frame)
    speed_px: float  # the judged surroundings' own speed (px/frame, median over the sectors)
    region: np.ndarray  # (2,) median motion just inside the outline
    surroundings: np.ndarray  # (2,) median motion of the judged surroundings
    judged: np.ndarray  # (K,) bool: sectors judged this frame
    discontinuous: np.ndarray  # (K,) bool: judged sectors whose discontinuity exceeds the tolerance
    similarity: np.ndarray  # (4,) (tx, ty, a, b): the fitted discontinuity t + a d + b perp(d)
    reference: np.ndarray  # (K, 2) the motion each judged sector was compared with (nan elsewhere)


@dataclass(frozen=True)
class LayerSlip:
    """The region's content against a layer since frame 0, measured at its outline (RMS, px)."""

    slip_px: float  # where the content is against where the layer carried it
    travel_px: float  # how far the layer itself carried the outline from its place in frame 0


def fit_similarity(offsets: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Least-squares ``v = t + a d + b perp(d)`` over offsets ``d`` (translation only below 3 points).

    Examples
    --------
    >>> d = np.array([[10.0, 0], [0, 10], [-10, 0], [0, -10]])
    >>> v = 0.1 * np.stack([-d[:, 1], d[:, 0]], 1) + [1.0, 0.0]  # a rotation plus a shift
    >>> fit_similarity(d, v).round(3).tolist()
    [1.0, 0.0, 0.0, 0.1]
    """
    if len(offsets) < 3:
        return np.array([*vectors.mean(0), 0.0, 0.0])
    dx, dy = offsets.T
    one, zero = np.ones_like(dx), np.zeros_like(dx)
    design = np.concatenate([np.stack([one, zero, dx, -dy], 1), np.stack([zero, one, dy, dx], 1)])
    coef, *_ = np.linalg.lstsq(design, np.concatenate([vectors[:, 0], vectors[:, 1]]), rcond=None)
    return coef


def _apply(coef: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    tx, ty, a, b = coef
    return np.stack([tx + a * offsets[:, 0] - b * offsets[:, 1], ty + a * offsets[:, 1] + b * offsets[:, 0]], 1)


def _carried_inside(motion: np.ndarray, at: np.ndarray, inside_at: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """The surroundings' motion carried from where it was measured (just outside) to the inside band.

    An affine field fitted to the judged sectors (their zoom, rotation and shear) predicts how
    much the motion changes over the few pixels between the two bands; without it a region
    glued to a zooming or turning subject would read as a small slip.
    """
    use = judged & np.isfinite(at[:, 0]) & np.isfinite(inside_at[:, 0])
    if use.sum() < 4:
        return motion
    design = np.hstack([at, np.ones((len(at), 1))])
    coef, *_ = np.linalg.lstsq(design[use], motion[use], rcond=None)
    residual = np.hypot(*(design @ coef - motion).T)
    keep = use & (residual <= 3.0 * np.median(residual[use]) + 0.1)  # once without the sectors it fits worst
    if keep.sum() >= 4 and keep.sum() < use.sum():
        coef, *_ = np.linalg.lstsq(design[keep], motion[keep], rcond=None)
    step = np.where(use[:, None], inside_at - at, 0.0)
    return motion + step @ coef[:2]


def _rms(vectors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(vectors * vectors, 1)))) if len(vectors) else 0.0


def judge_outline(outline: Any, layer: str, *, tolerance_px: float, tolerance_rel: float,
                  min_share: float = 0.0, expected: np.ndarray | None = None, jump_px: float = np.inf) -> FloatFrame | None:
    """One frame's float against the surroundings ``layer`` names.

    Parameters
    ----------
    outline : keyframe.track.layers.OutlineMotion
    layer : {"scene", "subject", "mixed"}
        The attachment: the sectors the layer borders are judged (``subject`` falls back to the
        scene in a frame where no part of the ring moves apart from the camera; ``mixed`` judges
        every sector). A judged sector bordered by both layers is judged against the one the
        region continues best, so an occluder passing over the ring is not mistaken for what
        the region belongs to.
    tolerance_px, tolerance_rel : float
        A sector is drawn as discontinuous beyond ``tolerance_px + tolerance_rel * speed``.
    min_share : float
        Below this share of the ring, what moves apart from the camera is not taken for the
        attached subject in this frame (a passing occluder): every sector is judged.
    expected, jump_px : optional
        Per sector (K, 2), the motion each sector was judged against in the previous frame (nan
        where not judged). Sectors whose surroundings moved more than ``jump_px``
        (plus half that speed) away from it are another layer passing by (an occluder sliding
        over the ring), not what the region is attached to, as long as a third of the sectors
        (and at least 3) kept their pace; when more jumped, the surroundings changed pace.

    Returns
    -------
    FloatFrame, or None when no sector has both sides measured.
    """
    inside = np.isfinite(outline.inside[:, 0])
    scene_ok = np.isfinite(outline.outside[0, :, 0]) & inside
    subject_ok = np.isfinite(outline.outside[1, :, 0]) & inside
    if layer == "subject" and subject_ok.any() and outline.subject_share >= min_share:
        judged = subject_ok
    elif layer in ("subject", "mixed"):  # for a subject: it does not move apart in this frame
        judged = scene_ok | subject_ok
    else:
        judged = scene_ok
    if judged.any():
        # where both layers border a judged sector, the region continues the one beside it that it
        # matches best: an occluder passing over the ring is not what the region belongs to
        closer = np.hypot(*(outline.inside - outline.outside[1]).T) < np.hypot(*(outline.inside - outline.outside[0]).T)
        use_subject = subject_ok & (~scene_ok | closer)
        reference = np.where(use_subject[:, None], outline.outside[1], outline.outside[0])
        if expected is not None and layer != "scene":
            guess = np.where(np.isfinite(expected[:, :1]), expected, np.nanmedian(expected, axis=0))
            jumped = judged & (np.hypot(*(reference - guess).T) > jump_px + 0.5 * np.hypot(*guess.T))
            if jumped.any() and (judged & ~jumped).sum() >= max(3, judged.sum() / 3):  # not all: one passing by
                judged = judged & ~jumped
        reference = _carried_inside(reference, np.where(use_subject[:, None], outline.outside_at[1],
                                                        outline.outside_at[0]), outline.inside_at, judged)
        kinds = {"subject" if s else "scene" for s in use_subject[judged]}
        attached = kinds.pop() if len(kinds) == 1 else "mixed"
    elif inside.any():  # the ring is covered: the camera model stands in for the scene
        judged, reference, attached = inside, outline.camera, "scene"
    else:
        return None
    jumps = outline.inside[judged] - reference[judged]
    offsets = outline.centres[judged] - outline.centres[judged].mean(0)
    coef = fit_similarity(offsets, jumps)
    # one trimming pass: a few sectors beside something else (an occluder sliding over the ring, a
    # flow blunder) must not tilt the fit; a real slip is shared by most sectors and survives it
    residual = np.hypot(*(jumps - _apply(coef, offsets)).T)
    keep = residual <= max(3.0 * float(np.median(residual)), tolerance_px)
    if keep.sum() >= max(3, judged.sum() // 2) and not keep.all():
        coef = fit_similarity(offsets[keep], jumps[keep])
    speeds = np.hypot(*reference[judged].T)
    discontinuous = np.zeros(len(judged), bool)
    discontinuous[judged] = np.hypot(*jumps.T) > tolerance_px + tolerance_rel * speeds
    return FloatFrame(attached, _rms(_apply(coef, offsets)), float(np.median(speeds)),
                      np.median(outline.inside[judged], 0), np.median(reference[judged], 0), judged, discontinuous, coef,
                      np.where(judged[:, None], reference, np.nan))


def float_series(outlines: Sequence[Any], layer: str, *, tolerance_px: float, tolerance_rel: float,
                 speed_floor_px: float, min_share: float = 0.0, jump_px: float = np.inf,
                 registered: Sequence[dict[str, LayerSlip] | None] | None = None,
                 ) -> tuple[list[dict[str, Any]], list[np.ndarray | None]]:
    """Per-frame float columns and the discontinuous outline pixels (for the overlay).

    Parameters
    ----------
    outlines : sequence of OutlineMotion or None
        One per frame, in order (None where nothing was measured, e.g. frame 0).
    layer : str
        The attachment (:class:`keyframe.track.layers.Attachment` ``.layer``).
    tolerance_px, tolerance_rel, min_share, jump_px : float
        See :func:`judge_outline` (each frame's ``expected`` is the motion the previous frame was
        judged against).
    speed_floor_px : float
        Speeds below this (px/frame) count as this much, so a still shot's flow noise is not
        divided by ~0.
    registered : sequence of dict, optional
        Per frame, the accumulated slip measured from appearance (:class:`LayerSlip`, from
        :class:`keyframe.metrics.register.PlateRegister`) against the ``scene``, the ``subject`` and the whole ``ring``
        (for a mixed region, and for a subject in a frame where its ring moves with the camera).
        Where the frame has none, the last registered slip holds; before any, the similarities
        summed over the frames stand in, over the path the surroundings travelled.

    Returns
    -------
    rows : list of dict
        ``attached``, ``float_px``, ``float_ratio``, ``slip_px``, ``slip_ratio``, ``slip_size`` (the
        slip over the region's size: the RMS distance of its outline from its centre),
        ``outline_discontinuity`` (fraction of judged sectors), ``region_dx/dy`` and
        ``ring_dx/dy`` (motion just inside the outline and of the judged surroundings); empty
        where nothing was judged.
    broken : list of ndarray (N, 2) or None
        Outline pixels (x, y) of the discontinuous sectors, per frame.
    """
    rows: list[dict[str, Any]] = []
    broken: list[np.ndarray | None] = []
    history: list[np.ndarray] = []  # the fitted similarities
    path = 0.0  # the surroundings' path (speeds floored)
    anchor: LayerSlip | None = None  # the last registered slip
    expected = None
    registered = [None] * len(outlines) if registered is None else registered
    for outline, found in zip(outlines, registered):
        judged = None if outline is None else judge_outline(outline, layer, tolerance_px=tolerance_px,
                                                             tolerance_rel=tolerance_rel, min_share=min_share,
                                                             expected=expected, jump_px=jump_px)
        if judged is None:
            rows.append({})
            broken.append(None)
            expected = None
            continue
        expected = judged.reference
        found = found or {}
        # a subject whose ring moves with the camera in this frame: the whole ring is that subject
        measured = found.get("ring") if layer == "mixed" else found.get(layer) or (found.get("ring") if layer == "subject" else None)
        history.append(judged.similarity)
        path += max(judged.speed_px, speed_floor_px)
        if measured is not None or anchor is not None:  # registered now, or the last registered slip holds
            anchor = measured or anchor
            slip_px, travel = anchor.slip_px, anchor.travel_px
        else:  # nothing registered yet: the per-frame fits summed, over the path the surroundings travelled
            offsets = outline.centres[judged.judged] - outline.centres[judged.judged].mean(0)
            slip_px, travel = _rms(_apply(np.sum(history, axis=0), offsets)), path
        rows.append({
            "attached": judged.attached, "float_px": judged.float_px,
            "float_ratio": judged.float_px / max(judged.speed_px, speed_floor_px),
            "slip_px": slip_px, "slip_ratio": slip_px / max(travel, speed_floor_px),
            "slip_size": slip_px / max(_rms(outline.outline - outline.outline.mean(0)), 1.0),
            "outline_discontinuity": float(judged.discontinuous.sum() / judged.judged.sum()),
            "region_dx": float(judged.region[0]), "region_dy": float(judged.region[1]),
            "ring_dx": float(judged.surroundings[0]), "ring_dy": float(judged.surroundings[1]),
        })  # fmt: skip
        broken.append(outline.outline[np.isin(outline.outline_sector, np.flatnonzero(judged.discontinuous))])
    return rows, broken
