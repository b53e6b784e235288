"""Model weights on local disk: a diffusers folder, or a snapshot already in the Hugging Face cache.

:func:`inspect_model_folder` is the one inspector every diffusers loader uses: it checks a
folder's layout, pipeline class, weight variant and weight format before anything heavy loads.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyframe.errors import WeightsError
from keyframe.io.documents import read_json_object
from keyframe.io.sidecar import file_sha256

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name, as the Hugging Face hub spells ids
#: Weight files that are pickles (unpickling can run code); refused unless the caller allows them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def resolve_model_folder(source: str | Path, layout: str) -> Path:
    """The local folder holding a model's weights; nothing is ever downloaded.

    Parameters
    ----------
    source : str or Path
        A folder, or a Hugging Face id (``org/name``) whose snapshot is already in the local cache.
    layout : str
        The folder layout the caller expects, named in every error message.

    Returns
    -------
    Path
        The folder (resolved) or the cached snapshot.

    Raises
    ------
    WeightsError
        One line: ``source`` is a file, or neither a folder nor a cached id.

    Examples
    --------
    >>> resolve_model_folder("no-such-org/no-such-model", "a diffusers folder")
    Traceback (most recent call last):
    ...
    keyframe.errors.WeightsError: model no-such-org/no-such-model is neither a folder nor in the Hugging Face cache (nothing is downloaded); expected a diffusers folder
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise WeightsError(f"model {path} is a file; single-file checkpoints are not loaded, expected {layout}")
    if not _REPO_ID.match(str(source)):
        raise WeightsError(f"model folder not found: {source} (expected {layout})")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=str(source), local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise WeightsError(
            f"model {source} is neither a folder nor in the Hugging Face cache (nothing is downloaded); expected {layout}"
        ) from None


def weights_fingerprint(source: str | None) -> str | None:
    """Identify model weights for cache keys without reading gigabytes on every task.

    A local folder is fingerprinted by each file's relative path, size and modification time; a
    single file by its content; anything else (a Hugging Face id in the local cache) by its name.
    """
    if not source:
        return None
    path = Path(source).expanduser()
    if path.is_dir():
        listing = sorted(
            f"{p.relative_to(path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in path.rglob("*") if p.is_file()
        )
        return hashlib.sha256("\n".join(listing).encode()).hexdigest()
    if path.is_file():
        return file_sha256(path)
    return source


@dataclass
class ModelFolder:
    """A checked diffusers model folder (nothing loaded yet).

    Attributes
    ----------
    path : Path
        The resolved folder.
    pipeline_class : str
        ``_class_name`` of its ``model_index.json``.
    components : dict
        Component name -> ``[library, class]`` from ``model_index.json``.
    weights : dict
        Relative path -> size in bytes of every weight file that will be loaded.
    variant : str or None
        The weight variant (``fp16`` for ``model.fp16.safetensors``), None for the plain files.
    use_safetensors : bool or None
        True when every component has safetensors weights; None when some need pickle (allowed).
    config_sha256 : str
        SHA-256 over every JSON file of the folder: the model's identity without hashing gigabytes.
    """

    path: Path
    pipeline_class: str
    components: dict[str, Any]
    weights: dict[str, int] = field(default_factory=dict)
    variant: str | None = None
    use_safetensors: bool | None = True
    config_sha256: str = ""

    def config(self, component: str) -> dict[str, Any]:
        """A component's ``config.json``."""
        return read_json_object(self.path / component / "config.json", f"{component} config", WeightsError)

    def identity(self) -> dict[str, Any]:
        """JSON-ready identity for sidecars: path, class, config hash, weight files, variant, format."""
        return {"path": str(self.path), "class": self.pipeline_class, "config_sha256": self.config_sha256,
                "weights": dict(self.weights), "variant": self.variant, "use_safetensors": self.use_safetensors}


def _is_variant(file: Path, variant: str | None) -> bool:
    # "model.fp16.safetensors" (sharded: "model.fp16-00001-of-00002.safetensors") is the fp16 variant
    tags = [part.split("-")[0] for part in file.name.split(".")[1:-1]]
    return tags == [variant] if variant else not tags


def _weight_files(folder: Path, name: str, *, variant: str | None, allow_pickle: bool, expected: str) -> tuple[list[Path], bool]:
    """The weight files of one component (safetensors first) and whether they are pickles."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and _is_variant(p, variant))
    safe = [p for p in files if p.suffix == ".safetensors"]
    if safe:
        return safe, False
    pickles = [p for p in files if p.suffix in PICKLE_SUFFIXES]
    if not pickles:
        which = f" of variant {variant}" if variant else ""
        raise WeightsError(f"model {folder.parent} is incomplete: weights for {name} are missing "
                           f"({name}/ has no weights{which}); expected {expected}")
    if not allow_pickle:
        raise WeightsError(
            f"model {folder.parent}: {name}/ has only pickle weights, which can run code when loaded; convert them to "
            ".safetensors, or pass --allow-pickle (config: allow_pickle: true) if you trust the source"
        )
    return pickles, True


def inspect_model_folder(
    source: str | Path,
    *,
    pipeline_classes: Collection[str],
    allow_pickle: bool = False,
    variant: str | None = None,
    kind: str | None = None,
    layout: str = "a diffusers folder: model_index.json plus one sub-folder per component, with .safetensors weights",
) -> ModelFolder:
    """Check a diffusers model folder before loading anything heavy.

    The folder (or a Hugging Face id already in the local cache) must hold a ``model_index.json``
    naming one of ``pipeline_classes``, and a sub-folder per component; every component with a
    ``config.json`` needs weights of the requested ``variant``. Safetensors are used whenever a
    component has them; a component with only pickle weights is refused unless ``allow_pickle``.

    Parameters
    ----------
    source : str or Path
        A diffusers-format folder or a Hugging Face id present in the local cache.
    pipeline_classes : collection of str
        The pipeline classes the caller can load.
    allow_pickle : bool
        Accept components whose only weights are pickles (``.bin``, ``.ckpt``, ...).
    variant : str, optional
        Weight variant (``fp16`` reads ``*.fp16.safetensors``).
    kind : str, optional
        What the caller expects, for the wrong-class error (default: the class names).
    layout : str
        The expected layout, named in every error message.

    Returns
    -------
    ModelFolder

    Raises
    ------
    WeightsError
        One line naming what is missing or wrong and the expected layout.

    Examples
    --------
    >>> inspect_model_folder("no/such-model-here", pipeline_classes=["StableVideoDiffusionPipeline"])
    Traceback (most recent call last):
    ...
    keyframe.errors.WeightsError: model no/such-model-here is neither a folder nor in the Hugging Face cache (nothing is downloaded); expected a diffusers folder: model_index.json plus one sub-folder per component, with .safetensors weights
    """
    path = resolve_model_folder(source, layout)
    try:
        index = read_json_object(path / "model_index.json", "model_index.json", WeightsError)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; expected {layout}") from None
    found = str(index.get("_class_name") or "")
    if found not in pipeline_classes:
        wanted = kind or " or ".join(sorted(pipeline_classes))
        raise WeightsError(f"model {path} is a {found or 'pipeline without _class_name'}, not {wanted}; expected {layout}")
    components = {name: spec for name, spec in index.items()
                  if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and spec[0] is not None}
    weights: dict[str, int] = {}
    needs_pickle = False
    for name in components:
        folder = path / name
        if not folder.is_dir():
            raise WeightsError(f"model {path} is incomplete: {name}/ is missing; expected {layout}")
        if not (folder / "config.json").is_file():
            continue  # tokenizers, schedulers and processors carry no weights
        files, pickled = _weight_files(folder, name, variant=variant, allow_pickle=allow_pickle, expected=layout)
        needs_pickle |= pickled
        weights.update({str(file.relative_to(path)): file.stat().st_size for file in files})
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*.json")):
        digest.update(f"{file.relative_to(path)}\0{file_sha256(file)}\n".encode())
    return ModelFolder(path, found, components, weights, variant, None if needs_pickle else True, digest.hexdigest())


def inspect_model_file(source: str | Path | None, *, what: str, allow_pickle: bool = False) -> Path:
    """Check a single-file model (``.safetensors``, or a pickle with ``allow_pickle``) before loading it.

    Parameters
    ----------
    source : str or Path or None
        The model file.
    what : str
        What the caller loads, for the messages (``"the spandrel backend"``).
    allow_pickle : bool
        Accept pickle files (:data:`PICKLE_SUFFIXES`), which can run code when loaded.

    Returns
    -------
    Path

    Raises
    ------
    WeightsError
        One line: no file named, a folder, a missing file, a pickle without ``allow_pickle``, or
        another kind of file.

    Examples
    --------
    >>> inspect_model_file("weights.pth", what="the spandrel backend")
    Traceback (most recent call last):
    ...
    keyframe.errors.WeightsError: model file not found: weights.pth
    """
    if not source:
        raise WeightsError(f"{what} needs a model: --model FILE (a .safetensors file)")
    file = Path(source).expanduser()
    if file.is_dir():
        raise WeightsError(f"model {file} is a folder; {what} loads one model file (.safetensors)")
    if not file.is_file():
        raise WeightsError(f"model file not found: {file}")
    suffix = file.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise WeightsError(
            f"model {file} is a pickle ({suffix}), which can run code when loaded; convert it to .safetensors, "
            "or pass --allow-pickle (config: allow_pickle: true) if you trust the source"
        )
    if suffix != ".safetensors" and suffix not in PICKLE_SUFFIXES:
        raise WeightsError(f"model {file} is not a model file {what} reads (.safetensors, or a pickle with --allow-pickle)")
    return file


_loaded: dict[str, Any] = {}
_loaded_lock = threading.Lock()


def shared_model(loader: Callable[..., Any], key: str, *args: Any, **kwargs: Any) -> Any:
    """``loader(*args, **kwargs)`` once per process and ``key``: every shot of a batch reuses the model."""
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = loader(*args, **kwargs)
        return _loaded[key]
