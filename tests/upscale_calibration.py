"""The upscale stage's uniformity calibration set, built in code from real photos, and its table.

``upscale.uniformity_worse_max`` in ``configs/default.yaml`` was chosen from the table this prints
(``.venv/bin/python tests/upscale_calibration.py``): how much each upscale changes the edit's
mismatch with its surroundings (after / before, > 1 = the edit stands out more).

Photos: ten ``skimage.data`` photos at 384x256, two random 80x60 box edits each (seeded). Edits:
``clean`` (the photo itself under the mask), ``mild`` (the box blurred, sigma 1), ``soft`` (sigma
2.5: the soft fill editors complain of), ``noisy`` (grain sigma 6 levels added to the box).
Upscales at x2 and x4: the default ``lanczos`` (detail 1.0) and a plain one (detail 0), which
should not be flagged, and two that magnify the mismatch and should be: ``sharpen_outside``
(the lanczos result unsharp-masked everywhere but the edit) and ``blur_inside`` (the edit blurred
further, sigma 0.8 x scale).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from keyframe.upscale.lanczos import lanczos_upscale
from keyframe.upscale.uniformity import measure_uniformity

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel", "camera",
          "immunohistochemistry", "hubble_deep_field")
SIZE = (384, 256)
GOOD = ("lanczos", "lanczos_plain")
BAD = ("sharpen_outside", "blur_inside")


def photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    return cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)


def edits(plate: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The photo with its boxed region left alone, blurred mildly or strongly, or made grainier."""
    found = {"clean": plate}
    for name, sigma in (("mild", 1.0), ("soft", 2.5)):
        edited = plate.copy()
        edited[mask] = cv2.GaussianBlur(plate, (0, 0), sigma)[mask]
        found[name] = edited
    noisy = plate.astype(np.float32)
    noisy[mask] += rng.normal(0, 6, (int(mask.sum()), 3))
    found["noisy"] = np.clip(noisy, 0, 255).astype(np.uint8)
    return found


def upscales(plate: np.ndarray, mask: np.ndarray, scale: int) -> dict[str, np.ndarray]:
    """The upscales under test: two good, two that magnify the edit's mismatch."""
    plain = lanczos_upscale(plate, scale, 0.0).astype(np.float32)
    inside = cv2.resize(mask.astype(np.uint8), (plain.shape[1], plain.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    sharpened = plain.copy()
    sharpened[~inside] = np.clip(2 * plain - cv2.GaussianBlur(plain, (0, 0), scale), 0, 255)[~inside]
    blurred = plain.copy()
    blurred[inside] = cv2.GaussianBlur(plain, (0, 0), 0.8 * scale)[inside]
    return {
        "lanczos": lanczos_upscale(plate, scale, 1.0),
        "lanczos_plain": plain.astype(np.uint8),
        "sharpen_outside": sharpened.astype(np.uint8),
        "blur_inside": blurred.astype(np.uint8),
    }


def changes(seed: int = 0) -> dict[tuple[str, int, str], list[float]]:
    """``(edit, scale, upscale) -> [after / before mismatch, ...]`` over every photo and box."""
    rng = np.random.default_rng(seed)
    found: dict[tuple[str, int, str], list[float]] = {}
    for name in PHOTOS:
        plate = photo(name)
        for _ in range(2):
            x, y = rng.integers(40, SIZE[0] - 120), rng.integers(40, SIZE[1] - 100)
            mask = np.zeros(plate.shape[:2], bool)
            mask[y : y + 60, x : x + 80] = True
            for edit, image in edits(plate, mask, rng).items():
                before = measure_uniformity(image, mask).mismatch
                for scale in (2, 4):
                    for kind, big in upscales(image, mask, scale).items():
                        after = measure_uniformity(big, mask, scale).mismatch
                        found.setdefault((edit, scale, kind), []).append(after / before)
    return found


def main() -> None:
    found = changes()
    print(f"{'edit':8} {'scale':>5} {'upscale':16} {'min':>6} {'median':>6} {'max':>6}")
    for (edit, scale, kind), values in sorted(found.items()):
        print(f"{edit:8} {scale:>5} {kind:16} {min(values):6.3f} {np.median(values):6.3f} {max(values):6.3f}")
    good = max(max(v) for (edit, _, kind), v in found.items() if kind in GOOD)
    bad = min(min(v) for (edit, _, kind), v in found.items() if kind == "sharpen_outside" and edit != "clean" and edit != "noisy")
    print(f"worst good upscale {good:.3f}; mildest sharpen-around-a-blurred-edit {bad:.3f}; "
          f"suggested limit (geometric mean) {np.sqrt(good * bad):.3f}")


if __name__ == "__main__":
    main()
