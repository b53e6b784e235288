"""Input checks every stage runs first: the same rules and the same :class:`~keyframe.errors.InputError` everywhere."""

from __future__ import annotations

import numpy as np

from keyframe.errors import InputError

#: Sample types a plate may have: 8 or 16 bits per channel (float32 in [0, 1] where a stage says so).
PLATE_DTYPES = (np.uint8, np.uint16)


def check_plate(plate: np.ndarray, *, allow_float: bool = False) -> np.ndarray:
    """An ``(H, W, 3)`` RGB plate, uint8 or uint16 (or float32 in [0, 1] when ``allow_float``).

    Examples
    --------
    >>> check_plate(np.zeros((4, 4), np.uint8))
    Traceback (most recent call last):
    ...
    keyframe.errors.InputError: plate must be (H, W, 3) uint8 or uint16, got (4, 4) uint8
    """
    plate = np.asarray(plate)
    dtypes = PLATE_DTYPES + ((np.float32,) if allow_float else ())
    if plate.ndim != 3 or plate.shape[2] != 3 or plate.dtype not in dtypes:
        kinds = "uint8, uint16 or float32" if allow_float else "uint8 or uint16"
        raise InputError(f"plate must be (H, W, 3) {kinds}, got {plate.shape} {plate.dtype}")
    return plate


def check_mask(mask: np.ndarray, shape: tuple[int, ...], *, empty_ok: bool = False) -> np.ndarray:
    """A mask of the plate's ``(H, W)`` ``shape`` as bool (nonzero, or above 0.5 for floats); empty only if ``empty_ok``."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise InputError(f"mask shape {mask.shape} does not match the plate's {tuple(shape)}")
    edit = mask if mask.dtype == bool else (mask > 0.5 if mask.dtype.kind == "f" else mask > 0)
    if not empty_ok and not edit.any():
        raise InputError("the mask is empty: there is no edited region")
    return edit


def check_frames(frames: np.ndarray, *, min_frames: int = 1) -> np.ndarray:
    """A clip's ``(T, H, W, 3)`` uint8 frames, at least ``min_frames`` of them."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise InputError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if len(frames) < min_frames:
        raise InputError(f"clip has {len(frames)} frame{'s' if len(frames) != 1 else ''}; the check needs at least {min_frames}")
    return frames
