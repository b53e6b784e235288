"""The gate's labelled calibration set, built in code from real photos, and its table.

Every threshold in the ``gate:`` section of ``configs/default.yaml`` was chosen from the table this
prints (``.venv/bin/python tests/gate_calibration.py``): for each sub-check, the worst value any
good edit reached and the mildest value any planted defect of the kind it targets reached, with
the threshold set between them.

Photos: the five committed fixture plates with their masks, plus four more real photos from
``skimage.data`` and Grace Hopper's portrait from matplotlib's sample data, with an ellipse mask
each, all 512x288. Cases per photo:

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
plus, on the two plates with a frontal face (astronaut, Grace Hopper), ``face_kept`` (good: the
face untouched, mask over the cheek), ``face_distorted`` (anatomy: the left half of the face slid
down by 1/16 of its height, as a bad fill warps it) and ``face_swirled`` (anatomy: a swirl over it).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.cbook import get_sample_data
from PIL import Image
from skimage import data
from skimage.transform import swirl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from keyframe.config import GateConfig  # noqa: E402
from keyframe.gate import GateResult, run_gate  # noqa: E402
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
    "grace_hopper": (0.3, (455, 140, 36, 44)),  # the blue backdrop right of her head
}
GRAIN_SIGMA = 0.03  # film grain, in [0, 1] units (about 8 grey levels)
# the frontal faces (as the cascade finds them) in the 512x288 plates: y0, y1, x0, x1
FACE_BOXES = {"astronaut": (33, 130, 172, 269), "grace_hopper": (26, 222, 166, 362)}

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
    "face_swirled": "anatomy",
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


def _photo(name: str) -> np.ndarray:
    """A photo from skimage.data, or Grace Hopper's portrait from matplotlib's sample data."""
    if name == "grace_hopper":
        with Image.open(get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
            return np.asarray(image.convert("RGB"))
    return getattr(data, name)()


def photos() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every calibration photo as (float32 RGB plate, bool mask), 512x288."""
    found = {}
    for name in FIXTURE_PHOTOS:
        plate = read_plate(ROOT / "fixtures" / "plates" / f"{name}.png")
        found[name] = (to_float(plate), read_mask(ROOT / "fixtures" / "masks" / f"{name}.png", plate.shape[:2]))
    for name, (row, ellipse) in EXTRA_PHOTOS.items():
        plate = make_fixtures.crop_16x9(_photo(name), row)
        found[name] = (to_float(plate), make_fixtures.ellipse_mask(*ellipse) > 0)
    return found


def _grain(shape: tuple[int, ...], sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, sigma, shape[:2])[..., None].astype(np.float32)  # luminance grain


def _blend(base: np.ndarray, patch: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return np.clip(base * (1 - weight[..., None]) + patch * weight[..., None], 0, 1).astype(np.float32)


def careful_inpaint(plate: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Telea inpaint (structure) plus detail cloned from a matching spot beside the mask (texture).

    Plain Telea is smooth, so on anything but a flat area it leaves a soft patch (the gate's edge
    check rightly flags that); a careful artist restores the texture with a clone brush, taking
    it from whichever side of the hole (left, right, above, below) has grain most like the
    surroundings. The result is blended in over 2 px.
    """
    region = grow(mask, 2)
    u8 = np.clip(plate * 255 + 0.5, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(u8, region.astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32) / 255
    high_pass = plate - cv2.GaussianBlur(plate, (0, 0), 3.0)
    grey = cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY)
    grain = noise_sigma(grey, grow(mask, 18) & ~region) + 1e-6
    source = min(_beside(region), key=lambda where: abs(np.log((noise_sigma(grey, where) + 1e-6) / grain)))
    detail = np.zeros_like(plate)
    detail[region] = high_pass[source]
    return _blend(plate, filled + detail, feather(region, 2))


def _beside(mask: np.ndarray) -> list[np.ndarray]:
    """The same shape moved just clear of itself to the left, right, top or bottom (those that fit)."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    dy, dx = rows.max() - rows.min() + 8, cols.max() - cols.min() + 8
    moves = [(0, -dx), (0, dx), (-dy, 0), (dy, 0)]
    return [
        np.roll(mask, (my, mx), axis=(0, 1))
        for my, mx in moves
        if 0 <= rows.min() + my and rows.max() + my < height and 0 <= cols.min() + mx and cols.max() + mx < width
    ]


def colour_shift(plate: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The patch tinted by +6 a*, +6 b* (ΔE 8.5, a warm cast), blended with ``weight``."""
    lab = cv2.cvtColor(plate, cv2.COLOR_RGB2Lab)
    tinted = cv2.cvtColor(lab + np.float32([0, 6, 6]), cv2.COLOR_Lab2RGB)
    return _blend(plate, tinted, weight)


def face_cases(photo: str, plate: np.ndarray, box: tuple[int, int, int, int]) -> list[Case]:
    """A kept face (mask over the cheek) and two distorted ones (a slid half, a swirl) with the edit over them."""
    y0, y1, x0, x1 = box
    height, middle = y1 - y0, (x0 + x1) // 2
    cheek = np.zeros(plate.shape[:2], np.uint8)
    cv2.ellipse(cheek, (middle + (x1 - x0) // 5, y0 + 7 * height // 10), ((x1 - x0) // 7, height // 10), 0, 0, 360, 1, -1)
    slide = height // 16
    half = np.zeros(plate.shape[:2], bool)
    half[y0 + slide : y1, x0:middle] = True
    slid = plate.copy()
    slid[y0 + slide : y1, x0:middle] = plate[y0 : y1 - slide, x0:middle]
    whole = np.zeros(plate.shape[:2], np.uint8)
    cv2.ellipse(whole, (middle, (y0 + y1) // 2), ((x1 - x0) // 2, height // 2), 0, 0, 360, 1, -1)
    swirled = plate.copy()
    swirled[y0:y1, x0:x1] = swirl(plate[y0:y1, x0:x1], strength=4, radius=(x1 - x0) // 2)
    return [
        Case(photo, "face_kept", plate, cheek > 0),
        Case(photo, "face_distorted", slid, half),
        Case(photo, "face_swirled", swirled.astype(np.float32), whole > 0),
    ]


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
            Case(photo, "inpaint", careful_inpaint(plate, mask), mask),
            Case(photo, "colour_shift", colour_shift(plate, hard), mask),
            Case(photo, "blurred", _blend(plate, cv2.GaussianBlur(plate, (0, 0), 2.5), soft), mask),
            Case(photo, "grain_free", _blend(grainy, plate, hard), mask),
            Case(photo, "hard_paste", pasted, mask),
            Case(photo, "halo", np.clip(plate + 0.15 * ring_out[..., None], 0, 1).astype(np.float32), mask),
            Case(photo, "fringe", _blend(plate, plate * 0.6, ring_in), mask),
            Case(photo, "soft_plate", cv2.GaussianBlur(plate, (0, 0), 3.0), None),
        ]
    for photo, box in FACE_BOXES.items():
        cases += face_cases(photo, plates[photo][0], box)
    return cases


SUBCHECKS = {
    "edge": ("focal_sharpness", "relative_sharpness", "halo"),
    "seam": ("color_step", "grain_mismatch", "gradient_ridge"),
    "anatomy": ("face_1_support",),
}


def measure(cases: list[Case], cfg: GateConfig | None = None) -> list[dict]:
    """Run the gate on every case; one row per case (see :func:`row`)."""
    cfg = cfg or GateConfig()
    return [row(case, run_gate(case.plate, case.mask, cfg)) for case in cases]


def row(case: Case, result: GateResult) -> dict:
    """Every sub-check's value for one case, and the outcome."""
    found = {"case": case.name, "expect_fail": case.expect_fail or "-", "pass": result.passed}
    for criterion, keys in SUBCHECKS.items():
        checks = result.criteria[criterion].details.get("checks", {})
        found[criterion] = result.criteria[criterion].passed
        for key in keys:
            found[key] = checks[key]["value"] if key in checks else None
    return found


# Cases the shipped thresholds get wrong, and why; they are left out when thresholds are suggested
# (otherwise one outlier would decide a limit for everything else) and the tests pin this list.
KNOWN_WRONG = {
    "chelsea/inpaint": "false alarm: the fur texture cloned beside the paw reads 2.8x noisier than the fur around it",
    "coffee/colour_shift": "missed: the tint pushes the white saucer out of gamut, so clipped it barely changes",
    "camera/grain_free": "missed: a grain-free patch in the camera's grass reads only 1.6x off (goods reach 2.0x)",
    "grass/colour_shift": "missed: grass's own colour varies as much as the tint across any line",
    "grass/grain_free": "missed: grass texture swamps the noise estimate, so missing grain does not show",
    "gravel/halo": "missed: a glow on high-contrast gravel (1.9 L*) is within what good edits reach (2.3)",
    "astronaut/face_distorted": "missed: a 6 px slide of half a 97 px face still reads as a face (15 windows)",
    "astronaut/face_swirled": "missed: the swirled face still reads as a face (14 windows)",
}

# sub-check -> (direction, defect kinds it targets)
TARGETS = {
    "focal_sharpness": ("min", {"soft_plate"}),
    "relative_sharpness": ("min", {"blurred"}),
    "halo": ("max", {"halo", "fringe"}),
    "color_step": ("max", {"colour_shift"}),
    "grain_mismatch": ("max", {"grain_free"}),
    "gradient_ridge": ("max", {"hard_paste"}),
    "face_1_support": ("min", {"face_distorted", "face_swirled"}),
}


def separation(rows: list[dict]) -> dict[str, dict]:
    """Per sub-check: worst good value, mildest defect beyond it, and the threshold between them.

    The suggested threshold is the geometric mean of the worst good edit and the mildest targeted
    defect that is worse than every good edit; cases in :data:`KNOWN_WRONG` are left out.
    """
    found = {}
    for key, (kind, defects) in TARGETS.items():
        usable = [r for r in rows if r[key] is not None and r["case"] not in KNOWN_WRONG]
        good = [r[key] for r in usable if r["expect_fail"] == "-"]
        bad = [r[key] for r in usable if r["case"].split("/")[1] in defects]
        if not good or not bad:
            continue
        sign = 1.0 if kind == "max" else -1.0
        worst_good = sign * max(sign * v for v in good)
        beyond = [v for v in bad if sign * v > sign * worst_good]
        mildest = sign * min(sign * v for v in beyond) if beyond else None
        suggested = float(np.sqrt(worst_good * mildest)) if beyond and worst_good > 0 else None
        found[key] = {"kind": kind, "defects": sorted(defects), "worst_good": worst_good, "mildest_beyond": mildest,
                      "caught": len(beyond), "targeted": len(bad), "suggested": suggested}
    return found


def main() -> None:
    rows = measure(build())
    keys = [k for keys in SUBCHECKS.values() for k in keys]
    print(f"{'case':34s} {'must fail':9s} {'gate':5s} " + " ".join(f"{k[:12]:>12s}" for k in keys))
    for row in rows:
        values = " ".join(f"{row[k]:12.3f}" if row[k] is not None else f"{'-':>12s}" for k in keys)
        print(f"{row['case']:34s} {row['expect_fail']:9s} {str(row['pass']):5s} {values}")
    print()
    for key, sep in separation(rows).items():
        suggested = "none" if sep["suggested"] is None else f"{sep['suggested']:.3g}"
        mildest = "none" if sep["mildest_beyond"] is None else f"{sep['mildest_beyond']:.3f}"
        print(
            f"{key:20s} {sep['kind']} | worst good {sep['worst_good']:8.3f} | mildest {'/'.join(sep['defects'])} "
            f"beyond it {mildest} | caught {sep['caught']}/{sep['targeted']} | suggested {suggested}"
        )
    print()
    print("known wrong (left out of the suggestions):")
    for name, why in KNOWN_WRONG.items():
        print(f"  {name}: {why}")


if __name__ == "__main__":
    main()
