#!/usr/bin/env bash
# Sets up a fresh machine (tools/setup.sh) and runs hakisa's main job end to end on a bundled game:
# the scripted demonstrator plays a real window while `hakisa record` records it, then inspect and replay.
# Works with no screen (starts Xvfb). Extra arguments go to tools/demo.py (e.g. --game clicker --seconds 120).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python tools/demo.py "$@"
