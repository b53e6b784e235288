"""keyframe: prepare still plates for image-to-video generation and prove the clips are stable."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("keyframe")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
