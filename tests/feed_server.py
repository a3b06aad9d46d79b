"""A small HTTP server on 127.0.0.1 that serves feeds the way real sites do, or misbehave."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    delay: float = 0.0
    redirect: str | None = None
    gzip: bool = False
    headers: dict = field(default_factory=dict)  # sent as they are (a pre-compressed body...)
    hits: list = field(default_factory=list)  # the request headers of every hit


class QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (timeouts, size caps) are what the tests make happen: no
    traceback on stderr, where the `digest` command run in this process writes its own lines."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


class FeedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.host = host
        self.requests = 0  # every request received, whatever its path
        self.server = QuietServer((host, 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def add(self, path: str, route: Route | None = None, **options) -> str:
        self.routes[path] = route or Route(**options)
        return self.url + path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        routes = self.routes
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                feeds.requests += 1
                route = routes.get(self.path)
                if route is None:
                    return self._reply(404, b"not found", "text/plain")
                route.hits.append(self.headers)  # case-insensitive, like HTTP
                if route.delay:
                    time.sleep(route.delay)  # a scripted slow feed, not synchronisation
                if route.redirect:
                    self.send_response(302)
                    self.send_header("Location", route.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.end_headers()
                    return
                body = route.body
                extra = {}
                if route.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                    body, extra["Content-Encoding"] = gzip.compress(body), "gzip"
                if route.etag:
                    extra["ETag"] = route.etag
                extra["Last-Modified"] = formatdate(usegmt=True)
                extra.update(route.headers)
                self._reply(route.status, body, route.content_type, extra)

            def _reply(self, status, body, content_type, extra=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in (extra or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        return Handler


def rss(entries: list[dict], title: str = "Le Fil") -> bytes:
    """An RSS 2.0 document; each entry: title, link, date (RFC 822), and optional extras."""
    from xml.sax.saxutils import escape

    items = []
    for e in entries:
        parts = [f"<title>{escape(e['title'])}</title>", f"<link>{escape(e['link'])}</link>"]
        if e.get("guid"):
            parts.append(f"<guid>{escape(e['guid'])}</guid>")
        if e.get("date"):
            parts.append(f"<pubDate>{e['date']}</pubDate>")
        if e.get("category"):
            parts.append(f"<category>{escape(e['category'])}</category>")
        if e.get("description"):
            parts.append(f"<description>{escape(e['description'])}</description>")
        if e.get("image"):
            parts.append(f'<enclosure url="{escape(e["image"])}" type="image/jpeg" length="1"/>')
        if e.get("thumbnail"):
            parts.append(f'<media:thumbnail url="{escape(e["thumbnail"])}"/>')
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<title>{escape(title)}</title><link>https://fil.example/</link>"
        + "".join(items) + "</channel></rss>"
    ).encode()
