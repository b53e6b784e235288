"""Prefect for the flow tests: one temporary Prefect server (``prefect_test_harness``) per session.

Prefect's settings are read when it is imported, so its home, analytics and telemetry are set
here, before any test module imports ``keyframe_flows``. Subprocesses get the harness's API URL so they
talk to the same server instead of starting their own temporary one (~15 s each).
"""

from __future__ import annotations

import logging
import os
import tempfile

import pytest

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="keyframe-prefect-home-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """Start one temporary Prefect server for the session; returns its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()
        # its "stopping" line would go to a console stream pytest has already closed
        logging.getLogger("prefect").setLevel(logging.WARNING)


@pytest.fixture
def prefect_env(prefect_api: str) -> dict[str, str]:
    """Environment for a ``keyframe`` subprocess that uses the session's Prefect server."""
    return {"PREFECT_API_URL": prefect_api, "PREFECT_HOME": os.environ["PREFECT_HOME"],
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
