"""Where a region's content sits against the plate, as the layer it belongs to carries it.

Slip (:mod:`keyframe.metrics.float`) is measured from appearance rather than summed from the
flow: the layer's ring pixels know which plate point they show, a :class:`LayerField` fitted to
them predicts which plate point each region pixel *should* show, and :class:`PlateRegister`
finds, by Lucas-Kanade registration (Lucas & Kanade 1981; Baker & Matthews 2004), where the
region's content really sits against that prediction. The scene's field is one affine (the
camera is rigid); a subject's is a smoothing thin-plate spline (Duchon 1977; Wahba 1990) through
ring points placed from their own appearance patch by patch (:meth:`PlateRegister.patches`), so
a turning head's bulge is the layer's own motion, not a slip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


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
    The ring itself is registered too, the scene's as one affine (``affine=True``), a subject's
    patch by patch (:meth:`patches`), so the prediction does not creep with the tracker's composed
    flow either, nor lean on a brightness that changes.

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


class ThinPlate:
    """A smoothing thin-plate spline ``R^2 -> R^2`` (Duchon 1977; Wahba 1990, ch. 2): kernel ``r^2 log r``
    plus an affine part, ``smoothing`` added to the kernel's diagonal (scipy's ``RBFInterpolator``
    convention, without importing scipy into the check).

    Examples
    --------
    >>> centres = np.array([[0.0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]])
    >>> spline = ThinPlate(centres, np.array([[0.0, 0], [0, 0], [0, 0], [0, 0], [1, 0]]), smoothing=0.0)
    >>> spline(centres).round(6).tolist()[-1], spline(centres).round(6).tolist()[0]
    ([1.0, 0.0], [0.0, 0.0])
    """

    def __init__(self, centres: np.ndarray, values: np.ndarray, smoothing: float) -> None:
        count = len(centres)
        affine = np.hstack([np.ones((count, 1)), centres])
        system = np.zeros((count + 3, count + 3))
        system[:count, :count] = self._kernel(centres, centres) + smoothing * np.eye(count)
        system[:count, count:], system[count:, :count] = affine, affine.T
        rhs = np.vstack([values, np.zeros((3, values.shape[1]))])
        # OpenCV's LU, not numpy's: a multi-threaded LAPACK waits on its threads for tens of ms a
        # solve on a loaded machine (measured: 0.5 ms idle, up to 94 ms beside the check's OpenCV
        # threads), and the check solves one per subject layer per frame
        ok, coef = cv2.solve(system, rhs, flags=cv2.DECOMP_LU)
        if not ok:  # centres on a line: the affine part is not determined
            ok, coef = cv2.solve(system, rhs, flags=cv2.DECOMP_SVD)
        self._centres, self._coef = centres, coef

    @staticmethod
    def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # elementwise, not a matrix product: a multi-threaded BLAS spins on such thin products
        # and cost many times the work on a loaded machine
        dx, dy = a[:, :1] - b[:, 0], a[:, 1:] - b[:, 1]
        squared = dx * dx + dy * dy
        return 0.5 * squared * np.log(np.maximum(squared, 1e-300))  # r^2 log r = r^2 log(r^2) / 2

    def __call__(self, points: np.ndarray) -> np.ndarray:
        count = len(self._centres)
        kernel, coef = self._kernel(points, self._centres), self._coef
        bent = np.stack([(kernel * coef[:count, i]).sum(1) for i in range(coef.shape[1])], 1)
        return bent + coef[count] + points[:, :1] * coef[count + 1] + points[:, 1:] * coef[count + 2]


@dataclass(frozen=True)
class LayerField:
    """Which plate point each pixel of a layer shows: an affine, plus a smooth non-rigid part for a subject.

    ``affine`` (2x3, box px -> plate px) is what the layer's pixels agree on; ``spline`` (a
    :class:`ThinPlate` of the rest, in coordinates ``(p - origin) / size``) bends it where the
    layer deforms, so carried into the region it follows a turning head's bulge instead of
    cutting across it.
    """

    affine: np.ndarray
    spline: ThinPlate | None = None
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
    rest is a smoothing :class:`ThinPlate`, the interpolant of least bending energy: through a
    ring of pixels around a region it predicts the region's inside as the smoothest surface that
    continues its surroundings, so a bulge (a turning head, a cheek) carries into the region as
    its ring bends, while one affine over the ring misses the bulge's top (measured in
    configs/default.yaml, ``check.layer_smoothing``). ``centres`` evenly spaced pixels carry it;
    the fit is repeated once without those it explains worst (a blunder of the track).
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
    spline = ThinPlate(scaled, rest, smoothing)
    miss = np.hypot(*(spline(scaled) - rest).T)
    keep = miss <= max(3.0 * float(np.median(miss)), 0.5)
    if 12 <= keep.sum() < keep.size:
        spline = ThinPlate(scaled[keep], rest[keep], smoothing)
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
