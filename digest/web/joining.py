"""The joining half of `digest serve`: the sign-up form and its confirmation link.

- `GET /subscribe`: the form (email, optional name, sections when there are, the consent text).
- `POST /subscribe`: form-encoded (`email`, `name`, `sections` repeated, `consent`) or JSON; a JSON
  answer for `Accept: application/json`, with CORS for the newsletter's own site. Whatever the
  address's state the answer is the same, and as quick: the request is only queued, and a worker
  thread sends the confirmation email. A filled honeypot gets the same answer and is dropped.
- `GET /subscribe/confirm?t=...`: a page with a button (link scanners follow links); `POST`
  confirms.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from digest.audience.notices import Postman
from digest.audience.signups import (
    SignUps,
    clean_choices,
    configured_sections,
    without_addresses,
)
from digest.errors import DigestError
from digest.web.forms import many, one, posted_fields
from digest.web.pages import button_form, signup_form

log = logging.getLogger("digest.web")

QUEUE_SECONDS = 0.5  # the queue is handled every 0.5 to 1 s, at random
ERROR_PAUSE_SECONDS = 30  # after the database or a template failed
EXPIRY_EVERY_SECONDS = 3600  # how often unconfirmed sign-ups past their days are deleted


class ClientRate:
    """At most `limit` requests per client address in a sliding hour, in this process."""

    def __init__(self, limit: int, clock: Callable[[], float], window: float = 3600.0) -> None:
        self.limit, self.clock, self.window = limit, clock, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._seen) > 100_000:  # forget the quiet ones before memory grows
                self._seen = {c: q for c, q in self._seen.items()
                              if q and q[-1] > now - self.window}
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True


def client_address(request: Request) -> str:
    """The reader's IP address. Behind a reverse proxy on this machine, waitress takes it from
    the X-Forwarded-For the proxy added (`digest serve`); other WSGI servers have their own
    setting for that."""
    return request.remote_addr or ""


class Joining:
    def __init__(self, signups: SignUps, labels: dict[str, str], page: Callable[..., Response],
                 clock: Callable[[], float] = time.time) -> None:
        self.signups = signups
        self.config = signups.config
        self.labels = labels
        self.page = page
        signups.check_links()
        self.rate = ClientRate(self.config.signup.per_client_per_hour, clock)
        origin = urlsplit(self.config.newsletter.url)
        self.site = f"{origin.scheme}://{origin.netloc}"  # may post JSON from its own pages
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._expired_at = 0.0

    # -- the worker ---------------------------------------------------------------------------

    def start(self) -> None:
        """The thread sending confirmation emails; it first handles what an earlier run left."""
        self._worker = threading.Thread(target=self._work, name="digest-signups", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)

    def _work(self) -> None:
        """The queue handled every half second to a second, at random: never woken by a
        sign-up, so that when the work happens says nothing of what a sign-up's address was."""
        pause = 0.0
        while not self._stop.wait(pause):
            pause = QUEUE_SECONDS * (1 + random.random())
            try:
                with Postman(self.config).opened() as postman:
                    self.signups.handle_queued(postman, self._stop.is_set)
                if time.time() - self._expired_at > EXPIRY_EVERY_SECONDS:
                    self._expired_at = time.time()
                    if gone := self.signups.expire():
                        log.info("deleted %d sign-ups past signup.pending_days", gone)
            except DigestError as error:  # the database busy, a template broken: again later
                log.error("sign-ups: %s", without_addresses(str(error)))
                pause = ERROR_PAUSE_SECONDS

    # -- /subscribe ---------------------------------------------------------------------------

    def form(self, request: Request) -> Response:
        consent = self.config.signup.consent or self.labels["subscribe_consent"]
        form = signup_form("subscribe", self.labels, configured_sections(self.config),
                           consent.replace("{newsletter}", self.config.newsletter.name))
        return self.page(200, self.labels["subscribe_intro"], form=form,
                         title=self.labels["subscribe_title"])

    def preflight(self, request: Request) -> Response:
        response = Response(status=204)
        if request.headers.get("Origin") == self.site:
            response.headers.update({"Access-Control-Allow-Origin": self.site,
                                     "Access-Control-Allow-Methods": "POST",
                                     "Access-Control-Allow-Headers": "Content-Type, Accept",
                                     "Access-Control-Max-Age": "86400", "Vary": "Origin"})
        return response

    def subscribe(self, request: Request) -> Response:
        fields = posted_fields(request)
        wants_json = "application/json" in request.headers.get("Accept", "")
        if not self.rate.allow(client_address(request)):
            log.info("sign-up: refused, too many from one client")
            return self._answer(request, wants_json, 429, "subscribe_limited", "limited")
        if fields.get("website"):  # the honeypot: answered as everyone is, and dropped
            log.info("sign-up: dropped, the hidden field was filled")
            return self._answer(request, wants_json, 200, "subscribe_done", "ok")
        if fields.get("consent") not in ("yes", "on", "true", True):
            return self._answer(request, wants_json, 400, "subscribe_consent_needed", "consent")
        choices = clean_choices(self.config, one(fields.get("name")),
                                many(fields.get("sections")), self.config.newsletter.locale)
        if not self.signups.request(one(fields.get("email")), choices, client_address(request)):
            return self._answer(request, wants_json, 400, "subscribe_invalid", "invalid")
        return self._answer(request, wants_json, 200, "subscribe_done", "ok")

    def _answer(self, request: Request, wants_json: bool, status: int, label: str,
                outcome: str) -> Response:
        message = self.labels[label]
        if not wants_json:
            return self.page(status, message, title=self.labels["subscribe_title"])
        shown = message.replace("{newsletter}", self.config.newsletter.name)
        response = Response(json.dumps({"status": outcome, "message": shown},
                                       ensure_ascii=False), status,
                            content_type="application/json; charset=utf-8")
        if request.headers.get("Origin") == self.site:
            response.headers.update({"Access-Control-Allow-Origin": self.site, "Vary": "Origin"})
        return response

    # -- /subscribe/confirm -------------------------------------------------------------------

    def confirm_page(self, request: Request) -> Response:
        token = request.args.get("t", "")
        if not self.signups.valid(token):
            log.info("confirmation page: refused a bad or expired link")
            return self.page(400, self.labels["confirm_invalid"])
        form = button_form(f"confirm?t={token}", self.labels["confirm_button"])
        return self.page(200, self.labels["confirm_question"], form=form,
                         title=self.labels["subscribe_title"])

    def confirm(self, request: Request) -> Response:
        posted_fields(request)  # bounded, read before anything is decided
        with Postman(self.config).opened() as postman:
            reader = self.signups.confirm(request.args.get("t", ""), postman)
        if reader is None:
            log.info("confirmation: refused a bad or expired link")
            return self.page(400, self.labels["confirm_invalid"])
        return self.page(200, self.labels["confirm_done"], title=self.labels["subscribe_title"])
