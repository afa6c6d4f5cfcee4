#!/usr/bin/env bash
# Installs everything hakisa needs on a fresh Debian/Ubuntu machine; safe to run again (it skips what is done).
#   - Xvfb, xdotool and x11-utils from apt when missing (a virtual screen for machines without one), and
#     chromium with its driver (the studio's page is tested in a real headless browser)
#   - a virtual environment in .venv with torch==2.13.0 (CPU) installed first, then hakisa and its tests
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in Xvfb:xvfb xdotool:xdotool xwininfo:x11-utils chromium:chromium chromedriver:chromium-driver; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]} with apt" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.hakisa-installed
want=$(cat pyproject.toml tools/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing torch==2.13.0 and hakisa into .venv (about a minute the first time)" >&2
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
