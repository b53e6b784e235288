"""Motion layers around a tracked region: what the region belongs to, and whether it stays on it.

A region on a moving person must be judged against that person, not against the whole ring of
background around it. The design, per frame ``t``:

1. **Scene layer** (:class:`SceneTracker`). The frame's dominant motion, normally the camera, is
   a robust affine fit (RANSAC, Fischler & Bolles 1981) to a coarse full-frame DIS flow. The same
   pass scores how well frame ``t`` is explained by frame ``t-1`` warped by that flow
   (normalised cross-correlation); a frame its predecessor cannot explain at all starts a new
   shot: a hard **cut**.
2. **Subject layer** (:func:`outline_motion`). Ring pixels whose flow the camera model does not
   explain (by more than ``layer_px`` + ``layer_rel`` x the camera's speed there) move on their
   own: a person, a hand, a near object under parallax. Scene and subject are a two-layer
   description of the surroundings in the spirit of layered motion (Wang & Adelson 1994), found
   the way sequential robust fitting finds them (the dominant model first, the rest is what it
   leaves; Torr 1998). The subject layer is deliberately *not* forced into one parametric model:
   it is compared locally along the outline, so a turning head or an opening mouth is its own
   prediction (non-rigid), and two subjects (a head and a hand) can border different parts.
3. **Continuity across the outline.** The outline is cut into sectors of equal arc length. In
   each, the median motion of a band just inside the region is compared with the median motion of
   each layer's pixels in the ring just outside. A region that belongs to a layer continues its
   motion across the outline; layers meet at motion discontinuities (Black & Anandan 1996). A
   face on its head is continuous with the head along its outline; a pasted layer is
   discontinuous all round (measured on real footage, REFERENCE.md).
4. **Attachment** (:func:`attach`, ``auto``). Over the first frames in which the subject moves
   apart from the camera, the region is attached to the layer it is continuous with: ``subject``,
   ``scene``, or ``mixed`` when it is continuous with both (a region straddling a person and the
   background). Continuous with neither (a layer pinned to the screen under a moving camera): the
   layer around most of its outline. Continuous with the scene only while a moving subject
   borders most of its outline: ``subject`` (a face pinned to a still background while its head
   moves). ``scene`` / ``subject`` force the choice. When the surroundings never move apart the
   ring is one layer: ``scene``.
5. **Float** (:func:`keyframe.metrics.float.float_series`). Each frame, the attached layer's
   motion just outside is carried across the few pixels to the inside band (an affine fit over
   the sectors: a zooming or turning subject changes its motion across that gap), and the
   discontinuity vectors ``D_k`` (inside minus carried outside) are fitted with a similarity
   (translation, rotation, scale) about the region's centre, trimmed once of the sectors it
   explains worst: its RMS over the sectors is the coherent float in px/frame (flow noise,
   incoherent from sector to sector, mostly falls out). It is judged relative to the attached
   surroundings' own speed (``float_ratio``: a pasted layer reads ~1, a region following at half
   speed ~0.5, flow noise a small fraction), above an absolute floor, for ``min_run`` frames.
   The **slip** is the region's displacement since frame 0 against the attached layer, found by
   registering its content with the plate where the layer's field puts it (Lucas & Kanade 1981;
   Baker & Matthews 2004): one affine for the scene, for a subject a smoothing thin-plate spline
   through its ring, placed from appearance patch by patch, so a turning head's bulge is the
   layer's own (:mod:`keyframe.metrics.register`). A persistent slow slip grows with the layer's
   travel, an untouched region's error does not: it is judged against how far the layer itself
   carried the outline since frame 0 (``slip_ratio``), and on a subject against the region's own
   size (``slip_size``: a bending layer's error grows with the size of what bends). Sectors whose
   outline is not the edit's own (something in front hides the region there), and a minority of
   sectors whose surroundings suddenly jump (an occluder sliding over the ring), are not judged.

Relative drift uses the same labels: the ring pixels of the attached layer are the surroundings
whose appearance change the region's is compared with (:mod:`keyframe.metrics.drift`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

LAYERS = ("scene", "subject")
ATTACH_MODES = ("auto", "scene", "subject")
_SCENE_SIDE = 384  # long side (px) of the coarse frames for camera motion and cuts (256 erred by 1-2 px)
_SCENE_GRID = 4  # coarse px between flow samples of the camera fit
_MIN_SECTOR_PIXELS = 8  # fewer pixels of a side in a sector: that sector says nothing about it
_MAX_SAMPLES = 4000  # pixels per side and layer that the sector medians are taken over
_SUBJECT_SECTOR_SHARE = 0.3  # least share of a sector's ring that must be subject for the sector to have one


@dataclass(frozen=True)
class SceneMotion:
    """The camera's motion into frame ``t`` and how well frame ``t-1`` explains frame ``t``."""

    backward: np.ndarray  # 2x3 affine: frame-t pixel -> frame-(t-1) pixel, full resolution
    inliers: float  # fraction of flow samples the affine explains (RANSAC, 1 coarse px)
    similarity: float  # NCC of frame t with frame t-1 warped by the coarse flow (1 = same shot)

    def motion_at(self, points: np.ndarray) -> np.ndarray:
        """Camera motion into this frame (px/frame) at frame-``t`` ``points`` (N, 2)."""
        return points - (points @ self.backward[:, :2].T + self.backward[:, 2])


class SceneTracker:
    """Feed frames in order; each call returns the :class:`SceneMotion` into that frame.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (0, 0), 2)
    >>> tracker = SceneTracker()
    >>> tracker(image) is None
    True
    >>> step = tracker(np.roll(image, 2, axis=1))
    >>> step.backward[:, 2].round(0).tolist(), step.similarity > 0.9
    ([-2.0, 0.0], True)
    """

    def __init__(self, side: int = _SCENE_SIDE) -> None:
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._side = side
        self._previous: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> SceneMotion | None:
        height, width = frame.shape[:2]
        scale = min(1.0, self._side / max(height, width))
        size = (max(int(round(width * scale)), 16), max(int(round(height * scale)), 16))
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        previous, self._previous = self._previous, small
        if previous is None:
            return None
        flow = self._dis.calc(small, previous, None)  # frame t -> frame t-1
        ys, xs = np.mgrid[_SCENE_GRID // 2 : size[1] : _SCENE_GRID, _SCENE_GRID // 2 : size[0] : _SCENE_GRID]
        src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
        dst = src + flow[ys.ravel(), xs.ravel()]
        affine, keep = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=500)
        if affine is None:
            affine, keep = np.hstack([np.eye(2), np.zeros((2, 1))]), np.zeros(1)
        kx, ky = size[0] / width, size[1] / height  # coarse px per full px
        full = affine.astype(np.float64) * [[1.0, ky / kx, 1.0 / kx], [kx / ky, 1.0, 1.0 / ky]]
        gx, gy = np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32))
        warped = cv2.remap(previous, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return SceneMotion(full, float(np.mean(keep)), _ncc(warped, small))


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 1.0).ravel()
    b = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 1.0).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b / denom) if denom > 1e-6 else 1.0


@dataclass
class OutlineMotion:
    """One frame's motion across the region's outline, sector by sector (absolute frame px)."""

    centres: np.ndarray  # (K, 2) sector centres on the outline
    inside: np.ndarray  # (K, 2) median motion of the band just inside (nan: too few pixels)
    outside: np.ndarray  # (2, K, 2) median motion of the scene / subject ring pixels (nan: too few)
    inside_at: np.ndarray  # (K, 2) mean position of the inside band's pixels per sector
    outside_at: np.ndarray  # (2, K, 2) mean position of each layer's ring pixels per sector
    camera: np.ndarray  # (K, 2) the camera model's motion at each centre
    subject_share: float  # fraction of the visible ring that is subject
    subject_ring: np.ndarray = field(repr=False)  # (h, w) bool, box-sized: ring pixels of the subject layer
    outline: np.ndarray = field(repr=False)  # (N, 2) int: outline pixels (x, y), absolute
    outline_sector: np.ndarray = field(repr=False)  # (N,) their sector


def _sectors(region: np.ndarray, count: int) -> tuple[np.ndarray, ...]:
    """Distance to the outline, the sector of the nearest outline pixel, sector centres, outline points, their sectors."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate([c[:, 0] for c in contours])
    ids = (np.arange(len(points)) * count // len(points)).astype(np.int64)
    seeds = np.ones(region.shape, np.uint8)
    seeds[points[:, 1], points[:, 0]] = 0
    distance, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, cv2.DIST_MASK_5,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(labels.max()) + 1, np.int64)
    lut[labels[points[:, 1], points[:, 0]]] = ids
    weight = np.maximum(np.bincount(ids, minlength=count), 1)
    centres = np.stack([np.bincount(ids, points[:, 0], count), np.bincount(ids, points[:, 1], count)], 1) / weight[:, None]
    return distance, lut[labels], centres, points, ids


def _sector_medians(motion: np.ndarray, select: np.ndarray, sector: np.ndarray, count: int,
                    least: np.ndarray | int = _MIN_SECTOR_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Per sector, the median motion of the selected pixels and their mean position (box px).

    Both ``(count, 2)``, nan where fewer than ``least`` pixels are selected. One sort per motion
    component does every sector at once.
    """
    out, where = np.full((count, 2), np.nan), np.full((count, 2), np.nan)
    index = np.flatnonzero(select)
    if index.size == 0:
        return out, where
    step = max(1, index.size // _MAX_SAMPLES)
    if step > 1:  # an even subsample: medians and means barely move, the sort gets cheaper
        index = index[::step]
        least = np.ceil(np.asarray(least) / step)
    ids = sector.ravel()[index]
    sizes = np.bincount(ids, minlength=count)
    ok = sizes >= np.maximum(least, _MIN_SECTOR_PIXELS)
    if not ok.any():
        return out, where
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    low, high = starts + (sizes - 1) // 2, starts + sizes // 2
    values = motion.reshape(-1, 2)[index]
    for c in range(2):
        ordered = values[np.lexsort((values[:, c], ids)), c]
        out[ok, c] = 0.5 * (ordered[low[ok]] + ordered[high[ok]])
    rows, cols = np.divmod(index, select.shape[1])
    where[ok] = np.stack([np.bincount(ids, cols, count), np.bincount(ids, rows, count)], 1)[ok] / sizes[ok, None]
    return out, where


def outline_motion(motion: np.ndarray, region: np.ndarray, visible: np.ndarray, origin: tuple[int, int],
                   scene: SceneMotion, *, gap: int, width: int, sectors: int, layer_px: float,
                   layer_rel: float, edit_distance: np.ndarray | None = None) -> OutlineMotion | None:
    """Measure the motion on both sides of the region's outline, split into scene and subject.

    Parameters
    ----------
    motion : ndarray (h, w, 2)
        Motion into this frame (px/frame) of every box pixel, e.g. minus the backward flow.
    region, visible : ndarray (h, w) bool
        The tracked region, and the pixels with a reliable match in the previous frame.
    origin : (x0, y0)
        The box's top-left corner in the frame.
    scene : SceneMotion
        The camera's motion into this frame.
    gap, width : int
        The bands start ``gap`` px from the outline and are ``width`` px wide (both sides).
    sectors : int
        Outline sectors of equal arc length.
    layer_px, layer_rel : float
        A ring pixel is subject when the camera model misses its motion by more than
        ``layer_px + layer_rel * camera speed``.
    edit_distance : ndarray (h, w), optional
        Per box pixel, how far (px) the plate point it shows lies from the edit mask's own
        outline. Sectors of today's outline farther than ``gap + 2`` from it are where something
        in front hides the region (or the frame's edge cuts it): not its outline, so not judged.

    Returns
    -------
    OutlineMotion, or None when the region is too small to have an outline band.
    """
    if region.sum() < _MIN_SECTOR_PIXELS:
        return None
    distance, sector, centres, points, ids = _sectors(region, sectors)
    band = (distance > gap) & (distance <= gap + width)
    inner = region & band & visible
    if inner.sum() < _MIN_SECTOR_PIXELS:  # a thin region: its whole visible inside is the band
        inner = region & visible
    ring = ~region & band & visible
    ys, xs = np.nonzero(ring)
    camera_ring = scene.motion_at(np.stack([xs + origin[0], ys + origin[1]], 1).astype(np.float64))
    miss = np.hypot(*(motion[ys, xs] - camera_ring).T)
    subject_ring = np.zeros_like(ring)
    subject_ring[ys, xs] = miss > layer_px + layer_rel * np.hypot(*camera_ring.T)
    scene_ring = ring & ~subject_ring
    centres = centres + np.asarray(origin, np.float64)
    inside, inside_at = _sector_medians(motion, inner, sector, sectors)
    if edit_distance is not None:
        far = np.bincount(ids, edit_distance[points[:, 1], points[:, 0]] > gap + 2, sectors)
        inside[far > 0.5 * np.bincount(ids, minlength=sectors)] = np.nan
    # a sector's subject must be a real part of its ring, not the region's own motion smeared a few
    # pixels across the outline by the flow's smoothing
    least = np.ceil(_SUBJECT_SECTOR_SHARE * np.bincount(sector[ring], minlength=sectors))
    scene_side = _sector_medians(motion, scene_ring, sector, sectors)
    subject_side = _sector_medians(motion, subject_ring, sector, sectors, least)
    origin = np.asarray(origin, np.float64)
    return OutlineMotion(
        centres=centres,
        inside=inside,
        outside=np.stack([scene_side[0], subject_side[0]]),
        inside_at=inside_at + origin,
        outside_at=np.stack([scene_side[1], subject_side[1]]) + origin,
        camera=scene.motion_at(centres),
        subject_share=float(subject_ring.sum() / max(ring.sum(), 1)),
        subject_ring=subject_ring,
        outline=points + origin.astype(int),
        outline_sector=ids,
    )


def edit_outline_distance(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the distance (px) to the outline of ``mask`` (float32), for :func:`outline_motion`."""
    inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    outer = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    return np.maximum(inner, outer) - 1.0


@dataclass(frozen=True)
class Attachment:
    """Which layer the region belongs to, how that was decided, and the evidence."""

    layer: str  # "scene" | "subject" | "mixed"
    mode: str  # the requested mode: "auto" | "scene" | "subject"
    why: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "mode": self.mode, "why": self.why, "evidence": self.evidence}


def _nanmedian(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def attach(outlines: Sequence[OutlineMotion | None], mode: str, *, frames: int, contrast_px: float,
           continuity: float, min_share: float) -> Attachment:
    """Decide which layer the region is judged against (see the module docstring, step 4).

    Parameters
    ----------
    outlines : sequence of OutlineMotion or None
        Per frame (None where not measured), in order.
    mode : {"auto", "scene", "subject"}
    frames : int
        Discriminating frames (subject moving apart from the camera by ``contrast_px``) used.
    contrast_px : float
        Least px/frame between the subject and the camera for a frame to discriminate.
    continuity : float
        A layer is continuous with the region when the median discontinuity across the outline is
        below this fraction of the subject-camera contrast.
    min_share : float
        Least fraction of the ring the subject must fill for a frame to discriminate.
    """
    if mode not in ATTACH_MODES:
        raise ValueError(f"unknown attach mode {mode!r}; use one of {ATTACH_MODES}")
    gaps = {"scene": [], "subject": []}
    shares = []
    for outline in outlines:
        if outline is None or len(shares) >= frames or outline.subject_share < min_share:
            continue
        subject = outline.outside[1]
        has = np.isfinite(subject[:, 0]) & np.isfinite(outline.inside[:, 0])
        if not has.any():
            continue
        contrast = _nanmedian(np.hypot(*(subject[has] - outline.camera[has]).T))
        if not contrast >= contrast_px:
            continue
        shares.append(outline.subject_share)
        inside = np.isfinite(outline.inside[:, 0])
        # the scene layer is a parametric model: it predicts the motion all round the outline
        gaps["scene"].append(_nanmedian(np.hypot(*(outline.inside[inside] - outline.camera[inside]).T)) / contrast)
        gaps["subject"].append(_nanmedian(np.hypot(*(outline.inside[has] - subject[has]).T)) / contrast)
    evidence: dict[str, Any] = {"discriminating_frames": len(shares)}
    if mode != "auto":
        return Attachment(mode, mode, f"--attach {mode}: chosen by the user", evidence)
    if not shares:
        return Attachment("scene", mode, "its surroundings move as one layer (no part of them moves apart from the "
                          "camera): judged against all of them", evidence)
    gap = {name: float(np.median(values)) for name, values in gaps.items()}
    share = float(np.median(shares))
    evidence.update(subject_share=round(share, 3), discontinuity_scene=round(gap["scene"], 3),
                    discontinuity_subject=round(gap["subject"], 3))
    continuous = [name for name in LAYERS if gap[name] < continuity]
    described = f"subject borders {share:.0%} of its outline"
    if len(continuous) == 2:
        return Attachment("mixed", mode, f"its motion continues both the scene and the moving subject across its "
                          f"outline ({described}): each part judged against the layer beside it", evidence)
    if not continuous:
        layer = "subject" if share >= 0.5 else "scene"
        return Attachment(layer, mode, f"its motion continues neither layer across its outline; {described}, so it is "
                          f"judged against the {layer}", evidence)
    if continuous == ["scene"] and share >= 0.5:
        return Attachment("subject", mode, f"it moves with the scene, but the {described} and moves differently: a "
                          f"region on a moving subject is judged against the subject", evidence)
    return Attachment(continuous[0], mode, f"its motion continues the {continuous[0]}'s across its outline "
                      f"({described})", evidence)
