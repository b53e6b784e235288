"""Model weights on local disk: a diffusers folder, or a snapshot already in the Hugging Face cache."""

from __future__ import annotations

import re
from pathlib import Path

from keyframe.errors import WeightsError

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
