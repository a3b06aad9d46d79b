"""The WSGI application that readers and providers reach (`digest serve`, `digest.web:app`).

- `GET /unsubscribe?t=TOKEN`: a page in the newsletter's language asking to confirm, with one
  button. A GET never unsubscribes: link scanners and mail previews follow links.
- `POST /unsubscribe` (`?t=TOKEN`, or `t` in the form): RFC 8058's one-click request (body
  `List-Unsubscribe=One-Click`) and the page's button. The token is checked in constant time and
  the reader suppressed; 200 also when he already was. A bad token gets 400 and a page that says
  nothing about anyone.
- `POST /sendgrid/events`: SendGrid's signed Event Webhook; 403 for a bad signature or a
  timestamp more than 5 minutes away, and then nothing changes.
- `/subscribe`, `/subscribe/confirm`, `/preferences`: readers joining (`digest.web.joining`).
- `GET /c/YYYYMMDD/STORY/MAC`: a story's click link (`digest.engagement.links`): one click
  counted for the story, then 302 to the address the send recorded for it. An altered or
  unknown link gets 404 and counts nothing; HEAD redirects without counting.

Every request's Host must be the unsubscribe link's host, the sign-up address's, a loopback name
or one of `serve.hosts` (a page reached under another name is a DNS rebinding or a misrouted
request); bodies are bounded; no page and no log line holds an address (logs name a reader by a
short hash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from digest.audience.signing import TOKEN, Signer
from digest.audience.signups import SignUps
from digest.deliver.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EventVerifier,
    WebhookRefused,
)
from digest.engagement.links import CLICK_PREFIX
from digest.errors import ConfigError, DigestError
from digest.labels import labels_for
from digest.models import Leaving, Suppression
from digest.newsletter import Newsletter
from digest.urls import served_url
from digest.web.clicks import StoryLinks
from digest.web.forms import FORM_LIMIT
from digest.web.joining import Joining
from digest.web.pages import button_form, html_page
from digest.web.preferences import PreferencesPage

if TYPE_CHECKING:
    from digest.config import Config

log = logging.getLogger("digest.web")

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


class WebApp:
    """The WSGI application of one newsletter."""

    def __init__(self, newsletter: Newsletter, clock: Callable[[], float] = time.time) -> None:
        config = newsletter.config
        self.newsletter = newsletter
        self.clock = clock
        self.store = newsletter.state.suppressions  # opened now, not by two threads at once
        self.tokens = newsletter.state.tokens
        self.story_clicks = newsletter.state.clicks
        self.signer = _signer(config)
        self.story_links = StoryLinks(config, self.signer, self.story_clicks, clock)
        self.verifier = _verifier(config)
        self.hosts = allowed_hosts(config)
        self.locale = config.newsletter.locale
        self.labels = labels_for(self.locale, config.labels)
        self.name = config.newsletter.name
        self.signups = SignUps(newsletter, self.signer, clock) if self.signer else None
        self.joining = None
        if self.signups is not None and config.signup.enabled:
            self.joining = Joining(self.signups, self.labels, self.page, clock)

    @property
    def config(self) -> Config:
        return self.newsletter.config

    def start(self) -> None:
        """The background work: the sign-ups' confirmation emails."""
        if self.joining is not None:
            self.joining.start()

    def stop(self) -> None:
        if self.joining is not None:
            self.joining.stop()

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
        routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "/unsubscribe": {"GET": self.confirm, "HEAD": self.confirm, "POST": self.unsubscribe},
            "/sendgrid/events": {"POST": self.events},
            "/preferences": {"GET": self.preferences, "HEAD": self.preferences,
                             "POST": self.preferences},
        }
        if (joining := self.joining) is not None:
            routes["/subscribe"] = {"GET": joining.form, "HEAD": joining.form,
                                    "POST": joining.subscribe, "OPTIONS": joining.preflight}
            routes["/subscribe/confirm"] = {"GET": joining.confirm_page,
                                            "HEAD": joining.confirm_page,
                                            "POST": joining.confirm}
        if request.path.startswith(CLICK_PREFIX):
            follow = self.story_links.follow
            routes[request.path] = {"GET": follow, "HEAD": follow}
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
        form = button_form(f"?t={token}", self.labels["unsubscribe_button"])
        return self.page(200, self.labels["unsubscribe_question"], form=form)

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
        log.info("unsubscribe: reader %s %s", self.signer.reference(key) if self.signer else "?",
                 "suppressed" if added else "was already suppressed")
        return self.page(200, self.labels["unsubscribe_done"])

    def preferences(self, request: Request) -> Response:
        """The reader's own page, reached by his unsubscribe token: GET shows, POST saves."""
        token = request.args.get("t", "")
        key = self._reader(token)
        if key is None or self.signups is None:
            log.info("preferences: refused a bad token")
            return self.page(400, self.labels["preferences_invalid"])
        page = PreferencesPage(self.signups, self.labels, self.page)
        return page.save(request, key) if request.method == "POST" else page.show(key, token)

    def page(self, status: int, message: str, *, form: str = "", title: str = "") -> Response:
        return html_page(status, lang=self.locale, name=self.name, message=message, form=form,
                         title=title or self.labels["unsubscribe_title"])

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
        clicks = self.story_links.provider_events(batch.clicks, batch.opens) \
            if batch.clicks or batch.opens else 0
        log.info("sendgrid events: %d events, %d suppressions (%d new), %d clicks on stories, "
                 "%d opens", batch.events, len(batch.suppressions), added, clicks,
                 len(batch.opens))
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
    # checked when digest.toml was read
    return EventVerifier(key, config.newsletter.name) if key else None


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
    pages = urlsplit(served_url(config.signup.url, config.delivery.unsubscribe_url, ""))
    clicks = urlsplit(config.tracking.url)
    for name in (link.hostname or "", pages.hostname or "", clicks.hostname or "",
                 *config.serve.hosts):
        if name:
            try:
                names.add(name.strip().lower().rstrip(".").encode("idna").decode("ascii"))
            except UnicodeError:
                names.add(name.strip().lower())
    return frozenset(names)
