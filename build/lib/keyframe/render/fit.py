"""Fit a plate to a render size: resize keeping the aspect, then crop or pad, with the exact transform.

Coordinates are pixel coordinates with pixel centres at integers (x right, y down), the convention
of ``cv2.resize``, ``cv2.warpPerspective`` and ``cv2.remap``. A resize from ``W0`` to ``W1`` maps
``x -> (x + 0.5) * W1 / W0 - 0.5``; the crop or pad adds an offset. The 3x3 matrix returned maps
plate coordinates to fitted-image coordinates, so a point (or a mask, with ``warpPerspective``)
on the plate can be carried into the clip.

Policy
------
``crop`` (the default): scale so the plate *covers* the target, then cut the overhang equally
from both sides. Nothing is invented, some border is lost.
``pad``: scale so the plate fits *inside* the target, then fill the margins by mirroring the
plate's edge (``BORDER_REFLECT_101``, no black bars for a video model to animate). Nothing is
lost, the margins are invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Both sides of an SVD input must be multiples of this.
MODEL_MULTIPLE = 64


@dataclass(frozen=True)
class Fit:
    """How a plate was fitted: the plate->image 3x3 matrix, the sizes and the crop (-) / pad (+) offset."""

    matrix: np.ndarray
    plate_size: tuple[int, int]
    resized_size: tuple[int, int]
    size: tuple[int, int]
    policy: str
    offset: tuple[int, int]

    def to_dict(self) -> dict:
        """JSON-ready description for the sidecar."""
        return {
            "policy": self.policy,
            "plate_size": list(self.plate_size),
            "resized_size": list(self.resized_size),
            "size": list(self.size),
            "offset": list(self.offset),
            "plate_to_fitted": self.matrix.tolist(),
        }


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x576"`` -> ``(1024, 576)`` (width, height).

    Examples
    --------
    >>> parse_size("1024x576")
    (1024, 576)
    """
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like WIDTHxHEIGHT, e.g. 1024x576, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return width, height


def size_for_area(plate_size: tuple[int, int], area: int, multiple: int = MODEL_MULTIPLE) -> tuple[int, int]:
    """The size with about ``area`` pixels at the plate's aspect, each side a multiple of ``multiple``.

    Used when no size is configured: SVD's native area is 768^2 = 1024x576, so a 16:9 plate gets
    1024x576, a square one 768x768 and a 9:16 one 576x1024.

    Examples
    --------
    >>> size_for_area((512, 288), 768 * 768)
    (1024, 576)
    >>> size_for_area((300, 300), 768 * 768)
    (768, 768)
    """
    width, height = plate_size
    aspect = width / height
    out_w = max(multiple, round(math.sqrt(area * aspect) / multiple) * multiple)
    out_h = max(multiple, round(math.sqrt(area / aspect) / multiple) * multiple)
    return int(out_w), int(out_h)


def plan_fit(plate_size: tuple[int, int], size: tuple[int, int], policy: str = "crop", multiple: int = 1) -> Fit:
    """Plan the fit of a ``plate_size`` plate into ``size`` (both ``(width, height)``).

    Parameters
    ----------
    plate_size : tuple of int
        The plate's ``(width, height)``.
    size : tuple of int
        Target ``(width, height)``.
    policy : {"crop", "pad"}
        See the module docstring.
    multiple : int
        Both target sides must be multiples of this (64 for SVD).

    Returns
    -------
    Fit
        ``fit.matrix`` maps plate pixel coordinates to fitted-image pixel coordinates.

    Examples
    --------
    >>> plan_fit((512, 288), (1024, 576), multiple=64).matrix[0].round(3).tolist()
    [2.0, 0.0, 0.5]
    """
    if policy not in ("crop", "pad"):
        raise ValueError(f"policy must be 'crop' or 'pad', got {policy!r}")
    plate_w, plate_h = (int(v) for v in plate_size)
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0 or width % multiple or height % multiple:
        raise ValueError(f"size {width}x{height} must be positive multiples of {multiple}")
    if plate_w <= 0 or plate_h <= 0:
        raise ValueError(f"plate size must be positive, got {plate_w}x{plate_h}")
    if policy == "crop":
        scale = max(width / plate_w, height / plate_h)
        resized_w, resized_h = max(width, round(plate_w * scale)), max(height, round(plate_h * scale))
        offset_x, offset_y = -((resized_w - width) // 2), -((resized_h - height) // 2)
    else:
        scale = min(width / plate_w, height / plate_h)
        resized_w, resized_h = max(1, min(width, round(plate_w * scale))), max(1, min(height, round(plate_h * scale)))
        offset_x, offset_y = (width - resized_w) // 2, (height - resized_h) // 2
    sx, sy = resized_w / plate_w, resized_h / plate_h
    matrix = np.array(
        [[sx, 0.0, 0.5 * sx - 0.5 + offset_x], [0.0, sy, 0.5 * sy - 0.5 + offset_y], [0.0, 0.0, 1.0]]
    )
    return Fit(matrix, (plate_w, plate_h), (resized_w, resized_h), (width, height), policy, (offset_x, offset_y))


def apply_fit(plate: np.ndarray, fit: Fit) -> np.ndarray:
    """Resample ``plate`` as planned by :func:`plan_fit` (area filter to shrink, cubic to enlarge).

    Returns
    -------
    ndarray (height, width, C), same dtype as ``plate``.
    """
    plate = np.asarray(plate)
    if plate.ndim not in (2, 3) or (plate.shape[1], plate.shape[0]) != fit.plate_size:
        raise ValueError(f"plate of shape {plate.shape} does not match the planned fit of {fit.plate_size}")
    resized_w, resized_h = fit.resized_size
    width, height = fit.size
    shrinking = resized_w < fit.plate_size[0] or resized_h < fit.plate_size[1]
    resized = cv2.resize(plate, (resized_w, resized_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    offset_x, offset_y = fit.offset
    if fit.policy == "crop":
        image = resized[-offset_y : -offset_y + height, -offset_x : -offset_x + width]
    else:
        image = cv2.copyMakeBorder(
            resized, offset_y, height - resized_h - offset_y, offset_x, width - resized_w - offset_x,
            cv2.BORDER_REFLECT_101,
        )
    return np.ascontiguousarray(image)


def fit_plate(plate: np.ndarray, size: tuple[int, int], policy: str = "crop", multiple: int = 1) -> tuple[np.ndarray, Fit]:
    """Resize ``plate`` to ``size`` keeping its aspect, cropping or padding the rest.

    :func:`plan_fit` then :func:`apply_fit`; see them for the parameters.

    Returns
    -------
    image : ndarray (height, width, C)
        The fitted plate, same dtype.
    fit : Fit
        ``fit.matrix`` maps plate pixel coordinates to ``image`` pixel coordinates.

    Examples
    --------
    >>> plate = np.zeros((288, 512, 3), np.uint8)
    >>> image, fit = fit_plate(plate, (1024, 576), multiple=64)
    >>> image.shape
    (576, 1024, 3)
    """
    plate = np.asarray(plate)
    if plate.ndim not in (2, 3):
        raise ValueError(f"plate must be (H, W) or (H, W, C), got shape {plate.shape}")
    fit = plan_fit((plate.shape[1], plate.shape[0]), size, policy, multiple)
    return apply_fit(plate, fit), fit
