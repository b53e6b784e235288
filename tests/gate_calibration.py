"""The gate's labelled calibration set, built in code from real photos, and its table.

Every threshold in the ``gate:`` section of ``configs/default.yaml`` was chosen from the table this
prints (``.venv/bin/python tests/gate_calibration.py``; benchmarks/RESULTS.md quotes it): for each
sub-check, the worst value any good edit reached and the mildest value any planted defect of the
kind it targets reached beyond it; the threshold is their geometric mean, but at least
:data:`MIN_MARGIN` beyond the worst good edit. The same table for :data:`HELD_OUT` photos, which
no threshold was chosen on, follows.

Photos (512x288, an ellipse mask each unless a fixture's own mask): the five committed fixture
plates, ``camera``, ``grass``, ``gravel``, ``immunohistochemistry``, ``hubble_deep_field`` (dark
and sparse), ``moon``, ``text`` and ``retina`` (smooth) from ``skimage.data`` and Grace Hopper's
portrait from matplotlib's sample data; held out: ``cat``, ``coins`` and ``page``. Cases per photo:

good edits
    ``untouched`` (the plate itself), ``grainy`` (film grain added everywhere), ``inpaint`` (Telea
    for the structure plus detail cloned from the most alike spot beside the mask), ``cloned``
    (copy-paste of that spot, feathered over 4 px; only where a spot within ΔE + grain distance 6
    exists) and ``synthesized`` (a well-matched generative fill, simulated: blurred Telea structure
    plus the plate's own high-pass texture in overlapping random patches from around the hole,
    blended so its variance, hence its grain, stays the plate's).
planted defects (and the criteria any of which each must fail)
    colour casts (seam): ``colour_shift`` +6 a* +6 b* (ΔE 8.5) hard-edged, ``cast_green`` -5 a*
    feathered over 6 px, ``cast_blue`` +14 levels of blue and ``shade`` -14 levels of all three,
    feathered over 4 px.
    soft fills (edge or texture): ``blurred_mild`` / ``blurred`` / ``blurred_strong`` (Gaussian
    sigma 1.5 / 2.5 / 4, 2 px feather), ``telea`` (plain Telea smear), ``stage_fill`` (keyframe's
    biharmonic inpaint, colour and grain matched, without its texture synthesis), ``soft_grain``
    (blur sigma 2 plus white luminance grain at the ring's noise level), ``telea_grain`` (Telea plus 1.5x that
    grain), ``soft_coarse_grain`` (blur sigma 3 plus grain correlated over ~1 px). Not planted on
    ``SMOOTH`` photos, where smoothing smooth content is no defect.
    ``grain_free`` (seam): grain added everywhere except the patch. ``hard_paste`` (seam): the
    patch replaced, hard-edged, by the same area of another photo. ``halo`` (edge): a bright 3 px
    glow just outside the outline. ``fringe`` (edge): a dark 2 px outline just inside it.
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

from keyframe.config import GateConfig, InpaintConfig  # noqa: E402
from keyframe.gate import GateResult, run_gate  # noqa: E402
from keyframe.inpaint import inpaint  # noqa: E402
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
    "hubble_deep_field": (0.5, (300, 150, 44, 32)),  # dark sky, a few faint galaxies: sparse
    "moon": (0.5, (130, 180, 44, 32)),  # cratered grey surface
    "text": (0.5, (200, 90, 44, 30)),  # handwriting on paper
    "retina": (0.5, (330, 200, 40, 30)),  # smooth fundus: legitimately smooth content
    # held out of calibration (see HELD_OUT)
    "cat": (0.5, (80, 200, 40, 30)),  # fur on the cheek
    "coins": (0.5, (300, 140, 36, 30)),  # a coin on the dark tray
    "page": (0.5, (300, 200, 44, 30)),  # printed text
}
# photos whose mask lies on smooth content: no soft-fill or blur defects are planted there
SMOOTH = {"retina"}
#: Photos kept out of calibration: thresholds are chosen without them, then checked on them.
HELD_OUT = ("cat", "coins", "page")
GRAIN_SIGMA = 0.03  # film grain, in [0, 1] units (about 8 grey levels)
# the frontal faces (as the cascade finds them) in the 512x288 plates: y0, y1, x0, x1
FACE_BOXES = {"astronaut": (33, 130, 172, 269), "grace_hopper": (26, 222, 166, 362)}

SOFT = ("edge", "texture")  # a soft or wrongly grained fill fails either
# defect kind -> the criteria any of which it must fail
DEFECTS = {
    "colour_shift": ("seam",),
    "cast_green": ("seam",),
    "cast_blue": ("seam",),
    "shade": ("seam",),
    "blurred": SOFT,
    "blurred_mild": SOFT,
    "blurred_strong": SOFT,
    "telea": SOFT,
    "soft_grain": SOFT,
    "telea_grain": SOFT,
    "soft_coarse_grain": SOFT,
    "stage_fill": SOFT,
    "grain_free": ("seam",),
    "hard_paste": ("seam",),
    "halo": ("edge",),
    "fringe": ("edge",),
    "soft_plate": ("edge",),
    "face_distorted": ("anatomy",),
    "face_swirled": ("anatomy",),
}


@dataclass
class Case:
    photo: str
    kind: str
    plate: np.ndarray  # float32 RGB [0, 1]
    mask: np.ndarray | None

    @property
    def expect_fail(self) -> tuple[str, ...] | None:
        """The criteria any of which this case must fail, or None for a good edit (must pass everything)."""
        return DEFECTS.get(self.kind)

    @property
    def name(self) -> str:
        return f"{self.photo}/{self.kind}"


def _photo(name: str) -> np.ndarray:
    """A photo from skimage.data, or Grace Hopper's portrait from matplotlib's sample data."""
    if name == "grace_hopper":
        with Image.open(get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
            return np.asarray(image.convert("RGB"))
    image = getattr(data, name)()
    return image[0] if isinstance(image, tuple) else image  # a stereo pair: its left view


def photos(names: tuple[str, ...] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Calibration photos as (float32 RGB plate, bool mask), 512x288; all but HELD_OUT unless ``names``."""
    names = names or tuple(name for name in (*FIXTURE_PHOTOS, *EXTRA_PHOTOS) if name not in HELD_OUT)
    found = {}
    for name in names:
        if name in FIXTURE_PHOTOS:
            plate = read_plate(ROOT / "fixtures" / "plates" / f"{name}.png")
            found[name] = (to_float(plate), read_mask(ROOT / "fixtures" / "masks" / f"{name}.png", plate.shape[:2]))
        else:
            row, ellipse = EXTRA_PHOTOS[name]
            plate = make_fixtures.crop_16x9(_photo(name), row)
            found[name] = (to_float(plate), make_fixtures.ellipse_mask(*ellipse) > 0)
    return found


def _grain(shape: tuple[int, ...], sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, sigma, shape[:2])[..., None].astype(np.float32)  # luminance grain


def _blend(base: np.ndarray, patch: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return np.clip(base * (1 - weight[..., None]) + patch * weight[..., None], 0, 1).astype(np.float32)


def _telea(plate: np.ndarray, region: np.ndarray) -> np.ndarray:
    u8 = np.clip(plate * 255 + 0.5, 0, 255).astype(np.uint8)
    return cv2.inpaint(u8, region.astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32) / 255


def _ring_noise(plate: np.ndarray, mask: np.ndarray) -> float:
    return noise_sigma(cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY), grow(mask, 18) & ~grow(mask, 2))


def _most_alike(plate: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, float]:
    """The spot beside ``region`` nearest its ring in mean colour (ΔE) and grain (10 ΔE per e-fold), and that distance."""
    lab = cv2.cvtColor(plate, cv2.COLOR_RGB2Lab)
    grey = cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY)
    ring = grow(region, 16) & ~region
    target, grain = lab[ring].mean(axis=0), noise_sigma(grey, ring) + 1e-6

    def distance(where: np.ndarray) -> float:
        colour = float(np.linalg.norm(lab[where].mean(axis=0) - target))
        return colour + 10 * abs(np.log((noise_sigma(grey, where) + 1e-6) / grain))

    spots = _beside(region)
    distances = [distance(where) for where in spots]
    return spots[int(np.argmin(distances))], float(min(distances))


def careful_inpaint(plate: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Telea inpaint (structure) plus detail cloned from a matching spot beside the mask (texture).

    Plain Telea is smooth, so on anything but a flat area it leaves a soft patch (the gate's
    texture check rightly flags that); a careful artist restores the texture with a clone brush,
    taking it from whichever side of the hole (left, right, above, below) looks most alike. The
    result is blended in over 2 px.
    """
    region = grow(mask, 2)
    filled = _telea(plate, region)
    high_pass = plate - cv2.GaussianBlur(plate, (0, 0), 3.0)
    detail = np.zeros_like(plate)
    detail[region] = high_pass[_most_alike(plate, region)[0]]
    return _blend(plate, filled + detail, feather(region, 2))


CLONE_DISTANCE_MAX = 6.0  # a spot farther than this (ΔE + grain) from the ring is not "similar texture"


def cloned(plate: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Copy-paste of similar texture: the most alike spot beside the mask, feathered over 4 px.

    None when no spot beside the mask is alike (within :data:`CLONE_DISTANCE_MAX`): an artist
    would not clone from there."""
    region = grow(mask, 2)
    source, distance = _most_alike(plate, region)
    if distance > CLONE_DISTANCE_MAX:
        return None
    pasted = plate.copy()
    pasted[region] = plate[source]
    return _blend(plate, pasted, feather(region, 4))


def synthesized(plate: np.ndarray, mask: np.ndarray, seed: int, patch: int = 16) -> np.ndarray:
    """A well-matched generative fill, simulated: smooth structure plus texture synthesised from the surroundings.

    The structure is a Telea fill blurred (sigma 3); the texture is the plate's own high-pass
    detail, in ``patch``-px patches drawn at random from the nearest part of a ring around the
    hole and overlapped with Hann windows, blended so the variance stays the plate's
    (sum(w * patch) / sqrt(sum(w**2))). Noise and fine detail therefore match the surroundings,
    as a good diffusion fill's do. Blended in over 2 px.
    """
    rng = np.random.default_rng(seed)
    region = grow(mask, 2)
    height, width = mask.shape
    low = cv2.GaussianBlur(_telea(plate, region), (0, 0), 3.0)
    high = plate - cv2.GaussianBlur(plate, (0, 0), 3.0)
    # top-left corners of patches that lie wholly outside the hole, within 40 px of it
    clear = cv2.boxFilter(region.astype(np.float32), -1, (patch, patch), normalize=False, anchor=(0, 0),
                          borderType=cv2.BORDER_CONSTANT) < 0.5
    clear[height - patch + 1 :, :] = False
    clear[:, width - patch + 1 :] = False
    near = grow(region, 40)
    ys, xs = np.nonzero(clear & near)
    window = np.outer(np.hanning(patch + 2)[1:-1], np.hanning(patch + 2)[1:-1]).astype(np.float32)
    acc = np.zeros_like(plate)
    weight2 = np.full(mask.shape, 1e-6, np.float32)
    box = grow(region, patch // 2)
    rows, cols = np.nonzero(box)
    for y in range(max(rows.min() - patch // 2, 0), min(rows.max(), height - patch) + 1, patch // 2):
        for x in range(max(cols.min() - patch // 2, 0), min(cols.max(), width - patch) + 1, patch // 2):
            distance = (ys - y) ** 2 + (xs - x) ** 2
            nearest = np.argpartition(distance, 24)[:24]
            pick = rng.choice(nearest)
            sy, sx = ys[pick], xs[pick]
            acc[y : y + patch, x : x + patch] += window[..., None] * high[sy : sy + patch, sx : sx + patch]
            weight2[y : y + patch, x : x + patch] += window**2
    fill = low + acc / np.sqrt(weight2)[..., None]
    return _blend(plate, fill, feather(region, 2))


def soft_grained(plate: np.ndarray, soft: np.ndarray, mask: np.ndarray, strength: float, seed: int,
                 grain_blur: float = 0.0) -> np.ndarray:
    """A soft fill with grain of the wrong structure: ``soft`` inside the mask plus white (or
    ``grain_blur``-correlated) luminance grain at ``strength`` times the ring's noise level (same
    local colour, less detail, different grain). Blended in over 2 px."""
    region = grow(mask, 2)
    noise = np.random.default_rng(seed).normal(0.0, 1.0, mask.shape).astype(np.float32)
    if grain_blur:
        noise = cv2.GaussianBlur(noise, (0, 0), grain_blur)
        noise /= noise.std()
    fill = soft + (strength * _ring_noise(plate, mask) * noise)[..., None]
    return _blend(plate, fill, feather(region, 2))


def stage_fill(plate: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """keyframe's biharmonic inpaint, colour and grain matched, without texture synthesis
    (``inpaint.texture: none``; the default restores the plate's detail): smooth with white grain."""
    u8 = np.clip(plate * 255 + 0.5, 0, 255).astype(np.uint8)
    return to_float(inpaint(u8, mask, InpaintConfig(texture="none")).image)


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


def colour_shift(plate: np.ndarray, weight: np.ndarray, shift: tuple[float, float, float] = (0, 6, 6)) -> np.ndarray:
    """The patch shifted by ``shift`` in (L*, a*, b*) (default a warm cast, ΔE 8.5), blended with ``weight``."""
    lab = cv2.cvtColor(plate, cv2.COLOR_RGB2Lab)
    tinted = cv2.cvtColor(lab + np.float32(shift), cv2.COLOR_Lab2RGB)
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


def photo_cases(photo: str, plate: np.ndarray, mask: np.ndarray, foreign: np.ndarray, seed: int) -> list[Case]:
    """Every edit of one photo: good edits, then planted defects (see the module docstring)."""
    grainy = np.clip(plate + _grain(plate.shape, GRAIN_SIGMA, seed), 0, 1).astype(np.float32)
    hard = mask.astype(np.float32)
    soft = feather(mask, 2)
    pasted = plate.copy()
    pasted[mask] = foreign[mask]
    ring_out = feather(mask, 3) * (~mask)
    ring_in = (mask & ~shrink(mask, 2)).astype(np.float32)
    telea = _telea(plate, grow(mask, 2))
    smoothed = {"telea": _blend(plate, telea, feather(grow(mask, 2), 2)), "stage_fill": stage_fill(plate, mask)}
    cases = [
        Case(photo, "untouched", plate, mask),
        Case(photo, "grainy", grainy, mask),
        Case(photo, "inpaint", careful_inpaint(plate, mask), mask),
        Case(photo, "synthesized", synthesized(plate, mask, seed), mask),
        Case(photo, "colour_shift", colour_shift(plate, hard), mask),
        Case(photo, "cast_green", colour_shift(plate, feather(mask, 6), (0, -5, 0)), mask),
        Case(photo, "cast_blue", _blend(plate, plate + np.float32([0, 0, 14 / 255]), feather(mask, 4)), mask),
        Case(photo, "shade", _blend(plate, plate - np.float32(14 / 255), feather(mask, 4)), mask),
        Case(photo, "grain_free", _blend(grainy, plate, hard), mask),
        Case(photo, "hard_paste", pasted, mask),
        Case(photo, "halo", np.clip(plate + 0.15 * ring_out[..., None], 0, 1).astype(np.float32), mask),
        Case(photo, "fringe", _blend(plate, plate * 0.6, ring_in), mask),
        Case(photo, "soft_plate", cv2.GaussianBlur(plate, (0, 0), 3.0), None),
    ]
    clone = cloned(plate, mask)
    if clone is not None:
        cases.append(Case(photo, "cloned", clone, mask))
    if photo in SMOOTH:  # smoothing smooth content is no defect (and whether it is good is a matter of taste)
        return cases
    return cases + [
        *(Case(photo, kind, image, mask) for kind, image in smoothed.items()),
        Case(photo, "blurred_mild", _blend(plate, cv2.GaussianBlur(plate, (0, 0), 1.5), soft), mask),
        Case(photo, "blurred", _blend(plate, cv2.GaussianBlur(plate, (0, 0), 2.5), soft), mask),
        Case(photo, "blurred_strong", _blend(plate, cv2.GaussianBlur(plate, (0, 0), 4.0), soft), mask),
        Case(photo, "soft_grain", soft_grained(plate, cv2.GaussianBlur(plate, (0, 0), 2.0), mask, 1.0, seed), mask),
        Case(photo, "telea_grain", soft_grained(plate, telea, mask, 1.5, seed), mask),
        Case(photo, "soft_coarse_grain",
             soft_grained(plate, cv2.GaussianBlur(plate, (0, 0), 3.0), mask, 1.0, seed, grain_blur=1.0), mask),
    ]


def build(seed: int = 0, names: tuple[str, ...] | None = None) -> list[Case]:
    """The labelled set of ``names`` (default: the calibration photos), deterministic for a seed."""
    cases = []
    plates = photos(names)
    listed = list(plates)
    for index, (photo, (plate, mask)) in enumerate(plates.items()):
        foreign = plates[listed[(index + 1) % len(listed)]][0]  # a piece of another photo, pasted hard
        cases += photo_cases(photo, plate, mask, foreign, seed * 1000 + index)
    for photo, box in FACE_BOXES.items():
        if photo in plates:
            cases += face_cases(photo, plates[photo][0], box)
    return cases


SUBCHECKS = {
    "edge": ("focal_sharpness", "relative_sharpness", "halo"),
    "seam": ("grain_mismatch", "gradient_ridge", "colour_ridge", "colour_cast"),
    "texture": ("fine_detail", "grain_level"),
    "anatomy": ("face_1_support",),
}


def measure(cases: list[Case], cfg: GateConfig | None = None) -> list[dict]:
    """Run the gate on every case; one row per case (see :func:`row`)."""
    cfg = cfg or GateConfig()
    return [row(case, run_gate(case.plate, case.mask, cfg)) for case in cases]


def wrong(case: Case, result: GateResult) -> bool:
    """A good edit that fails the gate, or a defect that fails none of the criteria it must fail."""
    if case.expect_fail is None:
        return not result.passed
    return not any(result.criteria[name].passed is False for name in case.expect_fail)


def row(case: Case, result: GateResult) -> dict:
    """Every sub-check's value for one case, and the outcome."""
    found = {"case": case.name, "expect_fail": "/".join(case.expect_fail or ("-",)), "pass": result.passed,
             "wrong": wrong(case, result)}
    for criterion, keys in SUBCHECKS.items():
        checks = result.criteria[criterion].details.get("checks", {})
        found[criterion] = result.criteria[criterion].passed
        for key in keys:
            found[key] = checks[key]["value"] if key in checks else None
    return found


# Cases the shipped thresholds get wrong, and why; the tests pin this list. The good edits among
# them are left out when thresholds are suggested (otherwise one outlier would decide a limit for
# everything else).
KNOWN_WRONG: dict[str, str] = {
    # good edits that fail
    "moon/inpaint": "false alarm: the crater field cloned beside the patch is 1.8x grainier than the smooth mare "
    "around it, where untouched patches of its shape nearby are at most 1.0x off (grain limit 1.3x)",
    # darkenings inside the plate's own lightness variation along the outline (cast limit 7.3):
    # texture varies mostly in lightness, so a shade is judged against it while a tint is not
    "astronaut/shade": "missed: the mask crosses the shuttle model's light and dark edges; a 14-level darkening "
    "reads 3.4",
    "coffee/shade": "missed: the saucer's rim crosses the outline; a 14-level darkening reads 2.3",
    "chelsea/shade": "missed: fur; a 14-level darkening reads 6.5, inside the margin",
    "rocket/shade": "missed: the tree's own light and dark patches along the outline (3.0)",
    "brick/shade": "missed: the bricks' mortar lines cross the outline; a 14-level darkening reads 3.5",
    "grass/shade": "missed: grass blades; a 14-level darkening reads 2.5",
    "gravel/shade": "missed: high-contrast gravel: a 14-level darkening reads 1.7",
    "text/shade": "missed: handwriting crossing the outline (2.3)",
    # missing grain where texture swamps the noise estimate (grain limit 1.3x)
    "grass/grain_free": "missed: grass texture swamps the noise estimate, so missing grain does not show (1.25x)",
    # soft fills whose grain or surroundings hide the softness (fine-detail limit 0.68, relative sharpness 0.66):
    # the edit is judged against the least detailed of the untouched patches of its shape nearby, so a fill
    # on a plate whose own patches vary this much reads like one of them
    "astronaut/soft_grain": "missed: a mild blur (sigma 2) of the shuttle model's smooth panels keeps more fine "
    "detail than the least of the untouched patches beside it (1.45)",
    "astronaut/blurred_mild": "missed by texture and edge (1.58 and 1.21: the panels are smooth at that scale)",
    "astronaut/blurred": "missed: the shuttle model's panels beside it read 0.66 of their rings' fine detail "
    "untouched, the blur 0.62 (0.95, edge 0.75)",
    "astronaut/telea": "missed: as astronaut/blurred; the smear keeps 0.61 of the ring's fine detail (0.92, edge 0.73)",
    "astronaut/telea_grain": "missed: the ring is the shuttle model's smooth panels, so little fine detail is "
    "predicted and the added grain supplies it (1.24)",
    "camera/soft_grain": "missed: the ring holds the tripod's edges, so the grain added at the ring's noise "
    "level is strong and the fill keeps 0.84 of the predicted fine detail",
    "camera/telea_grain": "missed: 1.5x the ring's (edge-inflated) noise level refills the fine bands (1.30)",
    "coffee/stage_fill": "missed: the smooth cup and saucer beside it read 0.84 of their rings' fine detail "
    "untouched; the fill 0.68 (0.81)",
    "moon/telea": "missed: the smooth mare around the patch predicts little fine detail (0.75)",
    "moon/telea_grain": "missed: as moon/telea, with grain on top (0.80)",
    "moon/stage_fill": "missed: smooth with white grain on the smooth mare: 0.686 of the predicted fine detail, "
    "just above the limit",
    "text/stage_fill": "missed: the paper around the handwriting predicts little fine detail and the matched grain "
    "supplies it (0.695, just above the limit)",
    # edge
    "gravel/halo": "missed: a glow on high-contrast gravel (1.06 L*) is within what good edits reach (2.59)",
    "hubble_deep_field/fringe": "missed: a dark fringe on a dark sky has almost nothing to darken (0.74 L*)",
    # anatomy
    "astronaut/face_distorted": "missed: a 6 px slide of half a 97 px face still reads as a face (15 windows)",
    "astronaut/face_swirled": "missed: the swirled face still reads as a face (14 windows)",
}

#: Every limit lies at least this factor beyond the worst good edit of the calibration set: good
#: plates nobody here has seen reach past it (round 1: one of six untouched held-out photos failed).
#: Planted defects inside that margin are misses, listed in KNOWN_WRONG.
MIN_MARGIN = 1.15

# sub-check -> (direction, defect kinds it targets)
TARGETS = {
    "focal_sharpness": ("min", {"soft_plate"}),
    "relative_sharpness": ("min", {"blurred", "blurred_strong"}),
    "halo": ("max", {"halo", "fringe"}),
    "grain_mismatch": ("max", {"grain_free"}),
    "gradient_ridge": ("max", {"hard_paste"}),
    "colour_ridge": ("max", {"colour_shift", "hard_paste"}),
    "colour_cast": ("max", {"colour_shift", "cast_green", "cast_blue", "shade"}),
    "fine_detail": ("min", {"telea", "stage_fill", "soft_grain", "telea_grain", "soft_coarse_grain", "blurred_mild"}),
    "grain_level": ("max", {"grain_free", "telea"}),
    "face_1_support": ("min", {"face_distorted", "face_swirled"}),
}


def separation(rows: list[dict], untouched: list[dict[str, float]] = ()) -> dict[str, dict]:
    """Per sub-check: worst good value, mildest defect beyond it, and the threshold between them.

    The suggested threshold is the geometric mean of the worst good edit and the mildest targeted
    defect that is worse than every good edit, moved out to :data:`MIN_MARGIN` beyond the worst
    good edit where that is closer; good edits in :data:`KNOWN_WRONG` (known false alarms) are
    left out. ``untouched`` are more good edits, as ``{sub-check: value}``: the untouched audit's
    runs (``gate_audit.audit(...)[i]["values"]``), masks laid anywhere on photos nobody edited.
    ``margin`` is how far beyond the worst good edit the threshold lies, as a factor.
    """
    found = {}
    for key, (kind, defects) in TARGETS.items():
        usable = [r for r in rows if r[key] is not None]
        good = [r[key] for r in usable if r["expect_fail"] == "-" and r["case"] not in KNOWN_WRONG]
        good += [values[key] for values in untouched if values.get(key) is not None]
        bad = [r[key] for r in usable if r["case"].split("/")[1] in defects]
        if not good or not bad:
            continue
        sign = 1.0 if kind == "max" else -1.0
        worst_good = sign * max(sign * v for v in good)
        beyond = [v for v in bad if sign * v > sign * worst_good]
        mildest = sign * min(sign * v for v in beyond) if beyond else None
        suggested = None
        if beyond and worst_good > 0:
            # halfway (geometrically) to the mildest defect, but at least MIN_MARGIN beyond the worst good
            suggested = sign * max(sign * float(np.sqrt(worst_good * mildest)), sign * worst_good * MIN_MARGIN**sign)
        margin = None if suggested is None else float((suggested / worst_good) ** sign)
        found[key] = {"kind": kind, "defects": sorted(defects), "worst_good": worst_good, "mildest_beyond": mildest,
                      "caught": len(beyond), "targeted": len(bad), "suggested": suggested, "margin": margin}
    return found


def margins(rows: list[dict], cfg: GateConfig) -> dict[str, dict]:
    """Per sub-check, against the shipped limit: the worst good edit (known false alarms aside), the
    mildest targeted defect caught, and how many of the targeted defects it catches."""
    limits = {"focal_sharpness": cfg.focal_sharpness_min, "relative_sharpness": cfg.relative_sharpness_min,
              "halo": cfg.halo_max, "grain_mismatch": cfg.grain_mismatch_max,
              "gradient_ridge": cfg.gradient_ridge_max, "colour_ridge": cfg.colour_ridge_max, "colour_cast": cfg.colour_cast_max,
              "fine_detail": cfg.texture_detail_min,
              "grain_level": cfg.texture_grain_max, "face_1_support": cfg.face_support_min}
    found = {}
    for key, (kind, defects) in TARGETS.items():
        limit, sign = limits[key], (1.0 if kind == "max" else -1.0)
        good = [r[key] for r in rows if r[key] is not None and r["expect_fail"] == "-" and r["case"] not in KNOWN_WRONG]
        bad = [r[key] for r in rows if r[key] is not None and r["case"].split("/")[1] in defects]
        caught = [v for v in bad if sign * v > sign * limit]
        worst_good = sign * max(sign * v for v in good) if good else None
        mildest = sign * min(sign * v for v in caught) if caught else None
        found[key] = {"limit": limit, "worst_good": worst_good, "mildest_caught": mildest, "caught": len(caught),
                      "targeted": len(bad)}
    return found


def print_table(title: str, rows: list[dict], cfg: GateConfig) -> None:
    keys = [k for keys in SUBCHECKS.values() for k in keys]
    print(f"== {title}")
    print(f"{'case':38s} {'must fail':14s} {'gate':5s} {'ok':3s}" + " ".join(f"{k[:12]:>12s}" for k in keys))
    for r in rows:
        values = " ".join(f"{r[k]:12.3f}" if r[k] is not None else f"{'-':>12s}" for k in keys)
        print(f"{r['case']:38s} {r['expect_fail']:14s} {str(r['pass']):5s} {'NO' if r['wrong'] else 'ok':3s}{values}")
    good = [r for r in rows if r["expect_fail"] == "-"]
    bad = [r for r in rows if r["expect_fail"] != "-"]
    print(f"right: {sum(not r['wrong'] for r in rows)}/{len(rows)} (good edits passed {sum(not r['wrong'] for r in good)}"
          f"/{len(good)}, defects caught {sum(not r['wrong'] for r in bad)}/{len(bad)})")
    print(f"{'sub-check':20s} {'limit':>8s} {'worst good':>11s} {'mildest caught':>15s} {'caught':>8s}  "
          "(worst good: known false alarms aside; caught: by this sub-check alone)")
    for key, m in margins(rows, cfg).items():
        worst = "-" if m["worst_good"] is None else f"{m['worst_good']:.3f}"
        mildest = "-" if m["mildest_caught"] is None else f"{m['mildest_caught']:.3f}"
        print(f"{key:20s} {m['limit']:8.3g} {worst:>11s} {mildest:>15s} {m['caught']:>4d}/{m['targeted']:<3d}")
    print()


def main() -> None:
    from gate_audit import audit, cases  # the audit builds on this module

    cfg = GateConfig()
    rows = measure(build(), cfg)
    print_table("calibration photos", rows, cfg)
    untouched = [found["values"] for found in audit(cases(), cfg)]
    print(f"suggested limits, with the untouched audit's {len(untouched)} runs among the good edits:")
    for key, sep in separation(rows, untouched).items():
        suggested = "none" if sep["suggested"] is None else f"{sep['suggested']:.3g}"
        mildest = "none" if sep["mildest_beyond"] is None else f"{sep['mildest_beyond']:.3f}"
        margin = "-" if sep["margin"] is None else f"{sep['margin']:.2f}x"
        print(
            f"{key:20s} {sep['kind']} | worst good {sep['worst_good']:8.3f} | mildest targeted defect "
            f"beyond it {mildest} | caught {sep['caught']}/{sep['targeted']} | suggested {suggested} (margin {margin})"
        )
    print()
    print("known wrong (left out of the suggestions):")
    for name, why in KNOWN_WRONG.items():
        print(f"  {name}: {why}")
    print()
    print_table(f"held-out photos ({', '.join(HELD_OUT)}): not used to choose any threshold",
                measure(build(names=HELD_OUT), cfg), cfg)


if __name__ == "__main__":
    main()
