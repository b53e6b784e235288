"""The gate's labelled calibration set, built in code from real photos, and its table.

Every threshold in the ``gate:`` section of ``configs/default.yaml`` was chosen from the table this
prints (``.venv/bin/python tests/gate_calibration.py``): for each sub-check, the worst value any
good edit reached and the mildest value any planted defect of the kind it targets reached, with
the threshold set between them.

Photos: the five committed fixture plates with their masks, plus four more real photos from
``skimage.data`` with an ellipse mask each, all 512x288. Cases per photo:

good edits
    ``untouched`` (the plate itself), ``grainy`` (the plate with film grain added everywhere),
    ``inpaint`` (OpenCV Telea inpaint of the mask for the structure, plus fine detail cloned from
    beside the mask for the texture: what a careful classical clean-up looks like).
planted defects (and the criterion each must fail)
    ``colour_shift`` (seam): the patch tinted warm by +6 a*, +6 b* (ΔE 8.5).
    ``blurred`` (edge): the patch Gaussian-blurred (sigma 2.5), blended in with a 2 px feather.
    ``grain_free`` (seam): grain added everywhere except the patch.
    ``hard_paste`` (seam): the patch replaced, hard-edged, by the same area of another photo.
    ``halo`` (edge): a bright 3 px glow just outside the outline, as a wrong matte leaves.
    ``fringe`` (edge): a dark 2 px outline just inside it (a double edge / ghost of the old object).
    ``soft_plate`` (edge, whole plate, no mask): the whole plate blurred (sigma 3).
plus, on the astronaut, ``face_kept`` (good: the face untouched, mask over the cheek) and
``face_distorted`` (anatomy: the left half of the face slid down 12 px, as a bad fill warps it).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from keyframe.config import GateConfig  # noqa: E402
from keyframe.gate import run_gate  # noqa: E402
from keyframe.io import read_mask, read_plate, to_float  # noqa: E402
from keyframe.masks import feather, grow, shrink  # noqa: E402
from keyframe.seam import noise_sigma  # noqa: E402

_spec = importlib.util.spec_from_file_location("make_fixtures", ROOT / "fixtures" / "make_fixtures.py")
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)

FIXTURE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "brick")
# more real photos: (row fraction of the 16:9 crop, mask ellipse cx, cy, ax, ay)
EXTRA_PHOTOS = {
    "camera": (0.6, (380, 200, 40, 30)),
    "grass": (0.5, (250, 140, 46, 34)),
    "gravel": (0.5, (300, 150, 44, 32)),
    "immunohistochemistry": (0.5, (200, 120, 40, 30)),
}
GRAIN_SIGMA = 0.03  # film grain, in [0, 1] units (about 8 grey levels)
FACE_BOX = (33, 130, 172, 269)  # astronaut face in the 512x288 fixture: y0, y1, x0, x1

# defect kind -> the criterion it must fail
DEFECTS = {
    "colour_shift": "seam",
    "blurred": "edge",
    "grain_free": "seam",
    "hard_paste": "seam",
    "halo": "edge",
    "fringe": "edge",
    "soft_plate": "edge",
    "face_distorted": "anatomy",
}


@dataclass
class Case:
    photo: str
    kind: str
    plate: np.ndarray  # float32 RGB [0, 1]
    mask: np.ndarray | None

    @property
    def expect_fail(self) -> str | None:
        """The criterion this case must fail, or None for a good edit (must pass everything)."""
        return DEFECTS.get(self.kind)

    @property
    def name(self) -> str:
        return f"{self.photo}/{self.kind}"


def photos() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every calibration photo as (float32 RGB plate, bool mask), 512x288."""
    found = {}
    for name in FIXTURE_PHOTOS:
        plate = read_plate(ROOT / "fixtures" / "plates" / f"{name}.png")
        found[name] = (to_float(plate), read_mask(ROOT / "fixtures" / "masks" / f"{name}.png", plate.shape[:2]))
    for name, (row, ellipse) in EXTRA_PHOTOS.items():
        plate = make_fixtures.crop_16x9(getattr(data, name)(), row)
        found[name] = (to_float(plate), make_fixtures.ellipse_mask(*ellipse) > 0)
    return found


def _grain(shape: tuple[int, ...], sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, sigma, shape[:2])[..., None].astype(np.float32)  # luminance grain


def _blend(base: np.ndarray, patch: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return np.clip(base * (1 - weight[..., None]) + patch * weight[..., None], 0, 1).astype(np.float32)


def careful_inpaint(plate: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """Telea inpaint (structure) plus detail cloned from beside the mask (texture), blended in over 2 px.

    Plain Telea is smooth, so on anything but a flat area it leaves a soft patch (the gate's edge
    check rightly flags that); a careful artist restores the texture, as a clone brush would.
    """
    region = grow(mask, 2)
    u8 = np.clip(plate * 255 + 0.5, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(u8, region.astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32) / 255
    source = _elsewhere(region)
    detail = np.zeros_like(plate)
    detail[region] = (plate - cv2.GaussianBlur(plate, (0, 0), 3.0))[source]
    return _blend(plate, filled + detail, feather(region, 2))


def _elsewhere(mask: np.ndarray) -> np.ndarray:
    """The pixels of the same shape just beside the mask (left or right), in mask order."""
    cols = np.nonzero(mask)[1]
    dx = cols.max() - cols.min() + 8
    return np.roll(mask, -dx if cols.max() + dx >= mask.shape[1] else dx, axis=1)


def colour_shift(plate: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The patch tinted by +6 a*, +6 b* (ΔE 8.5, a warm cast), blended with ``weight``."""
    lab = cv2.cvtColor(plate, cv2.COLOR_RGB2Lab)
    tinted = cv2.cvtColor(lab + np.float32([0, 6, 6]), cv2.COLOR_Lab2RGB)
    return _blend(plate, tinted, weight)


def build(seed: int = 0) -> list[Case]:
    """The whole labelled calibration set (deterministic for a seed)."""
    cases = []
    plates = photos()
    names = list(plates)
    for index, (photo, (plate, mask)) in enumerate(plates.items()):
        rng_seed = seed * 1000 + index
        grain = _grain(plate.shape, GRAIN_SIGMA, rng_seed)
        grainy = np.clip(plate + grain, 0, 1).astype(np.float32)
        hard = mask.astype(np.float32)
        soft = feather(mask, 2)
        foreign = plates[names[(index + 1) % len(names)]][0]  # a piece of another photo, pasted hard
        pasted = plate.copy()
        pasted[mask] = foreign[mask]
        ring_out = feather(mask, 3) * (~mask)
        ring_in = (mask & ~shrink(mask, 2)).astype(np.float32)
        cases += [
            Case(photo, "untouched", plate, mask),
            Case(photo, "grainy", grainy, mask),
            Case(photo, "inpaint", careful_inpaint(plate, mask, rng_seed), mask),
            Case(photo, "colour_shift", colour_shift(plate, hard), mask),
            Case(photo, "blurred", _blend(plate, cv2.GaussianBlur(plate, (0, 0), 2.5), soft), mask),
            Case(photo, "grain_free", _blend(grainy, plate, hard), mask),
            Case(photo, "hard_paste", pasted, mask),
            Case(photo, "halo", np.clip(plate + 0.15 * ring_out[..., None], 0, 1).astype(np.float32), mask),
            Case(photo, "fringe", _blend(plate, plate * 0.6, ring_in), mask),
            Case(photo, "soft_plate", cv2.GaussianBlur(plate, (0, 0), 3.0), None),
        ]
    astronaut = plates["astronaut"][0]
    y0, y1, x0, x1 = FACE_BOX
    cheek = np.zeros(astronaut.shape[:2], bool)
    cv2.ellipse(cheek.view(np.uint8), ((x0 + x1) // 2 + 20, y0 + 70), (14, 10), 0, 0, 360, 1, -1)
    face_mask = np.zeros_like(cheek)
    face_mask[y0 + 12 : y1, x0 : (x0 + x1) // 2] = True
    distorted = astronaut.copy()
    distorted[y0 + 12 : y1, x0 : (x0 + x1) // 2] = astronaut[y0 : y1 - 12, x0 : (x0 + x1) // 2]
    cases += [Case("astronaut", "face_kept", astronaut, cheek), Case("astronaut", "face_distorted", distorted, face_mask)]
    return cases


SUBCHECKS = {
    "edge": ("focal_sharpness", "relative_sharpness", "halo"),
    "seam": ("color_step", "grain_mismatch", "gradient_ridge"),
    "anatomy": ("face_1_support",),
}


def measure(cases: list[Case], cfg: GateConfig | None = None) -> list[dict]:
    """Run the gate on every case; one row per case with every sub-check's value and the outcome."""
    cfg = cfg or GateConfig()
    rows = []
    for case in cases:
        result = run_gate(case.plate, case.mask, cfg)
        row = {"case": case.name, "expect_fail": case.expect_fail or "-", "pass": result.passed}
        for criterion, keys in SUBCHECKS.items():
            checks = result.criteria[criterion].details.get("checks", {})
            row[criterion] = result.criteria[criterion].passed
            for key in keys:
                row[key] = checks[key]["value"] if key in checks else None
        rows.append(row)
    return rows


# Cases the shipped thresholds get wrong, and why; they are left out when thresholds are suggested
# (otherwise one outlier would decide a limit for everything else) and the tests pin this list.
KNOWN_WRONG = {
    "chelsea/inpaint": "false alarm: the texture cloned beside the paw is 4.4x noisier than the fur around it",
    "grass/colour_shift": "missed: grass's own colour varies as much as the tint across any line",
    "grass/grain_free": "missed: grass texture swamps the noise estimate, so missing grain does not show",
    "astronaut/face_distorted": "missed: the slid face is no longer detected, so it cannot be checked",
}

# sub-check -> (direction, defect kinds it targets)
TARGETS = {
    "focal_sharpness": ("min", {"soft_plate"}),
    "relative_sharpness": ("min", {"blurred"}),
    "halo": ("max", {"halo", "fringe"}),
    "color_step": ("max", {"colour_shift"}),
    "grain_mismatch": ("max", {"grain_free"}),
    "gradient_ridge": ("max", {"hard_paste"}),
    "face_1_support": ("min", {"face_distorted"}),
}


def separation(rows: list[dict]) -> list[str]:
    """Per sub-check: worst good value, mildest defect beyond it, and the threshold between them.

    The suggested threshold is the geometric mean of the worst good edit and the mildest targeted
    defect that is worse than every good edit; cases in :data:`KNOWN_WRONG` are left out.
    """
    lines = []
    for key, (kind, defects) in TARGETS.items():
        usable = [r for r in rows if r[key] is not None and r["case"] not in KNOWN_WRONG]
        good = [r[key] for r in usable if r["expect_fail"] == "-"]
        bad = [r[key] for r in usable if r["case"].split("/")[1] in defects]
        if not good or not bad:
            lines.append(f"{key:20s} not measured on both sides (good: {len(good)}, defects: {len(bad)})")
            continue
        sign = 1.0 if kind == "max" else -1.0
        worst_good = sign * max(sign * v for v in good)
        beyond = [v for v in bad if sign * v > sign * worst_good]
        mildest = sign * min(sign * v for v in beyond) if beyond else None
        suggested = f"{np.sqrt(worst_good * mildest):.3g}" if beyond and worst_good > 0 else "none"
        lines.append(
            f"{key:20s} {kind} | worst good {worst_good:8.3f} | mildest {'/'.join(sorted(defects))} beyond it "
            f"{mildest if mildest is None else round(mildest, 3)} | caught {len(beyond)}/{len(bad)} | "
            f"suggested {suggested}"
        )
    return lines


def main() -> None:
    rows = measure(build())
    keys = [k for keys in SUBCHECKS.values() for k in keys]
    print(f"{'case':34s} {'must fail':9s} {'gate':5s} " + " ".join(f"{k[:12]:>12s}" for k in keys))
    for row in rows:
        values = " ".join(f"{row[k]:12.3f}" if row[k] is not None else f"{'-':>12s}" for k in keys)
        print(f"{row['case']:34s} {row['expect_fail']:9s} {str(row['pass']):5s} {values}")
    print()
    print("\n".join(separation(rows)))
    print()
    print("known wrong (left out of the suggestions):")
    for name, why in KNOWN_WRONG.items():
        print(f"  {name}: {why}")


if __name__ == "__main__":
    main()
