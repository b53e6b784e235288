"""Media I/O: the only part of keyframe that reads or writes files."""

from keyframe.io.atomic import (
    atomic_path,
    cache_folder,
    check_output_dir,
    check_output_path,
    output_group,
    pending_path,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from keyframe.io.documents import read_json_object, read_yaml_mapping
from keyframe.io.clips import Clip, read_clip, write_clip, write_frames
from keyframe.io.models import resolve_model_folder
from keyframe.io.images import from_float, read_mask, read_plate, read_png_text, to_float, write_figure, write_image, write_mask
from keyframe.io.sidecar import array_sha256, file_sha256, package_versions, sidecar_path, write_sidecar

__all__ = [
    "Clip",
    "array_sha256",
    "atomic_path",
    "cache_folder",
    "check_output_dir",
    "check_output_path",
    "file_sha256",
    "output_group",
    "pending_path",
    "from_float",
    "package_versions",
    "read_clip",
    "read_mask",
    "read_json_object",
    "read_plate",
    "read_png_text",
    "read_yaml_mapping",
    "resolve_model_folder",
    "sidecar_path",
    "to_float",
    "write_bytes_atomic",
    "write_clip",
    "write_figure",
    "write_frames",
    "write_image",
    "write_json_atomic",
    "write_mask",
    "write_sidecar",
    "write_text_atomic",
]
