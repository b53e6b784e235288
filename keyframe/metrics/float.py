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
content is registered with the plate as its layer carries it, so a slow slip is seen in full (the
flow, smoothed across the outline, sees about half of it) and no flow noise piles up. What the
layer predicts inside the region is a :class:`LayerField`: one affine for the scene (the camera
is rigid), and for a subject a smoothing thin-plate spline through its ring (Duchon 1977; Wahba
1990) whose points are placed on the plate from their own appearance patch by patch
(:meth:`PlateRegister.patches`), so the prediction bends with a turning head or an opening jaw
and does not lean towards a region that slips. One affine carried into a turning head cuts
across its bulge: on the calibration head turn (``tests/subjects.py``, ``turn``) that alone, with
the true motion, left the untouched face 2.4 px of "slip" by frame 11, as much as the 80 %
follower's true slip; the spline leaves 0.3 px. Frames that cannot be registered (the content
itself changed) keep the last registered slip; before any, the per-frame similarities summed
stand in. ``slip_ratio`` divides the slip by how far the layer itself carried the outline since
frame 0 (``travel``): a region following its layer at 80 % reads ~0.2 however the layer moves,
while an untouched region's error does not grow with the layer's travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator


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
        :class:`PlateRegister`) against the ``scene``, the ``subject`` and the whole ``ring``
        (for a mixed region, and for a subject in a frame where its ring moves with the camera).
        Where the frame has none, the last registered slip holds; before any, the similarities
        summed over the frames stand in, over the path the surroundings travelled.

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

    def moved(self, plate: np.ndarray) -> np.ndarray:
        """Plate points (N, 2) where the content found them: ``P + shift + warp (P - centre)``."""
        return plate + self.shift + (plate - self.centre) @ self.warp.T


def _basis(d: np.ndarray, affine: bool) -> np.ndarray:
    """(N, K, 2): how each point moves per unit of each warp parameter (translation first)."""
    one, zero = np.ones(len(d)), np.zeros(len(d))
    x, y = d[:, 0], d[:, 1]
    columns = [(one, zero), (zero, one)] + ([(x, zero), (y, zero), (zero, x), (zero, y)] if affine else [(x, y), (-y, x)])
    return np.stack([np.stack(c, 1) for c in columns], 1)


class PlateRegister:
    """Register content of a frame with the plate as its surroundings carry it (Lucas-Kanade, coarse to fine).

    The attached layer's ring pixels know which plate point they show; the layer's
    :class:`LayerField` fitted to them predicts which plate point each region pixel *should* show
    if the region moved with them. A similarity warp of that prediction (plus a gain that varies
    linearly across the content, and an offset, for lighting: a head turning from the light
    shades one side of the face) is fitted so the plate matches the frame inside the region
    (Baker & Matthews 2004, forward-additive, on two blur levels): the similarity is the region's
    accumulated slip, measured from appearance, so it neither accumulates flow noise frame after
    frame nor loses the part of a slow slip that the flow's smoothing spreads across the outline.
    The ring itself is registered the same way (``affine=True``; patch by patch with
    :meth:`patches`), so the prediction does not creep with the tracker's composed flow either,
    nor lean on a brightness that changes.

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
        # lighting: a gain that varies linearly across the content (a head turning from the light
        # shades one side of the face), then an offset
        light = np.hstack([np.ones((len(points), 1)), (predicted - centre) / max(float(np.ptp(predicted, axis=0).max()), 1.0)])
        coef = np.zeros(count + 4)  # warp parameters, then gain (mean, x and y slope) and offset
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
                gain = 1 + light @ coef[count : count + 3]
                error = seen - gain * value - coef[count + 3]
                spread = 1.4826 * float(np.median(np.abs(error - np.median(error)))) + 1e-3
                keep = np.abs(error) <= 3 * spread  # pixels that are not the content (an occluder, a highlight)
                design = np.concatenate([gain[:, None] * (basis[..., 0] * ix[:, None] + basis[..., 1] * iy[:, None]),
                                         value[:, None] * light, np.ones((len(value), 1))], 1)[keep]
                hessian = design.T @ design
                if np.linalg.eigvalsh(hessian[:2, :2])[0] < _LEAST_TEXTURE:  # nothing to lock on to
                    return None
                step = np.linalg.solve(hessian + 1e-9 * np.eye(count + 4), design.T @ error[keep])
                coef += step
                if np.hypot(*step[:2]) < 0.005:
                    break
        if not np.isfinite(coef).all() or np.hypot(*coef[:2]) > 4 * np.ptp(points, axis=0).max():
            return None
        shift, warp = coef[:2].copy(), (_basis(np.eye(2), affine)[:, 2:].transpose(0, 2, 1) @ coef[2:count]).T
        in_frame = (shift + (outline - centre) @ warp.T) @ to_frame.T
        return Registration(shift, warp, centre, np.hypot(*in_frame.T),
                            float(np.sqrt(np.mean(error[keep] ** 2)) / (np.std(seen) + 1e-3)))

    def patches(self, frame: list[np.ndarray], points: np.ndarray, predicted: np.ndarray, labels: np.ndarray,
                count: int, *, limit_px: float, unexplained: float) -> tuple[np.ndarray, np.ndarray]:
        """Each patch of ``points`` registered on its own: a plate-px translation per label, and which held.

        ``labels`` (N,) in ``[0, count)`` cut the points into patches (a ring's sectors); each
        patch gets a translation, a gain and an offset (Lucas & Kanade 1981, all patches in one
        vectorised Gauss-Newton, on the same two blur levels). A patch holds when it has texture in
        both directions, its translation stays within ``limit_px`` of ``predicted`` and its
        residual is at most ``unexplained`` of its grey-level spread (not an occluder, not a
        highlight). ``frame`` is :meth:`frame_levels` of the frame.
        """
        shift = np.zeros((count, 2))
        photo = np.zeros((count, 2))  # gain - 1, offset
        px, py = points[:, 0].astype(np.float32), points[:, 1].astype(np.float32)
        sizes = np.bincount(labels, minlength=count).astype(np.float64)
        total = lambda values: np.bincount(labels, values, count)  # noqa: E731
        for (_, iterations), (plate, gx, gy), blurred in zip(self._LEVELS, self._levels, frame):
            seen = cv2.remap(blurred, px[:, None], py[:, None], cv2.INTER_LINEAR)[:, 0].astype(np.float64)
            for _ in range(iterations):
                at = (predicted + shift[labels]).astype(np.float32)
                value, ix, iy = (cv2.remap(m, at[:, :1], at[:, 1:], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]
                                 .astype(np.float64) for m in (plate, gx, gy))
                gain = 1 + photo[labels, 0]
                error = seen - gain * value - photo[labels, 1]
                columns = [gain * ix, gain * iy, value, np.ones_like(value)]
                hessian = np.stack([np.stack([total(a * b) for b in columns], -1) for a in columns], -2)  # (count, 4, 4)
                gradient = np.stack([total(a * error) for a in columns], -1)
                texture = np.linalg.eigvalsh(hessian[:, :2, :2])[:, 0]
                usable = (sizes >= 8) & (texture >= _LEAST_TEXTURE)
                hessian[~usable] = np.eye(4)
                step = np.linalg.solve(hessian + 1e-9 * np.eye(4), gradient[..., None])[..., 0] * usable[:, None]
                shift += step[:, :2]
                photo += step[:, 2:]
                if np.abs(step[:, :2]).max() < 0.005:
                    break
        spread = np.sqrt(np.maximum(total(seen * seen) / np.maximum(sizes, 1) - (total(seen) / np.maximum(sizes, 1)) ** 2, 0))
        residual = np.sqrt(total(error * error) / np.maximum(sizes, 1))
        held = usable & (np.hypot(*shift.T) <= limit_px) & (residual <= unexplained * (spread + 1e-3))
        return shift, held


@dataclass(frozen=True)
class LayerField:
    """Which plate point each pixel of a layer shows: an affine, plus a smooth non-rigid part for a subject.

    ``affine`` (2x3, box px -> plate px) is what the layer's pixels agree on; ``spline`` (a thin-plate
    spline of the rest, in coordinates ``(p - origin) / size``) bends it where the layer deforms, so
    carried into the region it follows a turning head's bulge instead of cutting across it.
    """

    affine: np.ndarray
    spline: RBFInterpolator | None = None
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))
    size: float = 1.0

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Plate px of box-px ``points`` (N, 2)."""
        out = points @ self.affine[:, :2].T + self.affine[:, 2]
        return out if self.spline is None else out + self.spline((points - self.origin) / self.size)


def fit_layer_field(points: np.ndarray, targets: np.ndarray, *, smoothing: float | None,
                    centres: int = 200, tolerance: float = 3.0) -> LayerField | None:
    """The layer's :class:`LayerField` from its pixels ``points`` and the plate points they show.

    The affine is :func:`fit_layer`'s. With ``smoothing`` (None: rigid, the affine alone), the
    rest is a smoothing thin-plate spline (Duchon 1977; Wahba 1990, ch. 2), the interpolant of least
    bending energy: through a ring of pixels around a region it predicts the region's inside as the
    smoothest surface that continues its surroundings, so a bulge (a turning head, a cheek) carries
    into the region as its ring bends, while one affine over the ring misses the bulge's top
    (measured in configs/default.yaml, ``check.layer_smoothing``). ``centres`` evenly spaced pixels
    carry it; the fit is repeated once without those it explains worst (a blunder of the track).
    Coordinates are scaled by the pixels' extent, so ``smoothing`` does not depend on the region's size.

    Examples
    --------
    >>> ring = np.array([(np.cos(a) * r, np.sin(a) * r) for a in np.linspace(0, 6.2, 60) for r in (20, 28)])
    >>> bump = lambda p: np.stack([3 * np.exp(-(p ** 2).sum(1) / 900), 0 * p[:, 1]], 1)  # content bulging right
    >>> field = fit_layer_field(ring, ring + bump(ring), smoothing=1e-3)
    >>> centre = np.zeros((1, 2))
    >>> round(float(field(centre)[0, 0]), 1), round(float(fit_layer(ring, ring + bump(ring))[0, 2]), 1)  # truth: 3.0
    (2.7, 1.6)
    """
    affine = fit_layer(points, targets, tolerance)
    if affine is None or smoothing is None or len(points) < 12:
        return None if affine is None else LayerField(affine)
    pick = np.arange(0, len(points), max(1, len(points) // centres))
    origin, size = points.mean(0), max(float(np.ptp(points, axis=0).max()), 1.0)
    scaled = (points[pick] - origin) / size
    rest = targets[pick] - (points[pick] @ affine[:, :2].T + affine[:, 2])
    spline = RBFInterpolator(scaled, rest, kernel="thin_plate_spline", smoothing=smoothing, degree=1)
    miss = np.hypot(*(spline(scaled) - rest).T)
    keep = miss <= max(3.0 * float(np.median(miss)), 0.5)
    if 12 <= keep.sum() < keep.size:
        spline = RBFInterpolator(scaled[keep], rest[keep], kernel="thin_plate_spline", smoothing=smoothing, degree=1)
    return LayerField(affine, spline, origin, size)


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
