"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for layout tests."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = os.environ.get("DIGEST_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium tries to reach Google's hosts at start-up; this machine has no network.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# One Chromium per test file (tests/conftest.py stops it): a launch costs ~1.4 s of CPU. Each
# test gets pages of its own in fresh browser contexts, closed when it is done.
_running: dict = {}


def require_chromium() -> None:
    """Browser tests must run in CI; elsewhere they skip with the reason when Chromium is absent."""
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} not found: the test command installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} not found; install Debian's chromium package")


@contextmanager
def chromium():
    """The process's Chromium; the pages (and their contexts) made inside are closed after."""
    require_chromium()
    browser = _browser()
    before = set(browser.contexts)
    try:
        yield browser
    finally:
        for context in browser.contexts:
            if context not in before:
                context.close()


def _browser():
    if "browser" not in _running or not _running["browser"].is_connected():
        from playwright.sync_api import sync_playwright

        playwright = _running.get("playwright") or sync_playwright().start()
        _running["playwright"] = playwright
        _running["browser"] = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return _running["browser"]


def close_chromium() -> None:
    """After each test file (tests/conftest.py)."""
    if "browser" in _running:
        _running.pop("browser").close()
    if "playwright" in _running:
        _running.pop("playwright").stop()
