"""The check's per-frame record: what was measured on the tracked region in one frame."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class FrameMetrics:
    """One frame's measurements (``None``: not measurable in this frame; see ``note``).

    Fields are read by name (``row.float_px``) or, like a diffusers output, by key
    (``row["float_px"]``, ``row.get("float_px")``), so rules and plots can name a column.
    ``to_dict`` gives the ``frames`` rows of ``report.json`` and ``frames.csv``, in field order.

    Examples
    --------
    >>> row = FrameMetrics(frame=3, visible=0.5)
    >>> row.visible, row["visible"], row.get("float_px"), list(row.to_dict())[:3]
    (0.5, 0.5, None, ['frame', 'time_s', 'area_px'])
    """

    frame: int
    time_s: float | None = None
    area_px: int | None = None
    centroid_x: float | None = None
    centroid_y: float | None = None

    # how much of the region is seen: in the frame, and not occluded (fractions)
    visible: float | None = None
    in_frame: float | None = None
    occluded: float | None = None

    # what the region was judged against (keyframe.track.layers): "scene" | "subject" | "mixed",
    # the share of its ring that moves apart from the camera, and the share of its outline where
    # its motion breaks from the attached layer's
    attached: str | None = None
    subject_share: float | None = None
    outline_discontinuity: float | None = None

    # motion (px/frame) just inside the region's outline and of the attached surroundings just
    # outside; float_px is their coherent difference (float_ratio: over the surroundings' speed),
    # slip_px its sum since frame 0 (slip_ratio: over the path the surroundings travelled)
    region_dx: float | None = None
    region_dy: float | None = None
    ring_dx: float | None = None
    ring_dy: float | None = None
    float_px: float | None = None
    float_ratio: float | None = None
    slip_px: float | None = None
    slip_ratio: float | None = None
    # correlation of this frame with the previous one, motion-compensated (a hard cut is ~0)
    scene_similarity: float | None = None

    # warping error and motion-compensated flicker, region vs ring
    warp_region: float | None = None
    warp_ring: float | None = None
    warp_ratio: float | None = None
    flicker_region: float | None = None
    flicker_ring: float | None = None
    flicker_excess: float | None = None

    # appearance against the plate carried along the track, region vs ring, and its drift
    ssim_region: float | None = None
    ssim_ring: float | None = None
    drift_ssim: float | None = None
    delta_e_region: float | None = None
    delta_e_ring: float | None = None
    drift_delta_e: float | None = None
    lpips_region: float | None = None
    lpips_ring: float | None = None
    drift_lpips: float | None = None

    # the whole frame (keyframe.metrics.clip_qc.QC_FIELDS): change from the previous frame, black
    # level, colour/contrast/saturation against the plate, sharpness against frame 0, and the
    # start (frame 0) / end (last frame) plates' fidelity
    frame_change: float | None = None
    luma_p99: float | None = None
    brightness_shift: float | None = None
    color_shift: float | None = None
    contrast_ratio: float | None = None
    saturation_ratio: float | None = None
    sharpness_ratio: float | None = None
    plate_delta_e: float | None = None
    plate_ssim: float | None = None
    end_plate_delta_e: float | None = None
    end_plate_ssim: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, in order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __getitem__(self, key: str) -> Any:
        if key not in FRAME_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """The field called ``key``, or ``default`` if there is no such field."""
        return getattr(self, key) if key in FRAME_FIELDS else default


#: The per-frame columns, in report order.
FRAME_FIELDS = tuple(f.name for f in dataclasses.fields(FrameMetrics))
