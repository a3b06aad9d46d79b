"""Shared fixtures: real newsletter folders on disk and the real `digest` command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
# The sample signs its unsubscribe links; tests that need the secret missing say so themselves.
# A run started in the background by a script (`cmd &`) has SIGINT ignored, and so would every
# digest process the tests start: the preview would never stop on Ctrl-C. Take it back, as an
# interactive run has it.
signal.signal(signal.SIGINT, signal.default_int_handler)
os.environ.setdefault("DIGEST_SECRET", "a-secret-for-the-tests-only-not-for-any-newsletter")
# the model's uncompressed weights (79 MB): one copy for every test and run, not one per folder
os.environ.setdefault("DIGEST_CACHE_DIR", str(Path(tempfile.gettempdir()) / "digest-test-cache"))


# The longest files (a preview idle for 30 s with a page open, deadlines, killed and concurrent
# processes, Chromium) start first: tests/run.sh hands whole files to its workers in this order
# (xdist's own puts the files with most tests first), and one of these started last would keep
# the run going alone for most of a minute.
STARTED_FIRST = ("test_preview_hostile.py", "test_feed_corpus.py", "test_failures.py",
                 "test_preview.py", "test_email_quality.py", "test_hostile.py", "test_fuzz.py",
                 "test_send_concurrency.py", "test_send_sendgrid.py", "test_unsubscribe.py",
                 "test_imports.py", "test_grouping_editors.py", "test_send_smtp.py",
                 "test_golden.py", "test_feeds.py", "test_cron.py", "test_send_crash.py",
                 "test_fail_safe.py", "test_signup.py", "test_reader_rights.py")


def pytest_collection_modifyitems(items) -> None:
    def rank(item) -> int:
        name = item.path.name
        return STARTED_FIRST.index(name) if name in STARTED_FIRST else len(STARTED_FIRST)

    items.sort(key=rank)  # stable: the other files and every file's tests keep their order


@pytest.fixture(autouse=True, scope="module")
def _chromium_per_module():
    """A test file's browser tests share one Chromium, stopped after the file: Playwright keeps
    its event loop marked running while it is up, and digest's own asyncio.run() refuses that."""
    yield
    from browser import close_chromium

    close_chromium()


MINIMAL_TOML = """\
[newsletter]
name = "La Gazette de Test"
url = "https://gazette.example"
locale = "fr"
timezone = "Europe/Paris"
sender = "La rédaction <redaction@gazette.example>"

[sources]
articles = "articles"

[ranking]
blurbs = 6

[delivery]
backend = "file"
unsubscribe_url = "https://gazette.example/desabonnement?email={email}"
"""


# the {email} link of MINIMAL_TOML, and the signed link that replaces it (Newsletter.sign_links)
EMAIL_LINK = 'unsubscribe_url = "https://gazette.example/desabonnement?email={email}"'
TOKEN_LINK = "https://lettre.gazette.example/unsubscribe?t={unsubscribe_token}"


class Newsletter:
    """A newsletter folder in a temporary directory, with helpers to fill it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.articles = root / "articles"
        self.articles.mkdir(parents=True, exist_ok=True)
        self.config = root / "digest.toml"
        self.config.write_text(MINIMAL_TOML, encoding="utf-8")

    def article(self, name: str, body: str | None = None, **front) -> Path:
        # distinct default bodies: identical texts would rightly be grouped as one story
        body = f"Article {name}." if body is None else body
        front.setdefault("title", name.replace("-", " ").capitalize())
        front.setdefault("date", "2025-04-22T08:00:00+02:00")
        header = yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
        path = self.articles / f"{name}.md"
        path.write_text(f"---\n{header}---\n\n{textwrap.dedent(body)}\n", encoding="utf-8")
        return path

    def raw(self, name: str, content: str | bytes) -> Path:
        path = self.articles / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    def sign_links(self) -> None:
        """Unsubscribe links with signed short tokens (kept in the state database), in place of
        the {email} link of MINIMAL_TOML."""
        signed = f'unsubscribe_url = "{TOKEN_LINK}"'
        self.set_config(self.config.read_text().replace(EMAIL_LINK, signed))

    def set_config(self, text: str) -> None:
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")

    def add_config(self, text: str) -> None:
        with self.config.open("a", encoding="utf-8") as handle:
            handle.write("\n" + textwrap.dedent(text))

    def recipients(self, count: int, extra: str = "",
                   domain: str = "lecteurs.example") -> list[str]:
        """Write recipients.csv with `count` readers (plus raw `extra` lines); their addresses."""
        addresses = [f"lecteur{i:06d}@{domain}" for i in range(count)]
        lines = ["email,name"] + [f"{a},Lecteur {i}" for i, a in enumerate(addresses)]
        (self.root / "recipients.csv").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
        return addresses

    def run(self, *args: str, env: dict | None = None,
            process: bool = False) -> subprocess.CompletedProcess:
        return run_digest(*args, cwd=self.root, env=env, process=process)


def run_digest(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120,
               process: bool = False) -> subprocess.CompletedProcess:
    """The `digest` command on `args`, from `cwd`: in this process through typer's CliRunner (as
    sqlite-utils tests its CLI), or with `process=True` in a real process, as cron runs it, for
    tests where the process itself matters. Both give stdout, stderr and the exit code; a bug's
    traceback ends up in stderr either way."""
    extra = {"NO_PROXY": "127.0.0.1,localhost", **(env or {})}
    if process:
        return subprocess.run(
            [sys.executable, "-m", "digest", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,  # tests assert on the exit code
        )
    return _in_process(list(args), cwd, extra)


def _in_process(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    import traceback

    from typer.testing import CliRunner

    from digest.cli import app

    here = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args, env=env)
    finally:
        os.chdir(here)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["digest", *args], result.exit_code, result.stdout, stderr)


@pytest.fixture
def newsletter(tmp_path: Path) -> Newsletter:
    return Newsletter(tmp_path / "lettre")


def copy_sample(root: Path) -> Path:
    """A copy of the repository's sample newsletter: digest.toml, articles/, feeds/, readers."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("digest.toml", "recipients.csv", "unsubscribed.csv"):
        shutil.copy(REPO / name, root / name)
    for folder in ("articles", "feeds"):
        shutil.copytree(REPO / folder, root / folder)
    return root


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return copy_sample(tmp_path / "sample")


@pytest.fixture
def server():
    """An HTTP server for feeds on 127.0.0.1 (tests/feed_server.py)."""
    from feed_server import FeedServer

    feeds = FeedServer()
    yield feeds
    feeds.stop()


@pytest.fixture
def serve_newsletter(newsletter):
    """`digest serve` of the test's newsletter in real processes (tests/web_server.py): each
    call starts one, with extra environment variables; all stopped after the test."""
    from web_server import Served

    servers: list = []

    def start(**env):
        server = Served(newsletter.root, env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sendgrid():
    """A SendGrid-compatible API on 127.0.0.1 that takes `fake_sendgrid.API_KEY`."""
    from fake_sendgrid import API_KEY, FakeSendGrid

    fake = FakeSendGrid(api_key=API_KEY).start()
    yield fake
    fake.stop()


def wait_until(predicate, timeout: float, message: str, interval: float = 0.01) -> None:
    """Wait for something to happen: `predicate()` is asked every `interval` s until it is true,
    and the test fails with `message` if it is still false after `timeout` s. Tests wait for the
    condition itself, never for a fixed time that is too short on a loaded machine."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s: {message}")
        time.sleep(interval)


def load(newsletter: Newsletter):
    from digest.config import load_config

    return load_config(newsletter.config)


STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")


def log_lines(text: str) -> list[str]:
    """The lines of a send's log without the time stamp each starts with when not on a terminal."""
    return [STAMP.sub("", line) for line in text.splitlines()]


def build(config, day):
    """The edition of `day` built as `digest build` builds it, without writing it."""
    from digest.newsletter import Newsletter

    with Newsletter(config) as letter:
        return letter.build(day)


def gather(config, day):
    """What the sources give for `day`, feeds' state included."""
    from digest.newsletter import Newsletter

    with Newsletter(config) as letter:
        return letter.gather(day)
