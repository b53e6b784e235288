"""Per-frame measurements of the tracked region against the plate carried along the track."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from keyframe.config import CheckConfig
from keyframe.masks import bounding_box, distance_to
from keyframe.metrics import LpipsMetric, delta_e_map, flicker_mae, ssim_map, to_lab, warping_error
from keyframe.metrics.float import LayerSlip
from keyframe.metrics.register import PlateRegister, fit_layer_field
from keyframe.track.layers import OutlineMotion, SceneMotion, outline_motion
from keyframe.track.propagate import Step

SSIM_WINDOW = 7
_MIN_PART_PIXELS = 16  # fewer pixels: a part's registration is not measured
_LEAST_CORE = 32  # fewest region (or ring-layer) pixels the slip is registered from
_REGISTER_POINTS = 2500  # pixels (of the region, of a ring layer) registered at most: an even subsample of more


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _affine(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares affine ``points -> targets``."""
    coef, *_ = np.linalg.lstsq(np.hstack([points, np.ones((len(points), 1))]), targets, rcond=None)
    return coef.T


class FrameMeasure:
    """Per-frame measurements of one :class:`Step` against the plate carried along the track."""

    def __init__(self, rgb: np.ndarray, lab: np.ndarray, cfg: CheckConfig, lpips: LpipsMetric | None, *,
                 scale: float = 1.0, time_of: Callable[[int], float]) -> None:
        self.rgb, self.lab = rgb, lab  # the plate as float RGB and Lab: the carried reference is resampled in Lab
        self.grey = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)
        self.cfg, self.lpips, self.time_of = cfg, lpips, time_of
        self.unit = 1.0 / scale  # working-size pixels -> the clip's own pixels
        self.edit_distance: np.ndarray | None = None  # per plate pixel: px to the edit mask's outline (set by check_clip)
        self._register = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.plate_register: PlateRegister | None = None  # set by check_clip, which knows the plate's scale in the frames
        self.plate_to_frame0 = np.eye(3)  # plate px -> frame-0 (working) px, set by check_clip
        self.subject_seen = False  # whether part of the ring has moved apart from the camera in a frame so far

    def ring(self, region: np.ndarray, inside_plate: np.ndarray) -> np.ndarray:
        """Background between ``ring_gap_px`` and ``ring_gap_px + ring_px`` from the region.

        One distance transform instead of two large dilations (:func:`keyframe.masks.grow`):
        the same disk-shaped ring at a fraction of the cost.
        """
        distance = distance_to(region)
        gap = self.cfg.ring_gap_px
        return (distance > gap) & (distance <= gap + self.cfg.ring_px) & inside_plate

    def register(self, grey: np.ndarray, mx: np.ndarray, my: np.ndarray, region: np.ndarray,
                 ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The plate coordinates ``mx, my`` re-registered, region and ring each by its own small
        translation, so the carried plate lines up with the frame where the chained flow slipped.

        Appearance is compared after the best registration within ``cfg.register_px``: a
        sub-pixel slip of the track is not a change of appearance (how far the region moves
        against its surroundings is float's measure), while blur, morph, flicker and colour are
        not explained by a translation. Each part's translation is the median, over its pixels,
        of a dense flow from the frame to the carried plate.
        """
        if self.cfg.register_px <= 0 or min(grey.shape) < 16:
            return mx, my
        reference = cv2.remap(self.grey, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        to_u8 = lambda image: np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
        residual = self._register.calc(to_u8(grey), to_u8(reference), None)  # frame px -> reference px
        gx, gy = np.meshgrid(np.arange(grey.shape[1], dtype=np.float32), np.arange(grey.shape[0], dtype=np.float32))
        out_x, out_y = mx.copy(), my.copy()
        for part in (region, ring):
            if part.sum() < _MIN_PART_PIXELS:
                continue
            dx, dy = np.median(residual[part], axis=0)
            if np.hypot(dx, dy) > self.cfg.register_px:
                continue  # not a slip of the track: leave it to float
            out_x[part] = cv2.remap(mx, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[part]
            out_y[part] = cv2.remap(my, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[part]
        return out_x, out_y

    def appearance(self, step: Step, frame: np.ndarray, region: np.ndarray, ring: np.ndarray,
                   subject: np.ndarray | None, carried: np.ndarray | None = None) -> dict[str, Any]:
        """SSIM, colour difference and LPIPS of the frame against the carried plate, region vs ring.

        With the ring's ``subject`` pixels known, the ring's figures are also kept per layer
        (``*_ring_scene``, ``*_ring_subject``) for drift relative to the attached layer. With the
        region's content found by registration (``carried``: box px -> plate px), the region's
        SSIM and colour difference are the better of the track's and the registration's: a region
        that only slipped still shows the plate, carried along its own motion (its slip is float,
        not drift), even where the track's flow, smoothed across the outline, lagged behind it.
        """
        sub = bounding_box(region | ring, padding=SSIM_WINDOW // 2)
        if min(sub.shape) < SSIM_WINDOW:
            return {}
        mx, my = step.map_x[sub.slices], step.map_y[sub.slices]
        sel_region, sel_ring = region[sub.slices], ring[sub.slices]
        grey = step.grey[sub.slices]
        mx, my = self.register(grey, mx, my, sel_region, sel_ring)
        ref_lab = cv2.remap(self.lab, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ref_grey = cv2.remap(self.grey, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        box = step.box
        rgb = frame[box.y0 + sub.y0 : box.y0 + sub.y1, box.x0 + sub.x0 : box.x0 + sub.x1].astype(np.float32) / 255.0
        ssim = ssim_map(grey, ref_grey)
        frame_lab = to_lab(rgb)
        delta_e = delta_e_map(frame_lab, ref_lab)
        maps = {"ssim": ssim, "delta_e": delta_e}
        if self.lpips is not None:
            ref_rgb = cv2.remap(self.rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            maps["lpips"] = self.lpips(rgb, ref_rgb)
        parts = {"region": sel_region, "ring": sel_ring}
        if subject is not None:
            parts.update(ring_subject=sel_ring & subject[sub.slices], ring_scene=sel_ring & ~subject[sub.slices])
        out = {f"{key}_{part}": _mean(values[selection]) for key, values in maps.items()
               for part, selection in parts.items()}
        if carried is not None and out["ssim_region"] is not None:
            own = bounding_box(region, padding=SSIM_WINDOW // 2)  # the region's own box: all this is for
            ys, xs = np.mgrid[own.y0 : own.y1, own.x0 : own.x1].astype(np.float32)
            mx = (carried[0, 0] * xs + carried[0, 1] * ys + carried[0, 2]).astype(np.float32)
            my = (carried[1, 0] * xs + carried[1, 1] * ys + carried[1, 2]).astype(np.float32)
            ref_grey = cv2.remap(self.grey, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            ref_lab = cv2.remap(self.lab, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inside = (slice(own.y0 - sub.y0, own.y1 - sub.y0), slice(own.x0 - sub.x0, own.x1 - sub.x0))
            mine = region[own.slices]
            out["ssim_region"] = max(out["ssim_region"], float(ssim_map(step.grey[own.slices], ref_grey)[mine].mean()))
            out["delta_e_region"] = min(out["delta_e_region"],
                                        float(delta_e_map(frame_lab[inside], ref_lab)[mine].mean()))
        return out

    def _ring_patches(self, levels: list[np.ndarray], ring_xy: np.ndarray, targets: np.ndarray, origin: np.ndarray,
                      away: np.ndarray, outline: OutlineMotion) -> tuple[np.ndarray, np.ndarray, bool]:
        """The ring's plate points found from its appearance, patch by patch (nearest outline sector x inner/outer half).

        The tracker's flow, smoothed across the outline, drags the ring's inner pixels a little
        along with whatever the region does; registered with the plate, each patch shows where it
        really is, so the layer carried into the region does not lean towards a slipping region.
        Patches that do not hold (an occluder, no texture) are left out; with too few holding,
        the tracker's points stand. Returns the points, their plate points and whether they were placed.
        """
        sectors = self.cfg.outline_sectors
        centres = outline.centres - origin  # the sectors' centres on the outline, box px
        dx, dy = ring_xy[:, :1] - centres[:, 0], ring_xy[:, 1:] - centres[:, 1]
        half = away > self.cfg.ring_gap_px + self.cfg.ring_px / 2
        labels = np.argmin(dx * dx + dy * dy, axis=1) + sectors * half
        shift, held = self.plate_register.patches(levels, ring_xy, targets, labels, 2 * sectors,
                                                  limit_px=self.cfg.register_px, unexplained=self.cfg.register_unexplained)
        keep = held[labels]
        if held.sum() < sectors // 2 or keep.sum() < _LEAST_CORE:
            return ring_xy, targets, False
        return ring_xy[keep], targets[keep] + shift[labels[keep]], True

    def _travel(self, plate: np.ndarray, at: np.ndarray) -> float:
        """RMS distance (px) from the frame-0 place of ``plate`` points (N, 2) to where they are now, ``at``."""
        then = cv2.perspectiveTransform(plate.reshape(-1, 1, 2), self.plate_to_frame0)[:, 0]
        return float(np.sqrt(np.mean(np.sum((at - then) ** 2, axis=1))))

    def registered(self, step: Step, region: np.ndarray, ring: np.ndarray, inner: np.ndarray,
                   outline: OutlineMotion) -> tuple[dict[str, LayerSlip], np.ndarray | None]:
        """The region's accumulated slip from appearance, against each layer of its ring (:class:`PlateRegister`).

        Returns the slips (:class:`LayerSlip`: RMS over the outline, working px, with how far the
        layer itself carried the outline since frame 0), keyed ``scene``, ``subject`` (where that
        layer has ring pixels) and ``ring`` (all of it: for a mixed attachment, and for a subject
        in a frame where its ring moves with the camera), and the 2x3 affine box px -> plate px
        that shows the region's content where it was found (None when it could not be
        registered). The scene is one affine (the camera is rigid); a subject or the whole ring is
        a :class:`LayerField` that bends with it, through ring points placed from appearance
        (:meth:`_ring_patches`). The region's core (deeper than ``ring_gap_px``, as the ring
        starts that far out) is registered: its edge mixes both sides.
        """
        depth = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
        core = inner & (depth > self.cfg.ring_gap_px)
        ys, xs = np.nonzero(core if core.sum() >= _LEAST_CORE else inner)
        if xs.size < _LEAST_CORE:
            return {}, None
        every = max(1, xs.size // _REGISTER_POINTS)
        ys, xs = ys[::every], xs[::every]
        points = np.stack([xs, ys], 1).astype(np.float64)
        own = np.stack([step.map_x[ys, xs], step.map_y[ys, xs]], 1).astype(np.float64)
        origin = np.array([step.box.x0, step.box.y0], np.float64)
        edge = outline.outline - origin
        ring = ring & (step.map_x > -1e5)
        levels = self.plate_register.frame_levels(step.grey)
        away = distance_to(region)
        # the whole ring as one deforming layer: for a region on a subject in a frame where no part
        # of its ring moves apart from the camera (the head moves with it just then)
        whole = self.cfg.attach == "subject" or (self.cfg.attach == "auto" and self.subject_seen)
        out, best = {}, None
        for name, pick in (("scene", ring & ~outline.subject_ring), ("subject", ring & outline.subject_ring), ("ring", ring)):
            if name == "ring" and len(out) < 2 and not ("scene" in out and whole):  # the ring is its one layer
                out["ring"] = next(iter(out.values()), None)
                break
            ry, rx = np.nonzero(pick)
            if rx.size < _LEAST_CORE or (name == "subject" and outline.subject_share < self.cfg.attach_min_share):
                continue  # too few pixels; or for a subject, a few scattered ones (check.attach_min_share)
            every = max(1, rx.size // _REGISTER_POINTS)
            ry, rx = ry[::every], rx[::every]
            ring_xy = np.stack([rx, ry], 1).astype(np.float64)
            targets = np.stack([step.map_x[ry, rx], step.map_y[ry, rx]], 1).astype(np.float64)
            placed = False
            if name == "scene":  # the camera is rigid: one affine
                layer = fit_layer_field(ring_xy, targets, smoothing=None)
            else:  # a subject (or a ring mixing both) bends: see LayerField, placed patch by patch
                ring_xy, targets, placed = self._ring_patches(levels, ring_xy, targets, origin, away[ry, rx], outline)
                layer = fit_layer_field(ring_xy, targets, smoothing=self.cfg.layer_smoothing)
            if layer is None:
                continue
            # the ring registered with the plate too (unless its patches were): the layer's place no
            # longer creeps with the tracker's composed flow, nor leans on a brightness that changes
            ring_at = None if placed else self.plate_register(levels, ring_xy, layer(ring_xy), ring_xy[:1], np.eye(2),
                                                              affine=True)
            linear = layer.affine[:, :2]
            if ring_at is not None and ring_at.unexplained <= self.cfg.register_unexplained:
                place, linear = ring_at.moved, (np.eye(2) + ring_at.warp) @ linear
            else:
                place = lambda plate: plate  # noqa: E731
            predicted, edge_at = place(layer(points)), place(layer(edge))
            found = self.plate_register(levels, points, predicted, edge_at, np.linalg.inv(linear),
                                        start=np.median(own - predicted, axis=0))
            # a slip moves the content as it is: where the registered plate leaves much of the
            # region's texture unexplained, the content itself changed (drift, a deforming subject)
            if found is not None and found.unexplained <= self.cfg.register_unexplained:
                out[name] = LayerSlip(float(np.sqrt(np.mean(found.slip_px**2))), self._travel(edge_at, outline.outline))
                if best is None or found.unexplained < best[0]:
                    best = found.unexplained, _affine(points, found.moved(predicted))
        return {k: v for k, v in out.items() if v is not None}, None if best is None else best[1]

    def __call__(self, step: Step, scene: SceneMotion | None) -> tuple[dict[str, Any], OutlineMotion | None]:
        """One frame's row (positions in the clip's own pixels) and its outline motion (working pixels)."""
        region, unit = step.mask, self.unit
        inside_plate = ((step.map_x >= 0) & (step.map_x <= self.grey.shape[1] - 1)
                        & (step.map_y >= 0) & (step.map_y <= self.grey.shape[0] - 1))  # fmt: skip
        ring = self.ring(region, inside_plate)
        ys, xs = np.nonzero(region)
        row: dict[str, Any] = {
            "frame": step.t, "time_s": self.time_of(step.t), "area_px": int(round(xs.size * unit * unit)),
            "centroid_x": (xs.mean() + step.box.x0) * unit, "centroid_y": (ys.mean() + step.box.y0) * unit,
            "in_frame": step.in_frame,
        }  # fmt: skip
        outline, carried = None, None
        if step.occluded is not None and scene is not None:
            cfg = self.cfg
            # inside the region, only pixels that still show the plate are the region: an occluder
            # dragged into the tracked mask would otherwise lend the region its own motion
            visible = ~step.occluded & inside_plate & (step.shows_plate | ~region)
            edit_distance = None if self.edit_distance is None else cv2.remap(
                self.edit_distance, step.map_x, step.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                borderValue=1e6)
            outline = outline_motion(-step.flow_bw, region, visible, (step.box.x0, step.box.y0),
                                     scene, gap=cfg.ring_gap_px, width=cfg.ring_px, sectors=cfg.outline_sectors,
                                     layer_px=cfg.layer_px, layer_rel=cfg.layer_rel, edit_distance=edit_distance)
            row["subject_share"] = None if outline is None else outline.subject_share
            self.subject_seen |= outline is not None and outline.subject_share >= cfg.attach_min_share
            if outline is not None:
                row["registered"], carried = self.registered(step, region, ring & visible & step.shows_plate,
                                                             region & visible, outline)
        row.update(self.appearance(step, step.frame, region, ring, None if outline is None else outline.subject_ring,
                                   carried))
        if step.occluded is None:
            row.update(visible=step.in_frame, occluded=0.0, note="first frame: no motion, warp or flicker yet")
            return row, None
        seen_region, seen_ring = region & ~step.occluded, ring & ~step.occluded
        row["occluded"] = 1.0 - seen_region.sum() / region.sum()
        row["visible"] = step.in_frame * (1.0 - row["occluded"])
        row.update(
            warp_region=warping_error(step.grey, step.prev_warped, seen_region),
            warp_ring=warping_error(step.grey, step.prev_warped, seen_ring),
            flicker_region=flicker_mae(step.grey, step.prev_warped, seen_region),
            flicker_ring=flicker_mae(step.grey, step.prev_warped, seen_ring),
        )
        return row, outline
