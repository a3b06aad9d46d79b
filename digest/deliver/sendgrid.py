"""SendGrid's v3 mail-send API, over httpx.

What the API really needs, as django-anymail learnt it: one personalization per recipient (so no
reader sees another's address), at most 1,000 personalizations a request, string-only
`custom_args`, and display names quoted when they hold a comma or a semicolon.

Each request has a total deadline, `delivery.sendgrid.timeout`: a server that answers a byte at a
time cannot hold the send, whatever it sends.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parseaddr, parsedate_to_datetime
from json.encoder import encode_basestring as _string  # a JSON string, as dumps writes it
from pathlib import Path
from typing import TYPE_CHECKING

from digest.audience.addresses import suppression_key
from digest.audience.recipients import Recipient
from digest.audience.signing import PREFERENCES_PLACEHOLDER
from digest.config import Config, SendGridConfig
from digest.dates import provider_time
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
from digest.text import squash

if TYPE_CHECKING:
    import ssl

    import httpx

API_KEY_VARIABLE = "SENDGRID_API_KEY"
# a connection unused for longer is not used again (servers close idle ones after 5 s or more)
KEEP_ALIVE_SECONDS = 2.0
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
MAX_ANSWER_BYTES = 1_000_000  # SendGrid's answers are a few hundred bytes
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def api_key() -> str:
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if not key:
        raise ConfigError(f"{API_KEY_VARIABLE} is not set; export the SendGrid API key in the "
                          "environment (it is never read from a file)")
    return key


def _person(address: str, name: str = "") -> dict:
    person = {"email": address}
    if name:
        person["name"] = _display_name(name)
    return person


def _display_name(name: str) -> str:
    # SendGrid splits unquoted names at commas and semicolons.
    return f'"{name}"' if ("," in name or ";" in name) else name


def payload(outgoing: Outgoing, recipients: list[Recipient], config: SendGridConfig,
            schedule: tuple[int, str] | None = None) -> dict:
    """The mail-send request body for one batch, as data: what `request_body` sends."""
    return json.loads(request_body(outgoing, recipients, config, schedule))


def request_body(outgoing: Outgoing, recipients: list[Recipient], config: SendGridConfig,
                 schedule: tuple[int, str] | None = None) -> bytes:
    """The mail-send request body for one batch, as JSON: each reader's personalization is
    written as text (a batch holds a thousand), the rest by json.dumps."""
    people = ",".join(_personalizations(outgoing, recipients)).encode()
    shared = _shared_part(outgoing, tuple(config.categories), config.asm_group_id,
                          config.sandbox_mode, schedule)
    return b'{"personalizations":[' + people + b"]," + shared


@functools.lru_cache(maxsize=64)  # an edition per set of sections
def _shared_part(outgoing: Outgoing, categories: tuple[str, ...], asm_group_id: int,
                 sandbox_mode: bool, schedule: tuple[int, str] | None) -> bytes:
    """What follows the personalizations, the same in every batch of a send (the email
    itself): its JSON object without the opening brace, made once."""
    email = outgoing.email
    sender_name, sender_address = parseaddr(email.sender)
    shared = outgoing.provider_link  # the same tag for all, which SendGrid itself replaces
    text, html = email.text, email.html
    if shared:
        text = text.replace(outgoing.placeholder, SENDGRID_ASM_TAG)
        html = html.replace(outgoing.placeholder, SENDGRID_ASM_TAG)
    body: dict = {
        "from": _person(sender_address, sender_name),
        "subject": email.subject,
        "content": [
            {"type": "text/plain", "value": text},
            {"type": "text/html", "value": html},
        ],
        "categories": list(dict.fromkeys([*categories, "digest"]))[:10],
        "custom_args": {"edition": outgoing.edition_id, "newsletter": outgoing.newsletter},
    }
    if outgoing.list_id:  # every copy's; Feedback-ID: Gmail's complaint figures per newsletter
        body["headers"] = {"List-Id": outgoing.list_id,
                           "Feedback-ID": f"{outgoing.edition_id}:{outgoing.list_id[1:-1]}:digest"}
    if email.reply_to:
        reply_name, reply_address = parseaddr(email.reply_to)
        body["reply_to"] = _person(reply_address, reply_name)
    if asm_group_id:
        body["asm"] = {"group_id": asm_group_id}
    if sandbox_mode:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    if schedule:
        body["send_at"], body["batch_id"] = schedule
    return encode_json(body)[1:].encode()


def _personalizations(outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[str]:
    """One personalization per reader, as JSON text: {"to": [him], his unsubscribe link in
    "substitutions" and his List-Unsubscribe "headers" (when he has them)}."""
    # the provider's own page: the same tag for all, no link of ours to make
    shared = (outgoing.list_unsubscribe("") if outgoing.provider_link else None)
    shared_headers = f',"headers":{encode_json(shared)}' if shared else ""
    placeholder = _string(outgoing.placeholder)
    preferences_placeholder = _string(PREFERENCES_PLACEHOLDER)
    for recipient in recipients:
        name = recipient.name
        if not name:
            to = f'{{"email":{_string(recipient.email)}}}'
        else:
            to = f'{{"email":{_string(recipient.email)},"name":{_string(_display_name(name))}}}'
        if shared is not None:
            yield f'{{"to":[{to}]{shared_headers}}}'
            continue
        link, headers = outgoing.links(recipient)
        substitutions = f',"substitutions":{{{placeholder}:{_string(link)}' if link else ""
        if link and (preferences := outgoing.preferences_for(recipient)):
            substitutions += f",{preferences_placeholder}:{_string(preferences)}"
        substitutions += "}" if link else ""
        if headers:
            listed = ",".join([f"{_string(k)}:{_string(v)}" for k, v in headers.items()])
            yield f'{{"to":[{to}]{substitutions},"headers":{{{listed}}}}}'
        else:
            yield f'{{"to":[{to}]{substitutions}}}'


def encode_json(data: object) -> str:
    """JSON as httpx writes a request's: UTF-8 text, no spaces, no NaN."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _error_messages(body: bytes) -> str:
    """SendGrid's own words about a refused request, on one line."""
    text = squash(body.decode("utf-8", "replace"))[:300]
    try:
        errors = json.loads(body.decode("utf-8", "replace")).get("errors", [])
        messages = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        ]
    except (ValueError, AttributeError, TypeError, RecursionError):
        return text
    return "; ".join(f'"{squash(m)[:300]}"' for m in messages) or text


def _wait_seconds(headers: dict[str, str], attempt: int) -> float:
    """How long to wait before the next attempt: the server's word, else backoff with jitter.
    `headers` has its names in lower case."""
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return backoff_seconds(attempt)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Once a process (the suppressions' sync and the send share it): loading the CA bundle
    takes 50 ms."""
    import httpx

    return httpx.create_ssl_context()


class Api:
    """SendGrid's v3 API: one POST at a time, each within `timeout` seconds in all. Its
    connection is kept from one call to the next until `close`, when the next comes within
    KEEP_ALIVE_SECONDS: the batches of a send, which follow one another, then cost no TLS
    handshake and no round trip to open one. After a longer wait the next call opens a new
    one (and `SendGridBackend` closes it before a retry): a connection the server is closing
    at that moment could take a batch of emails with it, and the batch would be unknown."""

    def __init__(self, base_url: str, key: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}", "User-Agent": "digest"}
        self.timeout = timeout
        self.tls = _tls_context()
        self._loop: asyncio.Runner | None = None  # the event loop the client lives in
        self._client: httpx.AsyncClient | None = None

    def request(self, method: str, path: str, body: dict | bytes | None = None,
                query: dict | None = None) -> Answer:
        """SendGrid's answer, whatever its status; raises TimeoutError past the deadline and
        httpx.HTTPError when no HTTP answer came. `body`: data, or JSON already encoded."""
        if self._loop is None:
            self._loop = asyncio.Runner()
        return self._loop.run(self._request(method, path, body, query))

    def close(self) -> None:
        """Closes the kept connection and its event loop; a next request opens new ones."""
        if self._loop is None:
            return
        try:
            if self._client is not None:
                self._loop.run(self._client.aclose())
        finally:
            self._loop.close()
            self._loop, self._client = None, None

    async def _request(self, method: str, path: str, body: dict | bytes | None,
                       query: dict | None) -> Answer:
        import httpx

        headers = self.headers
        if isinstance(body, bytes):
            headers = {**headers, "Content-Type": "application/json"}
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, verify=self.tls,
                limits=httpx.Limits(keepalive_expiry=KEEP_ALIVE_SECONDS))
        client = self._client
        async with asyncio.timeout(self.timeout):
            request = client.build_request(
                method, self.base_url + path, params=query, headers=headers,
                **({"content": body} if isinstance(body, bytes) else {"json": body}))
            response = await client.send(request, stream=True)
            try:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise httpx.RemoteProtocolError(f"an answer over {MAX_ANSWER_BYTES:,} "
                                                        "bytes")
                    chunks.append(chunk)
            finally:
                await response.aclose()
            headers = {name.lower(): value for name, value in response.headers.items()}
            return Answer(response.status_code, headers, b"".join(chunks))


class SendGridBackend:
    name = "sendgrid"

    def __init__(self, config: SendGridConfig, sleep: Callable[[float], None] = time.sleep,
                 tz=None) -> None:
        self.config = config
        self.tz = tz
        self.batch_size = config.batch_size
        self.sleep = sleep
        self.api = Api(config.api_url, api_key(), config.timeout)
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
        self.api.close()

    def _call(self, path: str, body: dict | bytes | None, what: str, may_duplicate: bool,
              method: str = "POST", query: dict | None = None) -> Answer:
        """One API call with retries on 429, 5xx and failed connections. `may_duplicate`: the
        request may take effect without an answer coming back (a batch of emails), so one that
        left and got no answer is not tried again."""
        import httpx

        attempts = self.config.max_attempts
        for attempt in range(attempts):
            headers: dict[str, str] = {}
            try:
                answer = self.api.request(method, path, body, query)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing left: try again
                reason = f"connection failed ({squash(str(exc)) or exc.__class__.__name__})"
            except (TimeoutError, httpx.HTTPError) as exc:
                lost = (f"SendGrid did not answer {what} within {self.config.timeout:g} s"
                        if isinstance(exc, TimeoutError | httpx.TimeoutException) else
                        f"SendGrid's answer to {what} was not HTTP "
                        f"({squash(str(exc)) or exc.__class__.__name__})")
                if may_duplicate:
                    raise UnknownOutcome(f"{lost}; the request may have been accepted") from None
                reason = lost
            else:
                if answer.status < 300:
                    return answer
                if answer.status != 429 and answer.status < 500:
                    raise DeliveryError(f"SendGrid refused {what} (HTTP {answer.status}): "
                                        f"{_error_messages(answer.body)}")
                headers, reason = answer.headers, f"HTTP {answer.status}"
            if attempt == attempts - 1:
                break
            wait = _wait_seconds(headers, attempt)
            if wait > MAX_WAIT_SECONDS:
                raise TemporaryDeliveryError(
                    f"SendGrid asks to wait {wait:.0f} s before {what} ({reason}); run again later"
                )
            self.api.close()  # a retry starts on a new connection: the last one may be going away
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
            answer = self._call("/v3/mail/batch", None, "the batch id request",
                                may_duplicate=False)
            try:
                batch_id = json.loads(answer.body)["batch_id"]
            except (ValueError, KeyError, TypeError, RecursionError):
                batch_id = None
            if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
                raise TemporaryDeliveryError("SendGrid's answer to the batch id request holds no "
                                             "usable batch_id; run again later")
        self.scheduled = (send_at, batch_id)
        return batch_id

    def cancel(self, batch_id: str) -> None:
        body = {"batch_id": batch_id, "status": "cancel"}
        self._call("/v3/user/scheduled_sends", body, "the cancellation", may_duplicate=False)

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
        response = self._call(f"/v3/{path}", None, what, may_duplicate=False, method="GET",
                              query=query)
        try:
            data = json.loads(response.body or b"[]")
        except ValueError:
            data = None
        if not isinstance(data, list):
            raise TemporaryDeliveryError(f"SendGrid's answer for {what} is not a list; run again "
                                         "later")
        return data

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        body = request_body(outgoing, recipients, self.config, self.scheduled)
        answer = self._call("/v3/mail/send", body, f"a batch of {len(recipients)}",
                            may_duplicate=True)
        message_id = answer.headers.get("x-message-id", "")
        sent = Status.SENT
        yield [Outcome(r.key, sent, message_id) for r in recipients]


def _listed(item, kind: Leaving, label: str) -> Suppression | None:
    """One entry of a SendGrid list, or None when it holds no usable address."""
    if not isinstance(item, dict) or not isinstance(item.get("email"), str):
        return None
    key = suppression_key(item["email"])
    if key is None:
        return None
    detail = " ".join(str(item[f]) for f in ("status", "reason") if item.get(f))
    at = provider_time(item.get("created"), time.time())
    return Suppression(key, kind, "sendgrid-sync", f"SendGrid {label}" + (f": {detail}"
                                                                           if detail else ""), at)
