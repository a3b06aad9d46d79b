"""A `digest send` killed with SIGKILL mid-run, then run again: nobody gets the digest twice."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from conftest import wait_until
from fake_sendgrid import FakeSendGrid

API_KEY = "SG.crash-test-key"


def test_killed_send_resumes_without_duplicates(newsletter):
    server = FakeSendGrid(api_key=API_KEY, delay=0.4).start()
    try:
        newsletter.article("une", title="La une")
        newsletter.add_config(f"""\
            [delivery.sendgrid]
            api_url = "{server.url}"
            batch_size = 100
            """)
        addresses = newsletter.recipients(2000)  # 20 batches of 100
        env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "NO_PROXY": "127.0.0.1"}
        command = [sys.executable, "-m", "digest", "send", "--date", "2025-04-22",
                   "--backend", "sendgrid"]
        process = subprocess.Popen(command, cwd=newsletter.root, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        # kill while the server holds a request: that batch's fate is unknown to the client
        while not (len(server.accepted) >= 3 and server.in_flight == 1):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the send never got going"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        # the request held at the kill completes on the server side (it is counted as accepted)
        wait_until(lambda: server.in_flight == 0, 30, "the held request never completed")
        received_before = len(server.recipients())
        assert 300 <= received_before < 2000
        # the batches taken whole before the kill: settled as sent by the next reader of the
        # ledger (their rows are written at the end of a run, which this one never reached)
        status = newsletter.run("status", "--date", "2025-04-22")
        assert f"sent {received_before - 100}, failed 0, refused 0, unknown 100," in \
            status.stdout, status.stdout

        second = newsletter.run("send", "--date", "2025-04-22", "--backend", "sendgrid",
                                env={"SENDGRID_API_KEY": API_KEY})
        assert second.returncode == 0, second.stderr
        copies = Counter(server.recipients())
        assert set(copies) == set(addresses)
        assert max(copies.values()) == 1  # nobody twice
        assert "unknown 100" in second.stdout  # the batch in flight at the kill is not resent

        status = newsletter.run("status", "--date", "2025-04-22")
        assert "sent 1900, failed 0, refused 0, unknown 100, remaining 0" in status.stdout

        # the editor may choose to resend the unknown batch: only those 100 go again
        third = newsletter.run("send", "--date", "2025-04-22", "--backend", "sendgrid",
                               "--resend-unknown", env={"SENDGRID_API_KEY": API_KEY})
        assert third.returncode == 0
        assert "sent 100" in third.stdout
        copies = Counter(server.recipients())
        assert sorted(copies.values()).count(2) == 100
    finally:
        server.stop()
