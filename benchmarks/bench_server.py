"""Benchmark: whole-process ``keyframe demo`` with ``keyframe server start`` vs Prefect's temporary server.

Each timed run is the real command in a new process (imports, Prefect start-up, the four stages,
the report), as a user types it, each into a fresh output folder:

- ``bare``: ``keyframe --version``, the process and import floor;
- ``temporary``: ``keyframe demo`` with no server running: Prefect starts a temporary server in
  the process (warm ``PREFECT_HOME``: one warm-up run first, so no database migration is timed);
- ``server``: ``keyframe demo`` while ``keyframe server start`` runs (started once, its start
  time printed apart).

Runs are interleaved (temporary and server alternate which goes first) with a 1 s pause before
each; medians of ``--repeat`` runs and the median of the paired ratios server/temporary, which a
drift in the machine's speed moves less. The load average is printed: on a shared machine the
figures move with it.

    .venv/bin/python benchmarks/bench_server.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTLE_S = 1.0


def keyframe(env: dict[str, str], *args: str) -> float:
    """Seconds the command ``keyframe ARGS`` takes as a whole process; it must succeed."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "keyframe", *args], env=env, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = datetime.now(timezone.utc).isoformat(timespec="minutes")
    with tempfile.TemporaryDirectory(prefix="keyframe-bench-server-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(work / "prefect-home"),
               "KEYFRAME_HOME": str(work / "keyframe-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
        env.pop("PREFECT_API_URL", None)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = str(probe.getsockname()[1])
        keyframe(env, "demo", "-o", str(work / "warm-up"))  # migrates the temporary server's database once
        times: dict[str, list[float]] = {"bare": [], "temporary": [], "server": []}
        try:
            server_start = keyframe(env, "server", "start", "--port", port)
            for i in range(args.repeat):
                order = ("temporary", "server") if i % 2 == 0 else ("server", "temporary")
                for kind in ("bare", *order):
                    time.sleep(SETTLE_S)
                    if kind == "bare":
                        times[kind].append(keyframe(env, "--version"))
                        continue
                    # the temporary run hides the server: a keyframe home without its pid file
                    run_env = env if kind == "server" else {**env, "KEYFRAME_HOME": str(work / "no-server")}
                    times[kind].append(keyframe(run_env, "demo", "-o", str(work / f"{kind}-{i}")))
        finally:
            keyframe(env, "server", "stop")
    medians = {kind: statistics.median(runs) for kind, runs in times.items()}
    paired = statistics.median(s / t for s, t in zip(times["server"], times["temporary"]))
    print(f"# bench_server {started} UTC, {platform.node()} ({os.cpu_count()} cores), {platform.processor() or platform.machine()}, "
          f"load average now {os.getloadavg()[0]:.1f}")
    print(f"keyframe server start: {server_start:.1f} s (once)")
    for kind, runs in times.items():
        print(f"{kind:>9}: median {medians[kind]:.2f} s  ({medians[kind] / medians['bare']:.1f}x bare)  "
              f"runs {[round(t, 2) for t in runs]}")
    print(f"server / temporary: {medians['server'] / medians['temporary']:.2f} (medians), {paired:.2f} (median of paired ratios)")


if __name__ == "__main__":
    main()
