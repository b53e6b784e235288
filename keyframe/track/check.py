"""The consistency check: track the edited region through a clip, measure it, and judge it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keyframe.config import CheckConfig
from keyframe.errors import KeyframeError
from keyframe.io.images import to_float
from keyframe.io.stream import FrameRange
from keyframe.metrics import SIGNS, LpipsMetric, float_series, lpips_status, relative_drift, to_lab, vbench_flicker
from keyframe.metrics.clip_qc import ClipMeasure, check_clip_qc
from keyframe.metrics.register import PlateRegister
from keyframe.registry import Progress
from keyframe.track.align import Alignment, align_plate
from keyframe.track.flow import make_flow
from keyframe.track.frames import FRAME_FIELDS, FrameMetrics, TrackedMasks
from keyframe.track.layers import Attachment, OutlineMotion, attach, edit_outline_distance
from keyframe.track.measure import SSIM_WINDOW, FrameMeasure
from keyframe.track.propagate import track_region
from keyframe.track.stream import WorkingFrames
from keyframe.validation import check_mask, check_plate
from keyframe.verdict import Reason, judge, verdict_of


@dataclass
class CheckResult:
    """The outcome of :func:`check_clip`."""

    verdict: str  # "pass" | "flagged"
    reasons: list[Reason]
    per_frame: list[FrameMetrics]
    summary: dict[str, Any]
    tracked_masks: TrackedMasks  # per frame: (H, W) bool, kept compactly
    metric_status: dict[str, dict[str, Any]]
    alignment: Alignment | None = field(default=None, repr=False)
    attachment: Attachment | None = None
    broken_outline: list[np.ndarray | None] = field(default_factory=list, repr=False)  # per frame (N, 2) x, y, clip px


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _delta(region: float | None, ring: float | None) -> float | None:
    return None if region is None or ring is None else region - ring


def _finish(rows: list[dict[str, Any]], floats: list[dict[str, Any]], cfg: CheckConfig) -> list[FrameMetrics]:
    """Derived columns (float, region-vs-ring excesses, drift since frame 0 against the attached ring), rounded."""
    first = rows[0]
    slip = 0.0
    out = []
    for row, judged in zip(rows, floats):
        row.update(judged)
        if row.get("area_px") and row.get("slip_px") is None:
            row["slip_px"] = slip  # nothing judged in this frame: the slip so far stands
        slip = row.get("slip_px") or slip
        if row.get("note") is None and row["frame"] and row.get("area_px") and not judged:
            row["note"] = "too few visible pixels on one side of the region's outline to compare their motion"
        row["flicker_excess"] = _delta(row.get("flicker_region"), row.get("flicker_ring"))
        if row.get("warp_region") is not None and row.get("warp_ring") is not None:
            row["warp_ratio"] = row["warp_region"] / max(row["warp_ring"], cfg.warp_floor)
        for key in SIGNS:
            row[f"drift_{key}"] = relative_drift(first, row, key)
        digits = {"time_s": 4, "warp_region": 7, "warp_ring": 7}
        out.append(FrameMetrics(**{k: (_r(row.get(k), digits.get(k, 4)) if isinstance(row.get(k), float) else row.get(k))
                                   for k in FRAME_FIELDS}))
    return out


# metric -> the per-frame column the verdict reads for it
_VERDICT_COLUMNS = {"float": "float_px", "warp": "warp_ratio", "flicker": "flicker_excess", "ssim": "drift_ssim",
                    "delta_e": "drift_delta_e", "lpips": "drift_lpips"}


def _mark_unmeasured(status: dict[str, dict[str, Any]], per_frame: list[FrameMetrics]) -> None:
    """A metric available in principle but null in every frame is reported unavailable, and why."""
    for metric, column in _VERDICT_COLUMNS.items():
        if status[metric]["available"] and all(row.get(column) is None for row in per_frame):
            status[metric] = {"available": False, "why": "not measurable in any frame: too few visible pixels in "
                              "the region or in its ring of background (mask too small, too large or lost)"}


def check_clip(frames: np.ndarray | Iterable[np.ndarray], plate: np.ndarray, mask: np.ndarray, cfg: CheckConfig, *,
               fps: float, plate_to_frame0: Any = None, progress: Progress | None = None,
               select: FrameRange | None = None, end_plate: np.ndarray | None = None,
               end_to_last: Any = None) -> CheckResult:
    """Track the plate's edited region through ``frames`` and judge whether it stayed glued to what it belongs to.

    The clip is taken one frame at a time and only what the verdict and report need is kept
    (the per-frame records and the tracked masks, compactly), so memory does not grow with the
    clip's length. Frames whose long side exceeds ``cfg.working_size`` are tracked and measured
    scaled down to it; positions and motions are reported in the clip's own pixels.

    The clip as a whole is also checked (:mod:`keyframe.metrics.clip_qc`): frame 0 against the
    plate (and the last frame against ``end_plate``), global colour drift, frozen and black frames,
    sharpness decay; its columns join the per-frame rows and its reasons the verdict.

    Parameters
    ----------
    frames : ndarray (T, H, W, 3) uint8, or an iterable of (H, W, 3) uint8 frames
        The clip, RGB: an array, or a stream such as :class:`keyframe.io.ClipStream`.
    plate : ndarray (h, w, 3) uint8 or uint16
        The plate the clip was made from.
    mask : ndarray (h, w) bool
        The edited region, in plate coordinates.
    cfg : CheckConfig
        Flow backend, ring geometry, working size and thresholds.
    fps : float
        Frame rate of the source clip (for the per-frame times).
    plate_to_frame0 : array-like (3, 3), optional
        Plate -> frame-0 homography from the render sidecar; estimated from features if omitted.
    progress : callable, optional
        Called as ``progress(done, total)`` after each frame (``total`` is 0 when a stream does
        not know its length).
    select : FrameRange, optional
        Which frames of the source clip ``frames`` holds (``--frames``, ``--stride``): per-frame
        times are the source's, and the summary records the range. Frame numbers in the report
        count the frames checked.
    end_plate : ndarray (h, w, 3), optional
        The end plate of a keyframe pair: the last frame is measured against it.
    end_to_last : array-like (3, 3), optional
        End plate -> last-frame homography (the render sidecar's ``last_to_frame``); estimated
        from features when omitted, or the plain crop fit when the last frame does not match.

    Returns
    -------
    CheckResult

    Raises
    ------
    KeyframeError
        If the clip does not match its plate, or the region is not inside frame 0.

    Examples
    --------
    >>> result = check_clip(frames, plate, mask, CheckConfig(), fps=7.0)  # doctest: +SKIP
    >>> result.verdict, [r.code for r in result.reasons]  # doctest: +SKIP
    ('flagged', ['float'])
    """
    plate = check_plate(plate, allow_float=True)
    mask = check_mask(mask, plate.shape[:2])
    select = select or FrameRange()
    total = len(frames) if hasattr(frames, "__len__") else (getattr(frames, "count", None) or 0)
    started = time.perf_counter()
    rgb = to_float(plate)
    # OpenCV builds its Lab tables on its first Lab conversion (0.1-0.2 s): the plate's is made while
    # the first frame decodes and the plate is aligned
    with ThreadPoolExecutor(1) as pool:
        plate_lab = pool.submit(to_lab, rgb)
        clip = WorkingFrames(frames, cfg)
        alignment = align_plate(plate, clip.first, plate_to_frame0, min_ncc=cfg.align_min_ncc,
                                min_inliers=cfg.align_min_inliers)
    measured = ClipMeasure(plate, alignment.matrix)  # whole-clip QC, frame by frame as the clip streams past
    clip.on_frame = measured.add
    status = {name: {"available": True, "why": None} for name in ("ssim", "delta_e", "warp", "flicker", "float")}
    available, why = lpips_status() if cfg.lpips == "auto" else (False, "turned off (check.lpips: off)")
    status["lpips"] = {"available": available, "why": why}

    def time_of(t: int) -> float:
        return select.source_frame(t) / fps

    measure = FrameMeasure(rgb, plate_lab.result(), cfg, LpipsMetric() if available else None, scale=clip.scale,
                       time_of=time_of)
    measure.edit_distance = edit_outline_distance(mask)
    flow = make_flow(cfg.flow, cfg.dis_preset)
    sx, sy = clip.working[1] / clip.first.shape[1], clip.working[0] / clip.first.shape[0]
    # clip px -> working px with pixel centres kept (cv2.resize's convention): a plain scale would put
    # the plate a quarter pixel off the working frames at half size
    to_working = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    plate_to_working = to_working @ alignment.matrix
    measure.plate_register = PlateRegister(measure.grey, 1.0 / np.sqrt(abs(np.linalg.det(plate_to_working[:2, :2]))))
    measure.plate_to_frame0 = plate_to_working

    tracked = TrackedMasks(clip.first.shape[:2], clip.working)
    rows: list[dict[str, Any]] = []
    outlines: list[OutlineMotion | None] = []
    # the box must hold the ring plus the SSIM window: SSIM next to a cropped edge reads reflected pixels
    margin = cfg.ring_gap_px + cfg.ring_px + SSIM_WINDOW
    for step in track_region(clip, mask, to_working @ alignment.matrix, flow, plate_grey=measure.grey, margin=margin,
                             search=cfg.search_px, levels=cfg.occluder_levels):
        tracked.append(step.box, step.mask)
        row, outline = measure(step, clip.scenes[step.t])
        rows.append(row)
        outlines.append(outline)
        if progress is not None:
            progress(step.t + 1, max(total, step.t + 1))
    if not rows:
        raise KeyframeError("the edited region does not fall inside the clip's first frame after alignment")
    total = clip.drain()
    cut_at, scenes = clip.cut_at, clip.scenes
    lost_at = len(rows) if len(rows) < total else None
    for t in range(len(rows), total):
        after_cut = cut_at is not None and t >= cut_at
        rows.append({"frame": t, "time_s": time_of(t), "area_px": 0, "visible": 0.0, "in_frame": None,
                     "note": f"after the cut at frame {cut_at}: a new shot" if after_cut
                     else "region lost: no tracked pixels left"})
        outlines.append(None)
        tracked.append(None, None)
    for row, scene in zip(rows, scenes):
        row["scene_similarity"] = None if scene is None else scene.similarity
    attachment = attach(outlines, cfg.attach, frames=cfg.attach_frames, contrast_px=cfg.attach_contrast_px,
                        continuity=cfg.attach_continuity, min_share=cfg.attach_min_share)
    floats, broken = float_series(outlines, attachment.layer, tolerance_px=cfg.layer_px, tolerance_rel=cfg.layer_rel,
                                  speed_floor_px=cfg.speed_floor_px, min_share=cfg.attach_min_share,
                                  jump_px=cfg.layer_jump_px, registered=[row.get("registered") for row in rows])
    if clip.scale < 1.0:  # motions and outline pixels from the working size to the clip's own pixels
        floats = [{k: v * measure.unit if k in _PIXEL_COLUMNS and v is not None else v for k, v in judged.items()}
                  for judged in floats]
        broken = [None if points is None else np.rint(points * measure.unit).astype(points.dtype) for points in broken]
    per_frame = _finish(rows, floats, cfg)
    _mark_unmeasured(status, per_frame)
    end_alignment = None if end_plate is None else _align_end(end_plate, measured.last, end_to_last, cfg)
    if end_alignment is not None:
        measured.measure_end(end_plate, end_alignment.matrix)
    qc = check_clip_qc(measured, plate, alignment.matrix, cfg, cut_at=cut_at)
    per_frame = [dataclasses.replace(row, **qc_row) for row, qc_row in zip(per_frame, qc.per_frame)]
    status.update(qc.status)
    reasons = judge(per_frame, cfg, cut_at=cut_at, attached=attachment.layer) + qc.reasons
    summary = _summary(per_frame, alignment, cfg, lost_at, fps, time.perf_counter() - started)
    summary.update(attachment=attachment.as_dict(), cut_at_frame=cut_at, frames_used=select.as_dict(),
                   resolution=clip.resolution())
    summary["clip_qc"] = {**qc.summary, "end_alignment": None if end_alignment is None else end_alignment.as_dict()}
    return CheckResult(verdict_of(reasons), reasons, per_frame, summary, tracked, status, alignment, attachment, broken)


#: float_series columns in pixels (or px/frame), scaled from the working size to the clip's pixels
_PIXEL_COLUMNS = ("float_px", "slip_px", "region_dx", "region_dy", "ring_dx", "ring_dy")


def _align_end(end_plate: np.ndarray, last: np.ndarray, end_to_last: Any, cfg: CheckConfig) -> Alignment:
    """The end plate -> last frame transform: given, estimated, or (no match) the plain crop fit.

    A last frame that does not match its end plate is a finding of the check, not an input error:
    the crop fit lets the clip QC measure how far off it is.
    """
    try:
        return align_plate(end_plate, last, end_to_last, min_ncc=0.0 if end_to_last is not None else cfg.align_min_ncc,
                           min_inliers=cfg.align_min_inliers)
    except KeyframeError:
        from keyframe.render.fit import plan_fit  # here: the render package is not on the check's start-up path

        fit = plan_fit((end_plate.shape[1], end_plate.shape[0]), (last.shape[1], last.shape[0]))
        return Alignment(fit.matrix, "fit", 0.0, None)


def _summary(rows: list[FrameMetrics], alignment: Alignment, cfg: CheckConfig, lost_at: int | None, fps: float,
             seconds: float) -> dict[str, Any]:
    def column(key: str) -> list[float]:
        return [row[key] for row in rows if row.get(key) is not None]

    def stat(key: str, how: Callable) -> float | None:
        values = column(key)
        return _r(how(values), 7) if values else None

    return {
        "frames": len(rows),
        "fps": fps,
        "lost_at_frame": lost_at,
        "alignment": alignment.as_dict(),
        "flow": {"backend": cfg.flow, "preset": cfg.dis_preset if cfg.flow == "dis" else None},
        "max_float_px": stat("float_px", max),
        "max_float_ratio": stat("float_ratio", max),
        "max_slip_px": stat("slip_px", max),
        "max_slip_ratio": stat("slip_ratio", max),
        "max_slip_size": stat("slip_size", max),
        "min_visible": stat("visible", min),
        "vbench_flicker_region": vbench_flicker(column("flicker_region")),
        "vbench_flicker_ring": vbench_flicker(column("flicker_ring")),
        "warping_error_region": stat("warp_region", np.mean),
        "warping_error_ring": stat("warp_ring", np.mean),
        "max_warp_ratio": stat("warp_ratio", max),
        "max_flicker_excess": stat("flicker_excess", max),
        "mean_ssim_region": stat("ssim_region", np.mean),
        "mean_ssim_ring": stat("ssim_ring", np.mean),
        "max_drift_ssim": stat("drift_ssim", max),
        "max_drift_delta_e": stat("drift_delta_e", max),
        "max_drift_lpips": stat("drift_lpips", max),
        "seconds": round(seconds, 3),
    }
