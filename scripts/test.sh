#!/usr/bin/env bash
# Installs LionLab with its test extras (and Debian's Chromium for the browser tests when it
# is missing), then runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

python3 -m pip install -q -c constraints.txt -e ".[server,worker,dev]"
exec python3 -m pytest "$@"
