#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. This is the README's second command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
.venv/bin/python -m pytest "$@"
