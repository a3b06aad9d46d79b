"""A damaged state database: `digest state check` says so, `digest state recover` rebuilds it from
what can be read and keeps the send ledger and the unsubscribe tokens, never while a send runs;
and every migration is preceded by a copy of the database as it was."""

import email
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, log_lines
from fake_sendgrid import FakeSendGrid
from web_server import SECRET, Served

from digest.state import State
from digest.state.db import MIGRATIONS
from digest.state.recovery import check, recover

DAY = "2025-04-22"


@pytest.fixture
def letter(newsletter):
    """A newsletter whose links carry short tokens (kept in the state database), 3 readers."""
    newsletter.sign_links()
    newsletter.article("une", "Un article pour les lecteurs. " * 30, title="La une", lead=True)
    newsletter.article("deux", "Une autre histoire, tout autre. " * 30, title="Deux")
    newsletter.readers = newsletter.recipients(3)
    return newsletter


def send(letter):
    return letter.run("send", "--date", DAY, env={"DIGEST_SECRET": SECRET}, process=True)


def state_path(letter) -> Path:
    return letter.root / ".digest" / "state.db"


def outbox(letter) -> dict[str, Path]:
    folder = letter.root / "out" / DAY / "outbox"
    return {path.name.removesuffix(".eml"): path for path in folder.glob("*.eml")}


def unsubscribe_path(message: Path) -> str:
    """The path and query of a message's List-Unsubscribe link, as a mail client POSTs it."""
    parsed = email.message_from_bytes(message.read_bytes(), policy=policy.default)
    url = str(parsed["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
    parts = urlsplit(url)
    assert parts.netloc == "lettre.gazette.example", url
    return f"{parts.path}?{parts.query}"


def pages_of(path: Path, *names: str) -> list[int]:
    """The pages of these tables and indexes in the file (SQLite's dbstat)."""
    db = sqlite3.connect(path)
    try:
        return sorted(page for (page,) in db.execute(
            f"SELECT pageno FROM dbstat WHERE name IN ({','.join('?' * len(names))})", names))
    finally:
        db.close()


def garble(path: Path, pages: list[int]) -> None:
    """Overwrite these pages with random bytes, as a failing disk would."""
    size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    noise = random.Random(7)
    with path.open("r+b") as handle:
        for page in pages:
            handle.seek((page - 1) * size)
            handle.write(noise.randbytes(size))


def kept_aside(letter) -> list[Path]:
    """The damaged files kept, without their -wal and -shm."""
    return sorted(path for path in (letter.root / ".digest").glob("state.db.damaged-*")
                  if not path.name.endswith(("-wal", "-shm")))


def one_error(result, code: int, *expected: str) -> str:
    lines = [line for line in log_lines(result.stderr) if not line.startswith("warning: ")]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def test_recover_keeps_the_ledger_and_the_tokens_of_a_garbled_database(letter):
    sent = send(letter)
    assert sent.returncode == 0 and "sent 3" in sent.stdout, sent
    messages = outbox(letter)
    assert sorted(messages) == letter.readers
    stamps = {name: path.stat().st_mtime_ns for name, path in messages.items()}
    path = state_path(letter)
    tokens = sqlite3.connect(path).execute("SELECT COUNT(*) FROM reader_tokens").fetchone()[0]
    assert tokens == 3
    # pages in the middle of the file: the ledger's own rows, the tokens' index, two caches
    garbled = pages_of(path, "deliveries", "sqlite_autoindex_reader_tokens_1", "embeddings",
                       "parsed_articles")
    assert 1 not in garbled and len(garbled) >= 4
    garble(path, garbled)
    damaged = path.read_bytes()

    # the morning's send stops before anyone gets anything, and says what to do
    again = send(letter)
    one_error(again, 1, "state.db", "damaged", "digest state recover", "the send ledger")
    assert {name: p.stat().st_mtime_ns for name, p in outbox(letter).items()} == stamps

    checked = letter.run("state", "check", process=True)
    assert checked.returncode == 1, checked
    assert f"{path}: damaged" in checked.stdout and "digest state recover" in checked.stdout
    assert "deliveries" in checked.stdout and "Traceback" not in checked.stderr

    recovered = letter.run("state", "recover", process=True)
    assert recovered.returncode == 0, recovered
    assert "rebuilt: deliveries, 3 rows marked sent" in recovered.stdout, recovered.stdout
    assert "the send ledger, the unsubscribe tokens and the suppressions are whole" \
        in recovered.stdout
    assert "lost: embeddings" in recovered.stdout and "lost: deliveries" not in recovered.stdout
    [aside] = kept_aside(letter)
    assert f"kept as {aside}" in recovered.stdout
    assert aside.read_bytes() == damaged  # the damaged file as it was, for a closer look

    assert letter.run("state", "check").returncode == 0
    # the ledger holds: nobody gets the edition a second time
    third = send(letter)
    assert third.returncode == 0, third
    assert "already sent to all 3 readers; nothing to do" in third.stdout, third.stdout
    assert {name: p.stat().st_mtime_ns for name, p in outbox(letter).items()} == stamps

    # the tokens hold: a delivered one-click link still unsubscribes its reader
    server = Served(letter.root)
    try:
        first = letter.readers[0]
        status, page = server.one_click(unsubscribe_path(messages[first]))
        assert status == 200, page
        assert first not in page
    finally:
        server.stop()
    listed = letter.run("suppressions", "list")
    assert f"{first}  " in listed.stdout and "unsubscribed (link: one-click)" in listed.stdout


def test_rows_after_a_damaged_page_are_kept_and_sent_ones_rebuilt_from_the_indexes(tmp_path):
    """A ledger of 20,000 readers (dozens of pages), one page of its rows garbled: the rows of
    the other pages are read past the damage, the readers of the garbled page who were sent the
    edition come back from the indexes, the others (failed: to be sent again) are reported
    lost."""
    path = tmp_path / "state.db"
    State(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO editions (id, newsletter, day, content_hash, subject, created_at) "
               "VALUES ('e1', 'https://gazette.example', ?, 'h', 'Le sujet', 1)", (DAY,))
    db.execute("INSERT INTO batches (id, edition_id, round, backend, size, status, started_at) "
               "VALUES (1, 'e1', 1, 'file', 20000, 'sent', 1)")
    rows = [("e1", 1, f"lecteur{i:06d}@lecteurs.example", "failed" if i % 7 == 0 else "sent", 1,
             f"id-{i}", 1000.0 + i) for i in range(20000)]
    db.executemany("INSERT INTO deliveries (edition_id, round, email, status, batch_id, "
                   "provider_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    leaves = sorted(page for (page,) in db.execute(
        "SELECT pageno FROM dbstat WHERE name = 'deliveries' AND pagetype = 'leaf'"))
    db.close()
    assert len(leaves) > 10
    garble(path, [leaves[len(leaves) // 2]])
    assert not check(path).healthy

    report = recover(path, tmp_path / "send.lock")
    assert report.method == "row by row" and report.unreadable == {"deliveries": 1}
    db = sqlite3.connect(path)
    after = {email: (status, at) for email, status, at in db.execute(
        "SELECT email, status, updated_at FROM deliveries")}
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()
    # every reader who was sent the edition is still recorded as sent
    assert {email for _, _, email, status, *_ in rows if status == "sent"} == \
        {email for email, (status, _) in after.items() if status == "sent"}
    assert all(after[email] == (status, at) for _, _, email, status, _, _, at in rows
               if email in after)
    missing = [i for i, row in enumerate(rows) if row[2] not in after]
    assert missing and all(rows[i][3] == "failed" for i in missing)
    assert max(missing) < len(rows) - 1  # rows after the damage were read
    assert max(missing) - min(missing) < len(rows) // len(leaves) * 2  # one page's worth, no more
    assert report.from_indexes["deliveries"] > 0
    assert report.lost("deliveries") == len(missing)
    assert f"lost: deliveries, {len(missing)} rows (the send ledger" in str(report)


def test_a_file_that_reads_whole_is_copied_with_vacuum_into(tmp_path):
    """A page the file counts but no table uses: SQLite's integrity check says so, every row
    still reads, and the copy keeps them all."""
    path = tmp_path / "state.db"
    state = State(path)
    state.tokens.add([(f"token{i}", f"lecteur{i}@lecteurs.example") for i in range(500)])
    state.close()
    size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    pages = path.stat().st_size // size
    with path.open("r+b") as handle:
        handle.seek(28)  # the header's page count
        handle.write((pages + 1).to_bytes(4, "big"))
        handle.seek(pages * size)
        handle.write(bytes(size))
    report = check(path)
    assert report.problems == [f"Page {pages + 1} is never used"], report.problems
    assert report.counts["reader_tokens"] == 500
    assert "damaged" in str(report) and "digest state recover" in str(report)

    recovery = recover(path, tmp_path / "send.lock")
    assert recovery.method == "VACUUM INTO" and recovery.kept["reader_tokens"] == 500
    assert recovery.losses() == [] and "nothing was lost" in str(recovery)
    assert recovery.kept_as is not None and recovery.kept_as.stat().st_size == (pages + 1) * size
    assert check(path).healthy
    state = State(path)
    try:
        assert state.tokens.key("token499") == "lecteur499@lecteurs.example"
    finally:
        state.close()


def test_a_file_that_is_not_a_database_is_kept_and_replaced_by_an_empty_one(letter):
    path = state_path(letter)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    checked = letter.run("state", "check")
    assert checked.returncode == 1 and "damaged" in checked.stdout, checked
    assert "Traceback" not in checked.stderr
    recovered = letter.run("state", "recover")
    assert recovered.returncode == 0, recovered
    assert "lost: deliveries, an unknown number of rows (the send ledger" in recovered.stdout
    assert "lost: reader_tokens, an unknown number of rows" in recovered.stdout
    [aside] = kept_aside(letter)
    assert aside.read_bytes()[:16] == b"SQLite format 3\x00" and aside.stat().st_size == 8208
    report = check(path)
    assert report.healthy and report.version == len(MIGRATIONS) and report.counts["deliveries"] == 0


def test_a_healthy_database_is_checked_with_its_counts_and_left_as_it_is(letter):
    assert send(letter).returncode == 0
    path = state_path(letter)
    before = path.read_bytes()
    checked = letter.run("state", "check", process=True)
    assert checked.returncode == 0, checked
    assert f"{path}: healthy" in checked.stdout
    assert f"schema version {len(MIGRATIONS)}" in checked.stdout
    counts = dict(line.split() for line in checked.stdout.splitlines() if line.startswith("  "))
    assert counts["deliveries"] == "3" and counts["reader_tokens"] == "3"
    assert counts["editions"] == "1" and counts["suppressions"] == "0"
    recovered = letter.run("state", "recover")
    assert recovered.returncode == 0 and "healthy; nothing to recover" in recovered.stdout
    assert kept_aside(letter) == [] and path.read_bytes() == before


def test_no_state_database_yet(letter):
    checked = letter.run("state", "check")
    assert checked.returncode == 0 and "no state database yet" in checked.stdout
    assert not state_path(letter).exists()
    one_error(letter.run("state", "recover"), 1, "no state database to recover")


def test_a_migration_is_preceded_by_a_copy_of_the_database_as_it_was(tmp_path):
    path = tmp_path / "state.db"
    shutil.copy(REPO / "tests" / "data" / "state-v0.db", path)
    State(path).close()
    backup = tmp_path / "state.db.before-migration-1"
    assert backup.is_file()
    old = sqlite3.connect(backup)
    try:
        assert old.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert old.execute("PRAGMA user_version").fetchone()[0] == 0
        assert old.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'"
                           ).fetchone()[0] == 8
        assert old.execute("SELECT day FROM editions ORDER BY day").fetchall() == [
            ("2025-04-21",), ("2025-04-22",)]
        assert old.execute("SELECT name FROM sqlite_master WHERE name = 'reader_tokens'"
                           ).fetchone() is None  # the schema before the migrations
    finally:
        old.close()
    migrated = sqlite3.connect(path)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    migrated.close()
    State(path).close()  # nothing to migrate: no other copy
    assert sorted(p.name for p in tmp_path.iterdir() if "before-migration" in p.name) == [
        "state.db.before-migration-1"]


def test_the_last_three_copies_are_kept_and_a_new_database_needs_none(tmp_path):
    path = tmp_path / "state.db"
    shutil.copy(REPO / "tests" / "data" / "state-v0.db", path)
    State(path).close()
    for version in (5, 6, 7, 8):  # each of these migrations can run again on the last schema
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {version}")
        db.close()
        State(path).close()
    assert sorted(p.name for p in tmp_path.glob("state.db.before-migration-*")) == [
        "state.db.before-migration-7", "state.db.before-migration-8",
        "state.db.before-migration-9"]
    fresh = tmp_path / "new" / "state.db"
    State(fresh).close()
    assert list(fresh.parent.glob("*before-migration*")) == []


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_recover_refuses_while_a_send_holds_the_lock(newsletter):
    api_key = "SG.recovery-test-key"
    server = FakeSendGrid(api_key=api_key, delay=60).start()  # holds the send's request
    newsletter.article("une", title="La une")
    newsletter.add_config(f"""\
        [delivery.sendgrid]
        api_url = "{server.url}"
        """)
    newsletter.recipients(3)
    sending = subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--date", DAY, "--backend", "sendgrid"],
        cwd=newsletter.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SENDGRID_API_KEY": api_key, "NO_PROXY": "127.0.0.1",
             "PYTHONWARNINGS": "ignore"})
    try:
        wait_for(lambda: server.in_flight == 1 or sending.poll() is not None,
                 "the send never reached SendGrid")
        assert sending.poll() is None, sending.communicate()
        path = newsletter.root / ".digest" / "state.db"
        before = path.read_bytes()
        refused = newsletter.run("state", "recover", process=True)
        one_error(refused, 75, "send.lock", "a send of this newsletter is running",
                  "nothing recovered")
        assert sending.poll() is None  # the send was running all along
        assert path.read_bytes() == before and kept_aside(newsletter) == []
    finally:
        sending.kill()
        sending.communicate()
        server.stop()


def test_every_table_of_the_schema_is_copied_by_a_recovery(tmp_path):
    """A table the recovery does not know would be lost whole by a row-by-row recovery."""
    from digest.state.recovery import TABLES

    State(tmp_path / "state.db").close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        tables = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    assert tables == set(TABLES)
