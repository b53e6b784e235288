"""Relative drift: the region's appearance change judged against that of what it belongs to.

Each frame, the region and its ring are compared with the plate carried along the track (SSIM,
colour difference, LPIPS). The region drifts when it has changed since frame 0 by more than its
*attached* surroundings have over the same frames: for a region on a moving subject, the ring
pixels of that subject (:mod:`keyframe.track.layers`); for scenery, the whole ring. A head turn
that changes face and hair alike is not drift; a region that morphs, smears or flickers while
its surroundings hold is.
"""

from __future__ import annotations

from typing import Any

# attached layer -> which ring figures stand for its surroundings. A region on the scene keeps the
# whole ring: a subject or an occluder passing over ring and region alike changes both.
_RING = {"subject": "ring_subject"}
# metric -> +1 when a higher value is better (SSIM), -1 when lower is better (distances)
SIGNS = {"ssim": 1.0, "delta_e": -1.0, "lpips": -1.0}


def relative_drift(first: dict[str, Any], row: dict[str, Any], metric: str) -> float | None:
    """How much more ``metric`` got worse in the region than in its attached ring since ``first``.

    Parameters
    ----------
    first, row : dict
        Frame 0's and this frame's figures: ``{metric}_region``, ``{metric}_ring`` and, where the
        ring was split into layers, ``{metric}_ring_scene`` / ``{metric}_ring_subject``; ``row``
        names its ``attached`` layer (``mixed`` or none: the whole ring).
    metric : {"ssim", "delta_e", "lpips"}

    Returns
    -------
    float, or None when either side was not measured.

    Examples
    --------
    >>> first = {"ssim_region": 1.0, "ssim_ring": 1.0}
    >>> row = {"ssim_region": 0.8, "ssim_ring": 0.95, "ssim_ring_subject": 0.82, "attached": "subject"}
    >>> round(relative_drift(first, row, "ssim"), 3)  # face and hair changed alike
    0.02
    """
    region_0, region_t = first.get(f"{metric}_region"), row.get(f"{metric}_region")
    ring_t = row.get(f"{metric}_{_RING.get(row.get('attached'), 'ring')}")
    ring_t = row.get(f"{metric}_ring") if ring_t is None else ring_t
    ring_0 = first.get(f"{metric}_ring")  # frame 0 matches the plate everywhere: one ring figure
    if None in (region_0, region_t, ring_0, ring_t):
        return None
    return SIGNS[metric] * ((region_0 - region_t) - (ring_0 - ring_t))
