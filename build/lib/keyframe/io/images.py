"""Plates and masks: the only place that decodes or encodes still images.

Plates come back as ``(H, W, 3)`` RGB arrays of ``uint8`` or ``uint16`` (the file's own depth, so
untouched pixels can be written back bit for bit). Masks come back as ``(H, W)`` boolean arrays.
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from keyframe.errors import KeyframeError
from keyframe.io.atomic import atomic_path

PLATE_FORMATS = {"PNG", "JPEG", "TIFF", "WEBP", "MPO"}
_EXIF_IN_HEADER = {"JPEG", "TIFF", "WEBP", "MPO"}

# EXIF orientation tag value -> operations that turn the stored pixels upright.
_EXIF_ORIENTATION = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: np.rot90(a[:, ::-1], 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a[:, ::-1], -1),
    8: lambda a: np.rot90(a, 1),
}


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise KeyframeError(f"{what} not found: {path}")
    if path.is_dir():
        raise KeyframeError(f"{what} is a directory, expected a file: {path}")
    if path.stat().st_size == 0:
        raise KeyframeError(f"{what} is an empty (zero-byte) file: {path}")


def _open_header(path: Path, what: str, max_pixels: int) -> tuple[str, tuple[int, int], int]:
    """Read format, (width, height) and EXIF orientation without decoding the pixels.

    The pixel limit is checked from the header alone, before anything else is read.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
    try:
        with Image.open(path) as img:
            fmt, (width, height) = img.format or "", img.size
            if width * height > max_pixels:
                raise KeyframeError(
                    f"{what} is {width}x{height} = {width * height / 1e6:.1f} MP, over the "
                    f"{max_pixels / 1e6:.0f} MP limit (io.max_pixels): {path}"
                )
            # JPEG/TIFF/WebP keep EXIF in the header; PNG's eXIf chunk would need a decode.
            orientation = int(img.getexif().get(0x0112, 1)) if fmt in _EXIF_IN_HEADER else 1
    except PermissionError:
        raise KeyframeError(f"{what} is not readable (permission denied): {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise KeyframeError(f"{what} is not a readable image (corrupt, truncated or not an image): {path}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return fmt, (width, height), orientation


def _decode(path: Path, what: str) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise KeyframeError(f"{what} could not be decoded (truncated or corrupt?): {path}")
    return pixels


def read_plate(path: str | Path, *, max_pixels: int = 64_000_000, min_side: int = 16) -> np.ndarray:
    """Read a plate as an upright RGB array of its own bit depth.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, TIFF or WebP file; 8 or 16 bit; grey, RGB or RGBA (alpha is dropped with a
        warning). EXIF orientation is applied.
    max_pixels : int
        Refuse images with more pixels than this before decoding them (decompression bombs).
    min_side : int
        Refuse images whose width or height is smaller than this.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8 or uint16

    Examples
    --------
    >>> plate = read_plate("fixtures/plates/coffee.png")  # doctest: +SKIP
    >>> plate.shape, plate.dtype  # doctest: +SKIP
    ((288, 512, 3), dtype('uint8'))
    """
    path = Path(path)
    _require_file(path, "plate")
    fmt, (width, height), orientation = _open_header(path, "plate", max_pixels)
    if fmt not in PLATE_FORMATS:
        raise KeyframeError(f"plate format {fmt or 'unknown'} is not supported (use PNG, JPEG, TIFF or WebP): {path}")
    if min(width, height) < min_side:
        raise KeyframeError(f"plate is {width}x{height}, smaller than {min_side} px on a side (io.min_side): {path}")
    pixels = _decode(path, "plate")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise KeyframeError(f"plate has unsupported sample type {pixels.dtype} (use 8- or 16-bit): {path}")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif pixels.shape[2] == 4:
        warnings.warn(f"plate {path.name} has an alpha channel; it is dropped", stacklevel=2)
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    elif pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    else:
        raise KeyframeError(f"plate has {pixels.shape[2]} channels, expected 1, 3 or 4: {path}")
    if orientation in _EXIF_ORIENTATION:
        pixels = _EXIF_ORIENTATION[orientation](pixels)
    return np.ascontiguousarray(pixels)


def to_float(image: np.ndarray) -> np.ndarray:
    """Convert a uint8/uint16 image to float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32, copy=False)


def from_float(image: np.ndarray, dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """Convert float [0, 1] back to ``dtype`` (uint8 or uint16), rounding and clipping."""
    scale = 65535.0 if np.dtype(dtype) == np.uint16 else 255.0
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * scale), 0, scale).astype(dtype)


def write_image(path: str | Path, image: np.ndarray, text: dict[str, str] | None = None) -> Path:
    """Write an RGB or grey uint8/uint16 image as PNG atomically, with optional PNG text chunks.

    ``text`` entries become ``tEXt`` chunks (e.g. ``parameters`` as A1111 writes it).
    """
    path = Path(path)
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_image needs uint8 or uint16 pixels, got {image.dtype}")
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise KeyframeError(f"could not encode PNG for {path}")
    data = encoded.tobytes()
    if text:
        data = _add_png_text(data, text)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_figure(path: str | Path, figure: Any) -> Path:
    """Save a matplotlib ``Figure`` as PNG atomically (plots go through keyframe.io like every output)."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)


def _add_png_text(png: bytes, text: dict[str, str]) -> bytes:
    """Insert uncompressed iTXt chunks before IEND without re-encoding the pixels."""
    chunks = b""
    for key, value in text.items():
        body = key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")  # iTXt, uncompressed
        crc = zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF
        chunks += struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", crc)
    iend = png.rfind(b"IEND") - 4
    return png[:iend] + chunks + png[iend:]


def read_png_text(path: str | Path) -> dict[str, str]:
    """Return the PNG text chunks of ``path`` (what ComfyUI/A1111 users read as 'parameters')."""
    with Image.open(path) as img:
        return {k: str(v) for k, v in getattr(img, "text", {}).items()}


def read_mask(path: str | Path, shape: tuple[int, int], *, threshold: int = 0, max_pixels: int = 64_000_000) -> np.ndarray:
    """Read an edit mask and check it against the plate.

    Parameters
    ----------
    path : str or Path
        A single-channel image (pixels above ``threshold`` are edits), an RGBA PNG (its alpha
        channel is the mask), or a JSON file of shapes::

            {"shapes": [{"type": "polygon", "points": [[x, y], ...]},
                        {"type": "box", "xywh": [x, y, w, h]}]}

    shape : tuple of int
        ``(height, width)`` of the plate; the mask must match it.
    threshold : int
        Pixel values strictly above this count as edit.

    Returns
    -------
    ndarray of shape (H, W), dtype bool
    """
    path = Path(path)
    _require_file(path, "mask")
    height, width = shape
    if path.suffix.lower() == ".json":
        mask = _mask_from_json(path, (height, width))
    else:
        _open_header(path, "mask", max_pixels)
        pixels = _decode(path, "mask")
        if pixels.ndim == 3:
            if pixels.shape[2] == 4:
                pixels = pixels[:, :, 3]
            elif np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(pixels[:, :, 1], pixels[:, :, 2]):
                pixels = pixels[:, :, 0]
            else:
                raise KeyframeError(f"mask must be single-channel (grey) or RGBA with the mask in alpha: {path}")
        if pixels.shape != (height, width):
            raise KeyframeError(
                f"mask is {pixels.shape[1]}x{pixels.shape[0]} but the plate is {width}x{height}: {path}"
            )
        if not pixels.any():
            raise KeyframeError(f"mask is empty (no edit pixels): {path}")
        mask = pixels > threshold
    if not mask.any():
        raise KeyframeError(f"mask has no edit pixels above the threshold {threshold} (io.mask_threshold): {path}")
    if mask.all():
        warnings.warn(f"mask {path.name} covers the whole plate; nothing is preserved", stacklevel=2)
    return mask


def _mask_from_json(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyframeError(f"mask JSON is not valid JSON ({exc.__class__.__name__}): {path}") from None
    shapes = data.get("shapes") if isinstance(data, dict) else None
    if not isinstance(shapes, list) or not shapes:
        raise KeyframeError(f"mask JSON needs a non-empty 'shapes' list of polygons/boxes: {path}")
    if "width" in data and "height" in data and (data["height"], data["width"]) != shape:
        raise KeyframeError(
            f"mask JSON is for {data['width']}x{data['height']} but the plate is {shape[1]}x{shape[0]}: {path}"
        )
    mask = np.zeros(shape, np.uint8)
    for i, item in enumerate(shapes):
        try:
            kind = item["type"]
            if kind == "polygon":
                points = np.asarray(item["points"], dtype=np.float64)
                if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
                    raise ValueError("a polygon needs at least 3 [x, y] points")
                cv2.fillPoly(mask, [np.rint(points).astype(np.int32)], 1)
            elif kind == "box":
                x, y, w, h = (float(v) for v in item["xywh"])
                if w <= 0 or h <= 0:
                    raise ValueError("a box needs positive width and height")
                x0, y0 = max(int(round(x)), 0), max(int(round(y)), 0)
                mask[y0 : int(round(y + h)), x0 : int(round(x + w))] = 1
            else:
                raise ValueError(f"unknown shape type {kind!r} (use 'polygon' or 'box')")
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyframeError(f"mask JSON shape {i} is invalid ({exc}): {path}") from None
    return mask.astype(bool)


def write_mask(path: str | Path, mask: np.ndarray) -> Path:
    """Write a boolean or soft [0, 1] mask as an 8-bit single-channel PNG."""
    mask = np.asarray(mask)
    pixels = (mask.astype(np.uint8) * 255) if mask.dtype == bool else np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8)
    return write_image(path, pixels)
