"""Clip-level QC: what image-to-video models are known to break in the whole frame.

Users of Wan, LTX and SVD report that frame 0 is not the input image (Wan2.2 #233), that clips
grey out or darken after frame 1 (ComfyUI-WanVideoWrapper #268), and that blur and colour shift
build up over long clips (Wan2.1 #302); renders and edits also stall (frozen or duplicated
frames) or drop black frames. These measurements are independent of the tracked region:

- *fidelity*: frame 0 against the plate carried into it by ``plate_to_frame0`` (and the last frame
  against an end plate): the colour difference of their means (a cast) and grey SSIM at 256 px
  (the picture itself, insensitive to a VAE's loss of fine detail);
- *global drift*: the whole frame's mean lightness and colour, lightness contrast and saturation,
  each against frame 0 as the plate says it should look (:func:`plate_in_frame0`);
- *frozen*: mean absolute grey change from the previous frame;
- *black*: the 99th percentile of grey;
- *sharpness*: RMS Laplacian over grey standard deviation (contrast-free) at 256 px, against frame 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from keyframe.config import CheckConfig
from keyframe.io.images import to_float
from keyframe.metrics.appearance import ssim_map, to_lab
from keyframe.verdict import Reason, frame_ranges

#: Per-frame columns this module adds to the check's rows (report.json ``frames``, frames.csv).
QC_FIELDS = (
    "frame_change", "luma_p99", "brightness_shift", "color_shift", "contrast_ratio", "saturation_ratio",
    "sharpness_ratio", "plate_delta_e", "plate_ssim", "end_plate_delta_e", "end_plate_ssim",
)  # fmt: skip
QC_CODES = ("first_frame", "last_frame", "global_drift", "frozen", "black", "sharpness")
#: Codes that compare a frame with the plate or frame 0: after a hard cut the frames show another
#: shot (reported as ``cut``), whose own colour and sharpness are not drift or decay.
SHOT_CODES = ("global_drift", "sharpness")
STATS_SIDE = 512  # long side the per-frame statistics are measured at (frames are shrunk, never enlarged)
FIDELITY_SIDE = 256  # long side of the plate-vs-frame comparison: the picture, not a VAE's fine detail
# long side sharpness is measured at: a camera push-in's resampling softens pixel-level detail
# (at 512 px a 1.15x dolly read 0.56 of frame 0's sharpness, as much as a 1 px blur), not this scale
SHARPNESS_SIDE = 256
MIN_CHROMA = 2.0  # mean a*b* chroma below which a frame is grey and saturation is not measured


@dataclass(frozen=True)
class Fidelity:
    """How well a frame reproduces the plate carried into it."""

    delta_e: float | None  # CIE76 distance of the mean Lab colours (a cast)
    ssim: float | None  # grey SSIM where the plate covers the frame
    coverage: float  # fraction of the frame the plate covers


@dataclass
class ClipQC:
    """Clip-level QC: per-frame columns (:data:`QC_FIELDS`), reasons, summary and availability."""

    per_frame: list[dict[str, Any]]
    reasons: list[Reason]
    summary: dict[str, Any]
    status: dict[str, dict[str, Any]]


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    scale = min(1.0, side / max(image.shape[:2]))
    if scale == 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def carry_plate(plate: np.ndarray, plate_to_frame: Any, frame_shape: tuple[int, int],
                size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The plate as it should appear in a frame of ``frame_shape`` (H, W), shrunk to ``size`` (W, H).

    The plate is pre-shrunk when the transform shrinks it a lot, so a 4K plate does not alias.

    Returns
    -------
    warped : ndarray (h, w, 3) float32 in [0, 1]
    cover : ndarray (h, w) bool
        Where the plate covers the frame.
    """
    to_small = np.diag([size[0] / frame_shape[1], size[1] / frame_shape[0], 1.0]) @ np.asarray(plate_to_frame, np.float64)
    reduce = min(1.0, float(np.sqrt(abs(np.linalg.det(to_small[:2, :2])))))
    source = to_float(plate)
    if reduce < 0.5:
        source = cv2.resize(source, (max(1, round(source.shape[1] * reduce)), max(1, round(source.shape[0] * reduce))),
                            interpolation=cv2.INTER_AREA)
        to_small = to_small @ np.diag([plate.shape[1] / source.shape[1], plate.shape[0] / source.shape[0], 1.0])
    warped = cv2.warpPerspective(source, to_small, size, flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.ones(source.shape[:2], np.float32), to_small, size, flags=cv2.INTER_LINEAR) > 0.999
    return warped, cover


def frame_fidelity(plate: np.ndarray, frame: np.ndarray, plate_to_frame: Any) -> Fidelity:
    """Compare ``frame`` with ``plate`` carried into it by the 3x3 ``plate_to_frame``, at :data:`FIDELITY_SIDE`.

    Examples
    --------
    >>> plate = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    >>> same = frame_fidelity(plate, plate, np.eye(3))
    >>> round(same.delta_e, 3), round(same.ssim, 3), same.coverage
    (0.0, 1.0, 1.0)
    """
    small = _shrink(frame, FIDELITY_SIDE)
    size = (small.shape[1], small.shape[0])
    warped, cover = carry_plate(plate, plate_to_frame, frame.shape[:2], size)
    coverage = float(cover.mean())
    if cover.sum() < 64:
        return Fidelity(None, None, coverage)
    rgb = small.astype(np.float32) / 255.0
    lab, ref = to_lab(rgb)[cover], to_lab(warped)[cover]
    delta_e = float(np.linalg.norm(lab.mean(axis=0) - ref.mean(axis=0)))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    ref_grey = cv2.cvtColor(np.ascontiguousarray(warped, np.float32), cv2.COLOR_RGB2GRAY)
    ssim = float(ssim_map(grey, ref_grey)[cv2.erode(cover.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0].mean()) \
        if min(size) >= 7 else None
    return Fidelity(delta_e, ssim, coverage)


def plate_in_frame0(plate: np.ndarray, frame0: np.ndarray, plate_to_frame0: Any) -> np.ndarray:
    """Frame 0 as the plate says it should look: the carried plate where it covers, frame 0 elsewhere.

    The colour statistics of the clip are measured against this, so a cast on frame 0 alone is a
    ``first_frame`` finding, not a drift of every later frame.
    """
    small = _shrink(frame0, STATS_SIDE)
    warped, cover = carry_plate(plate, plate_to_frame0, frame0.shape[:2], (small.shape[1], small.shape[0]))
    reference = small.copy()
    reference[cover] = np.clip(np.rint(warped[cover] * 255.0), 0, 255).astype(np.uint8)
    return reference


def frame_statistics(frame: np.ndarray) -> dict[str, float]:
    """Whole-frame statistics of an RGB uint8 frame at :data:`STATS_SIDE`.

    Returns
    -------
    dict
        ``lightness`` (mean L*), ``a``, ``b`` (mean a*, b*), ``contrast`` (std of L*), ``chroma``
        (mean a*b* chroma), ``luma_p99`` (99th percentile of grey, levels), ``sharpness``
        (RMS Laplacian / std of grey at :data:`SHARPNESS_SIDE`), and ``grey`` (the shrunk grey image, levels as float32).
    """
    small = _shrink(frame, STATS_SIDE)
    lab = to_lab(small.astype(np.float32) / 255.0)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    coarse = _shrink(grey, SHARPNESS_SIDE)
    spread = float(coarse.std())
    laplacian = cv2.Laplacian(coarse, cv2.CV_32F, ksize=3)
    return {
        "lightness": float(lab[..., 0].mean()), "a": float(lab[..., 1].mean()), "b": float(lab[..., 2].mean()),
        "contrast": float(lab[..., 0].std()), "chroma": float(np.hypot(lab[..., 1], lab[..., 2]).mean()),
        "luma_p99": float(np.percentile(grey, 99)),
        "sharpness": float(np.sqrt((laplacian**2).mean()) / spread) if spread > 1e-3 else 0.0,
        "grey": grey,
    }  # fmt: skip


def _ratio(value: float, reference: float, floor: float) -> float | None:
    return value / reference if reference > floor else None


class ClipMeasure:
    """Per-frame QC values (:data:`QC_FIELDS`) gathered one frame at a time, so a streamed clip is
    never held: only frame 0's statistics and the latest frame are kept.

    Parameters
    ----------
    plate : ndarray (h, w, 3)
        The start plate; frame 0 is compared with it through ``plate_to_frame0``.
    plate_to_frame0 : array-like (3, 3)
    """

    def __init__(self, plate: np.ndarray, plate_to_frame0: Any) -> None:
        self.plate, self.plate_to_frame0 = plate, plate_to_frame0
        self.per_frame: list[dict[str, Any]] = []
        self.last: np.ndarray | None = None
        self._first: dict[str, Any] | None = None
        self._reference: dict[str, Any] | None = None
        self._previous: dict[str, Any] | None = None

    def add(self, frame: np.ndarray) -> None:
        """Measure the clip's next frame."""
        stats = frame_statistics(frame)
        row: dict[str, Any] = dict.fromkeys(QC_FIELDS)
        if self._first is None:
            self._first = stats  # sharpness reference: resampling the plate would soften it
            self._reference = frame_statistics(plate_in_frame0(self.plate, frame, self.plate_to_frame0))  # colour
            start = frame_fidelity(self.plate, frame, self.plate_to_frame0)
            row.update(plate_delta_e=start.delta_e, plate_ssim=start.ssim)
        else:
            row["frame_change"] = float(np.abs(stats["grey"] - self._previous["grey"]).mean())
        reference = self._reference
        row["luma_p99"] = stats["luma_p99"]
        row["brightness_shift"] = stats["lightness"] - reference["lightness"]
        row["color_shift"] = float(np.hypot(stats["a"] - reference["a"], stats["b"] - reference["b"]))
        row["contrast_ratio"] = _ratio(stats["contrast"], reference["contrast"], 0.5)
        row["saturation_ratio"] = _ratio(stats["chroma"], reference["chroma"], MIN_CHROMA)
        row["sharpness_ratio"] = _ratio(stats["sharpness"], self._first["sharpness"], 1e-3)
        self.per_frame.append(row)
        self._previous, self.last = stats, frame

    def measure_end(self, end_plate: np.ndarray, end_to_last: Any) -> None:
        """Compare the last frame taken with the end plate (through ``end_to_last``)."""
        end = frame_fidelity(end_plate, self.last, end_to_last)
        self.per_frame[-1].update(end_plate_delta_e=end.delta_e, end_plate_ssim=end.ssim)


def measure_clip(frames: Iterable[np.ndarray], plate: np.ndarray, plate_to_frame0: Any, *,
                 end_plate: np.ndarray | None = None, end_to_last: Any = None) -> ClipMeasure:
    """Per-frame QC values (:data:`QC_FIELDS`, ``None`` where not measurable) of a clip.

    Parameters
    ----------
    frames : iterable of ndarray (H, W, 3) uint8
    plate : ndarray (h, w, 3)
        The start plate; frame 0 is compared with it through ``plate_to_frame0``.
    plate_to_frame0 : array-like (3, 3)
    end_plate : ndarray, optional
        The end plate; the last frame is compared with it through ``end_to_last``.
    end_to_last : array-like (3, 3), optional
        Required with ``end_plate``.
    """
    measured = ClipMeasure(plate, plate_to_frame0)
    for frame in frames:
        measured.add(frame)
    if end_plate is not None:
        measured.measure_end(end_plate, end_to_last)
    return measured


@dataclass(frozen=True)
class QcRule:
    code: str
    key: str  # per-frame field
    limit: str  # CheckConfig attribute
    kind: str  # "above" | "below" | "abs" (its magnitude above)
    unit: str
    run: bool = True  # needs check.min_run consecutive frames (False: one frame is enough)

    def exceeds(self, value: float | None, limit: float) -> bool:
        if value is None:
            return False
        return {"above": value > limit, "below": value < limit, "abs": abs(value) > limit}[self.kind]


QC_RULES = (
    QcRule("first_frame", "plate_delta_e", "first_frame_delta_e", "above", "dE colour cast of frame 0 against the plate", run=False),
    QcRule("first_frame", "plate_ssim", "first_frame_ssim", "below", "SSIM of frame 0 against the plate", run=False),
    QcRule("last_frame", "end_plate_delta_e", "first_frame_delta_e", "above", "dE colour cast of the last frame against the end plate", run=False),
    QcRule("last_frame", "end_plate_ssim", "first_frame_ssim", "below", "SSIM of the last frame against the end plate", run=False),
    QcRule("global_drift", "brightness_shift", "drift_brightness", "abs", "L* change of the whole frame against the plate"),
    QcRule("global_drift", "color_shift", "drift_color", "above", "a*b* colour change of the whole frame against the plate"),
    QcRule("global_drift", "contrast_ratio", "drift_contrast", "below", "x the contrast of the plate"),
    QcRule("global_drift", "saturation_ratio", "drift_saturation", "below", "x the saturation of the plate"),
    QcRule("frozen", "frame_change", "frozen_levels", "below", "grey levels of change from the previous frame", run=False),
    QcRule("black", "luma_p99", "black_levels", "below", "grey levels at the 99th percentile", run=False),
    QcRule("sharpness", "sharpness_ratio", "sharpness_min", "below", "x the sharpness of frame 0"),
)  # fmt: skip


def judge_clip(per_frame: list[dict[str, Any]], cfg: CheckConfig, *, plate_black: bool = False,
               cut_at: int | None = None) -> list[Reason]:
    """The clip-level reasons, one per code of :data:`QC_CODES` that fails; the :data:`SHOT_CODES`
    are judged only before a hard cut at frame ``cut_at``.

    ``plate_black``: the plate itself is darker than ``check.black_levels`` (a night sky), so dark
    frames are not black frames. Black frames count only towards ``black``: their colour and
    sharpness say nothing more.
    """
    black = [not plate_black and row.get("luma_p99") is not None and row["luma_p99"] < cfg.black_levels
             for row in per_frame]
    reasons = []
    for code in QC_CODES:
        if code == "black" and plate_black:
            continue
        rules = [rule for rule in QC_RULES if rule.code == code]
        found: dict[QcRule, list[int]] = {}
        flags = [False] * len(per_frame)
        for rule in rules:
            limit = getattr(cfg, rule.limit)
            hits = [rule.exceeds(row.get(rule.key), limit) and (code == "black" or not black[t])
                    and not (code in SHOT_CODES and cut_at is not None and t >= cut_at)
                    for t, row in enumerate(per_frame)]
            runs = frame_ranges(hits, cfg.min_run if rule.run else 1)
            found[rule] = [t for a, b in runs for t in range(a, b + 1)]
            for t in found[rule]:
                flags[t] = True
        ranges = frame_ranges(flags)
        if not ranges:
            continue
        parts = []
        for rule in rules:
            if not found[rule]:
                continue
            values = [per_frame[t][rule.key] for t in found[rule]]
            worst = {"above": max, "below": min, "abs": lambda v: max(v, key=abs)}[rule.kind](values)
            parts.append(f"{worst:.3g} {rule.unit} (threshold {getattr(cfg, rule.limit):g}, check.{rule.limit})")
        where = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)
        reasons.append(Reason(code, f"{code}: " + "; ".join(parts) + f" in frames {where}", ranges))
    return reasons


def check_clip_qc(frames: Iterable[np.ndarray] | ClipMeasure, plate: np.ndarray, plate_to_frame0: Any, cfg: CheckConfig, *,
                  end_plate: np.ndarray | None = None, end_to_last: Any = None, cut_at: int | None = None) -> ClipQC:
    """Measure and judge a clip as a whole (see the module docstring).

    Parameters
    ----------
    frames : iterable of ndarray (H, W, 3) uint8, or ClipMeasure
        The clip, or its measurements already gathered while it streamed past (then ``plate``,
        ``plate_to_frame0`` and the end plate are those it was measured with).
    plate : ndarray (h, w, 3)
    plate_to_frame0 : array-like (3, 3)
        Plate -> frame-0 pixel coordinates (the render sidecar's, or the check's alignment).
    cfg : CheckConfig
        ``first_frame_*``, ``drift_brightness``/``color``/``contrast``/``saturation``,
        ``frozen_levels``, ``black_levels``, ``sharpness_min`` and ``min_run``.
    end_plate, end_to_last : optional
        The end plate and its transform into the last frame.
    cut_at : int, optional
        The first frame after a hard cut: from there on, drift and sharpness are not judged.

    Returns
    -------
    ClipQC

    Examples
    --------
    >>> from keyframe.config import CheckConfig
    >>> plate = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    >>> faded = np.stack([(plate * (1 - 0.05 * t) + 128 * 0.05 * t).astype(np.uint8) for t in range(8)])
    >>> [r.code for r in check_clip_qc(faded, plate, np.eye(3), CheckConfig()).reasons]
    ['global_drift']
    """
    measured = frames if isinstance(frames, ClipMeasure) else measure_clip(
        frames, plate, plate_to_frame0, end_plate=end_plate, end_to_last=end_to_last)
    per_frame = measured.per_frame
    plate_black = float(np.percentile(cv2.cvtColor(to_float(plate), cv2.COLOR_RGB2GRAY), 99)) * 255 < cfg.black_levels
    reasons = judge_clip(per_frame, cfg, plate_black=plate_black, cut_at=cut_at)
    status = {
        "first_frame": _available(per_frame[0]["plate_ssim"], "the plate does not cover frame 0 where aligned"),
        "last_frame": _available(per_frame[-1]["end_plate_ssim"] if end_plate is not None else None,
                                 "no end plate given" if end_plate is None else "the end plate does not cover the last frame"),
        "saturation": _available(per_frame[0]["saturation_ratio"], "frame 0 is grey: no saturation to compare"),
    }

    def extreme(key: str, how: Any) -> float | None:
        values = [row[key] for row in per_frame if row.get(key) is not None]
        return round(float(how(values)), 4) if values else None

    summary = {
        "plate_delta_e": extreme("plate_delta_e", max), "plate_ssim": extreme("plate_ssim", min),
        "end_plate_delta_e": extreme("end_plate_delta_e", max), "end_plate_ssim": extreme("end_plate_ssim", min),
        "max_brightness_shift": extreme("brightness_shift", lambda v: max(v, key=abs)),
        "max_color_shift": extreme("color_shift", max), "min_contrast_ratio": extreme("contrast_ratio", min),
        "min_saturation_ratio": extreme("saturation_ratio", min), "min_frame_change": extreme("frame_change", min),
        "min_luma_p99": extreme("luma_p99", min), "min_sharpness_ratio": extreme("sharpness_ratio", min),
    }  # fmt: skip
    rounded = [{k: (None if v is None else round(float(v), 4)) for k, v in row.items()} for row in per_frame]
    return ClipQC(rounded, reasons, summary, status)


def _available(value: float | None, why: str) -> dict[str, Any]:
    return {"available": True, "why": None} if value is not None else {"available": False, "why": why}
