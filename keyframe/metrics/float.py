"""Float: does the region move with what it belongs to, or like a pasted-on layer?

Measured across the region's outline against the motion layer it is attached to (see
:mod:`keyframe.track.layers` for the layers, the outline sectors and the attachment). Each
frame, the discontinuity vectors of the judged sectors (motion just inside the outline minus the
attached layer's motion just outside) are fitted with a similarity about the region's centre
(least squares, then once more without the sectors it explains worst), so translation, rotation
and scale slips all count while flow noise, incoherent between sectors, mostly falls out, and a
few sectors beside an occluder do not tilt it. Its RMS over the sectors is ``float_px``; divided by the attached surroundings'
own speed it is ``float_ratio`` (a pasted layer ~1, half speed ~0.5).

The accumulated ``slip_px`` is measured from appearance (:class:`PlateRegister`): the region's
content is registered with the plate as its layer's ring carries it, so a slow slip is seen in
full (the flow, smoothed across the outline, sees about half of it) and no flow noise piles up.
On a deforming subject it is the smaller of that and the fitted similarities summed over the
frames (an affine carried into a turning head misses its bulge). Divided by the path the
surroundings travelled, ``slip_ratio`` says how persistent it is (a steady slow slip keeps its
ratio, noise's ratio shrinks as the path grows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
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
                 registered: Sequence[dict[str, float] | None] | None = None,
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
        Per frame, the accumulated slip measured from appearance (:class:`PlateRegister`)
        against the ``scene``, the ``subject`` and the whole ``ring`` (for a mixed region). For
        a region on the scene it is the frame's ``slip_px``; on a subject, the smaller of it and
        the similarities summed over the frames, which stand in wherever nothing was registered.

    Returns
    -------
    rows : list of dict
        ``attached``, ``float_px``, ``float_ratio``, ``slip_px``, ``slip_ratio``,
        ``outline_discontinuity`` (fraction of judged sectors), ``region_dx/dy`` and
        ``ring_dx/dy`` (motion just inside the outline and of the judged surroundings); empty
        where nothing was judged.
    broken : list of ndarray (N, 2) or None
        Outline pixels (x, y) of the discontinuous sectors, per frame.
    """
    rows: list[dict[str, Any]] = []
    broken: list[np.ndarray | None] = []
    history: list[np.ndarray] = []
    path = 0.0
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
        history.append(judged.similarity)
        path += max(judged.speed_px, speed_floor_px)
        offsets = outline.centres[judged.judged] - outline.centres[judged.judged].mean(0)
        slip_px = _rms(_apply(np.sum(history, axis=0), offsets))
        registered_px = (found or {}).get({"mixed": "ring"}.get(layer, layer))
        if registered_px is not None:
            # the scene (the camera) is rigid: its affine carries the plate into the region
            # exactly, and the registration is the better measure. A subject deforms: carried
            # into the region its affine misses a turning head's bulge, while the summed
            # similarities miss little of it; a slip must show in both
            slip_px = registered_px if layer == "scene" else min(registered_px, slip_px)
        rows.append({
            "attached": judged.attached, "float_px": judged.float_px,
            "float_ratio": judged.float_px / max(judged.speed_px, speed_floor_px),
            "slip_px": slip_px, "slip_ratio": slip_px / path,
            "outline_discontinuity": float(judged.discontinuous.sum() / judged.judged.sum()),
            "region_dx": float(judged.region[0]), "region_dy": float(judged.region[1]),
            "ring_dx": float(judged.surroundings[0]), "ring_dy": float(judged.surroundings[1]),
        })  # fmt: skip
        broken.append(outline.outline[np.isin(outline.outline_sector, np.flatnonzero(judged.discontinuous))])
    return rows, broken


# least translation information (summed squared grey gradient, grey in [0, 1]) to register a region:
# with ~1 grey level of noise the translation's standard error stays under ~0.1 px
_LEAST_TEXTURE = 2.5e-3


@dataclass(frozen=True)
class Registration:
    """Where content sits against the plate as a layer carries it: ``P' = P + shift + warp (P - centre)``."""

    shift: np.ndarray  # (2,) plate px
    warp: np.ndarray  # (2, 2) the linear part (a similarity's, or an affine's)
    centre: np.ndarray  # (2,) plate px
    slip_px: np.ndarray  # (M,) frame px: the displacement at each outline point
    unexplained: float  # RMS residual after registration over the content's grey-level spread (its texture)

    def carried(self, to_plate: np.ndarray) -> np.ndarray:
        """The 2x3 affine frame px -> plate px of the content where it was found, given the layer's ``to_plate``."""
        warp = np.eye(2) + self.warp
        return np.hstack([warp @ to_plate[:, :2], (warp @ (to_plate[:, 2] - self.centre) + self.centre + self.shift)[:, None]])


def _basis(d: np.ndarray, affine: bool) -> np.ndarray:
    """(N, K, 2): how each point moves per unit of each warp parameter (translation first)."""
    one, zero = np.ones(len(d)), np.zeros(len(d))
    x, y = d[:, 0], d[:, 1]
    columns = [(one, zero), (zero, one)] + ([(x, zero), (y, zero), (zero, x), (zero, y)] if affine else [(x, y), (-y, x)])
    return np.stack([np.stack(c, 1) for c in columns], 1)


class PlateRegister:
    """Register content of a frame with the plate as its surroundings carry it (Lucas-Kanade, coarse to fine).

    The attached layer's ring pixels know which plate point they show (the tracker's maps); an
    affine fitted to them predicts which plate point each region pixel *should* show if the
    region moved with them. A similarity warp of that prediction (plus gain and offset for
    lighting) is fitted so the plate matches the frame inside the region (Baker & Matthews 2004,
    forward-additive, on two blur levels): the similarity is the region's accumulated slip,
    measured from appearance, so it neither accumulates flow noise frame after frame nor loses
    the part of a slow slip that the flow's smoothing spreads across the outline. The ring itself
    is registered the same way (``affine=True``), so the prediction does not creep with the
    tracker's composed flow either, nor lean on a brightness that changes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plate = cv2.GaussianBlur(rng.random((80, 80)).astype(np.float32), (0, 0), 1.5)
    >>> frame = np.roll(plate, 2, axis=1)  # the region's content 2 px right of where the layer says
    >>> ys, xs = np.mgrid[30:50, 30:50].reshape(2, -1)
    >>> points = np.stack([xs, ys], 1).astype(np.float64)
    >>> outline = np.array([[30.0, 40], [50, 40], [40, 30], [40, 50]])
    >>> found = PlateRegister(plate)(frame, points, points, outline, np.eye(2))
    >>> found.shift.round(1).tolist()
    [-2.0, 0.0]
    """

    _LEVELS = ((3.0, 8), (1.0, 5))  # (blur sigma px, Gauss-Newton iterations at most)

    def __init__(self, plate_grey: np.ndarray, scale: float = 1.0) -> None:
        # ``scale``: plate px per frame px. Both sides are blurred to the same detail in frame px:
        # a plate sampled at a coarser frame's pixels unblurred would alias and bias the fit
        self._frame_sigmas = [sigma * max(1.0 / scale, 1.0) for sigma, _ in self._LEVELS]
        self._levels = [self._prepare(plate_grey, sigma * max(scale, 1.0)) for sigma, _ in self._LEVELS]

    @staticmethod
    def _prepare(image: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
        return smooth, cv2.Scharr(smooth, cv2.CV_32F, 1, 0, scale=1 / 32), cv2.Scharr(smooth, cv2.CV_32F, 0, 1, scale=1 / 32)

    def frame_levels(self, frame_grey: np.ndarray) -> list[np.ndarray]:
        """A frame (or a crop of it) blurred as the plate is, once for every registration in it."""
        return [cv2.GaussianBlur(frame_grey.astype(np.float32), (0, 0), sigma) for sigma in self._frame_sigmas]

    def __call__(self, frame: np.ndarray | list[np.ndarray], points: np.ndarray, predicted: np.ndarray,
                 outline: np.ndarray, to_frame: np.ndarray, start: np.ndarray | None = None,
                 affine: bool = False) -> Registration | None:
        """Fit the slip of ``points`` (N, 2 frame px, in ``frame``'s coordinates).

        ``frame`` is the frame's grey image, or its :meth:`frame_levels`. ``predicted`` (N, 2)
        are the plate points the attached layer says they show, ``outline`` (M, 2) the same
        prediction for the outline points the slip is reported at, ``to_frame`` (2x2) turns
        plate px into frame px there, ``start`` (2,) is an initial plate-px translation (the
        tracker's own estimate), and ``affine`` fits an affine warp instead of a similarity. None
        when the content has too little texture to register, or the fit does not settle.
        """
        centre = predicted.mean(0)
        basis = _basis(predicted - centre, affine)
        count = basis.shape[1]
        coef = np.zeros(count + 2)  # warp parameters, then gain and offset
        coef[:2] = 0.0 if start is None else start
        px, py = points[:, 0].astype(np.float32), points[:, 1].astype(np.float32)
        levels = self.frame_levels(frame) if isinstance(frame, np.ndarray) else frame
        for (_, iterations), (plate, gx, gy), blurred in zip(self._LEVELS, self._levels, levels):
            seen = cv2.remap(blurred, px[:, None], py[:, None], cv2.INTER_LINEAR)[:, 0]
            for _ in range(iterations):
                at = predicted + basis.transpose(0, 2, 1) @ coef[:count]
                mx, my = at[:, :1].astype(np.float32), at[:, 1:].astype(np.float32)
                value, ix, iy = (cv2.remap(m, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]
                                 for m in (plate, gx, gy))
                error = seen - (1 + coef[count]) * value - coef[count + 1]
                spread = 1.4826 * float(np.median(np.abs(error - np.median(error)))) + 1e-3
                keep = np.abs(error) <= 3 * spread  # pixels that are not the content (an occluder, a highlight)
                design = np.concatenate([basis[..., 0] * ix[:, None] + basis[..., 1] * iy[:, None], value[:, None],
                                         np.ones((len(value), 1))], 1)[keep]
                hessian = design.T @ design
                if np.linalg.eigvalsh(hessian[:2, :2])[0] < _LEAST_TEXTURE:  # nothing to lock on to
                    return None
                step = np.linalg.solve(hessian + 1e-9 * np.eye(count + 2), design.T @ error[keep])
                coef += step
                if np.hypot(*step[:2]) < 0.005:
                    break
        if not np.isfinite(coef).all() or np.hypot(*coef[:2]) > 4 * np.ptp(points, axis=0).max():
            return None
        shift, warp = coef[:2].copy(), (_basis(np.eye(2), affine)[:, 2:].transpose(0, 2, 1) @ coef[2:count]).T
        in_frame = (shift + (outline - centre) @ warp.T) @ to_frame.T
        return Registration(shift, warp, centre, np.hypot(*in_frame.T),
                            float(np.sqrt(np.mean(error[keep] ** 2)) / (np.std(seen) + 1e-3)))


def fit_layer(points: np.ndarray, targets: np.ndarray, tolerance: float = 3.0) -> np.ndarray | None:
    """The 2x3 affine ``points -> targets`` most of them agree on (RANSAC, then refined on its inliers).

    Pixels of a layer know which plate point they show; where something else took their place
    (an occluder sliding over them, a blunder of the track) they disagree with the rest, and
    RANSAC (Fischler & Bolles 1981) leaves them out even when they are many.

    Examples
    --------
    >>> p = np.array([[0.0, 0], [10, 0], [0, 10], [10, 10], [5, 5], [2, 7], [8, 3]])
    >>> q = p + [1.0, 2.0]
    >>> q[-1] += 30  # one pixel that is not the layer
    >>> (fit_layer(p, q).round(3) + 0.0).tolist()
    [[1.0, 0.0, 1.0], [0.0, 1.0, 2.0]]
    """
    if len(points) < 6:
        return None
    affine, inliers = cv2.estimateAffine2D(points.astype(np.float32), targets.astype(np.float32), method=cv2.RANSAC,
                                           ransacReprojThreshold=tolerance, maxIters=200, confidence=0.99)
    if affine is None or inliers.sum() < 6:
        return None
    return affine
