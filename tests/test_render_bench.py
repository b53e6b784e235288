"""``keyframe bench render``: the tiny architecture times, counts FLOPs and refuses bad options in one line."""

from __future__ import annotations

import json

import pytest
import torch

from keyframe.render.flops import ARCHS
from support import assert_one_line_error


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: see tests/test_render_svd.py
    yield
    torch.set_num_threads(previous)


def test_bench_render_tiny_reports_time_memory_and_tflops(cli, tmp_path):
    save = tmp_path / "bench.json"
    result = cli("bench", "render", "--arch", "tiny", "--random-weights", "--only", "eager fp32", "--repeats", 1,
                 "--frames", 2, "--steps", 1, "--save", save, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads(save.read_text())
    (row,) = report["rows"]
    assert row["name"] == "eager fp32" and row["seconds"] > 0 and row["peak_bytes"] > 0
    assert row["tflops"] == pytest.approx(report["flops"]["total"] / row["seconds"] / 1e12, rel=1e-2)
    assert row["max_abs_diff"] == 0
    assert report["steps"] == 1 and report["flops"]["total"] == report["flops"]["unet_call"] + sum(
        report["flops"][k] for k in ("vae_encode", "vae_decode", "clip"))


def test_architectures_follow_the_reference_configs():
    unet = ARCHS["svd-xt"]["unet"]
    assert unet == {"sample_size": 96, "num_frames": 25} and ARCHS["svd"]["unet"]["num_frames"] == 14
    assert ARCHS["svd-xt"]["vae"]["block_out_channels"] == [128, 256, 512, 512]
    assert ARCHS["svd-xt"]["image_encoder"]["hidden_size"] == 1280


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["--arch", "tiny"], "--random-weights"),
        (["--arch", "sd3", "--random-weights"], "--arch"),
        (["--arch", "tiny", "--random-weights", "--size", "100x64"], "multiples of 64"),
        (["--arch", "tiny", "--random-weights", "--only", "warp drive"], "unknown option"),
    ],
)
def test_bench_bad_options_one_line(cli, args, contains):
    assert_one_line_error(cli("bench", "render", *args), 2, contains)
