#!/usr/bin/env bash
# The test command: installs what the tests need, then runs them.
#   - the package with its test extras (pytest, hypothesis, Playwright for Python...)
#   - Debian's chromium, driven by Playwright for the browser tests (no browser download)
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser tests..."
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

exec python3 -m pytest "$@"
