"""Untouched audit: real photos nobody edited, masked anywhere, must pass the gate.

The calibration set (``gate_calibration.py``) has one mask per photo; a criterion tuned there can
still fire on an untouched photo when the mask lands elsewhere (across an edge, on a lighting
gradient, on sparse text). This audit runs the gate on every usable photo in ``skimage.data``
(plus Grace Hopper's portrait) at several plate sizes, each under masks of several shapes (box,
ellipse, free-form blob), sizes and positions, with nothing edited: every run is a good edit, so
every failure is a false alarm. It prints the false-alarm rate per criterion and per sub-check
and lists the failures.

Photos in :data:`gate_calibration.HELD_OUT` and :data:`UNSEEN` are reported apart and choose
nothing. ``--casts`` also plants the calibration's four colour casts under every audit mask, and
``--soft`` four of its soft fills (on photos with texture to lose), and prints how many the gate
catches per photo and kind: the other side of the false-alarm rate.

Run: ``PYTHONPATH=.:tests .venv/bin/python tests/gate_audit.py [--quick] [--held-out] [--casts] [--soft]``.
"""

from __future__ import annotations

import argparse
import zlib
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from gate_calibration import HELD_OUT, SMOOTH, SOFT, SUBCHECKS, _blend, _photo, _telea, colour_shift, soft_grained
from keyframe.config import GateConfig
from keyframe.gate import run_gate
from keyframe.io import to_float
from keyframe.masks import feather, grow

#: every real photo skimage.data ships that loads without optional packages, plus Grace Hopper.
#: Left out: synthetic drawings, binary masks, volumes, the 102 px microaneurysms crop, and two
#: photos that are soft by design, which the gate rightly refuses as a whole (focal sharpness):
#: ``clock`` (motion-blurred on purpose, for deconvolution demos, 0.48 against 0.87) and ``cell``
#: (a defocused microscope frame, 0.16); :data:`SOFT_PHOTOS` checks that it does.
AUDIT_PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "grass", "gravel",
                "hubble_deep_field", "immunohistochemistry", "moon", "retina", "rocket", "text", "grace_hopper")
SOFT_PHOTOS = ("cell", "clock")
#: a real photo skimage.data ships as a stereo pair, found after the limits were chosen (its left view)
UNSEEN = ("stereo_motorcycle",)
SIZES = ((512, 288), (1024, 576))
SHAPES = ("box", "ellipse", "blob")
RADII = (18, 32, 52)  # equivalent radius in px at 512x288 (a 0.4 % to 6 % patch), scaled with the plate
#: the position an earlier audit found false alarms at (512x288 rows 100:160, columns 200:280)
FIXED_BOX = (100, 160, 200, 280)


@dataclass
class Untouched:
    photo: str
    size: tuple[int, int]
    mask_name: str
    plate: np.ndarray
    mask: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.photo}@{self.size[0]}/{self.mask_name}"


def plate_at(photo: str, size: tuple[int, int]) -> np.ndarray:
    """The middle 16:9 crop of a photo at ``size`` (width, height), float32 RGB."""
    image = _photo(photo)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[..., :3]
    height, width = image.shape[:2]
    crop_h = min(height, int(round(width * 9 / 16)))
    crop_w = min(width, int(round(crop_h * 16 / 9)))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = np.ascontiguousarray(image[top : top + crop_h, left : left + crop_w])
    interpolation = cv2.INTER_AREA if crop_w >= size[0] else cv2.INTER_CUBIC
    return to_float(cv2.resize(crop, size, interpolation=interpolation))


def mask_of(shape: str, radius: float, centre: tuple[int, int], size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A ``shape`` mask of about ``pi * radius**2`` px centred at ``centre`` (x, y) on a ``size`` plate."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    cx, cy = centre
    if shape == "box":
        half_w, half_h = int(radius * 1.1), int(radius * 0.8)
        mask[cy - half_h : cy + half_h, cx - half_w : cx + half_w] = 1
    elif shape == "ellipse":
        axes = (int(radius * 1.25), int(radius * 0.8))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:  # a free-form blob: a few overlapping ellipses, smoothed
        for _ in range(4):
            offset = rng.normal(0, 0.45 * radius, 2)
            axes = tuple(int(v) for v in rng.uniform(0.4, 0.8, 2) * radius)
            cv2.ellipse(mask, (int(cx + offset[0]), int(cy + offset[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        smooth = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(radius / 6, 1.0))
        mask = (smooth > 0.5).astype(np.uint8)
    return mask > 0


def cases(photos: tuple[str, ...] = AUDIT_PHOTOS, sizes: tuple[tuple[int, int], ...] = SIZES,
          seed: int = 0) -> list[Untouched]:
    """Every (photo, size, mask) of the audit: a shape at each radius at a random position, and :data:`FIXED_BOX`."""
    found = []
    for photo in photos:
        for size in sizes:
            plate, scale = plate_at(photo, size), size[0] / 512
            rng = np.random.default_rng([seed, zlib.crc32(photo.encode()), size[0]])  # the same masks whatever else is audited
            y0, y1, x0, x1 = (int(v * scale) for v in FIXED_BOX)
            box = np.zeros(plate.shape[:2], bool)
            box[y0:y1, x0:x1] = True
            found.append(Untouched(photo, size, "box_fixed", plate, box))
            for shape in SHAPES:
                for radius in RADII:
                    r = radius * scale
                    margin = int(1.6 * r) + 4
                    centre = (int(rng.integers(margin, size[0] - margin)), int(rng.integers(margin, size[1] - margin)))
                    mask = mask_of(shape, r, centre, size, rng)
                    found.append(Untouched(photo, size, f"{shape}{radius}@{centre[0]},{centre[1]}", plate, mask))
    return found


def audit(items: list[Untouched], cfg: GateConfig | None = None) -> list[dict]:
    """One row per case: which criteria and sub-checks failed, each sub-check's value and its severity."""
    cfg = cfg or GateConfig()
    rows = []
    for item in items:
        result = run_gate(item.plate, item.mask, cfg)
        failed_checks, severity, values = [], {}, {}
        for criterion, keys in SUBCHECKS.items():
            checks = result.criteria[criterion].details.get("checks", {})
            for key in keys:
                if key in checks:
                    value, limit = checks[key]["value"], checks[key]["limit"]
                    values[key] = value
                    severity[key] = value / limit if checks[key]["kind"] == "max" else limit / max(value, 1e-9)
                    if not checks[key]["pass"]:
                        failed_checks.append(key)
        rows.append({"case": item.name, "photo": item.photo, "pass": result.passed,
                     "failed": [n for n, c in result.criteria.items() if c.passed is False],
                     "failed_checks": failed_checks, "severity": severity, "values": values})
    return rows


def report(title: str, rows: list[dict]) -> None:
    print(f"== {title}: {len(rows)} untouched runs")
    alarms = [r for r in rows if not r["pass"]]
    print(f"false alarms: {len(alarms)}/{len(rows)} ({len(alarms) / max(len(rows), 1):.1%})")
    by_criterion = Counter(c for r in rows for c in r["failed"])
    by_check = Counter(c for r in rows for c in r["failed_checks"])
    for name in SUBCHECKS:
        print(f"  {name:10s} {by_criterion[name]:4d} ({by_criterion[name] / len(rows):.1%})  "
              + "  ".join(f"{k} {by_check[k]}" for k in SUBCHECKS[name]))
    worst = {k: max((r["severity"].get(k, 0.0) for r in rows), default=0.0) for ks in SUBCHECKS.values() for k in ks}
    print("  worst severity (value as a multiple of its limit): "
          + ", ".join(f"{k} {v:.2f}" for k, v in worst.items() if v))
    for r in alarms:
        print(f"  FAIL {r['case']:40s} " + ", ".join(f"{k} {r['severity'][k]:.2f}" for k in r["failed_checks"]))
    print()


def planted_casts(plate: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The calibration's four colour casts under ``mask`` (see ``gate_calibration.photo_cases``)."""
    return {
        "colour_shift": colour_shift(plate, mask.astype(np.float32)),
        "cast_green": colour_shift(plate, feather(mask, 6), (0, -5, 0)),
        "cast_blue": _blend(plate, plate + np.float32([0, 0, 14 / 255]), feather(mask, 4)),
        "shade": _blend(plate, plate - np.float32(14 / 255), feather(mask, 4)),
    }


def planted_soft_fills(plate: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Four of the calibration's soft or wrongly grained fills under ``mask`` (seeded by the mask)."""
    seed = zlib.crc32(np.packbits(mask).tobytes())
    telea = _telea(plate, grow(mask, 2))
    return {
        "blurred": _blend(plate, cv2.GaussianBlur(plate, (0, 0), 2.5), feather(mask, 2)),
        "telea": _blend(plate, telea, feather(grow(mask, 2), 2)),
        "soft_grain": soft_grained(plate, cv2.GaussianBlur(plate, (0, 0), 2.0), mask, 1.0, seed),
        "telea_grain": soft_grained(plate, telea, mask, 1.5, seed),
    }


def report_planted(title: str, items: list[Untouched], plant, criteria: tuple[str, ...],
                   cfg: GateConfig | None = None) -> None:
    """Per photo, how many edits ``plant(plate, mask)`` makes under the audit masks fail any of ``criteria``."""
    cfg = cfg or GateConfig()
    caught: Counter = Counter()
    total: Counter = Counter()
    for item in items:
        for kind, image in plant(item.plate, item.mask).items():
            result = run_gate(image, item.mask, cfg)
            total[item.photo, kind] += 1
            caught[item.photo, kind] += any(result.criteria[name].passed is False for name in criteria)
    kinds = tuple(dict.fromkeys(kind for _, kind in total))
    print(f"== {title}: caught by {' or '.join(criteria)}")
    print(f"  {'photo':22s}" + "".join(f"{k:>14s}" for k in kinds))
    for photo in dict.fromkeys(item.photo for item in items):
        print(f"  {photo:22s}" + "".join(f"{caught[photo, k]:>9d}/{total[photo, k]:<4d}" for k in kinds))
    print(f"  {'all':22s}" + "".join(f"{sum(caught[p, k] for p, _ in total if _ == k):>9d}/"
                                      f"{sum(total[p, k] for p, _ in total if _ == k):<4d}" for k in kinds))
    print()


def textured(photos: tuple[str, ...], plant) -> tuple[str, ...]:
    """Soft fills are planted only on photos with texture to lose (smoothing a smooth plate is no defect)."""
    return tuple(photo for photo in photos if plant is not planted_soft_fills or photo not in SMOOTH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512x288 only")
    parser.add_argument("--held-out", action="store_true", help="also audit the held-out photos (reported apart)")
    parser.add_argument("--casts", action="store_true", help="also plant the four colour casts under every mask")
    parser.add_argument("--soft", action="store_true", help="also plant four soft fills under every mask")
    args = parser.parse_args()
    sizes = SIZES[:1] if args.quick else SIZES
    report("untouched audit, calibration photos", audit(cases(sizes=sizes)))
    planted = []
    if args.casts:
        planted.append(("casts planted under the audit masks", planted_casts, ("seam",)))
    if args.soft:
        planted.append(("soft fills planted under the audit masks", planted_soft_fills, SOFT))
    for title, plant, criteria in planted:
        report_planted(f"{title}, calibration photos", cases(textured(AUDIT_PHOTOS, plant), sizes), plant, criteria)
    soft = audit(cases(SOFT_PHOTOS, sizes=sizes))
    refused = sum("focal_sharpness" in r["failed_checks"] for r in soft)
    print(f"== photos soft by design ({', '.join(SOFT_PHOTOS)}): refused for focal sharpness {refused}/{len(soft)}\n")
    if args.held_out:
        unseen = (*HELD_OUT, *UNSEEN)
        report(f"untouched audit, held-out photos ({', '.join(unseen)}): chose nothing", audit(cases(unseen, sizes=sizes)))
        for title, plant, criteria in planted:
            report_planted(f"{title}, held-out photos", cases(textured(unseen, plant), sizes), plant, criteria)


if __name__ == "__main__":
    main()
