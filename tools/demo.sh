#!/usr/bin/env bash
# Sets up a fresh machine (tools/setup.sh) and runs hakisa's whole job end to end on a bundled game, in about
# 20 minutes on 2 cores: the scripted demonstrator plays a real window while `hakisa record` records, then
# study, a trial of how to play the clone, explore/consolidate rounds and play, with a results table, a
# learning-curve PNG and a replay clip.
# Works with no screen (starts Xvfb). Extra arguments go to tools/demo.py (e.g. --game clicker, --long).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python tools/demo.py "$@"
