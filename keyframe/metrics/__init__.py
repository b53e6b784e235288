"""Per-frame metrics of a tracked region and its ring of background.

Each function takes small arrays (a crop around the region) and boolean selections, and returns
plain floats, or ``None`` when there are no pixels to measure (the caller says why).
"""

from keyframe.metrics.appearance import delta_e_map, ssim_map, to_lab
from keyframe.metrics.drift import SIGNS, relative_drift
from keyframe.metrics.flicker import flicker_mae, vbench_flicker
from keyframe.metrics.float import FloatFrame, fit_similarity, float_series, judge_outline
from keyframe.metrics.lpips import LpipsMetric, lpips_status
from keyframe.metrics.warp import warping_error

__all__ = [
    "LpipsMetric",
    "SIGNS",
    "FloatFrame",
    "delta_e_map",
    "fit_similarity",
    "flicker_mae",
    "float_series",
    "judge_outline",
    "lpips_status",
    "relative_drift",
    "ssim_map",
    "to_lab",
    "vbench_flicker",
    "warping_error",
]
