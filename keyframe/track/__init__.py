"""Tracking edited regions through clips: flow, mask propagation, plate alignment, the check itself."""

from keyframe.track.align import Alignment, align_plate
from keyframe.track.check import CheckResult, check_clip
from keyframe.track.flow import FlowBackend, make_flow
from keyframe.track.frames import FrameMetrics
from keyframe.track.propagate import occlusion, track_region
from keyframe.verdict import Reason

__all__ = [
    "Alignment",
    "CheckResult",
    "FlowBackend",
    "FrameMetrics",
    "Reason",
    "align_plate",
    "check_clip",
    "make_flow",
    "occlusion",
    "track_region",
]
