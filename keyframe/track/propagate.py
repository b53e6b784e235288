"""Carry the plate's mask through a clip with dense flow, with forward-backward occlusion checks.

The tracker keeps, for every pixel near the region in frame t, the plate coordinate it shows
(a map composed pair by pair through the backward flow). The mask of frame t is the plate mask
sampled once through that map, so it never blurs by repeated resampling, and the same map gives
the plate's appearance "carried along the track" for drift metrics.

Work is confined to a box around the region (its bounding box plus the ring and a search
margin for the motion); when the region reaches the edge of that box the margin is doubled and
the pair recomputed.

Occlusion follows Lai et al. (2018) / ProPainter: a pixel of frame t is occluded when its
backward flow and the forward flow it lands on disagree,
``|F_bw + F_fw(x + F_bw)|^2 > 0.01 (|F_bw|^2 + |F_fw(x + F_bw)|^2) + 0.5``, or when it is on a
motion boundary, ``|grad F_bw|^2 > 0.01 |F_bw|^2 + 0.002``.

Long clips (a five-second 121-frame render) need three more things, each measured on swaying
camera clips of real photos (``tests/clips.py``, :func:`swaying_clip`):

1. **No erosion.** Pixels entering the box carry no coordinate. Composing the map used to keep a
   pixel only when all four bilinear neighbours had one, which cut the sub-pixel part of the
   motion off the tracked area every frame: it shrank about a pixel a frame from the box's edge
   until, after ~50 frames, it ate the region (lost, or judged against a vanishing ring). Now a
   pixel is tracked when tracked neighbours carry at least half its bilinear weight
   (normalised interpolation), so the tracked area's edge moves with the content and no further.
2. **Occluders keep the strict rule.** An occluded pixel's flow belongs to what covers or
   uncovers it; letting it blend coordinates from half its neighbours dragged the region's
   coordinates along an occluder's edge and onto pixels it uncovered (a natural clip then read
   as drift). Occluded pixels stay tracked only when all four neighbours are.
3. **Re-anchoring.** Frame-to-frame DIS flow is slightly biased on fine texture (sub-pixel
   "locking": up to ~0.1 px a frame, not the same inside the region as around it), and the
   chained map sums the biases: ~5 px by frame 120, enough to read as drift. Every 4 frames the
   map is re-derived by ONE flow straight from an earlier anchor frame and that frame's map
   (multi-step flow integration: Crivelli et al., "Robust optical flow integration", IEEE TIP
   2015; Conze et al., "Multi-reference combinatorial strategy towards longer long-term dense
   motion estimation", CVIU 2016). It starts at frame 16: chained maps hold over the 16 frames of
   the calibration clips, and re-deriving sooner moved fragile occluded subject clips (a natural
   clip with an occluder crossing its region read as float or drift). Anchors are dyadic: frame t (a multiple of 4) is reached from
   the last multiple of twice its lowest set bit (t - 4, t - 8, t - 16 or t - 32), so any frame
   is a handful of long flows from frame 0 instead of t short ones. It is still tracking: the
   long flow follows the pixels, so a region that slides or morphs against its surroundings is
   followed exactly as the chain follows it, never registered back onto the plate. Pixels the
   long flow does not match both ways (the same occlusion test), or where it disagrees with the
   chain by more than a bias could explain (a failed long flow on a low-texture or non-rigid
   subject), keep the chained coordinate.

Registering the carried plate onto the frame over the ring (an affine ECC or RANSAC fit) was
tried for the third point and did not help: the slip is not the same inside the region as in its
ring, and a ring-only affine cannot move the region's own error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.masks import Box, bounding_box
from keyframe.track.flow import FlowBackend

FB_ALPHA, FB_BETA = 0.01, 0.5  # Lai et al. forward-backward consistency
MB_ALPHA, MB_BETA = 0.01, 0.002  # Lai et al. motion boundary
_OUTSIDE = -1.0e6  # plate coordinate of "not tracked": samples outside every image
_POINTS = 400  # region points advected forward to measure how much of the region is still in frame
_MAX_GROW = 3  # search margin doublings before accepting a region cut by its box
_ANCHOR_EVERY = 4  # frames between re-derivations of the map by one long-range flow (see _reanchor)
_ANCHOR_LONGEST = 32  # frames: the longest span of one such flow
_ANCHOR_FROM = 16  # first re-derived frame: chained maps hold over 16 frames (the calibration clips' length)
_ANCHOR_AGREE_PX = 2.0  # px: a long-flow coordinate further than this from the chained one is a failure, not a fix


@dataclass
class Step:
    """What the tracker knows about frame ``t``, inside ``box`` (all arrays are box-sized)."""

    t: int
    box: Box
    mask: np.ndarray  # bool: the tracked region
    map_x: np.ndarray  # float32: plate x coordinate each pixel shows (_OUTSIDE if untracked)
    map_y: np.ndarray
    in_frame: float  # fraction of the frame-0 region still inside the frame
    grey: np.ndarray  # float32 [0, 1]: frame t
    flow_bw: np.ndarray | None = None  # (h, w, 2): frame t -> frame t-1 (None at t = 0)
    occluded: np.ndarray | None = None  # bool
    prev_warped: np.ndarray | None = None  # float32 [0, 1]: frame t-1 warped onto frame t
    frame: np.ndarray | None = None  # (H, W, 3) uint8: the whole frame t (a reference, not a copy)
    shows_plate: np.ndarray | None = None  # bool: tracked, and looks like the plate point it is carried from


def _grid(box: Box) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(box.x0, box.x1, dtype=np.float32), np.arange(box.y0, box.y1, dtype=np.float32))


def _remap(image: np.ndarray, x: np.ndarray, y: np.ndarray, border: float = 0.0) -> np.ndarray:
    return cv2.remap(image, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def _compose(map_x: np.ndarray, map_y: np.ndarray, x: np.ndarray, y: np.ndarray,
             occluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample the plate-coordinate maps at ``(x, y)``, blending tracked neighbours only.

    A pixel is tracked when tracked neighbours carry at least half its bilinear weight, so the
    edge of the tracked area moves with the content and no further (the coordinates are the
    blend of the tracked neighbours alone: the ``_OUTSIDE`` sentinel blended in would land
    anywhere, e.g. as stray fragments along the crop box). An ``occluded`` pixel, whose flow
    belongs to whatever covers or uncovers it, is tracked only when all four neighbours are.
    """
    known = (map_x > _OUTSIDE / 2).astype(np.float32)
    weight = _remap(known, x, y)
    valid = np.where(occluded, weight > 0.999, weight > 0.5)
    scale = 1.0 / np.maximum(weight, 1e-6)
    return (np.where(valid, _remap(map_x * known, x, y) * scale, _OUTSIDE).astype(np.float32),
            np.where(valid, _remap(map_y * known, x, y) * scale, _OUTSIDE).astype(np.float32))


def occlusion(flow_bw: np.ndarray, flow_fw: np.ndarray) -> np.ndarray:
    """Lai et al.'s occlusion mask for the pixels of the second frame.

    Parameters
    ----------
    flow_bw : ndarray (H, W, 2)
        Flow from the second frame to the first.
    flow_fw : ndarray (H, W, 2)
        Flow from the first frame to the second.

    Returns
    -------
    ndarray of bool: True where the pixel has no reliable match in the first frame.
    """
    return _unmatched(flow_bw, flow_fw) | _motion_boundary(flow_bw)


def _unmatched(flow_bw: np.ndarray, flow_fw: np.ndarray) -> np.ndarray:
    """Pixels of the second frame whose forward and backward flows disagree (Lai et al.)."""
    height, width = flow_bw.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    bx, by = cv2.split(flow_bw)
    fx, fy = cv2.split(cv2.remap(flow_fw, xs + bx, ys + by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    sx, sy = bx + fx, by + fy
    return sx * sx + sy * sy > FB_ALPHA * (bx * bx + by * by + fx * fx + fy * fy) + FB_BETA


def _motion_boundary(flow_bw: np.ndarray) -> np.ndarray:
    """Pixels on a motion boundary of ``flow_bw`` (Lai et al.)."""
    bx, by = cv2.split(flow_bw)
    grad = np.zeros_like(bx)
    for channel in (bx, by):
        for dx, dy in ((1, 0), (0, 1)):  # central differences, as np.gradient
            d = cv2.Sobel(channel, cv2.CV_32F, dx, dy, ksize=1, scale=0.5)
            grad += d * d
    return grad > MB_ALPHA * (bx * bx + by * by) + MB_BETA


def _crop_box(mask: np.ndarray, box: Box, margin: int, shape: tuple[int, int]) -> Box:
    inner = bounding_box(mask)
    return Box(max(box.y0 + inner.y0 - margin, 0), min(box.y0 + inner.y1 + margin, shape[0]),
               max(box.x0 + inner.x0 - margin, 0), min(box.x0 + inner.x1 + margin, shape[1]))


def _cut(mask: np.ndarray, box: Box, shape: tuple[int, int]) -> bool:
    """Does the region touch a side of ``box`` that is not the frame's edge?"""
    return bool((mask[0].any() and box.y0 > 0) or (mask[-1].any() and box.y1 < shape[0])
                or (mask[:, 0].any() and box.x0 > 0) or (mask[:, -1].any() and box.x1 < shape[1]))


def _grey(frame: np.ndarray, box: Box) -> np.ndarray:
    return cv2.cvtColor(frame[box.slices], cv2.COLOR_RGB2GRAY)


def _lookup(flow: np.ndarray, points: np.ndarray, box: Box) -> np.ndarray:
    """Flow at ``points`` (N, 2 absolute x, y), bilinear, clamped to the box."""
    local = (points - np.array([box.x0, box.y0], np.float32)).reshape(-1, 1, 2).astype(np.float32)
    return cv2.remap(flow, local[..., 0], local[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]


def track_region(frames: Iterable[np.ndarray], plate_mask: np.ndarray, plate_to_frame0: np.ndarray, flow: FlowBackend, *,
                 plate_grey: np.ndarray, margin: int, search: int, levels: float) -> Iterator[Step]:
    """Yield a :class:`Step` for every frame, following the region until it is lost.

    Parameters
    ----------
    frames : iterable of ndarray (H, W, 3) uint8
        The clip, a frame at a time (an array ``(T, H, W, 3)`` or a stream): only the previous
        frame is kept, so memory does not grow with the clip's length.
    plate_mask : ndarray (h, w) bool
        The edit mask in plate coordinates.
    plate_to_frame0 : ndarray (3, 3)
        Homography from plate pixels to frame-0 pixels (see :mod:`keyframe.track.align`).
    flow : FlowBackend
        Computes both the backward flow (which carries the mask) and the forward flow (which
        checks it for occlusion).
    plate_grey : ndarray (h, w) float32 [0, 1]
        The plate in grey, for :attr:`Step.shows_plate`.
    margin : int
        Pixels kept around the region for its ring of background.
    search : int
        Extra pixels of margin for the region's motion between two frames.
    levels : float
        Grey levels (0-255) within which a pixel still "shows the plate" it is carried from.

    The iteration stops early (after yielding the last frame that still has region pixels) when
    the tracked region becomes empty; the frame where it was lost has been taken from ``frames``.
    """
    frames = iter(frames)
    previous = next(frames, None)
    if previous is None:
        return
    shape = previous.shape[:2]
    soft = plate_mask.astype(np.float32)
    inverse = np.linalg.inv(np.asarray(plate_to_frame0, np.float64))
    corners = cv2.perspectiveTransform(_corners(bounding_box(plate_mask))[None], np.asarray(plate_to_frame0))[0]
    whole = Box(0, shape[0], 0, shape[1])
    box = _clip_box(corners, margin + 1, shape)
    xs, ys = _grid(box)
    den = inverse[2, 0] * xs + inverse[2, 1] * ys + inverse[2, 2]
    map_x = ((inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]) / den).astype(np.float32)
    map_y = ((inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]) / den).astype(np.float32)
    mask = _remap(soft, map_x, map_y) >= 0.5
    if not mask.any():
        return
    rows, cols = np.nonzero(mask)
    pick = np.linspace(0, rows.size - 1, min(_POINTS, rows.size)).astype(int)
    points = np.stack([cols[pick] + box.x0, rows[pick] + box.y0], 1).astype(np.float32)
    alive = np.ones(len(points), bool)
    # per span, the last frame that is a multiple of it: its grey, box and map (see _reanchor)
    spans = [2**k for k in range(_ANCHOR_EVERY.bit_length(), _ANCHOR_LONGEST.bit_length())]  # 8, 16, 32
    anchors = dict.fromkeys(spans, (cv2.cvtColor(previous, cv2.COLOR_RGB2GRAY), box, map_x, map_y))
    yield Step(0, box, mask, map_x, map_y, 1.0, _grey(previous, box).astype(np.float32) / 255.0, frame=previous)

    for t, frame in enumerate(frames, 1):
        for attempt in range(_MAX_GROW + 1):
            new_box = _crop_box(mask, box, margin + search * 2**attempt, shape)
            first, second = _grey(previous, new_box), _grey(frame, new_box)
            flow_bw, flow_fw = flow(second, first), flow(first, second)
            gx, gy = _grid(new_box)
            src_x, src_y = gx + flow_bw[..., 0], gy + flow_bw[..., 1]
            unmatched = _unmatched(flow_bw, flow_fw)
            occluded = unmatched | _motion_boundary(flow_bw)
            new_x, new_y = _compose(map_x, map_y, src_x - box.x0, src_y - box.y0, occluded)
            new_mask = _remap(soft, new_x, new_y) >= 0.5
            if not _cut(new_mask, new_box, shape) or new_box == whole:
                break
        points = points + _lookup(flow_fw, points, new_box)
        alive &= (points[:, 0] >= 0) & (points[:, 0] <= shape[1] - 1) & (points[:, 1] >= 0) & (points[:, 1] <= shape[0] - 1)
        local_x, local_y = src_x - new_box.x0, src_y - new_box.y0
        if t % _ANCHOR_EVERY == 0 and t >= _ANCHOR_FROM:
            # from the last multiple of twice t's lowest set bit: t - 4, t - 8, t - 16 or t - 32
            source = anchors[min(2 * (t & -t), _ANCHOR_LONGEST)]
            new_x, new_y = _reanchor(source, new_x, new_y, new_box, second, flow)
            new_mask = _remap(soft, new_x, new_y) >= 0.5
        if any(t % span == 0 for span in anchors):
            whole_grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            anchors.update({span: (whole_grey, new_box, new_x, new_y) for span in anchors if t % span == 0})
        grey = second.astype(np.float32) / 255.0
        shows = _shows_plate(grey, plate_grey, new_x, new_y, levels)
        box, map_x, map_y, mask, previous = new_box, new_x, new_y, new_mask, frame
        if not mask.any():
            return
        yield Step(t, box, mask, map_x, map_y, float(alive.mean()), grey, flow_bw, occluded,
                   _remap(first.astype(np.float32) / 255.0, local_x, local_y), frame, shows)


def _reanchor(anchor: tuple[np.ndarray, Box, np.ndarray, np.ndarray], map_x: np.ndarray, map_y: np.ndarray,
              box: Box, grey: np.ndarray, flow: FlowBackend) -> tuple[np.ndarray, np.ndarray]:
    """Re-derive the map with one long-range flow from an earlier ``anchor`` (its whole grey frame, box and map).

    Each frame-to-frame flow is slightly biased on fine texture (sub-pixel "locking", a few
    hundredths of a pixel per frame, not the same inside the region as around it), and the
    chained map sums those biases: pixels over a five-second clip, enough to read as drift. One
    flow straight from the anchor sums one bias instead of one per frame (multi-step flow
    integration, Crivelli et al. 2015; Conze et al. 2016). It still follows the pixels, so a
    region that slides or morphs is tracked exactly as the chain tracks it. The long-range
    coordinate replaces the chained one only where it corrects a bias, not a failure: the pixel
    matches both ways (Lai et al.'s test again) and the two coordinates agree within
    ``_ANCHOR_AGREE_PX`` (a long flow that lost a low-texture or non-rigid subject is off by more).
    """
    whole_grey, anchor_box, anchor_x, anchor_y = anchor
    old = np.ascontiguousarray(whole_grey[box.slices])
    flow_bw, flow_fw = flow(grey, old), flow(old, grey)
    gx, gy = _grid(box)
    occluded = _unmatched(flow_bw, flow_fw) | _motion_boundary(flow_bw)
    long_x, long_y = _compose(anchor_x, anchor_y, gx + flow_bw[..., 0] - anchor_box.x0,
                              gy + flow_bw[..., 1] - anchor_box.y0, occluded)
    take = ~occluded & (np.hypot(long_x - map_x, long_y - map_y) < _ANCHOR_AGREE_PX)  # both tracked, and near
    return np.where(take, long_x, map_x), np.where(take, long_y, map_y)


def _shows_plate(grey: np.ndarray, plate_grey: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
                 levels: float) -> np.ndarray:
    """Pixels whose 3x3 mean differs from the plate they are carried from by less than ``levels`` (0-255)."""
    carried = cv2.remap(plate_grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.absdiff(cv2.blur(grey, (3, 3)), cv2.blur(carried, (3, 3))) < levels / 255.0


def _corners(box: Box) -> np.ndarray:
    return np.array([[box.x0, box.y0], [box.x1 - 1, box.y0], [box.x1 - 1, box.y1 - 1], [box.x0, box.y1 - 1]],
                    np.float64)


def _clip_box(points: np.ndarray, margin: int, shape: tuple[int, int]) -> Box:
    x0, y0 = np.floor(points.min(0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(0)).astype(int) + margin + 1
    return Box(max(int(y0), 0), min(int(y1), shape[0]), max(int(x0), 0), min(int(x1), shape[1]))
