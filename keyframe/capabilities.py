"""What this machine can do, checked one capability at a time (``keyframe doctor``).

Each probe returns a :class:`Capability`: available or not, what was found, why not, and the
exact command or path that enables it. Probes never download, never start a server and never
raise: a probe that fails reports the capability as unavailable with the error as the reason.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from keyframe.config import Config
from keyframe.errors import KeyframeError

SCHEMA = "keyframe.doctor/1"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TORCH_CUDA_HELP = "install a CUDA build of torch 2.14.1 (https://pytorch.org/get-started/locally/) and an NVIDIA driver"


@dataclass(frozen=True)
class Capability:
    """One row of ``keyframe doctor``; the fields are the ``--json`` schema's."""

    name: str  # stable id, e.g. "lpips", "model:render.svd.model"
    title: str  # what it is for, in words
    available: bool
    detail: str  # what was found (version, device, path)
    why: str | None = None  # why it is unavailable; None when available
    enable: str | None = None  # the command or path that makes it available; None when nothing to do


def _torch() -> Iterator[Capability]:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        yield Capability("torch", "PyTorch", False, "not importable", str(exc), "pip install torch==2.14.1")
        return
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    yield Capability("torch", "PyTorch (diffusion models, LPIPS, RAFT)", True, f"{torch.__version__} ({build})")
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        device, where = "cuda", f"cuda:{index} {props.name} (sm_{props.major}{props.minor}, {props.total_memory / 2**30:.0f} GiB)"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device, where = "mps", "mps (Apple GPU)"
    else:
        device, where = "cpu", "cpu"
    why, enable = (None, None) if device != "cpu" else (
        ("torch is a CPU-only build", TORCH_CUDA_HELP) if not torch.version.cuda
        else ("no CUDA device is visible", "nvidia-smi must list the GPU (driver); check CUDA_VISIBLE_DEVICES"))
    yield Capability("gpu", "GPU for rendering and diffusion inpaint", device != "cpu", where,
                     why and f"{why}; models run on the CPU, slowly", enable)
    supported = [name for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)) if _runs(torch, device, dtype)]
    yield Capability("half_precision", "fp16/bf16 inference (render.svd.dtype)", bool(supported),
                     f"fp32{''.join(', ' + s for s in supported)} on {device}",
                     None if supported else f"neither fp16 nor bf16 runs on {device}",
                     None if supported else TORCH_CUDA_HELP)


def _runs(torch: Any, device: str, dtype: Any) -> bool:
    """A small matmul in ``dtype`` on ``device`` works (support differs by device and build)."""
    try:
        x = torch.ones((8, 8), dtype=dtype, device=device)
        return bool(torch.isfinite((x @ x).float()).all())
    except (RuntimeError, TypeError):
        return False


def _hub_weights() -> Iterator[Capability]:
    from keyframe.assets import ASSETS

    for asset in ASSETS.values():
        path = asset.path()
        found = path.is_file()
        yield Capability(asset.name, asset.purpose, found, str(path),
                         None if found else f"{asset.filename} is not in the torch hub cache (keyframe never downloads)",
                         None if found else f"keyframe weights add {asset.name} /path/to/{asset.filename}")


def model_fields(section: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.key, value)`` for every ``model`` setting in the config (each configured model folder).

    Examples
    --------
    >>> from keyframe.config import Config
    >>> [key for key, _ in model_fields(Config())]
    ['inpaint.model', 'render.svd.model', 'render.diffusers.model', 'upscale.model']
    """
    for key, value in section:
        dotted = f"{prefix}{key}"
        if hasattr(value, "model_fields"):
            yield from model_fields(value, f"{dotted}.")
        elif key == "model":
            yield dotted, value


def _models(cfg: Config) -> Iterator[Capability]:
    for key, source in model_fields(cfg):
        title = f"model folder {key}"
        if not source:
            yield Capability(f"model:{key}", title, False, "not configured", "no model folder is set",
                             f"set {key}: /path/to/model in a --config file (or pass --model)")
            continue
        try:
            _inspect_model(key, source, cfg)
        except KeyframeError as exc:
            yield Capability(f"model:{key}", title, False, str(source), str(exc), f"fix or replace {source}")
        else:
            yield Capability(f"model:{key}", title, True, str(source))


def _inspect_model(key: str, source: str, cfg: Config) -> None:
    """The stage's own check of its model (what the stage would refuse), else that the file or folder exists."""
    if key == "inpaint.model":
        from keyframe.inpaint.diffusion import inspect_inpaint_model

        inspect_inpaint_model(source, allow_pickle=cfg.inpaint.allow_pickle)
    elif key == "render.svd.model":
        from keyframe.render.svd import inspect_svd_model

        inspect_svd_model(cfg.render.svd)
    elif not Path(source).expanduser().exists():
        from keyframe.io import resolve_model_folder

        resolve_model_folder(source, "a model file or folder")


def _anatomy() -> Iterator[Capability]:
    from skimage import data

    from keyframe.gate.anatomy import HANDS_WHY

    cascade = data.lbp_frontal_face_cascade_filename()
    yield Capability("face_detector", "face detector (gate anatomy)", True, f"scikit-image LBP frontal-face cascade {cascade}")
    yield Capability("hands", "hand checks (gate anatomy)", False, "no hand detector", HANDS_WHY, None)


def _ffmpeg() -> Iterator[Capability]:
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    encoders = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
    h264 = "libx264" in encoders
    yield Capability("ffmpeg_h264", "ffmpeg with H.264 (clips, overlays)", h264, exe,
                     None if h264 else "this ffmpeg has no libx264 encoder", None if h264 else "pip install --force-reinstall imageio-ffmpeg")


def _chromium() -> Iterator[Capability]:
    found = next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)
    yield Capability("chromium", "headless Chromium (the HTML report's rendering test)", found is not None,
                     found or "not found", None if found else f"none of {', '.join(CHROMIUM_NAMES)} is on PATH",
                     None if found else "apt-get install chromium")


def _prefect_server() -> Iterator[Capability]:
    from keyframe.server import api_healthy, flow_api_url, user_api_url

    url, source = flow_api_url()
    if url is not None and api_healthy(url):
        yield Capability("prefect_server", "Prefect server for flows (prep, demo, compare, nightly)", True, f"{url} ({source})")
        return
    if user_api_url():
        yield Capability("prefect_server", "Prefect server for flows (prep, demo, compare, nightly)", False, url,
                         "PREFECT_API_URL is set but nothing answers there", f"start the server at {url}, or unset PREFECT_API_URL")
        return
    yield Capability("prefect_server", "Prefect server for flows (prep, demo, compare, nightly)", False, "none running",
                     "no server: each flow command starts a temporary one (~15 s)", "keyframe server start")


def _dask(cfg: Config) -> Iterator[Capability]:
    address = cfg.nightly.dask_address
    title = "Dask scheduler (nightly --runner dask)"
    if not address:
        yield Capability("dask_scheduler", title, False, "not configured",
                         "no scheduler address; nightly uses threads, or a local Dask cluster with --runner dask",
                         "dask scheduler, then keyframe nightly MANIFEST -o DIR --dask-address tcp://HOST:8786")
        return
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parsed.hostname or "", parsed.port or 8786), timeout=2.0):
            pass
    except (OSError, ValueError) as exc:
        yield Capability("dask_scheduler", title, False, address, f"cannot connect: {exc}",
                         f"start it: dask scheduler --port {parsed.port or 8786}")
        return
    yield Capability("dask_scheduler", title, True, address)


def check_capabilities(cfg: Config) -> list[Capability]:
    """Every capability, in a fixed order (see the README's ``keyframe doctor`` schema)."""
    probes: list[tuple[str, Callable[[], Iterator[Capability]]]] = [
        ("torch", _torch), ("weights", _hub_weights), ("models", lambda: _models(cfg)), ("anatomy", _anatomy),
        ("ffmpeg_h264", _ffmpeg), ("chromium", _chromium), ("prefect_server", _prefect_server),
        ("dask_scheduler", lambda: _dask(cfg)),
    ]
    found: list[Capability] = []
    for name, probe in probes:
        try:
            found.extend(probe())
        except Exception as exc:  # noqa: BLE001 - a broken probe is reported, never raised
            found.append(Capability(name, name, False, "probe failed", f"{type(exc).__name__}: {' '.join(str(exc).split())}"))
    return found
