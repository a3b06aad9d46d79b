"""`digest serve` and `digest.web:app`: the small WSGI application that readers and providers reach.

- `GET /unsubscribe?t=TOKEN`: a page in the newsletter's language asking to confirm, with one
  button. A GET never unsubscribes: link scanners and mail previews follow links.
- `POST /unsubscribe` (`?t=TOKEN`, or `t` in the form): RFC 8058's one-click request (body
  `List-Unsubscribe=One-Click`) and the page's button. The token is checked in constant time and
  the reader suppressed; 200 also when he already was. A bad token gets 400 and a page that says
  nothing about anyone.
- `POST /sendgrid/events`: SendGrid's signed Event Webhook; 403 for a bad signature or a
  timestamp more than 5 minutes away, and then nothing changes.

Every request's Host must be the unsubscribe link's host, a loopback name or one of `serve.hosts`
(a page reached under another name is a DNS rebinding or a misrouted request); bodies are
bounded; no page and no log line holds an address (logs name a reader by a short hash).

Behind any WSGI server: `DIGEST_CONFIG` names the digest.toml (default: ./digest.toml).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from digest.audience.signing import TOKEN, Signer, reference
from digest.deliver.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EventVerifier,
    WebhookRefused,
)
from digest.errors import ConfigError, DigestError
from digest.labels import labels_for
from digest.models import Leaving, Suppression
from digest.newsletter import Newsletter
from digest.urls import is_loopback

if TYPE_CHECKING:
    from digest.config import Config

log = logging.getLogger("digest.web")

FORM_LIMIT = 16 * 1024  # a one-click body is 26 bytes; the page's form hardly more
EVENTS_LIMIT = 5 * 1024 * 1024  # SendGrid posts batches well under this
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token in the address stays here
    "X-Frame-Options": "DENY",  # nobody frames the button to have it clicked
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Robots-Tag": "noindex",
}
PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · {name}</title>
<style>
body {{ font: 17px/1.5 Georgia, serif; margin: 0; padding: 12vh 1.5rem; color: #1a1a1a;
        background: #faf8f5; }}
main {{ max-width: 32rem; margin: 0 auto; }}
h1 {{ font-size: 1.1rem; text-transform: uppercase; letter-spacing: .08em; color: #6b6258; }}
button {{ font: inherit; padding: .6rem 1.4rem; border: 0; border-radius: 4px; color: #fff;
          background: #9b2c1f; cursor: pointer; }}
@media (prefers-color-scheme: dark) {{ body {{ color: #eee; background: #1c1b1a; }} }}
</style>
</head>
<body>
<main>
<h1>{name}</h1>
<p>{message}</p>
{form}
</main>
</body>
</html>
"""


class WebApp:
    """The WSGI application of one newsletter."""

    def __init__(self, newsletter: Newsletter, clock: Callable[[], float] = time.time) -> None:
        config = newsletter.config
        self.newsletter = newsletter
        self.clock = clock
        self.store = newsletter.state.suppressions  # opened now, not by two threads at once
        self.tokens = newsletter.state.tokens
        self.signer = _signer(config)
        self.verifier = _verifier(config)
        self.hosts = allowed_hosts(config)
        self.locale = config.newsletter.locale
        self.labels = labels_for(self.locale, config.labels)
        self.name = config.newsletter.name

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.respond(request)
        except HTTPException as error:  # a body over its limit, a malformed form
            log.info("refused a request: HTTP %s", error.code)
            response = Response(f"{error.code} {error.name}\n", error.code or 400,
                                content_type="text/plain; charset=utf-8")
        except DigestError as error:  # the state database busy or unwritable
            log.error("%s", error)
            response = self.page(503, self.labels["unsubscribe_unavailable"])
            response.headers["Retry-After"] = "60"
        response.headers.update(SECURITY_HEADERS)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        host = request.environ.get("HTTP_HOST", "")
        if host_name(host) not in self.hosts:
            log.warning("refused a request for host %r", host[:80])
            return Response("unknown host\n", 400, content_type="text/plain; charset=utf-8")
        routes = {
            "/unsubscribe": {"GET": self.confirm, "HEAD": self.confirm, "POST": self.unsubscribe},
            "/sendgrid/events": {"POST": self.events},
        }
        methods = routes.get(request.path)
        if methods is None:
            return Response("not found\n", 404, content_type="text/plain; charset=utf-8")
        handler = methods.get(request.method)
        if handler is None:
            return Response("method not allowed\n", 405, {"Allow": ", ".join(methods)},
                            content_type="text/plain; charset=utf-8")
        return handler(request)

    # -- readers ------------------------------------------------------------------------------

    def _reader(self, token: str) -> str | None:
        if self.signer is None or not token:
            return None
        return self.signer.verify(token, self.tokens.key)

    def confirm(self, request: Request) -> Response:
        """The confirmation page: changes nothing."""
        token = request.args.get("t", "")
        if self._reader(token) is None:
            log.info("unsubscribe page: refused a bad token")
            return self.page(400, self.labels["unsubscribe_invalid"])
        return self.page(200, self.labels["unsubscribe_question"], token=token)

    def unsubscribe(self, request: Request) -> Response:
        request.max_content_length = FORM_LIMIT
        request.max_form_memory_size = FORM_LIMIT
        request.max_form_parts = 16
        form = request.form  # read (and bounded) before anything is decided
        token = request.args.get("t") or form.get("t", "")
        key = self._reader(token)
        if key is None:
            log.info("unsubscribe: refused a bad token")
            return self.page(400, self.labels["unsubscribe_invalid"])
        one_click = form.get("List-Unsubscribe") == "One-Click"
        added = self.store.add([Suppression(key, Leaving.UNSUBSCRIBED, "link",
                                            "one-click" if one_click else "unsubscribe page")])
        log.info("unsubscribe: reader %s %s", reference(key),
                 "suppressed" if added else "was already suppressed")
        return self.page(200, self.labels["unsubscribe_done"])

    def page(self, status: int, message: str, token: str = "") -> Response:
        def text(value: str) -> str:  # quotes need no escaping between tags
            return escape(value, quote=False)

        name = text(self.name)
        form = ""
        if token:  # made of [A-Za-z0-9_.-] once verified; escaped all the same
            form = (f'<form method="post" action="?t={escape(token)}">'
                    f'<button type="submit">{text(self.labels["unsubscribe_button"])}</button>'
                    "</form>")
        html = PAGE.format(lang=self.locale, title=text(self.labels["unsubscribe_title"]),
                           name=name, message=text(message).replace("{newsletter}", name),
                           form=form)
        return Response(html, status, content_type="text/html; charset=utf-8")

    # -- providers ----------------------------------------------------------------------------

    def events(self, request: Request) -> Response:
        if self.verifier is None:
            log.warning("sendgrid events: refused, delivery.sendgrid.webhook_public_key is not set")
            return Response("webhook not configured\n", 403,
                            content_type="text/plain; charset=utf-8")
        request.max_content_length = EVENTS_LIMIT
        body = request.get_data(cache=False)
        try:
            batch = self.verifier.verified(body, request.headers.get(SIGNATURE_HEADER, ""),
                                           request.headers.get(TIMESTAMP_HEADER, ""),
                                           self.clock())
        except WebhookRefused as why:
            log.warning("sendgrid events: refused (%s)", why)
            return Response("forbidden\n", 403, content_type="text/plain; charset=utf-8")
        added = self.store.add(batch.suppressions) if batch.suppressions else 0
        log.info("sendgrid events: %d events, %d suppressions (%d new)", batch.events,
                 len(batch.suppressions), added)
        return Response("ok\n", 200, content_type="text/plain; charset=utf-8")


def _signer(config: Config) -> Signer | None:
    """The links' signer: required when the links carry tokens, optional otherwise."""
    if TOKEN in config.delivery.unsubscribe_url:
        return Signer.from_environment(config.newsletter.url)
    try:
        return Signer.from_environment(config.newsletter.url)
    except ConfigError:
        return None


def _verifier(config: Config) -> EventVerifier | None:
    key = config.delivery.sendgrid.webhook_public_key
    return EventVerifier(key) if key else None  # checked when digest.toml was read


def host_name(header: str) -> str:
    """The lower-cased name of a Host header (port and IPv6 brackets removed); "" if malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        name, _, port = header[1:].partition("]")
        port = port.removeprefix(":") if port.startswith(":") or not port else "x"
    else:
        name, _, port = header.partition(":")
    if (port and not port.isdigit()) or ":" in port:
        return ""
    return name.rstrip(".")


def allowed_hosts(config: Config) -> frozenset[str]:
    names = set(LOOPBACK)
    link = urlsplit(config.delivery.unsubscribe_url)
    for name in (link.hostname or "", *config.serve.hosts):
        if name:
            try:
                names.add(name.strip().lower().rstrip(".").encode("idna").decode("ascii"))
            except UnicodeError:
                names.add(name.strip().lower())
    return frozenset(names)


# -- the WSGI entry point and `digest serve` ---------------------------------------------------


class _Lazy:
    """`digest.web:app` for WSGI servers: the newsletter is opened on the first request."""

    def __init__(self) -> None:
        self._app: WebApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = create_app()
        return self._app(environ, start_response)


def create_app(config_path: Path | None = None) -> WebApp:
    path = config_path or (Path(os.environ["DIGEST_CONFIG"]) if os.environ.get("DIGEST_CONFIG")
                           else None)
    return WebApp(Newsletter.open(path))


app = _Lazy()


def serve(config_path: Path | None, host: str, port: int, threads: int,
          say: Callable[[str], None], warn: Callable[[str], None]) -> None:
    """Run the application on waitress until Ctrl-C or SIGTERM."""
    import signal

    from waitress import create_server

    application = create_app(config_path)
    if not is_loopback(host):
        warn(f"--host {host} is not a loopback address: put digest serve behind a reverse proxy "
             "that speaks HTTPS")
    if application.signer is None:
        warn("DIGEST_SECRET is not set: /unsubscribe refuses every link")
    if application.verifier is None:
        warn("delivery.sendgrid.webhook_public_key is not set: /sendgrid/events refuses every "
             "batch")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("waitress").setLevel(logging.WARNING)
    try:
        server = create_server(application, host=host, port=port, threads=threads,
                               # a little over ours, so that the application answers 413
                               ident="digest", max_request_body_size=EVENTS_LIMIT + 2**20,
                               expose_tracebacks=False)
    except OSError as error:
        application.newsletter.close()
        raise DigestError(f"cannot listen on {host}:{port} ({error.strerror}); pass --port with a "
                          "free one") from None

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    shown = f"[{host}]" if ":" in host else host
    say(f"serving {application.name} on http://{shown}:{getattr(server, 'effective_port', port)}/"
        " (Ctrl-C to stop)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        application.newsletter.close()
        say("stopped")
