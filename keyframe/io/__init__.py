"""Media I/O: the only part of keyframe that reads or writes files."""

from keyframe.io.atomic import (
    atomic_path,
    cache_folder,
    check_output_dir,
    check_output_path,
    copy_file_atomic,
    check_png_output,
    hold_folder,
    make_dirs,
    output_group,
    pending_path,
    write_bytes_atomic,
    write_bytes_now,
    write_json_atomic,
    write_text_atomic,
)
from keyframe.io.documents import parse_json, read_json, read_json_object, read_yaml_mapping
from keyframe.io.package_data import package_file
from keyframe.io.clips import Clip, clip_source, clip_writer, read_clip, write_clip, write_frames
from keyframe.io.stream import ClipStream, FrameRange
from keyframe.io.models import resolve_model_folder
from keyframe.io.images import captured_stderr, from_float, image_size, read_mask, read_plate, read_png_text, to_float, write_figure, write_image, write_mask
from keyframe.io.sidecar import (array_sha256, file_sha256, package_versions, read_plate_to_frame0, read_sidecar_matrix,
                                 sidecar_path, write_sidecar)

__all__ = [
    "Clip",
    "ClipStream",
    "FrameRange",
    "array_sha256",
    "atomic_path",
    "cache_folder",
    "captured_stderr",
    "check_output_dir",
    "check_output_path",
    "copy_file_atomic",
    "check_png_output",
    "clip_source",
    "clip_writer",
    "file_sha256",
    "output_group",
    "pending_path",
    "from_float",
    "hold_folder",
    "make_dirs",
    "image_size",
    "package_file",
    "package_versions",
    "parse_json",
    "read_clip",
    "read_mask",
    "read_json",
    "read_json_object",
    "read_plate",
    "read_plate_to_frame0",
    "read_sidecar_matrix",
    "read_png_text",
    "read_yaml_mapping",
    "resolve_model_folder",
    "sidecar_path",
    "to_float",
    "write_bytes_atomic",
    "write_bytes_now",
    "write_clip",
    "write_figure",
    "write_frames",
    "write_image",
    "write_json_atomic",
    "write_mask",
    "write_sidecar",
    "write_text_atomic",
]
