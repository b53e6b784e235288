"""Typed configuration: pydantic models mirroring ``configs/default.yaml``.

The defaults in these models and the values in ``configs/default.yaml`` are kept equal by a
test; the YAML is where each value is explained. A user file given with ``--config`` is merged
over the defaults section by section, and unknown keys or wrong types are refused with one line
naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keyframe.errors import ConfigError
from keyframe.io.documents import read_yaml_mapping
from keyframe.io.package_data import package_file


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class IOConfig(Section):
    max_pixels: int = Field(64_000_000, gt=0)
    min_side: int = Field(16, gt=0)
    max_aspect: float = Field(16.0, ge=1.0)
    mask_threshold: int = Field(0, ge=0, le=65534)
    max_mask_points: int = Field(100_000, gt=0)
    max_polygon_crossings: int = Field(1_000, ge=2)
    max_clip_frames: int = Field(2000, gt=0)
    max_clip_bytes: int = Field(1 << 30, gt=0)
    video_quality: int = Field(8, ge=0, le=10)
    keep_clip_mb: int = Field(256, ge=0)


class InpaintConfig(Section):
    backend: Literal["telea", "ns", "biharmonic", "diffusers"] = "biharmonic"
    grow: int = Field(6, ge=0, le=256)
    feather: int = Field(4, ge=0, le=256)
    crop_padding: int = Field(32, ge=0, le=4096)
    seam_match: Literal["none", "color", "color+grain"] = "color+grain"
    seam_band: int = Field(8, ge=1, le=128)
    texture: Literal["synthesize", "none"] = "synthesize"
    texture_sigma: float = Field(3.0, gt=0.0, le=64.0)
    blend: Literal["alpha", "poisson"] = "alpha"
    radius: int = Field(3, ge=1, le=64)
    model: str | None = None
    allow_pickle: bool = False
    prompt: str = ""
    negative_prompt: str = ""
    strength: float = Field(1.0, gt=0.0, le=1.0)
    steps: int = Field(30, ge=1, le=1000)
    guidance: float = Field(7.5, ge=0.0, le=50.0)
    resolution: int = Field(512, ge=64, le=4096, multiple_of=8)


class GateConfig(Section):
    band: int = Field(6, ge=1, le=64)
    focal_sharpness_min: float = Field(0.87, ge=0)
    relative_sharpness_min: float = Field(0.66, ge=0)
    halo_max: float = Field(3.1, gt=0)
    grain_mismatch_max: float = Field(1.3, ge=1)
    gradient_ridge_max: float = Field(1.78, gt=0)
    colour_ridge_max: float = Field(1.52, gt=0)
    colour_cast_max: float = Field(7.3, gt=0)
    texture_detail_min: float = Field(0.68, ge=0)
    texture_grain_max: float = Field(1.55, ge=1)
    face_support_min: int = Field(9, ge=0)
    face_search_px: int = Field(64, ge=0)
    face_detect_side: int = Field(256, ge=48, le=4096)


class RenderCameraConfig(Section):
    move: Literal["pan", "zoom", "rotate", "dolly"] = "zoom"
    pan_x: float = Field(0.12, ge=-0.9, le=0.9)
    pan_y: float = Field(0.0, ge=-0.9, le=0.9)
    zoom: float = Field(1.15, ge=0.5, le=3.0)
    rotate: float = Field(4.0, ge=-45.0, le=45.0)
    dolly: float = Field(1.15, ge=0.5, le=3.0)
    parallax: float = Field(0.6, ge=0.0, le=1.5)
    easing: Literal["linear", "ease_in_out"] = "ease_in_out"
    border: Literal["overscan", "reflect"] = "overscan"


class RenderSvdConfig(Section):
    model: str | None = None
    variant: str | None = None
    allow_pickle: bool = False
    steps: int = Field(25, ge=1, le=500)
    motion_bucket_id: int = Field(127, ge=0, le=1023)
    noise_aug_strength: float = Field(0.02, ge=0.0, le=2.0)
    min_guidance_scale: float = Field(1.0, ge=0.0, le=30.0)
    max_guidance_scale: float = Field(3.0, ge=0.0, le=30.0)
    decode_chunk_size: int | None = Field(None, ge=1)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    attention: Literal["auto", "cudnn", "flash", "efficient", "math"] = "auto"
    compile: Literal["none", "full", "regional"] = "none"
    compile_mode: Literal["default", "max-autotune-no-cudagraphs", "max-autotune"] = "default"
    compile_cache_dir: str = "~/.cache/keyframe/inductor"
    offload: Literal["none", "model", "sequential"] = "none"


class RenderDiffusersConfig(Section):
    model: str | None = None
    variant: str | None = None
    allow_pickle: bool = False
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = Field(None, ge=1, le=500)
    guidance: float | None = Field(None, ge=0.0, le=50.0)
    fps: int | None = Field(None, ge=1, le=120)
    extras: dict[str, Any] = Field(default_factory=dict)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    cache: Literal["none", "first_block", "mag", "faster", "pab"] = "none"
    cache_threshold: float | None = Field(None, gt=0.0, le=1.0)
    mag_ratios: list[float] | None = None
    attention_backend: str | None = None
    layerwise_casting: Literal["none", "fp8_e4m3", "fp8_e5m2"] = "none"
    group_offload: Literal["none", "block_level", "leaf_level"] = "none"
    group_offload_blocks: int = Field(1, ge=1)
    compile: Literal["none", "full", "regional"] = "none"
    compile_mode: Literal["default", "max-autotune-no-cudagraphs", "max-autotune"] = "default"
    compile_cache_dir: str = "~/.cache/keyframe/inductor"
    quantize: Literal["none", "fp8"] = "none"


class RenderConfig(Section):
    backend: Literal["camera", "svd", "diffusers"] = "camera"
    frames: int | None = Field(None, ge=1, le=2000)
    fps: int = Field(7, ge=1, le=120)
    size: str | None = Field(None, pattern=r"^[1-9][0-9]*x[1-9][0-9]*$")
    fit: Literal["crop", "pad"] = "crop"
    candidates: int = Field(1, ge=1, le=32)
    camera: RenderCameraConfig = RenderCameraConfig()
    svd: RenderSvdConfig = RenderSvdConfig()
    diffusers: RenderDiffusersConfig = RenderDiffusersConfig()


class UpscaleConfig(Section):
    backend: Literal["lanczos", "spandrel", "diffusers"] = "lanczos"
    scale: int | None = Field(None, ge=2, le=8)
    in_prep: bool = False
    detail: float = Field(1.0, ge=0.0, le=4.0)
    model: str | None = None
    allow_pickle: bool = False
    tile: int = Field(512, ge=0, le=8192)
    tile_overlap: int = Field(32, ge=0, le=512)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    prompt: str = ""
    noise_level: int = Field(10, ge=0, le=1000)
    steps: int = Field(25, ge=1, le=1000)
    guidance: float = Field(1.0, ge=0.0, le=50.0)
    max_output_pixels: int = Field(268_435_456, gt=0)
    uniformity_worse_max: float = Field(1.24, ge=1.0)


class CheckConfig(Section):
    flow: Literal["dis", "farneback", "raft"] = "dis"
    dis_preset: Literal["ultrafast", "fast", "balanced", "fine", "medium"] = "fine"
    register_px: float = Field(2.0, ge=0.0, le=16.0)
    search_px: int = Field(24, ge=4, le=1024)
    ring_px: int = Field(16, ge=2, le=256)
    ring_gap_px: int = Field(3, ge=0, le=64)
    align_min_inliers: int = Field(25, ge=4)
    align_min_ncc: float = Field(0.6, ge=0.0, le=1.0)
    align_max_edit_mismatch: float = Field(1.0, gt=0.0)
    lpips: Literal["auto", "off"] = "auto"
    min_run: int = Field(2, ge=1)
    attach: Literal["auto", "scene", "subject"] = "auto"
    attach_frames: int = Field(6, ge=1)
    attach_contrast_px: float = Field(0.75, gt=0)
    attach_continuity: float = Field(0.5, gt=0)
    attach_min_share: float = Field(0.15, ge=0.0, le=1.0)
    outline_sectors: int = Field(24, ge=4, le=256)
    layer_px: float = Field(0.6, gt=0)
    layer_rel: float = Field(0.15, ge=0)
    layer_jump_px: float = Field(2.0, gt=0)
    layer_smoothing: float = Field(0.03, ge=0)
    speed_floor_px: float = Field(1.0, gt=0)
    occluder_levels: float = Field(40.0, gt=0)
    float_px: float = Field(0.4, gt=0)
    float_ratio: float = Field(0.3, gt=0)
    slip_size: float = Field(0.046, gt=0)
    slip_scene_px: float = Field(0.8, gt=0)
    register_unexplained: float = Field(0.1, gt=0)
    slip_ratio: float = Field(0.1, gt=0)
    cut_similarity: float = Field(0.5, ge=-1.0, le=1.0)
    flicker_levels: float = Field(2.0, gt=0)
    warp_ratio: float = Field(3.0, gt=0)
    warp_floor: float = Field(1e-4, gt=0)
    drift_ssim: float = Field(0.05, gt=0)
    drift_delta_e: float = Field(2.0, gt=0)
    drift_lpips: float = Field(0.1, gt=0)
    lost_visible: float = Field(0.4, ge=0.0, le=1.0)
    working_size: int = Field(1280, ge=0, le=16384)
    first_frame_delta_e: float = Field(3.0, gt=0)
    first_frame_ssim: float = Field(0.75, ge=0.0, le=1.0)
    drift_brightness: float = Field(5.7, gt=0)
    drift_color: float = Field(5.8, gt=0)
    drift_contrast: float = Field(0.84, gt=0.0, lt=1.0)
    drift_saturation: float = Field(0.78, gt=0.0, lt=1.0)
    frozen_levels: float = Field(0.004, ge=0)
    black_levels: float = Field(24.0, ge=0, le=255)
    sharpness_min: float = Field(0.5, gt=0.0, lt=1.0)


class ReportConfig(Section):
    contact_sheet_frames: int = Field(8, ge=1, le=64)
    thumbnail_width: int = Field(320, ge=64, le=1920)
    overlay_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "ultrafast"
    overlay_quality: int = Field(6, ge=0, le=10)


class NightlyConfig(Section):
    concurrency: int = Field(2, ge=1, le=256)
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = None
    dask_processes: bool = False
    retries: int = Field(2, ge=0, le=10)
    retry_delay_s: float = Field(10.0, ge=0.0, le=3600.0)
    max_shots: int = Field(2000, ge=1)
    memory_budget_gb: float = Field(16.0, gt=0.0)


class Config(Section):
    """The whole configuration; one attribute per stage."""

    seed: int = Field(0, ge=0)
    io: IOConfig = IOConfig()
    inpaint: InpaintConfig = InpaintConfig()
    gate: GateConfig = GateConfig()
    render: RenderConfig = RenderConfig()
    upscale: UpscaleConfig = UpscaleConfig()
    check: CheckConfig = CheckConfig()
    report: ReportConfig = ReportConfig()
    nightly: NightlyConfig = NightlyConfig()


def default_config_path() -> Path:
    """``configs/default.yaml`` as this installation ships it (package data in a wheel)."""
    return package_file("configs", "default.yaml")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``override`` merged in, recursing into nested mappings."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    """Remove ``None`` values (options the user did not give), recursively."""
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in mapping.items() if v is not None
    }


def validate(data: dict[str, Any], source: str = "config") -> Config:
    """Validate a plain mapping into a :class:`Config`, with a one-line error naming the key."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"{source}: unknown key '{key}'") from None
        raise ConfigError(f"{source}: bad value for '{key}': {err['msg']}") from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load the defaults, merge a user file and then ``overrides`` over them, and validate.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file whose sections override ``configs/default.yaml``.
    overrides : dict, optional
        Nested mapping applied last (the CLI's options), e.g. ``{"inpaint": {"grow": 4}}``.

    Returns
    -------
    Config
        The validated configuration.

    Examples
    --------
    >>> cfg = load_config(overrides={"seed": 7})
    >>> cfg.seed
    7
    """
    data = read_yaml_mapping(default_config_path(), "default config", ConfigError)
    source = "config"
    if path is not None:
        data = merge(data, read_yaml_mapping(path, "config file", ConfigError))
        source = str(path)
    if overrides:
        data = merge(data, _drop_none(overrides))
    return validate(data, source)
