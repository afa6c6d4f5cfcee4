#!/usr/bin/env bash
# Sets up a fresh machine (tools/setup.sh) and runs the whole test suite.
# Tests that need a screen start their own Xvfb, so no display is needed. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
