#!/usr/bin/env bash
# The test command: installs what the tests need, then runs them.
#   - a virtualenv in .venv (Debian 12 and Ubuntu 24.04 refuse `pip install` into the system
#     Python, PEP 668) with the package and its test extras (pytest, hypothesis, Playwright...),
#     at the versions of requirements.lock: the same wheels on every fresh clone, not the day's
#     newest (refresh the lock on purpose: see docs/development.md)
#   - Debian's chromium (driven by Playwright for the browser tests: no browser download),
#     faketime (the cron tests run `digest send` at a given hour) and spamassassin; apt waits for
#     a lock another apt holds instead of failing
#   - axe-core (injected into Chromium), html-validate and mjml (its component list) from npm,
#     in .ci/node, at the versions of its package-lock.json
#   - iproute2 and util-linux (ip, unshare, setpriv): a network namespace of its own gives a test
#     feed host a public address; setpriv makes root respect a read-only folder
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock \
    -e '.[test]'

# Debian packages the tests drive: the browser, a clock for the cron tests, SpamAssassin, and
# ip, unshare and setpriv
missing=()
for tool in chromium faketime spamassassin; do
  [ -x "/usr/bin/$tool" ] || missing+=("$tool")
done
command -v ip >/dev/null || missing+=(iproute2)
{ command -v unshare && command -v setpriv; } >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
  echo "Installing Debian's ${missing[*]} for the tests..."
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  apt_options=(-o DPkg::Lock::Timeout=600 -qq)
  $sudo_cmd apt-get "${apt_options[@]}" update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get "${apt_options[@]}" install -y "${missing[@]}" \
    >/dev/null
fi

# the versions of .ci/node/package-lock.json, installed again when it changes
stamp=.ci/node/node_modules/.installed
if [ ! -f "$stamp" ] || [ .ci/node/package-lock.json -nt "$stamp" ]; then
  npm ci --prefix .ci/node --no-audit --no-fund --silent --loglevel=error
  touch "$stamp"
fi

# The tests start a few hundred digest processes: keep the package's bytecode between them
# (digest/__pycache__, ignored by git) rather than compile it in each (0.1 s of CPU a process).
unset PYTHONDONTWRITEBYTECODE

# Four workers on two cores: many tests wait (servers, a browser, an idle preview, deadlines).
# A file's tests stay on one worker, so a module's shared fixture is made once; files are handed
# out in the order tests/conftest.py gives (the longest first); -n 0 runs them one by one.
exec .venv/bin/python -m pytest -n "${DIGEST_TEST_WORKERS:-4}" --dist loadfile \
    --no-loadscope-reorder "$@"
