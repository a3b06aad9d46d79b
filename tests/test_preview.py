"""`digest preview`: real server process, plain HTTP checks, and a real browser driving the page."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from browser import chromium
from conftest import REPO

BUILTIN = REPO / "templates"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Preview:
    def __init__(self, root, *args):
        self.root = root
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", "preview", "--no-open", "--port", str(self.port),
             *args],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        )
        self.first_line = self.process.stdout.readline()
        assert "Preview on http://localhost:" in self.first_line, self.process.stderr.read()
        self.port = int(self.first_line.split("localhost:")[1].split("/")[0])
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path)  # sent exactly as written: no client-side normalization
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), body

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=15)
        return self.process.returncode, out


@pytest.fixture
def folder(sample):
    return sample


@pytest.fixture
def preview(folder):
    server = Preview(folder, "--date", "2025-04-22")
    yield server
    if server.process.poll() is None:
        server.stop()


def write_override(folder, name, content):
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / name).write_text(content, encoding="utf-8")


# -- HTTP ----------------------------------------------------------------------------------------

def test_routes_serve_the_build(preview):
    status, headers, body = preview.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'id="email"' in body

    status, headers, body = preview.get("/api/state?date=2025-04-22")
    state = json.loads(body)
    assert state["date"] == "2025-04-22"
    assert state["dates"] == ["2025-04-22", "2025-04-21"]
    assert state["subject"].startswith("Berges de la Sorelle")
    assert state["preheader"].startswith("Après deux ans")
    assert [r["position"] for r in state["ranking"]] == list(range(1, 12))
    assert state["ranking"][0]["components"]["priority"] == 20.0
    assert 20_000 < state["size"] < 90 * 1024 and state["size_level"] == "green"
    assert state["error"] is None

    status, headers, body = preview.get("/email.html?date=2025-04-22")
    assert status == 200 and body.startswith(b"<!doctype html>")
    built = subprocess.run([sys.executable, "-m", "digest", "build", "--date", "2025-04-22"],
                           cwd=preview.root, capture_output=True, check=True)
    assert built.returncode == 0
    assert body == (preview.root / "out" / "2025-04-22" / "digest.html").read_bytes()

    status, headers, body = preview.get("/email.txt?date=2025-04-22")
    assert headers["Content-Type"].startswith("text/plain") and b"Temps de lecture" in body
    status, headers, body = preview.get("/source.txt?date=2025-04-22")
    assert headers["Content-Type"].startswith("text/plain") and body.startswith(b"<!doctype html>")

    status, _, body = preview.get("/api/state?date=2025-04-21")
    assert json.loads(body)["ranking"][0]["title"].startswith("La piste cyclable")


@pytest.mark.parametrize("path", [
    "/../digest.toml", "/%2e%2e/digest.toml", "/..%2fdigest.toml", "//etc/passwd",
    "/digest.toml", "/articles/", "/articles/2025-04-22-ligne-4.md", "/templates/",
    "/templates/digest.mjml.j2", "/etc/passwd", "/email.html/../digest.toml",
    "/preview_assets/index.html",
])
def test_no_file_is_served_by_path(preview, path):
    status, _, body = preview.get(path)
    assert status == 404
    assert b"[newsletter]" not in body and b"root:" not in body


def test_taken_port_moves_to_the_next_free_one(folder):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "preview", "--no-open", "--port", str(port)],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = process.stdout.readline()
            second = process.stdout.readline()
            assert first.startswith(f"port {port} is taken; using ")
            assert "Preview on http://localhost:" in second
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=15)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_cleanly(folder, stop_signal):
    server = Preview(folder)
    server.process.send_signal(stop_signal)
    out, _ = server.process.communicate(timeout=15)
    assert server.process.returncode == 0
    assert "preview stopped" in out


def test_loopback_detection():
    from digest.preview import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.10")


# -- in the browser ------------------------------------------------------------------------------

def frame_text(page):
    return page.frame_locator("#email").locator("body").inner_text(timeout=10_000)


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# Added to a page before its own script runs, so that a test can ask the page whether it is done
# with what it started: its fetches of the state (counted until the code after the answer, which
# asks for the email, has run), the email frame's navigation (the document the frame leaves is
# marked, so the frame is done once its document is unmarked) and the version the event stream
# last told it.
WATCH_PAGE = """(() => {
  const seen = window.testPage = { fetches: 0, messages: 0, last: null };
  const pageFetch = window.fetch.bind(window);
  window.fetch = (...args) => {
    seen.fetches += 1;
    const done = () => setTimeout(() => { seen.fetches -= 1; });
    return pageFetch(...args).then((response) => {
      const json = response.json.bind(response);
      response.json = () => json().finally(done);
      return response;
    }, (error) => { done(); throw error; });
  };
  const PageStream = window.EventSource;
  window.EventSource = class extends PageStream {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        seen.messages += 1;
        seen.last = Number(event.data);
      });
    }
  };
  const source = Object.getOwnPropertyDescriptor(HTMLIFrameElement.prototype, "src");
  Object.defineProperty(HTMLIFrameElement.prototype, "src", { ...source, set(value) {
    if (this.contentDocument) this.contentDocument.testLeft = true;
    source.set.call(this, value);
  } });
})();"""

# The page has shown the version the event stream last told it, no fetch of the state is
# unanswered, and the email frame holds the document it was last sent to: every request the page
# makes for what it knows of has been made.
PAGE_SETTLED = """() => {
  const seen = window.testPage, frame = document.querySelector("#email");
  return seen.fetches === 0 && seen.messages > 0 && seen.last === view.version
    && Boolean(frame.contentDocument) && !frame.contentDocument.testLeft;
}"""


def watched_page(browser, **options):
    """A new page that can tell when it has settled (`settle`)."""
    page = browser.new_page(**options)
    page.add_init_script(WATCH_PAGE)
    return page


def settle(page, what: str) -> None:
    """Wait until the page has made every request it was going to make (PAGE_SETTLED)."""
    try:
        wait_for(lambda: page.evaluate(PAGE_SETTLED), timeout=30, what=what)
    except AssertionError as error:
        seen = page.evaluate("() => ({ ...window.testPage, shown: view.version })")
        raise AssertionError(f"{error}; the page: {seen}") from None


def test_page_viewports_tabs_live_reload_and_error_overlay(preview, folder):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(preview.url + "/?date=2025-04-22")
        page.wait_for_selector("#ranking tbody tr")
        wait_for(lambda: "Berges de la Sorelle" in frame_text(page), what="the email in its frame")
        assert page.locator("#size").inner_text().endswith("/ 102 Ko")
        assert "green" in page.locator("#size").get_attribute("class")
        assert page.locator("#ranking tbody tr").count() == 11
        assert page.locator("#date option").all_inner_texts() == ["2025-04-22", "2025-04-21"]

        # phone widths: the email fits, no sideways scrolling inside the frame
        for button, width in (("375", 375), ("320", 320)):
            page.click(f"button[data-width='{button}']")
            wait_for(lambda w=width: page.locator("#email").bounding_box()["width"] == w,
                     what=f"{width}px frame")
            frame = page.frame_locator("#email")
            scroll = frame.locator("html").evaluate("e => [e.scrollWidth, e.clientWidth]")
            assert scroll[0] <= scroll[1], f"scrolls sideways at {width}px: {scroll}"

        # the text part
        page.click("button[data-tab='text']")
        wait_for(lambda: ("Temps de lecture" in frame_text(page)
                          and "<" not in frame_text(page)[:50]),
                 what="text tab")
        page.click("button[data-tab='html']")
        page.click("button[data-width='375']")
        page.evaluate("window.notReloaded = true")

        # an edited partial shows up without a manual reload, keeping the chosen width and tab
        footer = (BUILTIN / "footer.mjml.j2").read_text()
        write_override(folder, "footer.mjml.j2", footer.replace("{{ labels.footer_reason }}",
                                                                "Un pied de page modifié"))
        wait_for(lambda: "Un pied de page modifié" in frame_text(page), what="live reload")
        assert page.evaluate("window.notReloaded") is True
        assert page.locator("#email").bounding_box()["width"] == 375
        assert page.locator("button[data-tab='html']").get_attribute("aria-pressed") == "true"

        # a Jinja error shows in place with file and line, and goes away once fixed
        write_override(folder, "footer.mjml.j2", "<mj-section>\n{% if %}\n</mj-section>\n")
        page.wait_for_selector("#overlay:not([hidden])", timeout=10_000)
        message = page.locator("#overlay-message").inner_text()
        assert message.startswith("templates/footer.mjml.j2:2: ")
        write_override(folder, "footer.mjml.j2", footer)
        page.wait_for_selector("#overlay", state="hidden", timeout=10_000)
        wait_for(lambda: "Se désabonner" in frame_text(page), what="fixed email")

        # an undefined variable names its line too
        write_override(folder, "footer.mjml.j2", footer.replace("{{ labels.unsubscribe }}",
                                                                "{{ labels.desabonnement }}"))
        page.wait_for_selector("#overlay:not([hidden])", timeout=10_000)
        assert page.locator("#overlay-message").inner_text().startswith("templates/footer.mjml.j2:")
        write_override(folder, "footer.mjml.j2", footer)
        page.wait_for_selector("#overlay", state="hidden", timeout=10_000)

        # a bad article is listed, and the rest of the edition still shows
        (folder / "articles" / "cassé.md").write_text(
            "---\ntitle: [non fermé\ndate: 2025-04-22\n---\n")
        page.wait_for_selector("#problems:not([hidden])", timeout=10_000)
        assert "articles/cassé.md" in page.locator("#problems").inner_text()
        wait_for(lambda: "Berges de la Sorelle" in frame_text(page), what="the email after the fix")


def test_date_picker_switches_edition(preview):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(preview.url + "/?date=2025-04-22")
        page.wait_for_selector("#ranking tbody tr")
        page.select_option("#date", "2025-04-21")
        wait_for(lambda: "La piste cyclable" in frame_text(page), what="other date")
        assert "date=2025-04-21" in page.url
        assert page.locator("#ranking tbody tr").count() == 3


def test_the_watcher_ignores_state_output_and_editors_files(tmp_path):
    from watchfiles import Change

    from digest.preview import edits_only

    root = tmp_path / ".lettres" / "courrier"  # a newsletter inside a hidden folder still counts
    counts = edits_only(root)
    for ignored in (".digest/state.db", ".digest/state.db-wal", "out/2025-04-22/digest.html",
                    "articles/.#une.md", "articles/une.md~", "articles/.une.md.swp",
                    "articles/sedxp92QW", "templates/4913", ".git/index"):
        assert not counts(Change.modified, str(root / ignored)), ignored
    for kept in ("digest.toml", "articles/une.md", "articles/2025/deux.md",
                 "templates/lead.mjml.j2"):
        assert counts(Change.modified, str(root / kept)), kept


def test_the_page_speaks_the_newsletters_language(newsletter):
    newsletter.set_config('[newsletter]\nlocale = "en"\n')
    newsletter.article("a", "A story. " * 40, title="Big news", lead=True)
    newsletter.article("b", title="Other news")
    server = Preview(newsletter.root, "--date", "2025-04-22")
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(server.url + "/?date=2025-04-22")
            page.wait_for_selector("#ranking tbody tr")
            wait_for(lambda: page.evaluate("document.documentElement.lang") == "en",
                     what="the English interface")
            assert page.locator("#ranking summary").inner_text().startswith("Ranking:")
            assert page.locator("button[data-width='desktop']").inner_text() == "Desktop"
            assert page.locator("#size").inner_text().endswith("/ 102 KB")
            assert page.locator("#date").get_attribute("aria-label") == "Edition date"
            # the reasons too: in the newsletter's language
            reasons = page.locator("#ranking tbody tr td:last-child").all_inner_texts()
            assert reasons[0] == "pinned as lead"
            body = page.locator("body").inner_text()
            for french in ("Classement", "Bureau", "Pourquoi", "Ko"):
                assert french not in body
    finally:
        server.stop()


def test_one_save_is_one_build_served_to_every_request(preview, folder):
    """A save is built once, before the page is told: the page's requests that follow (its state,
    then the email) are what it asks for, once each, and both show the change."""
    with chromium() as browser:
        page = watched_page(browser)
        asked: list[str] = []  # what the page asks of the preview (the email's images aside)
        page.on("request", lambda request: request.url.startswith(preview.url)
                and asked.append(request.url.split("/")[3].split("?")[0]))
        page.goto(preview.url + "/?date=2025-04-22")
        wait_for(lambda: "Berges de la Sorelle" in frame_text(page), what="the email")
        settle(page, "the page's first load to settle")
        asked.clear()

        footer = (BUILTIN / "footer.mjml.j2").read_text()
        write_override(folder, "footer.mjml.j2", footer.replace("{{ labels.footer_reason }}",
                                                                "Une seule sauvegarde"))
        wait_for(lambda: "Une seule sauvegarde" in frame_text(page), what="the saved change")
        settle(page, "the page's refresh to settle")
        # Not synchronisation: a deliberate quiet window. A second, unwanted build or refresh of
        # the same save could only show up later, so the test gives it this long to do so.
        time.sleep(1.5)
        assert sorted(asked) == ["api", "email.html"], asked
    code, out = preview.stop()
    assert code == 0
    # one notice; it names the file unless the folder's own event came first (the watcher may
    # see the folder change before the file in it, on a loaded machine)
    changed = [line for line in out.splitlines() if line.startswith("changed:")]
    assert len(changed) == 1 and changed[0].endswith("templates; page refreshed"), out


def test_a_template_save_renders_again_without_reading_the_articles(sample, monkeypatch):
    from datetime import date

    from digest.newsletter import Newsletter
    from digest.preview import Previewer

    read: list[date] = []
    edition = Newsletter.edition

    def counted(self, day):
        read.append(day)
        return edition(self, day)

    monkeypatch.setattr(Newsletter, "edition", counted)
    day = date(2025, 4, 22)
    previewer = Previewer(sample / "digest.toml", day)
    assert "Berges de la Sorelle" in previewer.snapshot(day).html
    assert read == [day]

    footer = (BUILTIN / "footer.mjml.j2").read_text()
    write_override(sample, "footer.mjml.j2", footer.replace("{{ labels.footer_reason }}",
                                                            "Gabarit seul"))
    previewer.refresh([sample / "templates" / "footer.mjml.j2", sample / "templates"])
    assert "Gabarit seul" in previewer.snapshot(day).html
    assert read == [day], "a template save reads and ranks nothing again"

    article = sample / "articles" / "2025-04-22-ligne-4.md"
    article.write_text(article.read_text().replace('title: "', 'title: "Relu ', 1))
    previewer.refresh([article])
    assert ("Relu " in previewer.snapshot(day).html
            and "Gabarit seul" in previewer.snapshot(day).html)
    assert read == [day, day]
    previewer.refresh()  # a change the watcher could not name: everything again
    assert read == [day, day, day]


def test_the_editor_switches_to_the_edition_of_a_sections_readers(folder):
    with (folder / "digest.toml").open("a", encoding="utf-8") as config:
        config.write('\n[sections.sport]\nlabel = "Le sport"\ncategories = ["Sport"]\n')
    server = Preview(folder, "--date", "2025-04-22")
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(server.url + "/?date=2025-04-22")
            page.wait_for_selector("#ranking tbody tr")
            wait_for(lambda: "Ligne 4" in frame_text(page), what="the full edition")
            assert page.locator("#sections option").all_inner_texts()[1] == "Le sport"
            page.select_option("#sections", "sport")
            wait_for(lambda: "Ligne 4" not in frame_text(page), what="the sport edition")
            text = frame_text(page)
            assert "FC Val-Sorel" in text and "Berges de la Sorelle" in text
            assert "sections=sport" in page.url
    finally:
        server.stop()
