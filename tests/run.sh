#!/usr/bin/env bash
# The test command: installs what the tests need, then runs them.
#   - a virtualenv in .venv (Debian 12 and Ubuntu 24.04 refuse `pip install` into the system
#     Python, PEP 668) with the package and its test extras (pytest, hypothesis, Playwright...)
#   - Debian's chromium, driven by Playwright for the browser tests (no browser download); apt
#     waits for a lock another apt holds instead of failing
#   - iproute2 and util-linux (ip, unshare, setpriv): a network namespace of its own gives a test
#     feed host a public address; setpriv makes root respect a read-only folder
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v ip >/dev/null || missing+=(iproute2)
{ command -v unshare && command -v setpriv; } >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian's ${missing[*]} for the tests..."
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  apt_options=(-o DPkg::Lock::Timeout=600 -qq)
  $sudo_cmd apt-get "${apt_options[@]}" update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get "${apt_options[@]}" install -y "${missing[@]}" >/dev/null
fi

exec .venv/bin/python -m pytest "$@"
