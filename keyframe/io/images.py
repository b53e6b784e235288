"""Plates and masks: the only place that decodes or encodes still images.

Plates come back as ``(H, W, 3)`` RGB arrays of ``uint8`` or ``uint16`` (the file's own depth, so
untouched pixels can be written back bit for bit). Masks come back as ``(H, W)`` boolean arrays.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from keyframe.errors import KeyframeError
from keyframe.io.atomic import atomic_path
from keyframe.io.shapes import mask_from_shapes
from keyframe.validation import check_edit_mask, check_image_size

PLATE_FORMATS = {"PNG", "JPEG", "TIFF", "WEBP", "MPO"}
# Formats whose EXIF orientation keyframe applies itself. OpenCV's TIFF decoder already turns the
# pixels upright (libtiff honours the tag whatever the flags), so TIFF is not in this set: the
# orientation is applied exactly once for every format.
_EXIF_APPLIED_HERE = {"JPEG", "WEBP", "MPO"}

# OpenCV's own log ("[ WARN:0@...]") would add lines to the one-line error promise; its messages
# are caught with libpng's and libjpeg's below and put into the error instead.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

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


def _open_header(path: Path, what: str, max_pixels: int, min_side: int = 1,
                 max_aspect: float | None = None) -> tuple[str, tuple[int, int], int, str]:
    """Read format, (width, height), EXIF orientation and mode without decoding the pixels.

    The size limits (:func:`keyframe.validation.check_image_size`) are checked from the header
    alone, before anything else is read. The orientation returned is the one keyframe must still
    apply (1 when the decoder does).
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
    try:
        with Image.open(path) as img:
            fmt, (width, height), mode = img.format or "", img.size, img.mode
            # JPEG/WebP keep EXIF in the header; PNG's eXIf chunk would need a decode.
            orientation = int(img.getexif().get(0x0112, 1)) if fmt in _EXIF_APPLIED_HERE else 1
    except PermissionError:
        raise KeyframeError(f"{what} is not readable (permission denied): {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        raise KeyframeError(f"{what} is not a readable image (corrupt, truncated or not an image): {path}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    check_image_size(width, height, max_pixels=max_pixels, min_side=min_side, max_aspect=max_aspect, what=what, where=path)
    return fmt, (width, height), orientation, mode


def image_size(path: str | Path, what: str, max_pixels: int = 64_000_000) -> tuple[int, int]:
    """``(width, height)`` of an image as :func:`read_plate` returns it (upright), from its header alone."""
    path = Path(path)
    _require_file(path, what)
    _, (width, height), orientation, _ = _open_header(path, what, max_pixels)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}


def _png_problem(data: bytes) -> str | None:
    """Why a PNG's chunk structure is unsafe to hand to libpng, or None (chunk lengths checked against the file)."""
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if length > len(data) - pos - 12:
            return f"chunk {kind!r} at byte {pos} declares {length} bytes but the file has {len(data) - pos - 12} left"
        if kind == b"IEND":
            return None
        pos += 12 + length
    return "it ends before its IEND chunk"


def _jpeg_problem(data: bytes) -> str | None:
    """Why a JPEG's marker segments are unsafe to hand to libjpeg, or None (segments up to the first scan)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # stray bytes before a marker: libjpeg skips them, so do we
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker in (0x00, 0xFF):  # a fill byte, or a stray 0xFF00 before the marker
            pos += 1 if marker == 0xFF else 2
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if length < 2 or pos + 2 + length > len(data):
            return f"segment 0xFF{marker:02X} at byte {pos} declares {length} bytes past the end of the file"
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return None
        pos += 2 + length
    return "it ends before its first scan"


def _structure_problem(fmt: str, data: bytes) -> str | None:
    if fmt == "PNG" and data.startswith(_PNG_SIGNATURE):
        return _png_problem(data)
    if fmt in ("JPEG", "MPO") and data.startswith(b"\xff\xd8"):
        return _jpeg_problem(data)
    return None


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Catch what C libraries (libpng, libjpeg, libtiff, OpenCV) print on file descriptor 2.

    Yields a list that holds the captured lines after the block, so an error can carry them in
    its one line instead of printing them above it. Blocks run one at a time.
    """
    lines: list[str] = []
    with _stderr_lock, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line.strip() for line in sink.read(4096).decode("utf-8", "replace").splitlines() if line.strip())


def _decode(path: Path, what: str, fmt: str) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    problem = _structure_problem(fmt, data.tobytes())
    if problem:
        raise KeyframeError(f"{what} is truncated or corrupt ({fmt} structure: {problem}): {path}")
    with captured_stderr() as noise:
        pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        said = f" ({noise[0]})" if noise else ""
        raise KeyframeError(f"{what} could not be decoded (truncated or corrupt?){said}: {path}")
    return pixels


def read_plate(path: str | Path, *, max_pixels: int = 64_000_000, min_side: int = 16,
               max_aspect: float | None = 16.0) -> np.ndarray:
    """Read a plate as an upright RGB array of its own bit depth.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, TIFF or WebP file; 8 or 16 bit; grey, RGB or RGBA (alpha is dropped with a
        warning). EXIF orientation is applied (once, whichever decoder reads the format).
    max_pixels : int
        Refuse images with more pixels than this before decoding them (decompression bombs).
    min_side : int
        Refuse images whose width or height is smaller than this.
    max_aspect : float or None
        Refuse images whose long side is more than this many times the short one (no stage or
        video codec handles a 20000x20 strip); None for no limit.

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
    fmt, _, orientation, _ = _open_header(path, "plate", max_pixels, min_side, max_aspect)
    if fmt not in PLATE_FORMATS:
        raise KeyframeError(f"plate format {fmt or 'unknown'} is not supported (use PNG, JPEG, TIFF or WebP): {path}")
    pixels = _decode(path, "plate", fmt)
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


def read_mask(path: str | Path, shape: tuple[int, int], *, threshold: int = 0, max_pixels: int = 64_000_000,
              max_points: int = 100_000, max_crossings: int = 1_000) -> np.ndarray:
    """Read an edit mask and check it against the plate.

    Parameters
    ----------
    path : str or Path
        A single-channel image (pixels above ``threshold`` are edits; a grey+alpha PNG is read
        from its grey channel), an RGBA PNG (its alpha channel is the mask, unless the alpha is
        uniform, then its grey RGB is), or a JSON file of shapes::

            {"width": 512, "height": 288,
             "shapes": [{"type": "polygon", "points": [[x, y], ...]},
                        {"type": "box", "xywh": [x, y, w, h]}]}

    shape : tuple of int
        ``(height, width)`` of the plate; the mask must match it.
    threshold : int
        Pixel values strictly above this count as edit.
    max_points : int
        Most polygon points a JSON mask may hold, all shapes together (``io.max_mask_points``).
    max_crossings : int
        Most polygon edges one row of the plate may cross (``io.max_polygon_crossings``): the fill's
        cost grows faster than this, so a polygon of random points is refused in milliseconds
        instead of filling for minutes. Traced outlines cross a row a few times.

    Returns
    -------
    ndarray of shape (H, W), dtype bool
        Some but not all pixels set: an empty mask or one covering the whole plate is refused.
    """
    path = Path(path)
    _require_file(path, "mask")
    height, width = shape
    if path.suffix.lower() == ".json":
        mask = mask_from_shapes(path, (height, width), max_points, max_crossings)
    else:
        fmt, _, _, mode = _open_header(path, "mask", max_pixels)
        pixels = _mask_channel(_decode(path, "mask", fmt), mode, path)
        if pixels.shape != (height, width):
            raise KeyframeError(
                f"mask is {pixels.shape[1]}x{pixels.shape[0]} but the plate is {width}x{height}: {path}"
            )
        if not pixels.any():
            raise KeyframeError(f"mask is empty (no edit pixels): {path}")
        mask = pixels > threshold
    if not mask.any():
        raise KeyframeError(f"mask has no edit pixels above the threshold {threshold} (io.mask_threshold): {path}")
    return check_edit_mask(mask, where=path)


def _mask_channel(pixels: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """The one channel of a decoded mask image that holds the mask (see :func:`read_mask`)."""
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[2] == 4:
        alpha = pixels[:, :, 3]
        if mode in ("LA", "La") or (alpha == alpha.flat[0]).all():
            pixels = pixels[:, :, :3]  # grey+alpha (OpenCV expands it to BGRA), or an opaque RGBA
        else:
            return alpha
    if pixels.shape[2] == 3 and (pixels[:, :, 0] == pixels[:, :, 1]).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all():
        return pixels[:, :, 0]
    raise KeyframeError(f"mask must be single-channel (grey) or RGBA with the mask in alpha: {path}")


def write_mask(path: str | Path, mask: np.ndarray) -> Path:
    """Write a boolean or soft [0, 1] mask as an 8-bit single-channel PNG."""
    mask = np.asarray(mask)
    pixels = (mask.astype(np.uint8) * 255) if mask.dtype == bool else np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8)
    return write_image(path, pixels)
