"""Model weights on local disk: a diffusers folder, or a snapshot already in the Hugging Face cache."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from keyframe.errors import WeightsError
from keyframe.io.documents import read_json_object
from keyframe.io.sidecar import file_sha256

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name, as the Hugging Face hub spells ids


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


def _is_variant(file: Path, variant: str | None) -> bool:
    """``model.fp16.safetensors`` (sharded ``model.fp16-00001-of-00002.safetensors``) is variant fp16."""
    tags = [part.split("-")[0] for part in file.name.split(".")[1:-1]]
    return tags == [variant] if variant else not tags


def inspect_pipeline_folder(
    directory: Path, *, layout: str, allow_pickle: bool = False, variant: str | None = None
) -> dict[str, Any]:
    """Check a diffusers pipeline folder without loading weights; return its identity.

    Every component named in ``model_index.json`` must be present; a component with a
    ``config.json`` (a model, not a tokenizer, scheduler or processor) must have weights, in
    safetensors unless ``allow_pickle``.

    Returns
    -------
    dict
        ``path``, ``class`` (``_class_name``), ``components`` (name -> class), ``config_sha256``
        (of every JSON file), ``weights`` (relative path -> bytes), ``variant``, ``use_safetensors``.

    Raises
    ------
    WeightsError
        One line: no ``model_index.json``, a component or its weights missing, pickle refused.
    """
    index = read_json_object(directory / "model_index.json", f"model_index.json (expected {layout})", WeightsError)
    components = {name: spec[1] for name, spec in index.items()
                  if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and spec[0] is not None}
    weights: dict[str, int] = {}
    use_safetensors = True
    for name in components:
        folder = directory / name
        if not folder.is_dir():
            raise WeightsError(f"component {name} named in model_index.json is missing: {folder}")
        if not (folder / "config.json").is_file():
            continue
        files = sorted(p for p in folder.iterdir() if p.is_file() and _is_variant(p, variant))
        safe = [p for p in files if p.suffix == ".safetensors"]
        pickle = [p for p in files if p.suffix == ".bin"]
        if not safe and not pickle:
            raise WeightsError(f"weights for {name}{f' (variant {variant})' if variant else ''} are missing in {folder}")
        if not safe:
            use_safetensors = False
            if not allow_pickle:
                raise WeightsError(f"{folder} has only pickle (.bin) weights, which can run code when loaded; convert "
                                   "them to safetensors or allow pickle in the config if you trust them")
        for file in safe or pickle:
            weights[str(file.relative_to(directory))] = file.stat().st_size
    digest = hashlib.sha256()
    for file in sorted(directory.rglob("*.json")):
        digest.update(f"{file.relative_to(directory)}\0{file_sha256(file)}\n".encode())
    return {"path": str(directory), "class": index.get("_class_name"), "components": components,
            "config_sha256": digest.hexdigest(), "weights": weights, "variant": variant,
            "use_safetensors": use_safetensors}
