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
    check_clip_length(len(frames), min_frames)
    return frames


#: The check compares frames with each other and with the plate: a clip needs at least this many.
MIN_CLIP_FRAMES = 2
#: libx264 refuses a frame wider or taller than this ("invalid width x height").
MAX_ENCODED_SIDE = 16384


def _at(where: object) -> str:
    return "" if where is None else f": {where}"


def check_image_size(width: int, height: int, *, max_pixels: int, min_side: int = 1, max_aspect: float | None = None,
                     what: str = "plate", where: object = None) -> None:
    """An image (or clip frame) size within the ``io`` limits, checked from a header before decoding.

    ``where`` (a path) ends the message, as it does in every check here that takes it.

    Examples
    --------
    >>> check_image_size(20000, 20, max_pixels=64_000_000, max_aspect=16.0)
    Traceback (most recent call last):
    ...
    keyframe.errors.InputError: plate is 20000x20, more elongated than 16:1 (io.max_aspect)
    """
    if width * height > max_pixels:
        raise InputError(f"{what} is {width}x{height} = {width * height / 1e6:.1f} MP, over the "
                         f"{max_pixels / 1e6:.0f} MP limit (io.max_pixels){_at(where)}")
    if min(width, height) < min_side:
        raise InputError(f"{what} is {width}x{height}, smaller than {min_side} px on a side (io.min_side){_at(where)}")
    if max_aspect is not None and max(width, height) > max_aspect * min(width, height):
        raise InputError(f"{what} is {width}x{height}, more elongated than {max_aspect:g}:1 (io.max_aspect){_at(where)}")


def check_clip_size(frames: int, width: int, height: int, *, max_frames: int, max_bytes: int,
                    about: bool = False, where: object = None) -> None:
    """A clip of ``frames`` frames of ``width`` x ``height`` within ``io.max_clip_frames`` and
    ``io.max_clip_bytes`` (its decoded RGB size); ``about`` when the count comes from a header."""
    count = f"about {frames}" if about else str(frames)
    if frames > max_frames:
        raise InputError(f"clip has {count} frames, over the limit of {max_frames} (io.max_clip_frames){_at(where)}")
    decoded = frames * width * height * 3
    if decoded > max_bytes:
        raise InputError(f"clip has {count} frames of {width}x{height}: {decoded / 2**30:.2f} GiB decoded, over the "
                         f"{max_bytes / 2**30:.2f} GiB limit (io.max_clip_bytes){_at(where)}")


def check_clip_length(frames: int, min_frames: int = MIN_CLIP_FRAMES, where: object = None) -> None:
    """At least ``min_frames`` frames."""
    if frames < min_frames:
        raise InputError(f"clip has {frames} frame{'s' if frames != 1 else ''}; the check needs at least {min_frames}{_at(where)}")


def check_encodable(width: int, height: int, what: str = "clip") -> None:
    """A frame size :func:`keyframe.io.write_clip` can encode as H.264, checked before rendering."""
    padded = (width + width % 2, height + height % 2)  # write_clip pads odd sizes
    if max(padded) > MAX_ENCODED_SIDE:
        raise InputError(f"{what} would be {width}x{height}; H.264 (libx264) encodes at most {MAX_ENCODED_SIDE} px "
                         "on a side: choose a smaller render size (--size)")


def check_edit_mask(mask: np.ndarray, where: object = None) -> np.ndarray:
    """A hard mask read from a file edits some but not all of the plate (a full one leaves nothing to keep)."""
    if mask.all():
        raise InputError(f"mask covers the whole plate: nothing outside it is kept to fill from or compare with{_at(where)}")
    return mask
