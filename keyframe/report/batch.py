"""What a nightly batch's summary says in words: the Prefect artifacts' table and markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def steadier_text(previous: dict[str, Any] | None) -> str:
    """``steadier`` | ``less steady`` | ``as steady`` | ``not compared`` than the previous revision; empty when none is listed."""
    if previous is None:
        return ""
    if previous.get("steadier") is None:
        return "as steady" if previous.get("more_stable") is None and previous.get("compare") else "not compared"
    return "steadier" if previous["steadier"] else "less steady"


def batch_table(summary: dict[str, Any]) -> list[dict[str, str]]:
    """One row per shot: its status, reason codes, how it compares with its previous revision, error, report."""
    return [
        {"shot": row["id"], "status": row["status"], "reasons": ", ".join(r["code"] for r in row["reasons"]),
         "vs previous": steadier_text(row.get("previous")), "error": row["error"] or "", "report": row.get("html", "")}
        for row in summary["shots"]
    ]


def batch_markdown(summary: dict[str, Any]) -> str:
    """The run's counts, then each shot that did not pass with its reasons or error.

    Examples
    --------
    >>> summary = {"manifest": "/shots/night.yaml", "counts": {"pass": 1, "flagged": 0, "failed": 1},
    ...            "shots": [{"id": "a", "status": "pass", "reasons": [], "error": None},
    ...                      {"id": "b", "status": "failed", "reasons": [], "error": "mask missing"}]}
    >>> print(batch_markdown(summary))
    # keyframe nightly: night.yaml
    <BLANKLINE>
    **1 pass, 0 flagged, 1 failed** of 2 shots.
    <BLANKLINE>
    - `b`: **failed**: mask missing
    """
    counts = summary["counts"]
    lines = [f"# keyframe nightly: {Path(summary['manifest']).name}", "",
             f"**{counts['pass']} pass, {counts['flagged']} flagged, {counts['failed']} failed** "
             f"of {len(summary['shots'])} shots.", ""]
    lines += [f"- `{row['id']}`: **{row['status']}**"
              + (f" ({', '.join(r['code'] for r in row['reasons'])})" if row["reasons"] else "")
              + (f": {row['error']}" if row["error"] else "")
              for row in summary["shots"] if row["status"] != "pass"]
    return "\n".join(lines)
