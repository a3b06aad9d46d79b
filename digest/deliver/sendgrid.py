"""SendGrid's v3 mail-send API, through the official `sendgrid` client.

What the API really needs, as django-anymail learnt it: one personalization per recipient (so no
reader sees another's address), at most 1,000 personalizations a request, string-only
`custom_args`, and display names quoted when they hold a comma or a semicolon.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from urllib.error import URLError

from digest.config import Config, SendGridConfig
from digest.deliver import (
    SENDGRID_ASM_TAG,
    DeliveryError,
    Outgoing,
    TemporaryDeliveryError,
    UnknownOutcome,
    backoff_seconds,
)
from digest.errors import ConfigError
from digest.models import Leaving, Outcome, Status, Suppression
from digest.recipients import Recipient
from digest.recipients import _suppression_key as suppression_key

API_KEY_VARIABLE = "SENDGRID_API_KEY"
MAX_WAIT_SECONDS = 120  # a longer Retry-After stops the send: run it again later
# SendGrid's own lists of addresses it no longer sends to: (name, API path, kind, what it is)
SUPPRESSION_LISTS = (
    ("unsubscribes", "suppression/unsubscribes", Leaving.UNSUBSCRIBED, "global unsubscribe"),
    ("bounces", "suppression/bounces", Leaving.BOUNCED, "bounce"),
    ("blocks", "suppression/blocks", Leaving.BOUNCED, "block"),
    ("spam_reports", "suppression/spam_reports", Leaving.COMPLAINED, "spam report"),
    ("invalid_emails", "suppression/invalid_emails", Leaving.BOUNCED, "invalid address"),
)
PAGE_SIZE = 500  # the most these endpoints give at once
SYNC_OVERLAP_SECONDS = 300  # read again the last minutes of the previous sync: clocks differ


def api_key() -> str:
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if not key:
        raise ConfigError(f"{API_KEY_VARIABLE} is not set; export the SendGrid API key in the "
                          "environment (it is never read from a file)")
    return key


def _person(address: str, name: str = "") -> dict:
    person = {"email": address}
    if name:
        # SendGrid splits unquoted names at commas and semicolons.
        person["name"] = f'"{name}"' if ("," in name or ";" in name) else name
    return person


def payload(outgoing: Outgoing, recipients: list[Recipient], config: SendGridConfig,
            schedule: tuple[int, str] | None = None) -> dict:
    """The mail-send request body for one batch."""
    email = outgoing.email
    sender_name, sender_address = parseaddr(email.sender)
    personalizations = []
    shared = outgoing.provider_link  # the same tag for all, which SendGrid itself replaces
    for recipient in recipients:
        person: dict = {"to": [_person(recipient.email, recipient.name)]}
        if outgoing.unsubscribe_url and not shared:
            person["substitutions"] = {outgoing.placeholder: outgoing.unsubscribe_for(recipient)}
        headers = outgoing.list_unsubscribe(recipient)
        if headers:
            person["headers"] = headers
        personalizations.append(person)
    text, html = email.text, email.html
    if shared:
        text = text.replace(outgoing.placeholder, SENDGRID_ASM_TAG)
        html = html.replace(outgoing.placeholder, SENDGRID_ASM_TAG)
    body: dict = {
        "personalizations": personalizations,
        "from": _person(sender_address, sender_name),
        "subject": email.subject,
        "content": [
            {"type": "text/plain", "value": text},
            {"type": "text/html", "value": html},
        ],
        "categories": list(dict.fromkeys([*config.categories, "digest"]))[:10],
        "custom_args": {"edition": outgoing.edition_id, "newsletter": outgoing.newsletter},
    }
    if email.reply_to:
        reply_name, reply_address = parseaddr(email.reply_to)
        body["reply_to"] = _person(reply_address, reply_name)
    if config.asm_group_id:
        body["asm"] = {"group_id": config.asm_group_id}
    if config.sandbox_mode:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    if schedule:
        body["send_at"], body["batch_id"] = schedule
    return body


def _error_messages(body: bytes) -> str:
    try:
        errors = json.loads(body.decode("utf-8", "replace")).get("errors", [])
        messages = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        ]
        return "; ".join(f'"{m}"' for m in messages) or body.decode("utf-8", "replace")[:300]
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")[:300]


def _wait_seconds(headers, attempt: int) -> float:
    """How long to wait before the next attempt: the server's word, else backoff with jitter."""
    headers = headers or {}
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return backoff_seconds(attempt)


class SendGridBackend:
    name = "sendgrid"

    def __init__(self, config: SendGridConfig, sleep: Callable[[float], None] = time.sleep,
                 tz=None) -> None:
        from sendgrid import SendGridAPIClient

        self.config = config
        self.tz = tz
        self.batch_size = config.batch_size
        self.sleep = sleep
        self.api = SendGridAPIClient(api_key=api_key(), host=config.api_url.rstrip("/"))
        self.api.client.timeout = config.timeout
        self.scheduled: tuple[int, str] | None = None

    @classmethod
    def open(cls, config: Config, outbox: Path) -> SendGridBackend:
        return cls(config.delivery.sendgrid, tz=config.tz)

    @classmethod
    def needs_unsubscribe_link(cls, config: Config) -> bool:
        return not config.delivery.sendgrid.asm_group_id  # else SendGrid adds its own link

    @classmethod
    def syncs_before_send(cls, config: Config) -> bool:
        return config.delivery.sendgrid.sync_suppressions

    def close(self) -> None:
        pass

    def _call(self, request: Callable[[], object], what: str, may_duplicate: bool):
        """One API call with retries on 429, 5xx and failed connections."""
        from python_http_client.exceptions import HTTPError

        attempts = self.config.max_attempts
        for attempt in range(attempts):
            try:
                return request()
            except HTTPError as exc:
                status, headers = exc.status_code, exc.headers
                if status != 429 and status < 500:
                    raise DeliveryError(
                        f"SendGrid refused {what} (HTTP {status}): {_error_messages(exc.body)}"
                    ) from None
                reason = f"HTTP {status}"
            except URLError as exc:
                if isinstance(exc.reason, (socket.timeout, TimeoutError)) and may_duplicate:
                    raise UnknownOutcome(
                        f"SendGrid did not answer {what} within {self.config.timeout:g} s; the "
                        "request may have been accepted"
                    ) from None
                headers, reason = None, f"connection failed ({exc.reason})"
            except (TimeoutError, ConnectionError) as exc:
                if may_duplicate:
                    raise UnknownOutcome(
                        f"connection to SendGrid lost during {what} ({exc.__class__.__name__}); "
                        "the request may have been accepted"
                    ) from None
                headers, reason = None, f"connection failed ({exc})"
            if attempt == attempts - 1:
                break
            wait = _wait_seconds(headers, attempt)
            if wait > MAX_WAIT_SECONDS:
                raise TemporaryDeliveryError(
                    f"SendGrid asks to wait {wait:.0f} s before {what} ({reason}); run again later"
                )
            self.sleep(wait)
        raise TemporaryDeliveryError(
            f"SendGrid failed {what} {attempts} times (last: {reason}); run again later"
        )

    def send_time(self, day: date) -> int | None:
        """delivery.sendgrid.send_at on the edition's day, if it is still a minute ahead."""
        if not self.config.send_at:
            return None
        hour, minute = map(int, self.config.send_at.split(":"))
        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz)
        return int(moment.timestamp()) if moment.timestamp() > time.time() + 60 else None

    def schedule(self, send_at: int, batch_id: str | None) -> str:
        """Batches sent from now on go out at `send_at`, under a batch id that can cancel them."""
        if batch_id is None:
            response = self._call(lambda: self.api.client.mail.batch.post(),
                                  "the batch id request", may_duplicate=False)
            try:
                batch_id = str(json.loads(response.body)["batch_id"])
            except (ValueError, KeyError, TypeError):
                raise TemporaryDeliveryError("SendGrid's answer to the batch id request holds no "
                                             "batch_id; run again later") from None
        self.scheduled = (send_at, batch_id)
        return batch_id

    def cancel(self, batch_id: str) -> None:
        body = {"batch_id": batch_id, "status": "cancel"}
        self._call(lambda: self.api.client.user.scheduled_sends.post(request_body=body),
                   "the cancellation", may_duplicate=False)

    def suppressions(self, since: Mapping[str, int]
                     ) -> Iterator[tuple[str, int, list[Suppression]]]:
        """SendGrid's suppression lists, each read page by page (limit/offset) up to now, from
        `since[name]` on when it was read before; then the unsubscribe group's list, which the API
        gives whole and undated."""
        now = int(time.time())
        for name, path, kind, label in SUPPRESSION_LISTS:
            query = {"end_time": now, "limit": PAGE_SIZE}
            if name in since:
                query["start_time"] = max(0, since[name] - SYNC_OVERLAP_SECONDS)
            found: list[Suppression] = []
            offset = 0
            while True:
                page = self._list(path, {**query, "offset": offset}, f"the {label} list")
                found += [entry for item in page if (entry := _listed(item, kind, label))]
                if len(page) < PAGE_SIZE:
                    break
                offset += PAGE_SIZE
            yield name, now, found
        group = self.config.asm_group_id
        if group:
            page = self._list(f"asm/groups/{group}/suppressions", None,
                              f"the unsubscribe group {group} list")
            yield f"group_{group}", now, [
                entry for item in page
                if (entry := _listed({"email": item}, Leaving.UNSUBSCRIBED,
                                     f"group {group} unsubscribe"))]

    def _list(self, path: str, query: dict | None, what: str) -> list:
        def request():
            node = self.api.client
            for part in path.split("/"):
                node = node._(part)
            return node.get(query_params=query) if query else node.get()

        response = self._call(request, what, may_duplicate=False)
        try:
            data = json.loads(response.body or b"[]")
        except ValueError:
            data = None
        if not isinstance(data, list):
            raise TemporaryDeliveryError(f"SendGrid's answer for {what} is not a list; run again "
                                         "later")
        return data

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        body = payload(outgoing, recipients, self.config, self.scheduled)
        response = self._call(lambda: self.api.client.mail.send.post(request_body=body),
                              f"a batch of {len(recipients)}", may_duplicate=True)
        message_id = (response.headers or {}).get("X-Message-Id", "")
        yield [Outcome(r.key, Status.SENT, provider_id=message_id) for r in recipients]


def _listed(item, kind: Leaving, label: str) -> Suppression | None:
    """One entry of a SendGrid list, or None when it holds no usable address."""
    if not isinstance(item, dict) or not isinstance(item.get("email"), str):
        return None
    key = suppression_key(item["email"])
    if key is None:
        return None
    detail = " ".join(str(item[f]) for f in ("status", "reason") if item.get(f))
    created = item.get("created")
    at = float(created) if isinstance(created, int | float) and created > 0 else 0.0
    return Suppression(key, kind, "sendgrid-sync", f"SendGrid {label}" + (f": {detail}"
                                                                           if detail else ""), at)
