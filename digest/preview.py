"""`digest preview`: the editor's live view, served on top of the same `build` as the CLI.

A small standard-library HTTP server with its own routes only (no file is ever served from disk
by path), a watchfiles thread that rebuilds when an article, a template or digest.toml changes,
and server-sent events that tell the page to refresh.
"""

from __future__ import annotations

import html
import json
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit

from digest.config import find_config
from digest.errors import DigestError, NoArticlesError
from digest.models import Edition
from digest.newsletter import Newsletter
from digest.pipeline import Build, render_edition
from digest.records import edition_record
from digest.rendering.render import BUILTIN_TEMPLATES, environment
from digest.sources import Gathered
from digest.urls import is_loopback

ASSETS = Path(__file__).parent / "preview_assets"
PREVIEW_REFETCH_SECONDS = 60
REPORT_DAYS = 30  # the clicks report the page links to


@dataclass
class Snapshot:
    """One build of one date, or the error that stopped it, ready to serve."""

    version: int
    day: date
    html: str = ""
    text: str = ""
    state: dict = field(default_factory=dict)
    result: Build | None = None  # the build, for the editions of the readers of some sections
    by_sections: dict[frozenset[str], tuple[bytes, bytes]] = field(default_factory=dict)

    # encoded once, however many requests ask
    @cached_property
    def state_json(self) -> bytes:
        return json.dumps(self.state, ensure_ascii=False).encode()

    @cached_property
    def html_bytes(self) -> bytes:
        return self.html.encode()

    @cached_property
    def text_bytes(self) -> bytes:
        return self.text.encode()


class Previewer:
    """Builds once per change and serves that build from memory to every route.

    When a watched file changes, `refresh` builds the date on screen again, and only then
    publishes the new version that pages are told about: the requests the page then makes are
    answered from memory. Other dates are built when first asked for."""

    def __init__(self, config_path: Path, day: date | None) -> None:
        self.config_path = config_path
        self.default_day = day
        self.version = 1
        self.lock = threading.Lock()  # guards version, answers and on_screen
        self.answers: dict[date | None, Snapshot] = {}  # this version's, by the date asked for
        self.on_screen: date | None = day  # the date last asked for: built again on a change
        self.building = threading.Lock()  # one build at a time: they share the newsletter's state
        self.builds: dict[date, Snapshot] = {}  # the builds of the version being built
        # each date's ranked edition and what the sources gave, for a save of templates only
        self.editions: dict[date, tuple[Edition, Gathered]] = {}
        self.changed = threading.Condition()
        self.newsletter: Newsletter | None = None  # opened again after every change

    def watched_paths(self) -> list[Path]:
        paths = {self.config_path.resolve().parent / "digest.toml", BUILTIN_TEMPLATES.resolve()}
        try:
            with self.building:
                config = self._newsletter().config
            paths |= {config.resolve(config.sources.articles),
                      config.resolve(config.newsletter.templates)}
            # feeds kept as local files are sources an editor edits too
            paths |= {path for feed in config.sources.feeds
                      if (path := feed.local_path(config.root)) is not None}
        except DigestError:
            pass
        # watch the folder itself so files created later (a new override, a new article) count
        return sorted({p if p.is_dir() else p.parent
                       for p in paths if p.exists() or p.parent.exists()})

    def refresh(self, changed: Iterable[Path] = ()) -> None:
        """Watched files changed: build the date on screen again, then publish the version. When
        only templates changed, the articles are not read nor ranked again: only rendered."""
        with self.building:
            environment.cache_clear()  # a new override file must win over the cached built-in one
            if not self._templates_only(changed):
                self.editions = {}
            if self.newsletter is not None:
                self.newsletter.close()
                self.newsletter = None
            with self.lock:
                version, day = self.version + 1, self.on_screen
            self.builds = {}
            answer = self._answer(day, version)
            with self.lock:
                self.version = version
                self.answers = {day: answer}
        with self.changed:
            self.changed.notify_all()

    def snapshot(self, day: date | None) -> Snapshot:
        """The build of `day`; without a day, today's, or the latest edition when today has none.
        From memory when this version has it."""
        with self.lock:
            self.on_screen = day
            answer = self.answers.get(day)
        if answer is not None:
            return answer
        with self.building:
            with self.lock:
                version = self.version
                answer = self.answers.get(day)
            if answer is None:
                answer = self._answer(day, version)
                with self.lock:
                    if version == self.version:
                        self.answers[day] = answer
            return answer

    def _templates_only(self, changed: Iterable[Path]) -> bool:
        if self.newsletter is None:
            return False
        config = self.newsletter.config
        folders = (config.resolve(config.newsletter.templates).resolve(),
                   BUILTIN_TEMPLATES.resolve())
        paths = [Path(path).resolve() for path in changed]
        return bool(paths) and all(any(path.is_relative_to(folder) for folder in folders)
                                   for path in paths)

    def _newsletter(self) -> Newsletter:
        if self.newsletter is None:
            self.newsletter = Newsletter(_for_preview(Newsletter.open(self.config_path).config))
        return self.newsletter

    def _answer(self, day: date | None, version: int) -> Snapshot:
        """The snapshot for a request of `day` (None: today or the latest); holds `building`."""
        try:
            newsletter = self._newsletter()
        except Exception as error:  # noqa: BLE001 - a DigestError, or a bug: in the overlay
            if not isinstance(error, DigestError):
                traceback.print_exc(file=sys.stderr)
            return Snapshot(version, day or date.today(), state=_error_state(version, error))
        explicit = day or self.default_day
        built = self._build_once(newsletter, explicit or newsletter.today(), version)
        latest = built.state.get("latest")
        if not explicit and not built.html and latest and latest != built.day.isoformat():
            built = self._build_once(newsletter, date.fromisoformat(latest), version)
        return built

    def _build_once(self, newsletter: Newsletter, day: date, version: int) -> Snapshot:
        if day not in self.builds or self.builds[day].version != version:
            self.builds[day] = self._build(newsletter, day, version)
        return self.builds[day]

    def _build(self, newsletter: Newsletter, day: date, version: int) -> Snapshot:
        config = newsletter.config
        # the page speaks the newsletter's language
        base = {"version": version, "date": day.isoformat(), "locale": config.newsletter.locale}
        try:
            if day not in self.editions:
                self.editions[day] = newsletter.edition(day)
            result = render_edition(config, *self.editions[day])
        except NoArticlesError as error:
            dates = sorted(error.dates, reverse=True)
            state = {**_error_state(version, error), **base,
                     "dates": [d.isoformat() for d in dates],
                     "latest": dates[0].isoformat() if dates else None}
            return Snapshot(version, day, state=state)
        except DigestError as error:
            return Snapshot(version, day, state={**_error_state(version, error), **base})
        except Exception as error:  # noqa: BLE001 - a bug: in the overlay, and its traceback here
            traceback.print_exc(file=sys.stderr)
            return Snapshot(version, day, state={**_error_state(version, error), **base})
        record = edition_record(result, config)
        state = {
            **base,
            "dates": [d.isoformat() for d in sorted(result.dates, reverse=True)],
            "error": None,
            "problems": record["problems"],
            "subject": result.email.subject,
            "preheader": result.email.preheader,
            "sender": config.newsletter.sender,
            "size": result.email.html_bytes,
            "size_level": result.email.size_level,
            "ranking": record["articles_considered"],
        }
        state["sections"] = [{"name": name, "label": section.label or name}
                             for name, section in config.sections.items()]
        return Snapshot(version, day, result.email.html, result.email.text, state, result)

    def parts(self, snapshot: Snapshot, sections: str) -> tuple[bytes, bytes]:
        """(HTML, text) of the snapshot's edition, as a reader of `sections` ("a+b", the
        page's choice) gets it; the full edition for none."""
        known = {section["name"] for section in snapshot.state.get("sections", [])}
        names = frozenset(sections.split("+")) & known
        if not names:
            return snapshot.html_bytes, snapshot.text_bytes
        if names not in snapshot.by_sections:
            assert snapshot.result is not None
            email = self._newsletter().section_email(snapshot.result, names)
            snapshot.by_sections[names] = (email.html.encode(), email.text.encode())
        return snapshot.by_sections[names]

    def report(self, day: date | None) -> bytes:
        """The page of `digest report` for the last REPORT_DAYS days up to `day` (today)."""
        from digest.engagement.report import report_html  # lazy: pygal, when asked

        with self.building:
            try:
                newsletter = self._newsletter()
                return report_html(newsletter, day or newsletter.today(), REPORT_DAYS).encode()
            except DigestError as error:  # digest.toml broken: the preview's page says so too
                return f"<!doctype html><title>digest</title><p>{html.escape(str(error))}".encode()

    def wait_for_change(self, version: int, timeout: float) -> int:
        with self.changed:
            self.changed.wait_for(lambda: self.version != version, timeout=timeout)
        return self.version


def _for_preview(config):
    """Saving a template should not wait for every remote feed: reuse what was read recently."""
    import dataclasses

    if config.sources.refetch_after >= PREVIEW_REFETCH_SECONDS:
        return config
    sources = dataclasses.replace(config.sources, refetch_after=PREVIEW_REFETCH_SECONDS)
    return dataclasses.replace(config, sources=sources)


def _error_state(version: int, error: Exception) -> dict:
    message = str(error) if isinstance(error, DigestError) else \
        f"a bug in digest ({error.__class__.__name__}: {error}); the terminal shows the details"
    return {"version": version, "error": {"message": message}, "problems": [], "ranking": [],
            "dates": [], "size": 0, "size_level": "green", "subject": "", "preheader": ""}


def _day(query: dict) -> date | None:
    value = (query.get("date") or [""])[0]
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def make_handler(previewer: Previewer):
    page = (ASSETS / "index.html").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "digest-preview"

        def log_message(self, *args):  # the terminal is for errors, not for every request
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            if not _known_host(self.headers.get("Host", ""), self.server.server_address):
                # a page elsewhere whose name was made to point here (DNS rebinding): no drafts
                return self._send(403, b"forbidden: unknown Host\n", "text/plain; charset=utf-8")
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            routes = {
                "/": lambda: self._send(200, page, "text/html; charset=utf-8"),
                "/email.html": lambda: self._email(query, "html"),
                "/email.txt": lambda: self._email(query, "text"),
                "/source.txt": lambda: self._email(query, "source"),
                "/api/state": lambda: self._state(query),
                "/report.html": lambda: self._send(200, previewer.report(_day(query)),
                                                   "text/html; charset=utf-8"),
                "/events": self._events,
            }
            route = routes.get(url.path)
            if route is None:
                return self._send(404, b"not found\n", "text/plain; charset=utf-8")
            route()

        def _email(self, query, part: str) -> None:
            snapshot = previewer.snapshot(_day(query))
            if not snapshot.html:
                message = snapshot.state.get("error", {}).get("message", "no email")
                return self._send(200, message.encode(), "text/plain; charset=utf-8")
            html, text = previewer.parts(snapshot, (query.get("sections") or [""])[0])
            if part == "html":
                return self._send(200, html, "text/html; charset=utf-8")
            self._send(200, text if part == "text" else html, "text/plain; charset=utf-8")

        def _state(self, query) -> None:
            snapshot = previewer.snapshot(_day(query))
            self._send(200, snapshot.state_json, "application/json; charset=utf-8")

        def _events(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            version = previewer.version
            try:
                self.wfile.write(f"data: {version}\n\n".encode())
                self.wfile.flush()
                while not cast("PreviewServer", self.server).stopping.is_set():
                    new = previewer.wait_for_change(version, timeout=15)
                    # a comment line every 15 s keeps proxies and the browser from closing it
                    payload = f"data: {new}\n\n" if new != version else ": ping\n\n"
                    version = new
                    self.wfile.write(payload.encode())
                    self.wfile.flush()
            except OSError:
                pass  # the page went away
            self.close_connection = True

    return Handler


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True
    # connections waiting to be accepted: a page opens several at once (the state, the email,
    # its images, the events), and past socketserver's 5 the system drops the others, which the
    # browser sends again only a second later
    request_queue_size = 128

    def __init__(self, address, handler) -> None:
        self.stopping = threading.Event()
        super().__init__(address, handler)


def bind(host: str, port: int, handler, tries: int = 20) -> tuple[PreviewServer, int]:
    """A server on `port`, or on the next free one; (server, the port it got)."""
    last: OSError | None = None
    for candidate in range(port, port + tries):
        try:
            return PreviewServer((host, candidate), handler), candidate
        except OSError as exc:
            last = exc
    raise DigestError(f"ports {port} to {port + tries - 1} on {host} are all taken ({last}); "
                      "pass --port with a free one")


def _known_host(host: str, address: tuple) -> bool:
    """The Host header names the preview itself: its address, localhost or 127.0.0.1, and
    its port."""
    bound, port = address[0], address[1]
    names = {"localhost", "127.0.0.1", f"[{bound}]" if ":" in bound else bound}
    return host.lower() in {f"{name}:{port}" for name in names} | (names if port == 80 else set())


# Editors' lock, swap, backup and temporary files: vim's 4913 and .x.swp, Emacs's .#x and #x#,
# sed -i's sedXXXXXX, JetBrains' x___jb_tmp___, backups x~; and every hidden file.
_EDITOR_FILES = re.compile(r"^\.|^#.*#$|~$|^sed[A-Za-z0-9]{6}$|^4913$|___jb_\w+___$"
                           r"|\.(sw[a-p]x?|tmp|bak|orig|kate-swp)$")


def edits_only(root: Path):
    """The watcher's filter: an editor's saves count; what digest writes itself (.digest/,
    out/) never does, so a rebuild cannot trigger another, nor do editors' temporary files."""
    from watchfiles import DefaultFilter

    default = DefaultFilter()
    own = (root / ".digest", root / "out")

    def counts(change, name: str) -> bool:
        path = Path(name)
        if any(path == folder or folder in path.parents for folder in own):
            return False
        inside = path.relative_to(root).parts if path.is_relative_to(root) else (path.name,)
        return default(change, name) and not any(_EDITOR_FILES.search(p) for p in inside)

    return counts


def watch(previewer: Previewer, stop: threading.Event, on_change) -> threading.Thread:
    """A thread that rebuilds once per save, then tells the pages. watchfiles hands over the
    changes once `step` ms pass without a new one (the events of one save, even written to a
    temporary file and renamed, come within a few ms), or after `debounce` ms of changes."""
    from watchfiles import watch as watch_files

    root = previewer.config_path.resolve().parent

    def run() -> None:
        for changes in watch_files(*previewer.watched_paths(), stop_event=stop,
                                   watch_filter=edits_only(root),
                                   debounce=150, step=20, rust_timeout=500):
            previewer.refresh(Path(path) for _, path in changes)
            on_change(sorted({Path(p).name for _, p in changes}))

    thread = threading.Thread(target=run, name="digest-watch", daemon=True)
    thread.start()
    return thread


def serve(config_path: Path | None, day: date | None, host: str, port: int, open_browser: bool,
          say, warn) -> None:
    """Run the preview until Ctrl-C or SIGTERM. `say` and `warn` print a line for the editor."""
    import signal

    path = find_config(config_path)
    if not is_loopback(host):
        warn(f"--host {host} is not a loopback address: anyone who can reach this machine "
             "can read your drafts")
    previewer = Previewer(path, day)
    server, actual = bind(host, port, make_handler(previewer))
    if actual != port:
        say(f"port {port} is taken; using {actual}")
    url = f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{actual}/"
    if day:
        url += f"?date={day.isoformat()}"
    stop = threading.Event()

    def terminated(signum, frame) -> None:  # a service manager or `kill`: as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    try:
        watch(previewer, stop, lambda names: say(f"changed: {', '.join(names)}; page refreshed"))
        say(f"Preview on {url} (Ctrl-C to stop)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.stopping.set()
        with previewer.changed:
            previewer.changed.notify_all()
        server.server_close()
        say("preview stopped")
