"""Several `digest send` processes for the same edition at once: one sends, the others exit 75
with who holds the lock, and every reader gets exactly one copy."""

import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest
from fake_sendgrid import FakeSendGrid
from test_send_smtp import Inbox, free_port

API_KEY = "SG.concurrency-test-key"
BUSY = re.compile(r"^\S+ error: another send of this newsletter is running \(pid \d+, since "
                  r"\d\d:\d\d\); nothing sent", re.MULTILINE)


def start(newsletter, backend: str) -> subprocess.Popen:
    env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "NO_PROXY": "127.0.0.1",
           "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--date", "2025-04-22", "--backend", backend],
        cwd=newsletter.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    return [(p.wait(timeout=120), *p.communicate()) for p in processes]


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def assert_one_sender(results, readers: int) -> None:
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [75] * (len(results) - 1), results
    for code, stdout, stderr in results:
        if code == 75:
            assert BUSY.search(stderr) and "Traceback" not in stderr, stderr
        else:
            assert f"sent {readers}" in stdout, stdout


@pytest.fixture
def sendgrid():
    server = FakeSendGrid(api_key=API_KEY, delay=0.2).start()
    yield server
    server.stop()


def sendgrid_letter(newsletter, server, readers: int) -> list[str]:
    newsletter.article("une", title="La une")
    newsletter.add_config(f"""\
        [delivery.sendgrid]
        api_url = "{server.url}"
        batch_size = 1000
        """)
    return newsletter.recipients(readers)


@pytest.mark.parametrize("others", [1, 4])
def test_sends_started_while_one_holds_a_request_exit_75(newsletter, sendgrid, others):
    addresses = sendgrid_letter(newsletter, sendgrid, 3000)
    first = start(newsletter, "sendgrid")
    wait_for(lambda: sendgrid.in_flight == 1 or first.poll() is not None, "the send never started")
    assert first.poll() is None, first.communicate()
    results = finish([first, *(start(newsletter, "sendgrid") for _ in range(others))])
    assert_one_sender(results, 3000)
    copies = Counter(sendgrid.recipients())
    assert set(copies) == set(addresses) and max(copies.values()) == 1


def test_five_sends_started_together_deliver_each_reader_once(newsletter, sendgrid):
    addresses = sendgrid_letter(newsletter, sendgrid, 3000)
    results = finish([start(newsletter, "sendgrid") for _ in range(5)])
    assert_one_sender(results, 3000)
    copies = Counter(sendgrid.recipients())
    assert set(copies) == set(addresses) and max(copies.values()) == 1
    status = newsletter.run("status", "--date", "2025-04-22")
    assert "sent 3000, failed 0, refused 0, unknown 0, remaining 0" in status.stdout


class SlowInbox(Inbox):
    """Takes 50 ms a message, so that a send of 60 readers lasts while a second one starts."""

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_two_smtp_sends_at_once_deliver_each_reader_once(newsletter):
    from aiosmtpd.controller import Controller

    inbox = SlowInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        newsletter.article("une", title="La une")
        newsletter.add_config(f"""\
            [delivery.smtp]
            host = "127.0.0.1"
            port = {port}
            security = "none"
            """)
        addresses = newsletter.recipients(60)
        first = start(newsletter, "smtp")
        wait_for(lambda: len(inbox.messages) >= 1 or first.poll() is not None,
                 "the SMTP send never started")
        results = finish([first, start(newsletter, "smtp")])
        assert_one_sender(results, 60)
        copies = Counter(inbox.recipients())
        assert set(copies) == set(addresses) and max(copies.values()) == 1
    finally:
        controller.stop()


def test_lock_wait_lets_the_second_send_finish_the_round(newsletter, sendgrid):
    sendgrid_letter(newsletter, sendgrid, 3000)
    config = newsletter.config.read_text(encoding="utf-8")
    newsletter.config.write_text(config.replace("[delivery]\n", "[delivery]\nlock_wait = 60\n", 1),
                                 encoding="utf-8")
    first = start(newsletter, "sendgrid")
    wait_for(lambda: sendgrid.in_flight == 1 or first.poll() is not None, "the send never started")
    results = finish([first, start(newsletter, "sendgrid")])
    assert sorted(code for code, _, _ in results) == [0, 0], results
    assert any("already sent to all 3000 readers" in out for _, out, _ in results), results
    assert max(Counter(sendgrid.recipients()).values()) == 1
