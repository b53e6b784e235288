"""Nightly batch: every shot of a manifest through prep, with bounded concurrency and resume.

One bad shot never stops the others: a shot whose paths escape the manifest's folder, whose
files are unreadable, or whose stages fail is recorded as ``failed`` with its error, and the rest
run on. Each shot is built in a staging folder and committed in one rename (see
:class:`keyframe.io.ledger.Ledger`), so a run killed with SIGKILL and started again redoes only the
shots that had not been committed, and no output is lost or written twice.

A shot may list its previous revision (plate + clip rendered elsewhere): that clip is checked
against its own plate into ``shots/<id>/previous/`` and compared with the new revision
(``shots/<id>/compare.json``), and the summary says per shot whether the new one is steadier.

Outputs: ``shots/<id>/`` per shot, ``summary.json``, ``index.html``, ``flags.otio``, and two
Prefect artifacts (a table of shots with verdicts, a markdown summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import as_completed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keyframe_flows.prep import log_outcome
from keyframe_flows.tasks import stage_tasks, task_runner
from keyframe.config import Config, NightlyConfig, load_config
from keyframe.errors import KeyframeError
from keyframe.nightly import (PREVIOUS, Ledger, MemoryBudget, Shot, batch_row, compare_with_previous, load_manifest,
                              one_line, resolve_shot, shot_memory, write_batch_outputs)
from keyframe.pipeline import check_revision, process_plate
from keyframe.report.batch import batch_markdown, batch_table


def record_failure(ledger: Ledger, shot_id: str, error: BaseException, key: str | None) -> dict[str, Any]:
    """Commit a ``failed`` record for ``shot_id`` (its partial outputs are not kept)."""
    record = {"status": "failed", "verdict": None, "reasons": [], "error": one_line(error), "key": key}
    ledger.commit(shot_id, ledger.staging(shot_id), record)
    return record


@task(name="shot", task_run_name="shot [{shot.id}]")
def shot_task(shot: Shot, key: str, out_dir: Path, force: bool) -> dict[str, Any]:
    """Run one shot in a staging folder and commit it; a failure is committed as ``failed`` and re-raised."""
    ledger = Ledger(out_dir)
    staging = ledger.staging(shot.id)
    stages = stage_tasks(out_dir, shot.config.nightly, shot.id)
    try:
        previous = None
        if shot.previous is not None:  # first: a previous clip that is not of its plate fails the shot before the render
            previous = check_revision(PREVIOUS, shot.previous.plate, shot.previous.mask, staging / PREVIOUS, shot.config,
                                      stage_tasks(out_dir, shot.config.nightly, f"{shot.id} previous"),
                                      clip_path=shot.previous.clip, label="previous revision")
        entry = process_plate(shot.plate, shot.mask, staging, shot.config, label=shot.id, force=force, stages=stages,
                              extra={"shot": shot.id, "prompt": shot.prompt or ""}, last=shot.last)
        compared = {} if previous is None else {"previous": compare_with_previous(previous, staging, entry, shot.config)}
    except Exception as error:
        ledger.discard(staging)
        record_failure(ledger, shot.id, error, key)
        raise
    log_outcome(shot.id, entry)
    record = {**entry.to_dict(), **compared, "error": None, "key": key}
    ledger.commit(shot.id, staging, record)
    return record


def publish_artifacts(summary: dict[str, Any]) -> None:
    """A Prefect table of shots with verdicts and a markdown summary of the run."""
    create_table_artifact(key="keyframe-nightly-shots", table=batch_table(summary), description="Shots and their verdicts")
    create_markdown_artifact(key="keyframe-nightly-summary", markdown=batch_markdown(summary), description="Nightly summary")


def _progress() -> Progress:
    return Progress(TextColumn("shots"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)


def run_nightly(manifest_path: Path, out_dir: Path, cfg: Config, *, force: bool = False) -> dict[str, Any]:
    """The body of :func:`nightly_flow`; see the module docstring."""
    logger = get_run_logger()
    manifest = load_manifest(manifest_path, max_shots=cfg.nightly.max_shots)
    ledger = Ledger(out_dir)
    with ledger.lock():
        for action in ledger.recover():
            logger.warning("recovering %s: %s", out_dir, action)
        records: dict[str, tuple[dict[str, Any], bool]] = {}
        pending: list[tuple[Shot, str, int]] = []
        for spec in manifest.shots:
            key = None
            try:
                shot = resolve_shot(manifest, spec, cfg)
                need = shot_memory(shot.check_inputs(), shot.config)
                key = shot.key()
            except Exception as error:  # noqa: BLE001 - one bad shot never stops the others
                logger.error("shot %s refused: %s", spec.id, one_line(error))
                records[spec.id] = (record_failure(ledger, spec.id, error, key), False)
                continue
            done = ledger.finished(spec.id, key)
            if done is not None:
                records[spec.id] = (done, True)
            else:
                pending.append((shot, key, need))
        logger.info("%d shots: %d already finished, %d refused, %d to run", len(manifest.shots),
                    sum(reused for _, reused in records.values()),
                    sum(not reused for _, reused in records.values()), len(pending))
        budget = MemoryBudget(int(cfg.nightly.memory_budget_gb * 2**30), cfg.nightly.concurrency)
        with task_runner(cfg.nightly) as runner, _progress() as bar:
            progress = bar.add_task("shots", total=len(pending))
            submit = lambda shot, key: runner.submit(  # noqa: E731
                shot_task, parameters={"shot": shot, "key": key, "out_dir": ledger.out_dir, "force": force})
            for shot_id, future in budget.run(pending, submit, lambda futures: next(as_completed(futures))):
                try:
                    records[shot_id] = (future.result(), False)
                except Exception as error:  # noqa: BLE001 - one bad shot never stops the others
                    logger.error("shot %s failed: %s", shot_id, one_line(error))
                    records[shot_id] = (ledger.record(shot_id) or {"status": "failed", "error": one_line(error)}, False)
                bar.advance(progress)
        rows = [batch_row(spec.id, *records[spec.id]) for spec in manifest.shots]
        summary = write_batch_outputs(ledger.out_dir, Path(manifest_path), rows)
    publish_artifacts(summary)
    logger.info("nightly done: %s", ", ".join(f"{n} {s}" for s, n in summary["counts"].items()))
    return summary


@flow(name="keyframe-nightly", persist_result=False)
def nightly_flow(
    manifest: str, out_dir: str, config: str | None = None, overrides: dict[str, Any] | None = None, force: bool = False
) -> dict[str, Any]:
    """Run every shot of ``manifest`` into ``out_dir``; resumes a killed run where it stopped.

    Parameters are plain strings so a scheduled deployment can carry them.
    """
    return run_nightly(Path(manifest), Path(out_dir), load_config(config, overrides), force=force)


#: The folder holding this package, and this file relative to it: ``flows/nightly.py`` in a
#: checkout, ``keyframe_flows/nightly.py`` in site-packages (workers load the flow from there).
CODE_ROOT, ENTRYPOINT = Path(__file__).resolve().parent.parent, f"{Path(__file__).parent.name}/nightly.py:nightly_flow"


def deploy_nightly(*, name: str, cron: str, parameters: dict[str, Any], pool: str | None) -> str:
    """Schedule :func:`nightly_flow` on the Prefect server named by ``PREFECT_API_URL``.

    Without ``pool`` this process serves the deployment and runs each scheduled run itself (it
    blocks until interrupted); with ``pool`` the deployment is registered on that work pool, to be
    run by its workers from this checkout, and its id is returned.
    """
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise KeyframeError(
            "a schedule needs a Prefect server: start one with `keyframe server start` "
            "(or set PREFECT_API_URL to your own; see docs/NIGHTLY.md)"
        )
    if pool is None:
        nightly_flow.serve(name=name, cron=cron, parameters=parameters)
        return name
    source = nightly_flow.from_source(source=str(CODE_ROOT), entrypoint=ENTRYPOINT)
    deployment_id = source.deploy(name=name, work_pool_name=pool, cron=cron, parameters=parameters,
                                  print_next_steps=False, ignore_warnings=True)
    return str(deployment_id)
