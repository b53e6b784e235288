"""``keyframe doctor``: one table of every capability, whether it is available here, and how to enable it."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict

from rich.table import Table

from keyframe import __version__
from keyframe.capabilities import SCHEMA, check_capabilities
from keyframe.cli.app import EXIT_OK, ConfigOption, JsonOption, app, config_from, print_json, console


@app.command()
def doctor(config: ConfigOption = None, as_json: JsonOption = False) -> int:
    """Check torch and the GPU, weights, model folders, detectors, ffmpeg, Chromium, Prefect and Dask.

    Always exits 0 (2 for a bad --config): an unavailable capability is information, not an error.
    With --json: {"schema": "keyframe.doctor/1", "keyframe", "python", "platform", "capabilities":
    [{"name", "title", "available", "detail", "why", "enable"}]} (see the README).
    """
    found = check_capabilities(config_from(config))
    if as_json:
        print_json({"schema": SCHEMA, "keyframe": __version__, "python": sys.version.split()[0],
                    "platform": platform.platform(), "capabilities": [asdict(c) for c in found]})
        return EXIT_OK
    table = Table(title=f"keyframe {__version__} on {platform.node()} (Python {sys.version.split()[0]})", show_lines=False)
    for column in ("capability", "available", "found / why not", "to enable"):
        table.add_column(column, overflow="fold")
    for cap in found:
        table.add_row(f"{cap.name}\n[dim]{cap.title}[/]", "[green]yes[/]" if cap.available else "[red]no[/]",
                      cap.detail if cap.available else f"{cap.detail}: {cap.why}", cap.enable or "")
    console().print(table)
    return EXIT_OK
