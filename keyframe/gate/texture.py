"""Texture criterion: does the edit carry the fine detail and the grain its surroundings predict?

A fill can keep the local colour and still show: softer than the picture around it, with grain
of the wrong structure or strength (a smooth fill with white noise sprinkled on top, a Telea
smear, a blur). Two sub-checks, each against a limit from :class:`~keyframe.config.GateConfig`:

- ``fine_detail``: the edit and a ring around it are split into four frequency bands (differences
  of Gaussians at sigma 1, 2, 4 and 8 px, at the gate's 512 px working size). Per band, the RMS
  amplitude inside over that in the ring (local energy capped at the ring's 75th percentile, so
  a few strong edges do not count). The two finest bands are compared with what the ring
  predicts for this content: the ring's own amount, scaled down by how much smoother the edit is
  at the coarsest band when it is (a smooth sky or cheek keeps its proportions across bands; a
  soft fill loses the fine bands but keeps its coarse shapes). The smaller of the two is the
  measure (1 = as detailed as predicted). Added white grain lifts the finest band but not the
  next, so it does not hide a soft fill. Content is rarely the same all round an edit (a patch
  of sky beside a launch tower reads far below its ring), so the same measure is taken on the
  nearest untouched patches of the edit's shape (16, up to 64 for a small edit; the 3/4 with
  the most alike surroundings), and the score is the edit's measure over the least of theirs
  (when below 1): how much softer the edit is than any patch of this
  size around it. A small patch's measure strays more, and so do its neighbours'.
- ``grain_level``: noise inside against noise in the ring, per opponent colour channel
  (lightness, red-green, yellow-blue; median absolute finest band, a robust noise level), as a
  factor off either way; the worst channel counts. The ring's pixels are those as bright as the
  edit (noise grows with brightness). A grain-free fill, luminance-only grain on a plate with
  colour noise, or chroma noise on a clean plate shows here. The score is that factor over the
  largest any of the same untouched patches reaches (when above 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from keyframe.config import GateConfig
from keyframe.gate.criterion import (
    Check,
    Criterion,
    ENERGY_FLOOR,
    NOISE_FLOOR,
    check_inputs,
    energy_ratio,
    has_boundary,
    judge,
    neighbourhood,
    not_checked,
    Pixels,
    alike_surroundings,
    paste,
    plate_tolerance,
    same_shape_samples,
    to_work_size,
    work_scale,
)
from keyframe.masks import distance_to, shrink

NAME = "texture"
SIGMAS = (1.0, 2.0, 4.0, 8.0)  # band b lies between blur SIGMAS[b - 1] (0 for b = 0) and SIGMAS[b]
CHANNELS = ("lightness", "red-green", "yellow-blue")
# RGB -> orthonormal opponent channels (lightness, red-green, yellow-blue): chroma noise apart from
# luminance grain, as CIELAB would separate them, at the cost of one 3x3 product
_OPPONENT = np.float32([[1, 1, 1], [1, -1, 0], [1, 1, -2]]) / np.sqrt(np.float32([[3], [2], [6]]))
_LOCAL_WINDOW = 9  # px: band energy is averaged over this window before it is compared


@dataclass(frozen=True)
class TextureMeasure:
    """How the edit's detail and grain compare with its ring, and how much untouched patches differ from theirs.

    ``band_ratios``: amplitude inside / ring per band, finest first. ``fine_detail``: the finest
    two bands against the ring's prediction (1 = as detailed as predicted). ``grain_ratios``:
    noise inside / ring per opponent channel. ``softness``: (H, W) map, 1 where the edit lacks
    detail beyond the plate's own spread. ``plate_detail`` and ``plate_grain``: ``fine_detail``
    and the grain mismatch of the untouched same-shape patches nearest the edit.
    """

    band_ratios: tuple[float, ...]
    fine_detail: float
    grain_ratios: tuple[float, ...]
    softness: np.ndarray
    plate_detail: tuple[float, ...] = ()
    plate_grain: tuple[float, ...] = ()

    @property
    def detail_kept(self) -> float:
        """``fine_detail`` over the least of ``plate_detail`` (at most 1): below 1 = softer than any patch here."""
        return self.fine_detail / plate_tolerance(list(self.plate_detail))

    @property
    def grain_mismatch(self) -> tuple[float, str]:
        """The worst channel's noise factor off (>= 1, either way) over the most any untouched patch is off, and its name."""
        factors = [max(r, 1.0 / r) for r in self.grain_ratios]
        worst = int(np.argmax(factors))
        own = 1.0 / plate_tolerance([1.0 / f for f in self.plate_grain])
        return float(factors[worst] / own), CHANNELS[worst]


def _bands(grey: np.ndarray) -> list[np.ndarray]:
    """Squared band-pass detail of ``grey``, one array per band (finest first)."""
    blurs = [grey]
    for previous, sigma in zip((0.0, *SIGMAS), SIGMAS):
        step = np.sqrt(sigma**2 - previous**2)  # blur the previous level: cheaper, same result
        blurs.append(cv2.GaussianBlur(blurs[-1], (0, 0), step, borderType=cv2.BORDER_REFLECT))
    return [(fine - coarse) ** 2 for fine, coarse in zip(blurs[:-1], blurs[1:])]


def _alike_in_brightness(smooth: np.ndarray, inside: Pixels, ring: Pixels) -> Pixels:
    """The ring's pixels as bright as the middle half of the edit's (+-0.05), or the whole ring if under 64.

    Sensor noise grows with brightness, so a bright coin on a dark tray is legitimately noisier
    than the tray around it: grain is compared with the surroundings at the same brightness.
    """
    low, high = np.percentile(smooth[inside], (25, 75))
    values = smooth[ring]
    alike = (values >= low - 0.05) & (values <= high + 0.05)
    return (ring[0][alike], ring[1][alike]) if alike.sum() >= 64 else ring


def _fine_detail(energies: np.ndarray, inside: Pixels, ring: Pixels) -> tuple[float, tuple[float, ...]]:
    """The finest two bands' amplitude ratio over the coarsest band's (when the edit is smoother), and every band's.

    ``energies`` is (H, W, bands), finest first.
    """
    ratios = tuple(float(r) for r in np.sqrt(energy_ratio(energies, inside, ring)))
    coarse = min(ratios[-1], 1.0)  # a smoother edit predicts proportionally less fine detail; never more
    return min(ratios[0], ratios[1]) / coarse, ratios


def _grain(fine: np.ndarray, smooth: np.ndarray, inside: Pixels, ring: Pixels) -> tuple[float, ...]:
    """Noise inside over noise in the ring's pixels as bright, per opponent channel, counted from one 8-bit level.

    ``fine`` is the finest band of the opponent channels; its median absolute value is a robust noise level.
    """
    noise_in = np.median(np.abs(fine[inside]), axis=0)
    noise_ring = np.median(np.abs(fine[_alike_in_brightness(smooth, inside, ring)]), axis=0)
    return tuple(float((a + NOISE_FLOOR) / (b + NOISE_FLOOR)) for a, b in zip(noise_in, noise_ring))


def _mismatch(grain: tuple[float, ...]) -> float:
    return max(max(r, 1.0 / r) for r in grain)


def measure_texture(rgb: np.ndarray, mask: np.ndarray) -> TextureMeasure | None:
    """Compare the detail and grain inside ``mask`` with a ring around it, against the plate's own spread.

    ``rgb`` (float32 in [0, 1]) and ``mask`` are a crop around the edit, with room beside it for
    untouched patches of its shape. The ring is as wide as half the edit's size (12 to 64 px)
    and starts 7 px out, the edit's inside 7 px in, so the seam itself is not counted (3 px, plus
    half the window local energy is averaged over). The same two measures are taken on the
    nearest untouched patches of the edit's shape (:func:`~keyframe.gate.criterion.same_shape_samples`):
    an edit is judged softer, or differently grained, only beyond the least alike of them.
    Returns None when the edit or its ring has under 64 pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plate = np.clip(0.5 + rng.normal(0, 0.05, (160, 160, 3)), 0, 1).astype(np.float32)
    >>> mask = np.zeros((160, 160), bool); mask[64:96, 64:96] = True
    >>> plate[mask] = 0.5  # a flat fill in a grainy plate
    >>> found = measure_texture(plate, mask)
    >>> found.fine_detail < 0.1, found.grain_mismatch[0] > 5
    (True, True)
    """
    ring_px = int(np.clip(0.5 * np.sqrt(mask.sum()), 12, 64))
    gap = 3 + _LOCAL_WINDOW // 2  # local energies are window means: keep the seam out of them
    d_out = distance_to(mask)
    ring = (d_out > gap) & (d_out <= gap + ring_px)
    inside = shrink(mask, gap)
    inside = inside if inside.sum() >= 64 else mask
    if ring.sum() < 64 or inside.sum() < 64:
        return None
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    window = (_LOCAL_WINDOW, _LOCAL_WINDOW)
    energies = [np.maximum(cv2.blur(e, window), 0.0) for e in _bands(grey)]
    stacked = np.stack(energies, axis=-1)
    opponent = cv2.transform(rgb, _OPPONENT)
    fine = opponent - cv2.GaussianBlur(opponent, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    smooth = cv2.GaussianBlur(grey, (0, 0), 2.0)
    edit = (np.nonzero(inside), np.nonzero(ring))
    fine_detail, ratios = _fine_detail(stacked, *edit)
    grain = _grain(fine, smooth, *edit)
    used = np.ascontiguousarray(stacked[..., [0, 1, -1]])  # the bands the fine-detail measure uses
    # softness is judged against the nearest patches with alike surroundings (a patch whose ring
    # takes in a soft fill only reads more detailed, never less); grain either way, so only
    # against patches whose rings stay off the edit (a noisy fill would make theirs read off too)
    nearest = same_shape_samples(mask, inside, ring, 2 * gap + 1, outside=d_out)
    own_detail = tuple(_fine_detail(used, *sample)[0] for sample in alike_surroundings(nearest, used, edit[1]))
    clear = same_shape_samples(mask, inside, ring, 2 * gap + ring_px + 1, outside=d_out)
    own_grain = tuple(_mismatch(_grain(fine, smooth, *sample)) for sample in clear)
    coarse = min(ratios[-1], 1.0)
    expected = np.float32(min(energies[0][ring].mean(), energies[1][ring].mean()) * coarse**2 + ENERGY_FLOOR)
    expected *= np.float32(plate_tolerance(own_detail) ** 2)
    local = np.minimum(energies[0], energies[1])
    softness = np.where(mask, 1.0 - np.sqrt(np.minimum(local / expected, 1.0)), 0.0).astype(np.float32)
    return TextureMeasure(ratios, fine_detail, grain, softness, own_detail, own_grain)


def score(plate: np.ndarray, mask: np.ndarray | None, cfg: GateConfig) -> Criterion:
    """Score the texture criterion of an edited plate.

    Parameters
    ----------
    plate : ndarray of shape (H, W, 3)
        The edited plate, uint8/uint16 or float32 in [0, 1].
    mask : ndarray of shape (H, W) or None
        The edited region. Without one (or with one covering everything) there is nothing to
        compare and the criterion is "not checked".
    cfg : GateConfig

    Returns
    -------
    Criterion
        Score = worst sub-check as a multiple of its limit (above 1 fails).

    Examples
    --------
    >>> from skimage import data
    >>> score(data.astronaut(), None, GateConfig()).passed is None
    True
    """
    rgb, mask = check_inputs(plate, mask)
    if not has_boundary(mask):
        return not_checked(NAME, "no edit with surroundings to compare its texture with")
    scale = work_scale(mask.shape)  # bands and rings are defined at the working size
    # room for the ring and the bands' reach, and beside that for untouched patches of the edit's shape,
    # some with rings clear of the edit
    ring_reach = 3 + _LOCAL_WINDOW // 2 + 64  # the widest ring's outer edge, from the outline
    reach = int(np.ceil((2 * ring_reach + 3 * SIGMAS[-1]) / scale)) + max(neighbourhood(mask, 0).shape)
    box = neighbourhood(mask, reach)
    found = measure_texture(*to_work_size(rgb[box.slices], mask[box.slices], scale))
    if found is None:
        return not_checked(NAME, "the edit is too small, or leaves no surroundings, to compare")
    detail = found.detail_kept
    grain, channel = found.grain_mismatch
    weaker = found.grain_ratios[CHANNELS.index(channel)] < 1
    checks = {
        "fine_detail": Check(detail, cfg.texture_detail_min, "min"),
        "grain_level": Check(grain, cfg.texture_grain_max, "max"),
    }
    own_detail = plate_tolerance(list(found.plate_detail))
    own_grain = max([*found.plate_grain, 1.0])
    reasons = {
        "fine_detail": f"the fill has {found.fine_detail:.0%} of the fine detail its surroundings predict, where "
        f"untouched patches of its shape nearby keep at least {own_detail:.0%} ({detail:.0%} of that, needs "
        f"{cfg.texture_detail_min:.0%}): it will read as a softer, differently grained patch that swims in motion",
        "grain_level": f"the fill's grain in the {channel} channel is {grain * own_grain:.1f}x "
        f"{'weaker' if weaker else 'stronger'} than the plate's around it, {grain:.1f}x beyond the {own_grain:.1f}x "
        f"untouched patches of its shape nearby reach (limit {cfg.texture_grain_max}x): the patch will look "
        "pasted on once the plate moves",
    }
    details = {
        "band_sigmas": list(SIGMAS),
        "band_ratios": [round(r, 4) for r in found.band_ratios],
        "grain_ratios": dict(zip(CHANNELS, (round(r, 4) for r in found.grain_ratios))),
        "fine_detail_vs_ring": round(found.fine_detail, 4),
        "plate_fine_detail": [round(v, 4) for v in found.plate_detail],
        "plate_grain_mismatch": [round(v, 4) for v in found.plate_grain],
        "heatmap_shows": "where the edit lacks the fine detail its surroundings predict, beyond the plate's own spread",
    }
    softness = found.softness
    if scale < 1:
        softness = cv2.resize(softness, (box.x1 - box.x0, box.y1 - box.y0), interpolation=cv2.INTER_LINEAR)
    heatmap = paste(softness, box, mask.shape)
    return judge(NAME, checks, reasons, "as detailed and as grainy as its surroundings", heatmap, details)
