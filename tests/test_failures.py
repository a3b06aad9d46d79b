"""Every failure a user can meet is one `error:` line with its documented exit code (docs/), never a
traceback: the state database, the output folder, SendGrid misbehaving, values that parse but
cannot work."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest
from conftest import log_lines, run_digest
from fake_sendgrid import FakeSendGrid
from raw_server import RawServer

DAY = "2025-04-22"
API_KEY = "SG.failures-test-key"


def one_error(result, code: int, *expected: str) -> str:
    """The one error line of `result`, which exited with `code`; each of `expected` is in it."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in log_lines(result.stderr) if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    for text in expected:
        assert text in errors[0], (text, errors[0])
    return errors[0]


def state_db(sample):
    assert run_digest("build", "--date", DAY, cwd=sample).returncode == 0
    return sample / ".digest" / "state.db"


# -- the state database -----------------------------------------------------------------------

@pytest.mark.parametrize("command", [("build", "--date", DAY), ("send", "--date", DAY),
                                     ("status",)])
def test_a_damaged_state_database(sample, command):
    state_db(sample).write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    one_error(run_digest(*command, cwd=sample), 1, "the state database is damaged: move it aside")


@pytest.mark.parametrize("command", [("send", "--date", DAY), ("status",)])
def test_a_truncated_state_database(sample, command):
    path = state_db(sample)
    assert run_digest("send", "--date", DAY, cwd=sample).returncode == 0  # a ledger with rows
    database = sqlite3.connect(path)
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 3)
    one_error(run_digest(*command, cwd=sample), 1, "state.db", "damaged")


def without_root_privileges() -> list[str]:
    """The command prefix that makes root respect file permissions, as any other user does."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be tried")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize("command", [("build", "--date", DAY), ("send", "--date", DAY)])
def test_a_read_only_state_folder(sample, command):
    folder = state_db(sample).parent
    for path in (folder, *folder.iterdir()):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = subprocess.run([*without_root_privileges(), sys.executable, "-m", "digest",
                                 *command], cwd=sample, capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    one_error(result, 1, "check the permissions of the .digest/ folder")


def test_a_database_locked_by_another_process_for_long(sample):
    database = sqlite3.connect(state_db(sample), isolation_level=None)
    database.execute("BEGIN EXCLUSIVE")  # another process writing, and not finishing
    try:
        result = run_digest("send", "--date", DAY, cwd=sample, process=True, timeout=60)
    finally:
        database.close()
    one_error(result, 75, "busy, another digest process is writing to it")
    assert run_digest("send", "--date", DAY, cwd=sample).returncode == 0  # and then it works


@pytest.mark.parametrize("limit", [20_000, 45_000, 60_000])
def test_a_full_disk_during_a_send(sample, limit):
    """A file size limit (RLIMIT_FSIZE) makes writes fail past `limit` bytes, as a full disk
    does, wherever the send happens to be: the state database or out/."""
    state_db(sample)

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "digest", "send", "--date", DAY, "--force"],
                            cwd=sample, capture_output=True, text=True, timeout=120,
                            preexec_fn=small_disk)
    line = one_error(result, result.returncode)
    assert result.returncode in (1, 75)
    assert "disk" in line or "free space" in line


# -- the output folder ------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["build", "send"])
def test_a_file_named_out_where_the_output_folder_goes(sample, command):
    (sample / "out").write_text("not a folder")
    one_error(run_digest(command, "--date", DAY, cwd=sample), 1, "cannot write the edition")


def test_a_malformed_edition_json_left_in_out_is_left_out_of_the_archive(sample):
    assert run_digest("build", "--date", "2025-04-21", cwd=sample).returncode == 0
    out = sample / "out"
    damaged = {"2025-01-01": "[" * 100_000, "2025-01-02": '{"date": 5}',
               "2025-01-03": '{"date": "2025-01-03", "lead": []}', "2025-01-04": "\udcff"}
    for day, text in damaged.items():
        (out / day).mkdir()
        (out / day / "edition.json").write_text(text, errors="surrogateescape")
        (out / "archive" / f"{day}.html").write_text("<p>ancienne</p>")
    result = run_digest("build", "--date", DAY, cwd=sample)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    index = (out / "archive" / "index.html").read_text()
    assert "2025-04-21.html" in index and "2025-04-22.html" in index
    assert not any(f"{day}.html" in index for day in damaged)


# -- SendGrid misbehaving -----------------------------------------------------------------------

def sendgrid_letter(newsletter, url: str, **options) -> None:
    newsletter.article("une", "Un article pour les lecteurs. " * 30, title="La une", lead=True)
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    newsletter.add_config(f'[delivery.sendgrid]\napi_url = "{url}"\n{lines}')
    newsletter.recipients(3)


def send(newsletter, *args: str, process: bool = False):
    return newsletter.run("send", "--date", DAY, "--backend", "sendgrid", *args, process=process,
                          env={"SENDGRID_API_KEY": API_KEY})


def test_an_answer_that_is_not_http_leaves_the_batch_unknown(newsletter):
    server = RawServer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    try:  # no suppression sync first: only the batch may reach this server
        sendgrid_letter(newsletter, server.url, sync_suppressions=False)
        result = send(newsletter)
    finally:
        server.stop()
    one_error(result, 75, "SendGrid's answer to a batch of 3 was not HTTP",
              "the request may have been accepted")
    assert "unknown 3" in result.stdout
    assert server.requests == 1  # not tried again: SendGrid may have taken it


def test_garbage_for_a_batch_id_stops_before_any_email(newsletter):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Europe/Paris"))
    if now.hour == 23 and now.minute >= 57:
        pytest.skip("too close to midnight for a send_at later today")
    fake = FakeSendGrid(api_key=API_KEY).start()
    try:
        sendgrid_letter(newsletter, fake.url, send_at="23:59")
        newsletter.article("du-jour", "Texte. " * 30, title="Du jour",
                           date=now.replace(hour=0, minute=5).isoformat())
        for garbage in (b"<html>oops</html>", b'{"batch_id": {"x": 1}}', b'{"batch_id": "a b"}',
                        b"[" * 50_000):
            fake.batch_answer = garbage
            result = newsletter.run("send", "--backend", "sendgrid",
                                    env={"SENDGRID_API_KEY": API_KEY})
            one_error(result, 75, "SendGrid's answer to the batch id request holds no usable "
                                  "batch_id; run again later")
        assert fake.requests == 0 and fake.accepted == []
    finally:
        fake.stop()


def test_sendgrid_timeout_is_a_total_deadline(newsletter):
    """A server that answers one byte every half second, forever: without a total deadline the
    send would never end (each read gets its byte well within the timeout)."""
    server = RawServer(b"HTTP/1.1 202 Accepted\r\nX-Padding: ", byte_every=0.5, forever=True)
    try:
        # two attempts at the suppression lists (each cut at 2 s) before the batch's one
        sendgrid_letter(newsletter, server.url, timeout=2, max_attempts=2)
        result = send(newsletter, process=True)
        assert server.hung_up.wait(5)  # digest gave up on it, and closed the connection
    finally:
        server.stop()
    one_error(result, 75, "SendGrid did not answer a batch of 3 within 2 s",
              "may have been accepted")
    assert "failed the global unsubscribe list 2 times (last: SendGrid did not answer" in \
        result.stderr


# -- values that parse but cannot work --------------------------------------------------------

@pytest.mark.parametrize("command", ["build", "send", "rank", "sources", "status", "cancel"])
@pytest.mark.parametrize("day", ["9999-12-31", "1899-12-31", "0001-01-01"])
def test_a_date_out_of_range(sample, command, day):
    one_error(run_digest(command, "--date", day, cwd=sample), 2,
              f"{day}: an edition's date goes from 1900-01-01 to 9998-12-31")


@pytest.mark.parametrize(("table", "line", "message"), [
    ("[ranking]", "memory_days = 1e6", "ranking.memory_days: expected an integer, got 1000000.0"),
    ("[ranking]", "memory_days = 1000000", "ranking.memory_days: expected 0 to 3,650 days"),
    ("[ranking.weights]", "recency = nan", "ranking.weights.recency: expected a finite number, "
                                           "got NaN"),
    ("[ranking.weights]", "priority = inf", "ranking.weights.priority: expected a finite number"),
    ("[ranking.weights]", "length = -1e300", "ranking.weights.length: expected -1,000 to 1,000"),
    ("[ranking.categories]", "Sport = -inf", "ranking.categories: expected a finite number, got "
                                             "-Infinity"),
    ("[labels]", 'by = "De {nope}"', 'label "by": unknown placeholder {nope}; this label has: '
                                     "{author}"),
    ("[labels]", 'reading_time = "{0} min"', 'label "reading_time": unknown placeholder {0}'),
    ("[labels]", 'edition_of = "Édition { du"', "write {{ and }} for a brace"),
    ("[sources]", "timeout = inf", "sources.timeout: expected a finite number"),
    ("[sources]", "timeout = 1e300", "sources.timeout: expected more than 0 and up to 3,600"),
    ("[delivery.sendgrid]", "timeout = 0", "delivery.sendgrid.timeout: expected more than 0"),
    ("[delivery.smtp]", "port = 99999", "delivery.smtp.port: expected 1 to 65,535"),
    ("[newsletter]", 'reply_to = "La rédaction\\u2028<r@example.org>"',
     "newsletter.reply_to: expected one line"),
])
def test_a_value_that_parses_but_cannot_work(newsletter, table, line, message):
    newsletter.article("une", "Texte. " * 50)
    text = newsletter.config.read_text()
    newsletter.set_config(text.replace(table, f"{table}\n{line}", 1) if f"{table}\n" in text
                          else f"{text}\n{table}\n{line}\n")
    one_error(newsletter.run("build", "--date", DAY), 78, message)
    check = newsletter.run("check")
    assert check.returncode == 1 and message in check.stdout and "Traceback" not in check.stderr


def test_a_label_without_placeholders_keeps_its_braces(newsletter):
    newsletter.article("une", "Texte. " * 50)
    newsletter.article("breve", "Le marché ouvre samedi place des Tilleuls.")  # its "read more"
    newsletter.add_config('[labels]\nread_more = "Lire {la suite}"\n')
    assert newsletter.run("build", "--date", DAY).returncode == 0
    assert "Lire {la suite}" in (newsletter.root / "out" / DAY / "digest.html").read_text()


# -- readers ----------------------------------------------------------------------------------

def test_a_csv_field_over_128_kb_skips_only_its_row(newsletter):
    newsletter.article("une", "Texte. " * 50)
    addresses = newsletter.recipients(3, extra="grand@lecteurs.example," + "N" * 200_000 + "\n"
                                      + "apres@lecteurs.example,Après\n" + "x" * 3_000_000)
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "error:" not in result.stderr
    assert "recipients.csv:5:" in result.stderr and "recipients.csv:7:" in result.stderr
    outbox = {p.stem for p in (newsletter.root / "out" / DAY / "outbox").glob("*.eml")}
    assert outbox == {*addresses, "apres@lecteurs.example"}
