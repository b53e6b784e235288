"""The nightly manifest (validation, path confinement) and the ledger of finished shots."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from keyframe.config import Config
from keyframe.errors import KeyframeError
from keyframe.nightly import Ledger, confined_path, load_manifest, resolve_shot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _manifest(folder: Path, data, name: str = "night.yaml") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "shots"
    folder.mkdir()
    shutil.copy(FIXTURES / "plates" / "coffee.png", folder / "plate.png")
    shutil.copy(FIXTURES / "masks" / "coffee.png", folder / "mask.png")
    return folder


def test_a_valid_manifest_resolves_paths_and_per_shot_overrides(tmp_path):
    folder = _folder(tmp_path)
    path = _manifest(folder, {"shots": [
        {"id": "sh010", "plate": "plate.png", "mask": "mask.png", "prompt": "clean saucer",
         "config": {"render": {"frames": 5}}},
        {"id": "sh020", "plate": "./plate.png", "mask": "mask.png"},
    ]})
    manifest = load_manifest(path)
    base = Config()
    first, second = (resolve_shot(manifest, spec, base) for spec in manifest.shots)
    assert first.plate == (folder / "plate.png").resolve()
    assert first.config.render.frames == 5 and first.config.inpaint.prompt == "clean saucer"
    assert second.config is base
    assert first.key() != second.key()  # the overrides and the prompt are part of the key
    assert second.key() == resolve_shot(manifest, manifest.shots[1], Config(nightly={"concurrency": 7})).key()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shots: [\n  - id: a\n    plate: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
        ("shots: []\n", "shots"),
        ("shots:\n  - {id: a, plate: p.png, mask: m.png}\n  - {id: a, plate: p.png, mask: m.png}\n", "more than once"),
        ("shots:\n  - {id: a, plate: p.png, mask: m.png, colour: red}\n", "shots.0.colour: unknown key"),
        ("shots:\n  - {id: ../up, plate: p.png, mask: m.png}\n", "shot id"),
        ("shots:\n  - {id: a, plate: p.png}\n", "shots.0.mask"),
        ("shots:\n  - !!python/object/apply:os.system [echo pwned]\n", "not valid YAML"),
    ],
)
def test_a_malformed_manifest_is_refused_as_a_whole(tmp_path, text, message):
    with pytest.raises(KeyframeError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_manifest(_manifest(tmp_path, text))


def test_paths_that_escape_the_manifest_folder_are_refused(tmp_path):
    folder = _folder(tmp_path)
    (tmp_path / "outside.png").write_bytes(b"x")
    (folder / "link.png").symlink_to(tmp_path / "outside.png")
    for relative in ("../outside.png", "link.png", "sub/../../outside.png"):
        with pytest.raises(KeyframeError, match="escapes the manifest's folder"):
            confined_path(folder, relative, "plate")
    with pytest.raises(KeyframeError, match="must be relative"):
        confined_path(folder, str(folder / "plate.png"), "plate")
    path = _manifest(folder, {"shots": [{"id": "a", "plate": "plate.png", "mask": "mask.png",
                                         "config": {"render": {"nope": 1}}}]})
    manifest = load_manifest(path)
    with pytest.raises(KeyframeError, match="shot a config: unknown key 'render.nope'"):
        resolve_shot(manifest, manifest.shots[0], Config())


def test_a_previous_revision_is_confined_part_of_the_key_and_checked_for_its_files(tmp_path):
    folder = _folder(tmp_path)
    (folder / "last.mp4").write_bytes(b"a clip")
    shot = {"id": "a", "plate": "plate.png", "mask": "mask.png"}
    path = _manifest(folder, {"shots": [{**shot, "previous": {"plate": "plate.png", "clip": "last.mp4"}}, {**shot, "id": "b"}]})
    manifest = load_manifest(path)
    with_previous, without = (resolve_shot(manifest, spec, Config()) for spec in manifest.shots)
    assert with_previous.previous.clip == (folder / "last.mp4").resolve()
    assert with_previous.previous.mask == with_previous.mask  # the shot's mask unless given
    assert without.previous is None and with_previous.key() != without.key()
    key = with_previous.key()
    (folder / "last.mp4").write_bytes(b"another clip")
    assert with_previous.key() != key  # a new previous clip redoes the shot
    (folder / "last.mp4").unlink()
    with pytest.raises(KeyframeError, match="previous clip not found"):
        with_previous.key()
    with pytest.raises(KeyframeError, match=r"shots\.0\.previous\.frames: unknown key"):
        load_manifest(_manifest(folder, {"shots": [{**shot, "previous": {"plate": "p", "clip": "c", "frames": 3}}]}))
    escaping = load_manifest(_manifest(folder, {"shots": [{**shot, "previous": {"plate": "plate.png", "clip": "../c.mp4"}}]}))
    with pytest.raises(KeyframeError, match="previous clip path escapes"):
        resolve_shot(escaping, escaping.shots[0], Config())


def test_the_ledger_commits_whole_folders_and_recovers_after_a_kill(tmp_path):
    ledger = Ledger(tmp_path / "out")
    staging = ledger.staging("sh010")
    (staging / "clip.mp4").write_bytes(b"first")
    final = ledger.commit("sh010", staging, {"status": "pass", "key": "k1"})
    assert final == ledger.shots_dir / "sh010" and (final / "clip.mp4").read_bytes() == b"first"
    assert ledger.finished("sh010", "k1")["status"] == "pass"
    assert ledger.finished("sh010", "k2") is None  # inputs changed: redo
    assert ledger.finished("sh020", "k1") is None

    # A run killed mid-shot leaves a staging folder; one killed between commit's two renames
    # leaves only the replaced folder. recover() removes the first and restores the second.
    (ledger.staging("sh020") / "half.png").write_bytes(b"half")
    os.rename(final, ledger.shots_dir / ".sh010.old-abc")
    actions = ledger.recover()
    assert sorted(p.name for p in ledger.shots_dir.iterdir()) == ["sh010"]
    assert any("restored sh010" in action for action in actions)
    assert json.loads((ledger.shots_dir / "sh010" / "shot.json").read_text())["key"] == "k1"

    failed = ledger.commit("sh010", ledger.staging("sh010"), {"status": "failed", "key": "k1", "error": "boom"})
    assert not (failed / "clip.mp4").exists() and ledger.finished("sh010", "k1") is None
    assert sorted(p.name for p in ledger.shots_dir.iterdir()) == ["sh010"]
