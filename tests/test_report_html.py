"""The HTML report: self-contained, every user string escaped, and it renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from keyframe.config import Config
from keyframe.gate import run_gate
from keyframe.inpaint import inpaint
from keyframe.io import read_mask, read_plate
from keyframe.render import render
from keyframe.report import build_report, write_check_outputs
from keyframe.report.html import contact_sheet, write_html_index, write_html_report
from keyframe.track import check_clip

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.attributes: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.update(name for name, _ in attrs)
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """A real report: fixture plate with a hostile file name, every stage run without Prefect."""
    folder = tmp_path_factory.mktemp("report")
    plate_path = folder / f"{HOSTILE}.png"
    shutil.copy(FIXTURES / "plates" / "coffee_defect.png", plate_path)
    cfg = Config(inpaint={"backend": "biharmonic"}, render={"frames": 6})
    plate = read_plate(plate_path)
    mask = read_mask(FIXTURES / "masks" / "coffee_defect.png", plate.shape[:2])
    cleaned = inpaint(plate, mask, cfg.inpaint)
    edit = cleaned.effective_mask > 0
    gate = run_gate(cleaned.image, edit, cfg.gate)
    clip = render(cleaned.image, cfg.render)
    check = check_clip(clip.frames, cleaned.image, edit, cfg.check, fps=clip.fps, plate_to_frame0=clip.plate_to_frame0)
    report = build_report(check=check, gate=gate, inputs={"plate": plate_path}, params={"prompt": HOSTILE})
    out = folder / "out"
    files = write_check_outputs(out, report, check, clip.frames, clip.fps)
    heatmaps = {name: c.heatmap for name, c in gate.criteria.items() if c.heatmap is not None}
    write_html_report(out, report, title=HOSTILE, frames=clip.frames, tracked_masks=check.tracked_masks,
                      plate=cleaned.image, heatmaps=heatmaps, drift_plot=files["plot"],
                      media={"overlay": files["overlay"]}, extra={"prompt": HOSTILE})
    return out


def test_every_user_string_is_escaped(report_dir):
    html = (report_dir / "report.html").read_text()
    parser = _Links()
    parser.feed(html)
    assert HOSTILE not in html
    assert html.count("&lt;img src=x onerror=") >= 4  # page title, heading, prompt, input path
    assert "script" not in parser.tags and "onerror" not in parser.attributes and "x" not in parser.links


def test_the_report_folder_is_self_contained(report_dir):
    parser = _Links()
    parser.feed((report_dir / "report.html").read_text())
    assert parser.links, "the report links its images"
    for link in parser.links:
        assert not re.match(r"^[a-z]+:", link) and not link.startswith("/"), link
        assert (report_dir / link).is_file(), link
    assert {"report_files/contact_sheet.png", "drift.png", "overlay.mp4"} <= set(parser.links)
    assert any(link.startswith("report_files/heatmap_") for link in parser.links)


def test_contact_sheet_outlines_the_tracked_region():
    frames = np.full((5, 40, 60, 3), 90, np.uint8)
    masks = np.zeros((5, 40, 60), bool)
    masks[:, 10:30, 20:40] = True
    sheet = contact_sheet(frames, masks, [{"code": "float", "message": "m", "frames": [[4, 4]]}], n_frames=5, width=60)
    assert sheet.shape == (80, 240, 3)  # 4 per row, 2 rows
    colours = {tuple(c) for c in sheet.reshape(-1, 3)}
    assert any(c[1] > 150 and c[0] < 120 for c in colours)  # green outline
    assert any(c[0] > 200 and c[1] < 120 for c in colours)  # red outline on the flagged frame
    with pytest.raises(ValueError):
        contact_sheet(frames[:, :, :, 0], masks)


def test_index_links_each_shot(tmp_path):
    (tmp_path / "shots" / "a").mkdir(parents=True)
    (tmp_path / "shots" / "a" / "report.html").write_text("x")
    path = write_html_index(tmp_path, [
        {"id": "a", "status": "pass", "reasons": [], "error": None, "report": tmp_path / "shots/a/report.html"},
        {"id": "b", "status": "failed", "reasons": [], "error": HOSTILE, "report": None},
    ], title="night")
    html = path.read_text()
    assert 'href="shots/a/report.html"' in html and HOSTILE not in html
    with pytest.raises(ValueError, match="self-contained"):
        write_html_index(tmp_path, [{"id": "c", "status": "pass", "report": "/etc/passwd"}], title="x")


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(report_dir, tmp_path):
    url = (report_dir / "report.html").as_uri()
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>pwned</title>" not in dom.stdout  # the hostile markup did not run
    assert "<title>&lt;img src=x" in dom.stdout
    assert 'id="verdict"' in dom.stdout and "Contact sheet" in dom.stdout

    shot = tmp_path / "shot.png"
    result = _chromium(f"--screenshot={shot}", "--window-size=1280,1600", url, profile=tmp_path / "profile-shot")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = read_plate(shot)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels[:40].mean() < 60  # the dark header: the stylesheet applied
    body = pixels[60:1600:4, ::4].reshape(-1, 3)
    assert len(np.unique(body // 16, axis=0)) > 200  # photos and plots drew, not a blank page
