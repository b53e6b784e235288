"""``keyframe weights``: verified by the SHA-256 prefix in torchvision's file name, installed atomically."""

from __future__ import annotations

import hashlib
import json

import pytest

import keyframe.assets
from keyframe.assets import HubWeights
from support import assert_one_line_error


@pytest.fixture
def torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_expected_digest_is_the_hex_in_the_file_name():
    assert keyframe.assets.ASSETS["lpips"].filename == "alexnet-owt-7be5be79.pth"
    assert keyframe.assets.ASSETS["lpips"].sha256_prefix == "7be5be79"
    assert keyframe.assets.ASSETS["raft"].sha256_prefix == "01064c6d"


@pytest.mark.parametrize("content", [b"not alexnet at all", b""], ids=["wrong", "empty"])
def test_a_wrong_file_is_refused_in_one_line_and_nothing_is_installed(cli, torch_home, tmp_path, content):
    brought = tmp_path / "alexnet-owt-7be5be79.pth"  # the right name does not make it the right file
    brought.write_bytes(content)
    result = cli("weights", "add", "lpips", brought)
    assert_one_line_error(result, 2, contains="expected 7be5be79")
    assert not torch_home.exists() or list(torch_home.iterdir()) == []


def test_a_truncated_file_is_refused(cli, torch_home, tmp_path, monkeypatch):
    whole = b"\x80\x02weights" * 1000
    prefix = hashlib.sha256(whole).hexdigest()[:8]
    monkeypatch.setitem(keyframe.assets.ASSETS, "lpips", HubWeights("lpips", f"alexnet-owt-{prefix}.pth", "LPIPS"))
    brought = tmp_path / "copied.pth"
    brought.write_bytes(whole[:-100])
    assert_one_line_error(cli("weights", "add", "lpips", brought), 2, contains="truncated")
    brought.write_bytes(whole)
    assert cli("weights", "add", "lpips", brought).code == 0
    assert (torch_home / f"alexnet-owt-{prefix}.pth").read_bytes() == whole


def test_accepted_file_is_installed_and_listed(cli, torch_home, tmp_path, monkeypatch):
    content = b"fake backbone"
    prefix = hashlib.sha256(content).hexdigest()[:8]
    monkeypatch.setitem(keyframe.assets.ASSETS, "lpips", HubWeights("lpips", f"alexnet-owt-{prefix}.pth", "LPIPS"))
    before = {row["name"]: row for row in json.loads(cli("weights", "list", "--json").stdout)}
    assert not before["lpips"]["installed"]

    brought = tmp_path / "from-usb-stick.pth"
    brought.write_bytes(content)
    result = cli("weights", "add", "lpips", brought)
    assert result.code == 0, result.stderr
    installed = torch_home / f"alexnet-owt-{prefix}.pth"
    assert installed.read_bytes() == content
    assert [p.name for p in torch_home.iterdir()] == [installed.name]  # no temporary file left

    rows = {row["name"]: row for row in json.loads(cli("weights", "list", "--json").stdout)}
    assert rows["lpips"] == {**before["lpips"], "installed": True, "verified": True, "bytes": len(content)}
    assert not rows["raft"]["installed"]
    assert "lpips" in cli("weights", "list").stdout


def test_usage_errors_are_one_line(cli, torch_home, tmp_path):
    assert_one_line_error(cli("weights", "add", "sam", tmp_path / "x.pth"), 2, contains="unknown weights 'sam'")
    assert_one_line_error(cli("weights", "add", "lpips", tmp_path / "missing.pth"), 2, contains="not found")
