"""Typed configuration: pydantic models mirroring ``configs/default.yaml``.

The defaults in these models and the values in ``configs/default.yaml`` are kept equal by a
test; the YAML is where each value is explained. A user file given with ``--config`` is merged
over the defaults section by section, and unknown keys or wrong types are refused with one line
naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keyframe.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IOConfig(Section):
    max_pixels: int = Field(64_000_000, gt=0)
    min_side: int = Field(16, gt=0)
    mask_threshold: int = Field(0, ge=0, le=65534)
    max_clip_frames: int = Field(2000, gt=0)
    video_quality: int = Field(8, ge=0, le=10)


class InpaintConfig(Section):
    backend: Literal["telea", "ns", "biharmonic", "diffusers"] = "telea"


class GateConfig(Section):
    pass


class RenderConfig(Section):
    backend: Literal["camera", "svd"] = "camera"


class CheckConfig(Section):
    pass


class ReportConfig(Section):
    pass


class NightlyConfig(Section):
    pass


class Config(Section):
    """The whole configuration; one attribute per stage."""

    seed: int = Field(0, ge=0)
    io: IOConfig = IOConfig()
    inpaint: InpaintConfig = InpaintConfig()
    gate: GateConfig = GateConfig()
    render: RenderConfig = RenderConfig()
    check: CheckConfig = CheckConfig()
    report: ReportConfig = ReportConfig()
    nightly: NightlyConfig = NightlyConfig()


def _read_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"config file {path} is not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(data).__name__}")
    return data


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
    data = _read_yaml(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.is_file() else {}
    source = "config"
    if path is not None:
        data = merge(data, _read_yaml(Path(path)))
        source = str(path)
    if overrides:
        data = merge(data, _drop_none(overrides))
    return validate(data, source)
