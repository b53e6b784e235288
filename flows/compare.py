"""Compare two revisions of a plate: same seed and settings, which one holds its edit more stably.

A revision is a plate file (with ``--mask``) or a prep output folder (its ``clean.png``, and its
``clean.mask.png`` unless a mask is given). Each is rendered here, or given as a clip rendered
elsewhere and checked against its own plate, into ``<out>/a`` and ``<out>/b`` (report.json,
report.html, ...); the comparison writes ``compare.json`` (per-metric and per-frame deltas, the
more stable revision and why), ``compare.html``, ``side_by_side.mp4`` and ``compare.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from keyframe_flows.tasks import stage_tasks
from keyframe.compare import revision_inputs, write_comparison
from keyframe.config import Config
from keyframe.io import check_output_dir, output_group
from keyframe.pipeline import check_revision


@flow(name="keyframe-compare", persist_result=False)
def compare_flow(a: Path, b: Path, mask: Path | None, out_dir: Path, config: Config, b_mask: Path | None = None,
                 clips: tuple[Path, Path] | None = None, last: Path | None = None) -> dict[str, Any]:
    """Check both revisions alike, then compare them.

    Without ``clips`` both are rendered here alike (towards the end plate ``last``); with ``clips``
    (rendered elsewhere) each is checked against its own plate. ``b_mask``: B's own mask.

    Every output is committed together at the end (``output_group``), as in prep: a compare that
    fails part way leaves the folder as it was, apart from the stage cache.
    """
    with output_group():
        out_dir = check_output_dir(out_dir)
        revisions = [check_revision(name, *revision_inputs(Path(revision), revision_mask), out_dir / name, config,
                                    stage_tasks(out_dir, config.nightly, name), clip_path=clip, last=last)
                     for name, revision, revision_mask, clip in (("a", a, mask, clips and clips[0]),
                                                                 ("b", b, b_mask or mask, clips and clips[1]))]
        result = write_comparison(out_dir, *revisions, config)
    winner = {rev.name: rev for rev in revisions}.get(result["more_stable"])
    get_run_logger().info("more stable: %s (%s)", (winner.clip_path or winner.plate) if winner else "neither", result["why"])
    return result
