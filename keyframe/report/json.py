"""The ``keyframe.report/1`` document: verdict, reasons, gate, per-frame metrics, provenance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyframe.io.sidecar import describe_inputs, package_versions
from keyframe.verdict import Reason, verdict_of

if TYPE_CHECKING:
    from keyframe.gate import GateResult
    from keyframe.track import CheckResult

SCHEMA = "keyframe.report/1"


def _gate_dict(gate: GateResult | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if gate is None or isinstance(gate, Mapping):
        return gate  # type: ignore[return-value]
    if not hasattr(gate, "to_dict"):
        raise ValueError("gate must be a GateResult-like object with .to_dict(), a dict, or None")
    return gate.to_dict()


def gate_reasons(gate: dict[str, Any]) -> list[dict[str, Any]]:
    """One reason per failed gate criterion, coded by the criterion's name (``edge``, ``seam``, ``texture``, ``anatomy``).

    A criterion that was not checked (``pass`` null) is not a reason. Gate reasons concern the
    plate, not frames, so their frame list is empty.

    Examples
    --------
    >>> gate_reasons({"pass": False, "criteria": {"seam": {"pass": False, "reason": "colour step 7.1"},
    ...                                           "edge": {"pass": True, "reason": "ok"}}})
    [{'code': 'seam', 'message': 'seam: colour step 7.1', 'frames': []}]
    """
    return [Reason.of_plate(name, criterion.get("reason")).to_dict()
            for name, criterion in (gate.get("criteria") or {}).items() if criterion.get("pass") is False]


def build_report(*, check: CheckResult | None = None, gate: GateResult | Mapping[str, Any] | None = None,
                 inputs: dict[str, str | Path | None], params: dict[str, Any],
                 end_gate: GateResult | Mapping[str, Any] | None = None, upscale: dict[str, Any] | None = None,
                 candidates: list[dict[str, Any]] | None = None, selected: tuple[str, str] | None = None) -> dict[str, Any]:
    """Assemble the report of a check and/or a gate.

    Parameters
    ----------
    check : CheckResult, optional
        From :func:`keyframe.track.check_clip`.
    gate : GateResult or dict, optional
        From ``keyframe.gate.run_gate`` (anything with ``.to_dict()``), or that dict itself.
        Its failed criteria become reasons with codes ``edge`` / ``seam`` / ``texture`` / ``anatomy``.
    inputs : dict
        Role -> path of each input file (paths and content hashes are recorded; None = not given).
    params : dict
        The configuration that shaped the result (JSON-ready).
    end_gate : GateResult or dict, optional
        The end plate's gate, for a keyframe pair: its failed criteria become reasons too (same
        codes, messages starting ``end plate:``), and the report gains an ``end_gate`` field.
    upscale : dict, optional
        The upscale stage's part (``scale``, ``params``, ``uniformity``, ``verdict``,
        ``reasons``, ``output``); its reasons (code ``upscale``) join the report's.
    candidates : list of dict, optional
        Best of N: ``{id, params, stability, verdict, reasons}`` per candidate.
    selected : tuple of str, optional
        The chosen candidate's id and why (:func:`keyframe.candidates.select_candidate`).

    Returns
    -------
    dict
        ``schema``, ``verdict`` (``pass`` | ``flagged``), ``reasons``, ``gate``, ``frames``,
        ``summary``, ``metrics`` (availability with the why), ``inputs``, ``params``,
        ``versions``, ``created``; ``upscale`` when given; ``candidates``, ``selected`` and
        ``selected_why`` for best of N.
    """
    if check is None and gate is None:
        raise ValueError("build_report needs a check result, a gate result, or both")
    gate_part = _gate_dict(gate)
    reasons = gate_reasons(gate_part) if gate_part is not None else []
    end_part = _gate_dict(end_gate)
    if end_part is not None:
        reasons += [{**reason, "message": f"end plate: {reason['message']}"} for reason in gate_reasons(end_part)]
    if check is not None:
        reasons += [reason.to_dict() for reason in check.reasons]
    extra: dict[str, Any] = {} if end_part is None else {"end_gate": end_part}
    if upscale is not None:
        reasons += upscale["reasons"]
        extra["upscale"] = upscale
    if candidates is not None:
        extra.update(candidates=candidates, selected=selected[0] if selected else None,
                     selected_why=selected[1] if selected else None)
    return {
        "schema": SCHEMA,
        "verdict": verdict_of(reasons),
        "reasons": reasons,
        "gate": gate_part,
        "frames": [row.to_dict() for row in check.per_frame] if check is not None else [],
        "summary": dict(check.summary) if check is not None else {},
        "metrics": dict(check.metric_status) if check is not None else {},
        "inputs": describe_inputs(inputs),
        "params": params,
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
