"""JSON sidecars: what made an output (inputs' hashes, parameters, seed, package versions)."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.errors import KeyframeError
from keyframe.io.atomic import pending_path, write_json_atomic
from keyframe.io.documents import read_json_object

SIDECAR_SCHEMA = "keyframe.sidecar/1"
_VERSIONED_PACKAGES = (
    "keyframe",
    "numpy",
    "opencv-python-headless",
    "scikit-image",
    "torch",
    "diffusers",
    "transformers",
    "imageio-ffmpeg",
    "prefect",
)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, or of every file below a folder (sorted by relative path).

    Inside :func:`~keyframe.io.output_group` a file written earlier in the group is read from its
    pending temporary name.
    """
    path = pending_path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def array_sha256(*arrays: Any) -> str:
    """Content hash of numpy arrays (shape, dtype and bytes)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour shapes the outputs, and of Python."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe_inputs(
    inputs: dict[str, str | Path | None], relative_to: str | Path | None = None
) -> dict[str, dict[str, str] | None]:
    """``{role: {"path": ..., "sha256": ...}}`` for each input file that was given.

    An input inside ``relative_to`` (the output's own folder) is recorded by its path relative to
    it, so the record stays true when the folder is moved or renamed as a whole.
    """
    base = None if relative_to is None else Path(relative_to).resolve()

    def shown(path: Path) -> str:
        if base is not None and Path(path).resolve().is_relative_to(base):
            return str(Path(path).resolve().relative_to(base))
        return str(path)

    return {
        role: None if path is None else {"path": shown(Path(path)), "sha256": file_sha256(path)}
        for role, path in inputs.items()
    }


def sidecar_path(output: str | Path) -> Path:
    """The sidecar's path for an output: ``clip.mp4`` -> ``clip.mp4.json``."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def write_sidecar(
    output: str | Path,
    *,
    stage: str,
    inputs: dict[str, str | Path | None],
    params: dict[str, Any],
    seed: int | None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``<output>.json`` describing how ``output`` was made.

    It holds no timestamp (the file's own time says when), so the same inputs and seed give a
    byte-identical sidecar.

    Parameters
    ----------
    output : str or Path
        The file the sidecar describes.
    stage : str
        ``inpaint``, ``render``, ...
    inputs : dict
        Role -> path of each input file; their content hashes are recorded.
    params : dict
        Every parameter that shaped the output (JSON-serialisable).
    seed : int or None
        The random seed used.
    extra : dict, optional
        Stage-specific fields (e.g. the render's per-frame transforms).
    """
    data = {
        "schema": SIDECAR_SCHEMA,
        "stage": stage,
        "output": Path(output).name,
        "output_sha256": file_sha256(output),
        "inputs": describe_inputs(inputs, relative_to=Path(output).parent),
        "params": params,
        "seed": seed,
        "versions": package_versions(),
    }
    if extra:
        data.update(extra)
    return write_json_atomic(sidecar_path(output), data)


def read_plate_to_frame0(clip: str | Path, start: int = 0) -> tuple[Path | None, np.ndarray | None]:
    """``(sidecar path, plate_to_frame0)`` from the render sidecar beside ``clip``, or ``(None, None)``.

    With ``start`` past 0 (``keyframe check --frames START:``) the transform is the plate's to
    frame START, from the sidecar's ``frame_transforms`` (the camera renderer records every
    frame's); None when the sidecar has none, so the plate is aligned by features.
    The transform is refused in one line unless it is a 3x3 matrix of finite numbers, so a
    hand-edited sidecar fails before the check starts.
    """
    return read_sidecar_matrix(clip, "plate_to_frame0", start=start)


def read_sidecar_matrix(clip: str | Path, key: str, *, start: int = 0) -> tuple[Path | None, np.ndarray | None]:
    """``(sidecar path, the 3x3 matrix under key)`` from the render sidecar beside ``clip`` (``None``
    for either when absent), checked as :func:`read_plate_to_frame0` does; ``key`` is
    ``plate_to_frame0`` or ``last_to_frame`` (end plate -> last frame); with ``start`` past 0, the
    plate's transform to frame ``start`` from ``frame_transforms``."""
    path = sidecar_path(clip)
    if not path.is_file():
        return None, None
    data = read_json_object(path, "clip sidecar")
    if start:
        transforms = data.get("frame_transforms")
        value = transforms[start] if isinstance(transforms, list) and start < len(transforms) else None
    else:
        value = data.get(key)
    if value is None:
        return path, None
    rows = value if isinstance(value, list) and len(value) == 3 else []
    numbers = [v for row in rows if isinstance(row, list) and len(row) == 3 for v in row
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != 9:
        raise KeyframeError(f"clip sidecar's {key} must be a 3x3 list of numbers: {path}")
    return path, np.asarray(numbers, dtype=np.float64).reshape(3, 3)
