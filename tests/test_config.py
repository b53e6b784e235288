"""Typed configuration: defaults, merging, and one-line errors naming the key."""

from __future__ import annotations

import re

import pytest
import yaml

from keyframe.config import Config, default_config_path, load_config, validate
from keyframe.errors import ConfigError


def test_default_yaml_equals_model_defaults():
    data = yaml.safe_load(default_config_path().read_text())
    assert validate(data) == Config()


def test_every_default_key_is_explained_by_a_comment():
    """Each value in configs/default.yaml has a comment just above it saying what it means."""
    lines = default_config_path().read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z_][\w]*):\s*(\S.*)?$", line)
        if not match or match.group(3) is None or match.group(3).startswith("#"):
            continue  # a section header (its keys carry the comments)
        if match.group(3).strip() in ("{}", "[]") and not match.group(1):
            continue  # an empty top-level section
        previous = lines[i - 1].strip() if i else ""
        if not previous.startswith("#") and "#" not in match.group(3):
            missing.append(line.strip())
    assert not missing, f"keys without an explaining comment: {missing}"


def test_user_file_merges_over_defaults(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("seed: 11\nio:\n  max_pixels: 1000\n")
    cfg = load_config(user)
    assert cfg.seed == 11
    assert cfg.io.max_pixels == 1000
    assert cfg.io.min_side == Config().io.min_side  # untouched keys keep their defaults


def test_overrides_apply_last_and_none_means_not_given(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("seed: 11\n")
    cfg = load_config(user, {"seed": 3, "io": {"max_pixels": None}})
    assert cfg.seed == 3
    assert cfg.io.max_pixels == Config().io.max_pixels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("io:\n  max_pixel: 5\n", "unknown key 'io.max_pixel'"),
        ("colour: red\n", "unknown key 'colour'"),
        ("io:\n  max_pixels: lots\n", "bad value for 'io.max_pixels'"),
        ("seed: -1\n", "bad value for 'seed'"),
        ("io: [1, 2]\n", "bad value for 'io'"),
        ("- a\n- b\n", "must hold a mapping"),
        ("io: {max_pixels: 1\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, message):
    user = tmp_path / "bad.yaml"
    user.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(user)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_python_tags_are_refused(tmp_path):
    user = tmp_path / "evil.yaml"
    user.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(user)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_defaults_are_found_as_package_data_and_never_replaced_silently(monkeypatch, tmp_path):
    """A wheel reads keyframe/data/configs/default.yaml; a missing file is an error, not pydantic's defaults."""
    import importlib.resources

    from keyframe.errors import KeyframeError

    package = tmp_path / "site-packages" / "keyframe"
    (package / "data" / "configs").mkdir(parents=True)
    (package / "data" / "configs" / "default.yaml").write_text("seed: 5\n")
    (tmp_path / "site-packages" / "configs").mkdir()  # another distribution's top-level folder
    (tmp_path / "site-packages" / "configs" / "other.yaml").write_text("seed: 9\n")
    monkeypatch.setattr(importlib.resources, "files", lambda name: package)
    assert load_config().seed == 5
    from keyframe.io import package_file

    with pytest.raises(KeyframeError, match="missing from its installation"):
        package_file("configs", "other.yaml")
    (package / "data" / "configs" / "default.yaml").unlink()
    with pytest.raises(KeyframeError, match="missing from its installation"):
        load_config()
