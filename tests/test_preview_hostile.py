"""The preview under hostile conditions: its own writes and editors' temporary files never make it
refresh, a page elsewhere cannot read the drafts (Host check), and every failure shows in the
page's overlay."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time

import pytest
from browser import chromium
from hostile import BAD_ARTICLES, write_bad_articles, write_good_articles
from test_preview import Preview, frame_text, settle, wait_for, watched_page

IDLE_SECONDS = 30


def get_with_host(preview: Preview, path: str, host: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", preview.port, timeout=30)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


@pytest.fixture
def preview(sample):
    server = Preview(sample, "--date", "2025-04-22")
    yield server
    if server.process.poll() is None:
        server.stop()


FOREIGN_HOSTS = ["attacker.example", "attacker.example:{port}", "localhost", "127.0.0.1:{other}",
                 "localhost.attacker.example:{port}", ""]
PATHS = ["/", "/api/state?date=2025-04-22", "/email.html", "/events", "/email.txt",
         "/source.txt", "/nowhere"]


def test_a_foreign_host_header_gets_403(preview):
    for host in FOREIGN_HOSTS:
        for path in PATHS:
            status, body = get_with_host(preview, path, host.format(port=preview.port,
                                                                    other=preview.port + 1))
            assert status == 403, (host, path)
            assert b"Berges" not in body and b"ranking" not in body
    for host in ("localhost:{port}", "127.0.0.1:{port}", "LOCALHOST:{port}"):
        status, body = get_with_host(preview, "/api/state?date=2025-04-22",
                                     host.format(port=preview.port))
        assert status == 200 and b"Berges de la Sorelle" in body


def test_stays_idle_then_refreshes_once_per_save(sample):
    """With a ledger and a feed's cache in .digest/, a build writing out/ and .digest/ meanwhile,
    and editors' lock, swap and temporary files coming and going: no refresh at all for 30 s.
    Then one save, one refresh."""
    sent = subprocess.run([sys.executable, "-m", "digest", "send", "--date", "2025-04-22"],
                          cwd=sample, capture_output=True, text=True)
    assert sent.returncode == 0, sent.stderr
    assert (sample / ".digest" / "state.db").is_file()
    server = Preview(sample, "--date", "2025-04-22")
    try:
        with chromium() as browser:
            page = watched_page(browser)
            page.goto(server.url + "/?date=2025-04-22")
            wait_for(lambda: "Berges de la Sorelle" in frame_text(page), what="the email")
            settle(page, "the first load's requests to be done")
            refreshes: list[str] = []
            page.on("request", lambda r: refreshes.append(r.url) if "/api/state" in r.url
                    else None)

            articles = sample / "articles"
            deadline = time.monotonic() + IDLE_SECONDS
            built = subprocess.run([sys.executable, "-m", "digest", "build", "--date",
                                    "2025-04-22"], cwd=sample, capture_output=True)
            assert built.returncode == 0  # out/ and .digest/ written while the page watches
            os.symlink("editor@host.1:1", articles / ".#2025-04-22-ligne-4.md")  # Emacs
            for name in ("4913", "sedAb12Cd", "2025-04-22-ligne-4.md~", ".ligne.md.swp",
                         "#brouillon.md#", "x.md___jb_tmp___"):
                (articles / name).write_text("temporaire")
                (articles / name).unlink()
            (articles / ".#2025-04-22-ligne-4.md").unlink()
            # not synchronisation: what the test is about, the page left idle for IDLE_SECONDS
            time.sleep(max(0.0, deadline - time.monotonic()))
            assert refreshes == [], refreshes

            path = articles / "2025-04-22-ligne-4.md"
            path.write_text(path.read_text().replace('title: "', 'title: "Enregistré ', 1))
            wait_for(lambda: "Enregistré" in frame_text(page), what="the saved article")
            settle(page, "the page's refresh to settle")
            # Not synchronisation: a deliberate quiet window. A second, unwanted refresh for the
            # same save could only show up later, so the test gives it this long to do so.
            time.sleep(3)
            assert len(refreshes) == 1, refreshes
    finally:
        server.stop()
    assert server.process.returncode == 0


def test_the_hostile_folder_shows_the_edition_and_its_warnings(newsletter, tmp_path):
    write_bad_articles(newsletter.articles, tmp_path / "dehors")
    titles = write_good_articles(newsletter.articles)
    server = Preview(newsletter.root, "--date", "2025-04-22")
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(server.url + "/?date=2025-04-22")
            page.wait_for_selector("#problems:not([hidden])", timeout=20_000)
            wait_for(lambda: titles[0] in frame_text(page), what="the edition in its frame")
            banner = page.locator("#problems").inner_text()
            for name in BAD_ARTICLES:
                assert banner.count(f"articles/{name}") == 1, (name, banner)
            assert ".#lead.md" not in banner
            assert page.locator("#overlay").is_hidden()
    finally:
        server.stop()


def test_every_failure_shows_in_the_overlay(preview, sample):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(preview.url + "/?date=9999-12-31")
        page.wait_for_selector("#overlay:not([hidden])", timeout=20_000)
        assert "9999-12-31: an edition's date goes from" in \
            page.locator("#overlay-message").inner_text()

        # a template raising an exception of its own: file and line, not an empty reply
        (sample / "templates").mkdir(exist_ok=True)
        lead = (sample.parent / "lead.mjml.j2")
        from test_preview import BUILTIN

        lead.write_text((BUILTIN / "lead.mjml.j2").read_text().replace(
            "labels.by.format(author=lead.author)", "labels.by.format(nope=1)"))
        os.replace(lead, sample / "templates" / "lead.mjml.j2")
        page.goto(preview.url + "/?date=2025-04-22")
        page.wait_for_selector("#overlay:not([hidden])", timeout=20_000)
        assert page.locator("#overlay-message").inner_text().startswith(
            "templates/lead.mjml.j2:7: KeyError")
    status, _, body = preview.get("/email.html?date=2025-04-22")
    assert status == 200 and b"KeyError" in body


def test_a_burst_of_connections_is_queued_not_dropped(preview):
    """The listening socket's backlog, as the system reports it (ss's Send-Q for a listening
    socket): over socketserver's 5, a page's burst of requests waited a second for a retry."""
    listed = subprocess.run(["ss", "-ltnH", f"sport = :{preview.port}"], capture_output=True,
                            text=True, check=True).stdout.split()
    assert int(listed[2]) >= 64, listed
    connections = [http.client.HTTPConnection("127.0.0.1", preview.port, timeout=30)
                   for _ in range(24)]
    for connection in connections:  # all open before any is answered
        connection.putrequest("GET", "/api/state?date=2025-04-22", skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{preview.port}")
        connection.endheaders()
    assert all(c.getresponse().status == 200 for c in connections)
    for connection in connections:
        connection.close()
