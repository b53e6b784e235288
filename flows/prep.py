"""Prep: inpaint -> gate -> render -> check -> report for one plate, as a Prefect flow.

The chain itself is :func:`keyframe.pipeline.run_plate`; this flow runs it with stage tasks
that cache, persist and retry (:func:`keyframe_flows.tasks.stage_tasks`) and logs the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from keyframe_flows.tasks import flow_logger, stage_tasks, task_runner
from keyframe.config import Config
from keyframe.pipeline import PlateEntry, prep_plate


@contextmanager
def in_foreground() -> Iterator[None]:
    """Settings for a flow run in the caller's own process (prep, demo, compare): no heartbeats.

    Flow-run heartbeats let a Prefect server mark a run as crashed when the worker running it
    dies unseen; in the foreground the caller sees a crash first-hand. Prefect's heartbeat thread
    sleeps in 1 s steps and every flow waits for it on exit, which cost the demo 0.5 s on
    average (0-1 s). Nightly runs, often deployments on a worker, keep their heartbeats.
    """
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def log_outcome(label: str, entry: PlateEntry) -> None:
    """One log line for a finished plate: its verdict and reason codes."""
    codes = ", ".join(r["code"] for r in entry.reasons)
    if entry.stopped_at_gate:
        flow_logger().warning("%s: gate failed (%s); stopped before the render (use --force to render anyway)",
                              label, codes)
    else:
        flow_logger().info("%s: %s%s", label, entry.verdict, f" ({codes})" if codes else "")


@flow(name="keyframe-prep", persist_result=False)
def prep_flow(plate: Path, mask: Path, out_dir: Path, config: Config, force: bool = False,
              last: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """inpaint -> gate -> render -> check -> report for one plate or pair (``last``: end plate, mask); writes ``flags.otio``.

    The outputs are committed together at the end (``output_group``): a prep that fails part way
    leaves the folder as it was. The stage cache is written as each stage finishes, so a rerun
    does not repeat the stages that had completed.
    """
    plate, out_dir = Path(plate), Path(out_dir)
    stages = stage_tasks(out_dir, config.nightly, plate.stem)
    entry = prep_plate(plate, Path(mask), out_dir, config, force=force, stages=stages, last=last)
    log_outcome(plate.stem, entry)
    return entry.to_dict()


def prep_flow_for(cfg: Config) -> Any:
    """The prep flow, on Dask when ``nightly.task_runner`` says so (best of N's candidates run there)."""
    return prep_flow if cfg.nightly.task_runner == "threads" else prep_flow.with_options(task_runner=task_runner(cfg.nightly))
