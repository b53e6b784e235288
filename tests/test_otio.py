"""flags.otio: written, read back with opentimelineio, one clip per shot, RED markers on flags."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from keyframe.report.otio import STILL_FRAMES, flags_timeline, merge_ranges, write_flags_otio


def _shots(tmp_path: Path) -> list[dict]:
    return [
        {"id": "sh010", "status": "pass", "clip": str(tmp_path / "sh010" / "clip.mp4"), "frames": 25, "fps": 7.0,
         "reasons": []},
        {"id": "sh020", "status": "flagged", "clip": str(tmp_path / "sh020" / "clip.mp4"), "frames": 14, "fps": 7.0,
         "reasons": [
             {"code": "flicker", "message": "flicker: up to 9 grey levels in frames 2-4, 9", "frames": [[2, 4], [9, 9]]},
             {"code": "drift", "message": "drift: SSIM lost in frames 4-6", "frames": [[4, 6]]},
         ]},
        {"id": "sh030", "status": "flagged", "clip": None, "plate": str(tmp_path / "sh030" / "clean.png"),
         "reasons": [{"code": "seam", "message": "seam: colour step 7.1", "frames": []}]},
        {"id": "sh040", "status": "failed", "error": "plate is not a readable image", "reasons": []},
    ]


def test_flags_otio_round_trip(tmp_path):
    path = write_flags_otio(tmp_path / "flags.otio", _shots(tmp_path), name="night <1>")

    timeline = otio.adapters.read_from_file(str(path))

    assert timeline.name == "night <1>"
    clips = list(timeline.find_clips())
    assert [clip.name for clip in clips] == ["sh010", "sh020", "sh030", "sh040"]
    passed, flagged, still, failed = clips
    assert passed.media_reference.target_url == (tmp_path / "sh010" / "clip.mp4").resolve().as_uri()
    assert passed.source_range.duration.to_frames() == 25 and passed.source_range.duration.rate == 7.0
    assert len(passed.markers) == 0

    markers = list(flagged.markers)
    assert [m.color for m in markers] == [otio.schema.MarkerColor.RED] * 2
    ranges = [(m.marked_range.start_time.to_frames(), m.marked_range.end_time_inclusive().to_frames()) for m in markers]
    assert ranges == [(2, 6), (9, 9)]  # 2-4 and 4-6 overlap: one marker naming both reasons
    assert "flicker: up to 9 grey levels" in markers[0].comment and "drift: SSIM lost" in markers[0].comment
    assert markers[1].comment.startswith("flicker:") and "drift" not in markers[1].comment
    assert list(markers[0].metadata["keyframe"]["codes"]) == ["drift", "flicker"]

    assert still.media_reference.target_url.endswith("sh030/clean.png")
    assert still.source_range.duration.to_frames() == STILL_FRAMES
    (seam,) = still.markers
    assert seam.comment == "seam: seam: colour step 7.1"
    assert seam.marked_range.duration.to_frames() == STILL_FRAMES  # a plate reason covers the whole still

    assert isinstance(failed.media_reference, otio.schema.MissingReference)
    assert "plate is not a readable image" in failed.markers[0].comment
    assert failed.metadata["keyframe"]["status"] == "failed"
    # clips follow each other on one track, so the editor sees one shot after another
    assert timeline.tracks[0].range_of_child_at_index(1).start_time.to_frames() == 25


def test_merge_ranges_clips_to_the_clip_and_merges_touching_runs():
    reasons = [{"code": "float", "message": "m", "frames": [[-3, 1], [2, 3], [40, 50]]}]
    assert [(s, e) for s, e, _ in merge_ranges(reasons, 10)] == [(0, 3)]
    assert [(s, e) for s, e, _ in merge_ranges([{"code": "x", "message": "m", "frames": []}], 5)] == [(0, 4)]
    with pytest.raises(ValueError):
        merge_ranges(reasons, 0)


def test_a_shot_with_a_clip_needs_its_length():
    with pytest.raises(ValueError, match="frame count"):
        flags_timeline([{"id": "a", "status": "pass", "clip": "a.mp4", "frames": None, "fps": 7.0}])
