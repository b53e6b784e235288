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
    visible: float | None = None  # fraction of the region in the frame and not occluded
    in_frame: float | None = None
    occluded: float | None = None
    region_dx: float | None = None  # motion of the region and of its ring of background (px/frame)
    region_dy: float | None = None
    ring_dx: float | None = None
    ring_dy: float | None = None
    float_px: float | None = None  # region motion against its ring (px/frame)
    slip_px: float | None = None  # float accumulated since frame 0 (px)
    warp_region: float | None = None
    warp_ring: float | None = None
    warp_ratio: float | None = None
    flicker_region: float | None = None
    flicker_ring: float | None = None
    flicker_excess: float | None = None
    ssim_region: float | None = None  # against the plate carried along the track
    ssim_ring: float | None = None
    drift_ssim: float | None = None
    delta_e_region: float | None = None
    delta_e_ring: float | None = None
    drift_delta_e: float | None = None
    lpips_region: float | None = None
    lpips_ring: float | None = None
    drift_lpips: float | None = None
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
