"""A model's clip through the prep flow: kept on disk by the render stage, never persisted as an array."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from flowkit import GATE_PASSING, SHORT_CLIP, fixture_pair, write_config

from keyframe.io import file_sha256, read_clip
from keyframe.render import render

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_prep_keeps_a_models_clip_losslessly_and_streams_it(cli, tmp_path, monkeypatch):
    import keyframe_flows.tasks

    rendered = []

    def model_like(*args, **kwargs):  # frames as an array, as the svd and diffusers backends give them
        result = render(*args, **kwargs)
        rendered.append(np.asarray(result.frames))
        return dataclasses.replace(result, frames=rendered[-1])

    monkeypatch.setattr(keyframe_flows.tasks, "render", model_like)
    plate, mask = fixture_pair("coffee_defect")
    config = write_config(tmp_path / "cfg.yaml", GATE_PASSING, SHORT_CLIP)
    out = tmp_path / "out"

    first = cli("prep", plate, "--mask", mask, "-o", out, "--config", config)

    assert first.code in (0, 1), first.stderr
    stored = list((out / ".keyframe-cache" / "clips").glob("*.mkv"))
    assert len(stored) == 1 and len(rendered) == 1
    np.testing.assert_array_equal(read_clip(stored[0]).frames, rendered[0])  # lossless
    [result] = (out / ".keyframe-cache" / "results").glob("render-*")
    assert result.stat().st_size < rendered[0].nbytes / 50  # the cached render names the file, not the pixels
    assert len(json.loads((out / "report.json").read_text())["frames"]) == 8
    assert read_clip(out / "clip.mp4").frames.shape == rendered[0].shape

    clip_hash = file_sha256(out / "clip.mp4")
    second = cli("prep", plate, "--mask", mask, "-o", out, "--config", config)  # the render is cached: read from disk
    assert second.code == first.code and len(rendered) == 1, second.stderr
    assert file_sha256(out / "clip.mp4") == clip_hash
