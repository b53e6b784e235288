"""Reports: the ``keyframe.report/1`` JSON document and the check's files beside it."""

from keyframe.report.json import SCHEMA, build_report, gate_reasons
from keyframe.report.outputs import drift_plot, frames_csv, outline, overlay_frames, write_check_outputs

__all__ = ["SCHEMA", "build_report", "drift_plot", "frames_csv", "gate_reasons", "outline", "overlay_frames", "write_check_outputs"]
