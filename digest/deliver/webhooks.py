"""SendGrid's Event Webhook: a signed batch of events about sent emails, some of which mean the
address must not get another one (a bounce, a spam report, an unsubscribe), and clicks and
opens, which count for the edition's stories (never for the reader).

SendGrid signs `timestamp + body` with ECDSA P-256; the public key is the "verification key" of
Mail Settings → Event Webhook (`delivery.sendgrid.webhook_public_key`). The sendgrid package's
`EventWebhook` helper checks the signature; a timestamp outside a few minutes of now is refused
too, so a batch caught on its way cannot be played again later.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import date

from digest.audience.addresses import suppression_key
from digest.config_checks import bare_key
from digest.dates import provider_time
from digest.models import Leaving, Suppression

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
REPLAY_WINDOW_SECONDS = 300
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# dropped: SendGrid did not even try, because of what it knows of the address (other reasons,
# such as an invalid SMTPAPI header, are about the message and suppress nobody)
DROPPED = {
    "bounced address": Leaving.BOUNCED,
    "invalid": Leaving.BOUNCED,
    "spam reporting address": Leaving.COMPLAINED,
    "unsubscribed address": Leaving.UNSUBSCRIBED,
}
EVENTS = {
    "bounce": Leaving.BOUNCED,
    "spamreport": Leaving.COMPLAINED,
    "unsubscribe": Leaving.UNSUBSCRIBED,
    "group_unsubscribe": Leaving.UNSUBSCRIBED,
}


class WebhookRefused(Exception):
    """The request is not a batch SendGrid signed just now: answer 403, change nothing."""


@dataclass(frozen=True)
class EventBatch:
    events: int
    suppressions: list[Suppression]
    clicks: list[tuple[str, str]] = field(default_factory=list)  # (the edition's day, the URL)
    opens: list[str] = field(default_factory=list)  # the day of each edition opened


class EventVerifier:
    def __init__(self, public_key: str, newsletter: str = "") -> None:
        from sendgrid.helpers.eventwebhook import EventWebhook

        self._webhook = EventWebhook(bare_key(public_key))  # ValueError: not a key
        self.newsletter = newsletter  # clicks and opens of another newsletter are not ours

    def verified(self, body: bytes, signature: str, timestamp: str, now: float) -> EventBatch:
        """The batch's suppressions, once its signature and age are checked."""
        try:
            moment = int(timestamp)
        except ValueError:
            raise WebhookRefused("no timestamp") from None
        if math.fabs(now - moment) > REPLAY_WINDOW_SECONDS:
            raise WebhookRefused(f"timestamp {int(now - moment)} s away from now")
        try:
            text = body.decode("utf-8")
            valid = bool(signature) and self._webhook.verify_signature(text, signature, timestamp)
        except (ValueError, TypeError):  # not UTF-8, not base64, not a DER signature
            valid = False
        if not valid:
            raise WebhookRefused("bad signature")
        try:
            events = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than any batch
            raise WebhookRefused("signed, but not JSON") from None
        if not isinstance(events, list):
            raise WebhookRefused("signed, but not a list of events")
        received = len(events)
        events = [event for event in events if isinstance(event, dict)]
        found = [s for event in events if (s := _suppression(event))]
        ours = [event for event in events
                if event.get("newsletter") in (None, self.newsletter) or not self.newsletter]
        clicks = [(day, event["url"]) for event in ours
                  if event.get("event") == "click" and isinstance(event.get("url"), str)
                  and (day := _edition_day(event))]
        opens = [day for event in ours if event.get("event") == "open"
                 and (day := _edition_day(event))]
        return EventBatch(received, found, clicks, opens)


def _edition_day(event: dict) -> str:
    """The day of the edition an event is about (its `edition` custom argument), or ""."""
    edition = event.get("edition")
    day = edition[:10] if isinstance(edition, str) else ""
    if not _DAY.fullmatch(day):
        return ""
    try:
        return date.fromisoformat(day).isoformat()
    except ValueError:
        return ""


def _suppression(event: dict) -> Suppression | None:
    name = str(event.get("event", ""))
    kind = EVENTS.get(name)
    reason = " ".join(str(event[f]) for f in ("type", "status", "reason") if event.get(f))
    if name == "dropped":
        kind = DROPPED.get(str(event.get("reason", "")).strip().lower())
    elif name == "group_unsubscribe" and event.get("asm_group_id"):
        reason = f"group {event['asm_group_id']}"
    address = event.get("email")
    key = suppression_key(address) if kind and isinstance(address, str) else None
    if key is None or kind is None:
        return None
    at = provider_time(event.get("timestamp"), time.time())
    edition = event.get("edition")  # the custom_args of the send come back with each event
    return Suppression(key, kind, "sendgrid-events", f"SendGrid {name}" +
                       (f": {reason}" if reason else ""), at,
                       edition if isinstance(edition, str) else "")
