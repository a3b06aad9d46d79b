"""A round interrupted, then the day's content changed (a feed gained an entry): the re-run
finishes the round with the version its first readers got, byte for byte; a new version goes out
only with --force, and then plain re-runs finish that one."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from conftest import wait_until
from fake_sendgrid import FakeSendGrid

API_KEY = "SG.versions-test-key"


def html_of(body: dict) -> str:
    return next(c["value"] for c in body["content"] if c["type"] == "text/html")


def test_interrupted_round_finishes_with_its_own_version_then_force_sends_the_new_one(newsletter):
    server = FakeSendGrid(api_key=API_KEY, delay=0.3).start()
    try:
        newsletter.article("une", title="La une du jour")
        newsletter.add_config(f"""\
            [delivery.sendgrid]
            api_url = "{server.url}"
            batch_size = 100
            """)
        addresses = newsletter.recipients(600)
        env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "NO_PROXY": "127.0.0.1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "send", "--date", "2025-04-22", "--backend",
             "sendgrid"], cwd=newsletter.root, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        # killed while the server holds the 4th batch: it has left, and the server completes it.
        # (Killed as soon as the 3rd was accepted, the run could be between claiming the 4th batch
        # in the ledger and sending it: those readers stay unknown, and the test failed.)
        while len(server.accepted) < 3 or not server.in_flight:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the send never got going"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        # the request held at the kill completes on the server side (it is counted as accepted)
        wait_until(lambda: server.in_flight == 0, 30, "the held request never completed")
        first_html = (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text()
        assert 300 <= len(server.recipients()) < 600

        newsletter.article("tardive", title="Une dépêche arrivée tard")  # the content changes
        finish = newsletter.run("send", "--date", "2025-04-22", "--backend", "sendgrid",
                                env={"SENDGRID_API_KEY": API_KEY})
        assert finish.returncode == 0, finish.stderr
        assert "finished the version this round started with" in finish.stdout
        copies = Counter(server.recipients())
        assert max(copies.values()) == 1 and set(copies) == set(addresses)
        htmls = {html_of(body) for body in server.accepted}
        assert htmls == {first_html}  # every reader got the first version, byte for byte
        assert (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text() == first_html

        forced = newsletter.run("send", "--date", "2025-04-22", "--backend", "sendgrid", "--force",
                                env={"SENDGRID_API_KEY": API_KEY})
        assert forced.returncode == 0, forced.stderr
        assert "sent 600" in forced.stdout
        copies = Counter(server.recipients())
        assert set(copies.values()) == {2}
        new = [html_of(body) for body in server.accepted[-6:]]
        assert all("Une dépêche arrivée tard" in html for html in new)
        assert "Une dépêche arrivée tard" in \
            (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text()

        again = newsletter.run("send", "--date", "2025-04-22", "--backend", "sendgrid",
                               env={"SENDGRID_API_KEY": API_KEY})
        assert again.returncode == 0, again.stderr
        assert "nothing to do" in again.stdout
        assert len(server.recipients()) == 1200

        status = newsletter.run("status", "--date", "2025-04-22").stdout.splitlines()
        assert len(status) == 2, status  # newest first: the forced round, then the first one
        assert "sent 600, failed 0, refused 0, unknown 0, remaining 0; complete" in status[0]
        assert "remaining 0; superseded" in status[1]
    finally:
        server.stop()


def test_a_complete_round_is_not_followed_by_a_changed_version_and_out_is_kept(newsletter):
    newsletter.article("une", title="La une du jour")
    newsletter.recipients(3)
    assert newsletter.run("send", "--date", "2025-04-22").returncode == 0
    sent_html = (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text()
    newsletter.article("tardive", title="Une dépêche arrivée tard")
    refused = newsletter.run("send", "--date", "2025-04-22")
    assert refused.returncode == 1 and "already sent to 3 readers with other content" in \
        refused.stderr
    assert (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text() == sent_html


def test_status_names_dry_runs_and_partial_rounds(newsletter):
    newsletter.article("une", title="La une du jour")
    newsletter.recipients(3)
    assert newsletter.run("send", "--date", "2025-04-22", "--dry-run").returncode == 0
    status = newsletter.run("status", "--date", "2025-04-22").stdout
    assert "sent 0, failed 0, refused 0, unknown 0, remaining 3; dry run" in status
    assert newsletter.run("send", "--date", "2025-04-22").returncode == 0
    newsletter.recipients(5)  # two readers joined since
    status = newsletter.run("status", "--date", "2025-04-22").stdout
    assert "sent 3, failed 0, refused 0, unknown 0, remaining 2; partial" in status
