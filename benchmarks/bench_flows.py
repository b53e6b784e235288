"""Benchmark of the flows: Prefect's overhead on the demo, and nightly on 1 vs 2 Dask workers.

Everything runs against one temporary Prefect server started up front (``prefect_test_harness``,
a real server process with its own SQLite database), so no figure includes a server start.

1. Demo overhead: the demo's prep (the bundled coffee_defect plate, embedded defaults, camera
   renderer) run as the Prefect flow vs the flow's own body (``prep_plate``) with the stage
   functions called directly (no tasks, no cache), both inside ``in_foreground()`` as
   ``keyframe demo`` runs it. Every timed run writes into a fresh folder, so no cache hit flatters the flow. Median of
   ``--repeat`` runs each, interleaved in alternating order with a 1 s pause before each, after
   one warm-up each; also the median of the per-pair ratios, which a drift in the machine's speed
   during the run moves less.
2. Nightly: ``--shots`` shots (the fixture plates, each copy made unique by one pixel far outside
   its mask so no shot reuses another's cached stage), camera renderer, default frames, on a
   local Dask cluster of 1 and then 2 workers: worker threads in this process (the default,
   ``nightly.dask_processes: false``) and worker processes. One whole run each, fresh folders.

    .venv/bin/python benchmarks/bench_flows.py [--repeat 5] [--shots 20] [--skip-nightly]

The machine's load average is printed with the figures: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for key, value in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}.items():
    os.environ.setdefault(key, value)

import yaml  # noqa: E402
from prefect.settings import PREFECT_API_URL  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from flows.nightly import nightly_flow  # noqa: E402
from flows.prep import in_foreground, prep_flow  # noqa: E402
from keyframe.pipeline import prep_plate  # noqa: E402
from keyframe.config import load_config  # noqa: E402
from keyframe.io import read_mask, read_plate, write_image  # noqa: E402

FIXTURES = ROOT / "fixtures"
DEMO = (FIXTURES / "plates" / "coffee_defect.png", FIXTURES / "masks" / "coffee_defect.png")
#: Pause before each timed run, so the server's work on the previous run's events is not billed to the next run.
SETTLE_S = 1.0
NAMES = ("coffee_defect", "coffee", "astronaut", "chelsea", "rocket", "brick")


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def demo_overhead(work: Path, repeat: int) -> dict[str, list[float]]:
    cfg = load_config()
    plate, mask = DEMO
    prep_flow(plate, mask, work / "warm-up", cfg, force=True)
    prep_plate(plate, mask, work / "warm-up-direct", cfg, force=True)
    runs = {
        "flow": lambda out: prep_flow(plate, mask, out, cfg, force=True),
        "direct": lambda out: prep_plate(plate, mask, out, cfg, force=True),
    }
    times: dict[str, list[float]] = {"flow": [], "direct": []}
    for i in range(repeat):
        for kind in ("flow", "direct") if i % 2 == 0 else ("direct", "flow"):
            out = work / f"{kind}-{i}"
            out.mkdir()
            time.sleep(SETTLE_S)
            times[kind].append(timed(lambda: runs[kind](out)))
    return times


def make_manifest(folder: Path, shots: int) -> Path:
    """``shots`` unique shots: fixture plates with one pixel changed far from the mask."""
    folder.mkdir()
    entries = []
    for i in range(shots):
        name = NAMES[i % len(NAMES)]
        plate = read_plate(FIXTURES / "plates" / f"{name}.png")
        mask = read_mask(FIXTURES / "masks" / f"{name}.png", plate.shape[:2])
        y, x = (0, 0) if not mask[0, 0] else (plate.shape[0] - 1, plate.shape[1] - 1)
        plate[y, x] = (plate[y, x].astype(int) + 1 + i) % 256
        write_image(folder / f"shot{i:02d}.png", plate)
        shutil.copy(FIXTURES / "masks" / f"{name}.png", folder / f"shot{i:02d}.mask.png")
        entries.append({"id": f"shot{i:02d}", "plate": f"shot{i:02d}.png", "mask": f"shot{i:02d}.mask.png"})
    path = folder / "night.yaml"
    path.write_text(yaml.safe_dump({"shots": entries}), encoding="utf-8")
    return path


def nightly_workers(work: Path, shots: int) -> dict[tuple[str, int], float]:
    manifest = make_manifest(work / "shots-in", shots)
    result = {}
    for kind in ("threads", "processes"):
        for workers in (1, 2):
            out = work / f"nightly-{kind}-{workers}"
            out.mkdir()
            overrides = {"nightly": {"task_runner": "dask", "concurrency": workers,
                                     "dask_processes": kind == "processes"}}
            result[kind, workers] = timed(lambda: nightly_flow(str(manifest), str(out), None, overrides, False))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--skip-nightly", action="store_true")
    args = parser.parse_args()
    started = datetime.now(timezone.utc).isoformat(timespec="minutes")
    with tempfile.TemporaryDirectory(prefix="keyframe-bench-flows-") as tmp, prefect_test_harness(180):
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()  # Dask worker processes report here too
        work = Path(tmp)
        with in_foreground():  # as `keyframe demo` runs it
            overhead = demo_overhead(work, args.repeat)
        load_after_demo = os.getloadavg()[0]
        nightly = {} if args.skip_nightly else nightly_workers(work, args.shots)
    flow_s, direct_s = statistics.median(overhead["flow"]), statistics.median(overhead["direct"])
    print(f"# bench_flows {started} UTC, {platform.node()} ({os.cpu_count()} cores), "
          f"load average now {os.getloadavg()[0]:.1f} (after the demo part {load_after_demo:.1f})")
    print(f"demo as a Prefect flow : median {flow_s:.2f} s  runs {[round(t, 2) for t in overhead['flow']]}")
    print(f"demo stages called directly: median {direct_s:.2f} s  runs {[round(t, 2) for t in overhead['direct']]}")
    print(f"Prefect overhead: {flow_s - direct_s:+.2f} s = {100 * (flow_s - direct_s) / direct_s:+.1f} % (medians)")
    paired = statistics.median(f / d for f, d in zip(overhead["flow"], overhead["direct"]))
    print(f"Prefect overhead, median of the {args.repeat} paired ratios flow/direct: {100 * (paired - 1):+.1f} %")
    for (kind, workers), seconds in nightly.items():
        print(f"nightly {args.shots} shots, Dask {workers} worker {kind}: {seconds:.1f} s ({seconds / args.shots:.2f} s/shot)")
        if workers == 2:
            print(f"  speed-up 2 vs 1 worker {kind}: {nightly[kind, 1] / seconds:.2f}x")


if __name__ == "__main__":
    main()
