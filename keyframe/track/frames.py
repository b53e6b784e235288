"""The check's per-frame record (what was measured on the tracked region in one frame) and its tracked masks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from keyframe.masks import Box


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
    # slip_px the region's displacement against that layer since frame 0, registered from its
    # appearance (slip_ratio: over how far that layer itself carried the outline since frame 0)
    region_dx: float | None = None
    region_dy: float | None = None
    ring_dx: float | None = None
    ring_dy: float | None = None
    float_px: float | None = None
    float_ratio: float | None = None
    slip_px: float | None = None
    slip_ratio: float | None = None
    slip_size: float | None = None  # slip_px over the region's size (RMS distance of its outline from its centre)
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


@dataclass(eq=False)
class TrackedMasks:
    """The tracked region of every frame, kept compactly: each frame's mask inside its box, bit-packed.

    A 1080p clip's masks as ``(T, H, W)`` bool would cost 2 MB a frame; packed inside the region's
    box they cost a few kB, so the check's memory does not grow with the clip's length. Indexing
    gives a frame's ``(H, W)`` bool mask at the clip's own ``size`` (the tracking may run at a
    smaller working size); ``np.asarray(masks)`` gives the whole ``(T, H, W)`` stack.

    Examples
    --------
    >>> masks = TrackedMasks((4, 6))
    >>> region = np.zeros((2, 3), bool); region[1, 1:] = True
    >>> masks.append(Box(1, 3, 2, 5), region); masks.append(None, None)
    >>> masks.shape, masks[0].nonzero(), int(masks[-1].sum())
    ((2, 4, 6), (array([2, 2]), array([3, 4])), 0)
    """

    size: tuple[int, int]  # (H, W) of the clip's frames
    working: tuple[int, int] | None = None  # (H, W) the masks were tracked at (default: size)
    packed: list[tuple[Box, tuple[int, int], np.ndarray] | None] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.size = tuple(self.size)
        self.working = tuple(self.working or self.size)

    def append(self, box: Box | None, mask: np.ndarray | None) -> None:
        """Keep frame ``len(self)``'s mask (``mask`` is ``box``-sized, at the working size; None: lost)."""
        self.packed.append(None if box is None else (box, mask.shape, np.packbits(mask)))

    def __len__(self) -> int:
        return len(self.packed)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self), *self.size)

    def __getitem__(self, t: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        if not isinstance(t, (int, np.integer)):  # a slice or frame numbers: a (n, H, W) stack of those frames
            picked = range(len(self))[t] if isinstance(t, slice) else [int(i) for i in np.asarray(t).ravel()]
            return np.stack([self[i] for i in picked]) if len(picked) else np.zeros((0, *self.size), bool)
        kept = self.packed[t]
        mask = np.zeros(self.working, bool)
        if kept is not None:
            box, shape, bits = kept
            mask[box.slices] = np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)
        if self.working != self.size:
            mask = cv2.resize(mask.view(np.uint8), self.size[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
        return mask

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[t] for t in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        stack = np.stack(list(self)) if len(self) else np.zeros((0, *self.size), bool)
        return stack if dtype is None else stack.astype(dtype)
