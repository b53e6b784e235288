"""What every gate criterion returns, and the small helpers the criteria share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from keyframe.io.images import to_float
from keyframe.config import GateConfig
from keyframe.masks import Box, bounding_box, distance_to
from keyframe.registry import Registry
from keyframe.validation import check_mask, check_plate

#: A criterion's score is its worst sub-check as a multiple of that sub-check's limit; above this it fails.
SEVERITY_LIMIT = 1.0
#: Severities are capped here so a measure of zero (e.g. a perfectly flat patch) stays a finite number.
SEVERITY_CAP = 100.0


@dataclass
class Criterion:
    """The outcome of one gate criterion.

    ``score`` is ``None`` and ``passed`` is ``None`` when the criterion was not checked; ``reason``
    then says why. ``heatmap`` is ``(H, W)`` float32 in [0, 1] (1 = where the problem is) or ``None``.
    """

    name: str
    score: float | None
    threshold: float
    passed: bool | None
    reason: str
    heatmap: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)


class GateCriterion(Protocol):
    """A gate criterion: scores a float32 RGB plate (and its edit mask, if any) against ``cfg``."""

    def __call__(self, plate: np.ndarray, mask: np.ndarray | None, cfg: GateConfig) -> Criterion: ...


#: Gate criteria by name (the reason code of a failure), in report order.
CRITERIA: Registry[GateCriterion] = Registry("gate criterion")


@dataclass(frozen=True)
class Check:
    """One measured number against its configured limit."""

    value: float
    limit: float
    kind: str  # "max": value must be <= limit; "min": value must be >= limit

    @property
    def severity(self) -> float:
        """The value as a multiple of its limit, oriented so that > 1 means failing."""
        if self.kind == "max":
            ratio = self.value / self.limit
        else:
            ratio = self.limit / max(self.value, self.limit / SEVERITY_CAP)
        return float(min(ratio, SEVERITY_CAP))

    @property
    def passed(self) -> bool:
        return self.severity <= SEVERITY_LIMIT

    def as_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 4), "limit": self.limit, "kind": self.kind, "pass": self.passed}


def judge(name: str, checks: dict[str, Check], reasons: dict[str, str], ok: str, heatmap, details) -> Criterion:
    """Fold sub-checks into a :class:`Criterion`: worst severity is the score; failing checks give the reason.

    A sub-check whose value is not finite (e.g. no pixels to measure) is left out and named in
    ``details`` with ``value: None``; if none is left the criterion is "not checked".
    """
    details = dict(details)
    for key in [key for key, check in checks.items() if not np.isfinite(check.value)]:
        details[key] = {"value": None, "why": "could not be measured on this edit (too few pixels)"}
    checks = {key: check for key, check in checks.items() if np.isfinite(check.value)}
    if not checks:
        return not_checked(name, "none of its measures could be computed on this edit", details)
    worst = max(check.severity for check in checks.values())
    failing = [reasons[key] for key, check in checks.items() if not check.passed]
    details["checks"] = {key: check.as_dict() for key, check in checks.items()}
    reason = "; ".join(failing) if failing else ok
    return Criterion(name, round(worst, 4), SEVERITY_LIMIT, not failing, reason, heatmap, details)


def finite(values: dict[str, float]) -> dict[str, float | None]:
    """``values`` with every non-finite number replaced by None (JSON has no NaN)."""
    return {key: (round(float(v), 4) if np.isfinite(v) else None) for key, v in values.items()}


def not_checked(name: str, why: str, details: dict[str, Any] | None = None) -> Criterion:
    """A criterion that could not be computed: no score, no pass, and the reason."""
    return Criterion(name, None, SEVERITY_LIMIT, None, f"not checked: {why}", None, dict(details or {}))


def check_inputs(plate: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a plate and optional mask; return the plate as float32 RGB in [0, 1] and a bool mask.

    uint8/uint16 plates are converted; a float32 plate is taken as already in [0, 1].
    """
    plate = check_plate(plate, allow_float=True)
    rgb = plate if plate.dtype == np.float32 else to_float(plate)  # float32 input must already be in [0, 1]
    return rgb, None if mask is None else check_mask(mask, plate.shape[:2], empty_ok=True)


def has_boundary(mask: np.ndarray | None) -> bool:
    """True when ``mask`` marks some pixels but not all, so it has a boundary to measure."""
    return mask is not None and bool(mask.any()) and not bool(mask.all())


def neighbourhood(mask: np.ndarray, padding: int) -> Box:
    """The box around the mask, padded; criteria crop to it so their cost follows the edit, not the plate."""
    return bounding_box(mask, padding)


#: Long side (px) at which resolution-dependent measures (focal sharpness, texture, colour cast)
#: are taken, so their limits, calibrated on 512x288 plates, hold at any plate size.
WORK_SIDE = 512


def work_scale(shape: tuple[int, ...]) -> float:
    """The factor (<= 1) that brings a plate of ``shape`` down to :data:`WORK_SIDE`."""
    return min(1.0, WORK_SIDE / max(shape[:2]))


def to_work_size(rgb: np.ndarray, mask: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A crop and its mask scaled by ``scale`` (area-averaged; the mask re-thresholded at 0.5).

    Examples
    --------
    >>> rgb, mask = to_work_size(np.zeros((8, 8, 3), np.float32), np.ones((8, 8), bool), 0.5)
    >>> rgb.shape, mask.shape, bool(mask.all())
    ((4, 4, 3), (4, 4), True)
    """
    if scale >= 1:
        return rgb, mask
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return small, cv2.resize(mask.astype(np.float32), small.shape[1::-1], interpolation=cv2.INTER_AREA) > 0.5


#: Local detail energy is capped at this percentile of the ring's before edit and ring are compared,
#: so strong edges crossing the ring (a coin's rim, a window frame, a mast across a quarter of it)
#: do not set the level. 75 (was 90): with the plate's own spread as tolerance, at 90 one untouched
#: audit run failed (sky beside a mast) and two fewer calibration defects were caught.
EDGE_PERCENTILE = 75
#: Grain under one 8-bit level is invisible: noise levels are compared counting from there, so two
#: near-noiseless areas (a clipped sky, a clean render) never read as many times apart.
NOISE_FLOOR = 1 / 255
#: Detail energy below half an 8-bit grey level RMS counts as none.
ENERGY_FLOOR = (0.5 / 255) ** 2


def energy_ratio(energy: np.ndarray, inside, ring):
    """Mean local ``energy`` inside over that in the ring, each capped at the ring's :data:`EDGE_PERCENTILE`.

    ``inside`` and ``ring`` are boolean maps or (rows, cols) pixel indices. ``energy`` is (H, W),
    or (H, W, B) for B bands at once (then one ratio per band).

    Examples
    --------
    >>> energy = np.ones((4, 4), np.float32); energy[:2] = 0.25
    >>> inside = np.zeros((4, 4), bool); inside[:2] = True
    >>> round(float(energy_ratio(energy, inside, ~inside)), 3)
    0.25
    """
    outer = energy[ring]
    cap = np.percentile(outer, EDGE_PERCENTILE, axis=0)
    inner = np.minimum(energy[inside], cap).mean(axis=0)
    outer = np.minimum(outer, cap).mean(axis=0)
    return (inner + ENERGY_FLOOR) / (outer + ENERGY_FLOOR)


#: Untouched patches of the edit's shape measured on the plate around it: at least the nearest this
#: many, and more (up to 4x) for a small edit, until they hold :data:`SAMPLE_PIXELS` pixels: a small
#: patch's measure strays more, and its samples cost little.
PLATE_SAMPLES = 16
SAMPLE_PIXELS = 256 * 1024
#: A sample's inside and ring are each thinned to at most this many pixels (:func:`thin`).
SAMPLE_THIN = 4096

Pixels = tuple[np.ndarray, np.ndarray]  # (rows, cols) of a region, usable as an index


def thin(pixels: Pixels, most: int = SAMPLE_THIN) -> Pixels:
    """Every n-th of ``pixels``, n the least that leaves at most ``most``.

    A region's statistics (a median, a capped mean) need no more than a few thousand of its
    pixels, all the fewer as local measures are window means (neighbours are correlated):
    thinning a large edit's regions bounds the cost of measuring it and its samples.

    Examples
    --------
    >>> rows, cols = thin((np.arange(10), np.arange(10)), most=4)
    >>> rows.tolist()
    [0, 3, 6, 9]
    """
    step = max(1, -(-len(pixels[0]) // most))
    return pixels[0][::step], pixels[1][::step]


def same_shape_samples(mask: np.ndarray, inside: np.ndarray, ring: np.ndarray, clearance: float,
                       count: int = PLATE_SAMPLES, outside: np.ndarray | None = None) -> list[tuple[Pixels, Pixels]]:
    """The edit's ``inside`` and ``ring`` moved onto untouched parts of the plate, nearest first.

    How far a measure of the edit against its ring may stray is learnt from the plate itself:
    the same measure taken on patches of the same shape and size elsewhere, which nobody edited.
    Moves are on a grid of half the edit's equivalent diameter; a moved inside must lie wholly on
    the crop and at least ``clearance`` px from the edit (``outside``: ``distance_to(mask)`` when
    known); its ring is clipped to the crop and kept when at least half of it (and 64 px) remains.
    A small patch, whose measure strays more, gets moved patches that stray as much, and more of
    them (:data:`SAMPLE_PIXELS`).

    Returns
    -------
    list of (inside pixels, ring pixels)
        ``count`` or more (a small edit); fewer where the crop leaves no room (none: no tolerance is learnt).

    Examples
    --------
    >>> mask = np.zeros((64, 64), bool); mask[28:36, 28:36] = True
    >>> ring = np.zeros((64, 64), bool); ring[24:40, 24:40] = True; ring &= ~mask
    >>> samples = same_shape_samples(mask, mask, ring, clearance=2, count=4)
    >>> len(samples), all(len(rows) == 64 for (rows, _), _ in samples)  # a small edit: 4x the count
    (16, True)
    """
    height, width = mask.shape
    rows, cols = np.nonzero(inside)
    ring_rows, ring_cols = np.nonzero(ring)
    if not len(rows):
        return []
    count = max(count, min(4 * count, SAMPLE_PIXELS // (len(rows) + len(ring_rows))))
    (rows, cols), (ring_rows, ring_cols) = thin((rows, cols)), thin((ring_rows, ring_cols))
    step = max(4, int(round(0.5 * np.sqrt(mask.sum()))))
    dy = np.arange(-(rows.min() // step) * step, height - rows.max(), step)
    dx = np.arange(-(cols.min() // step) * step, width - cols.max(), step)
    moves = np.stack(np.meshgrid(dy, dx, indexing="ij"), -1).reshape(-1, 2)
    moves = moves[np.argsort((moves**2).sum(1), kind="stable")]
    away = (distance_to(mask) if outside is None else outside) >= clearance
    found = []
    for move_y, move_x in moves:
        if not away[rows + move_y, cols + move_x].all():
            continue
        y, x = ring_rows + move_y, ring_cols + move_x
        kept = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        if kept.sum() < max(64, len(kept) // 2):
            continue
        found.append(((rows + move_y, cols + move_x), (y[kept], x[kept])))
        if len(found) == count:
            break
    return found


def alike_surroundings(samples: list[tuple[Pixels, Pixels]], energy: np.ndarray, ring, keep: float = 0.75) -> list:
    """The ``keep`` share of ``samples`` whose rings hold the most alike detail to the edit's ``ring``.

    ``energy`` is (H, W, bands) local detail energy; rings are compared by the log of their mean
    energy per band (summed absolute difference). An untouched patch is a fair comparison for the
    edit when its surroundings are like the edit's: a smooth patch beside a launch tower is
    compared with other patches beside the tower, not with patches of open sky.
    """
    if not samples:
        return []
    target = np.log(energy[ring].mean(axis=0) + ENERGY_FLOOR)
    distance = [float(np.abs(np.log(energy[outer].mean(axis=0) + ENERGY_FLOOR) - target).sum()) for _, outer in samples]
    kept = np.argsort(distance, kind="stable")[: max(1, int(round(keep * len(samples))))]
    return [samples[i] for i in sorted(kept)]


def plate_tolerance(sample_values: list[float]) -> float:
    """How far below 1 an edit's measure (1 = like its ring) may fall: the least untouched sample's, at most 1.

    Examples
    --------
    >>> plate_tolerance([0.7, 1.2, 0.9]), plate_tolerance([1.1, 1.3]), plate_tolerance([])
    (0.7, 1.0, 1.0)
    """
    return float(min([*sample_values, 1.0]))


def paste(values: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """A full-size float32 map that is ``values`` inside ``box`` and 0 elsewhere."""
    full = np.zeros(shape, np.float32)
    full[box.slices] = values
    return full


def unit(values: np.ndarray, scale: float) -> np.ndarray:
    """``values / scale`` clipped to [0, 1] as float32: a heatmap that saturates at ``scale``."""
    return np.clip(np.asarray(values, np.float32) / np.float32(scale), 0.0, 1.0)
