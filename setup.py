"""Package layout for setuptools; the project's metadata is in pyproject.toml.

The repository's folders keep readable names, the installed packages keyframe's own:
``flows/`` installs as ``keyframe_flows`` (never a top-level ``flows`` in site-packages), and
the files the library reads at run time (the default config and the demo's plate and mask)
install inside ``keyframe/data/`` from ``configs/`` and ``fixtures/`` (see
keyframe/io/package_data.py), so a wheel works with no checkout around it.
"""

from setuptools import find_packages, setup

DATA = {  # installed package -> (repository folder, files it ships)
    "keyframe.data.configs": ("configs", ["default.yaml"]),
    "keyframe.data.fixtures.plates": ("fixtures/plates", ["coffee_defect.png"]),
    "keyframe.data.fixtures.masks": ("fixtures/masks", ["coffee_defect.png"]),
}

setup(
    packages=[*find_packages(include=["keyframe", "keyframe.*"]), "keyframe.report.templates", "keyframe_flows", *DATA],
    package_dir={"keyframe_flows": "flows", **{name: folder for name, (folder, _) in DATA.items()}},
    package_data={"keyframe.report.templates": ["*.j2"], **{name: files for name, (_, files) in DATA.items()}},
)
