"""Delivery backends behind one small interface, and what they share.

A backend takes the edition's email and a batch of recipients and yields `Outcome`s, in chunks
that the ledger records as they come. It raises `TemporaryDeliveryError` when trying again later
may work, `UnknownOutcome` when a request may or may not have reached the provider, and
`DeliveryError` when the provider refused the request.

What a backend can do beyond sending, it declares: `Scheduling` (send later, cancel before).
Backends are found by name in `BACKENDS`; nothing outside this package imports their classes.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import quote

from digest.errors import EXIT_TEMPFAIL, DigestError
from digest.models import Email, Outcome
from digest.recipients import Recipient

if TYPE_CHECKING:
    from digest.config import Config

BACKOFF_BASE_SECONDS = 0.5

# name → "module:class", imported only when used (the SendGrid client is slow to import)
BACKENDS = {
    "file": "digest.deliver.file:FileBackend",
    "sendgrid": "digest.deliver.sendgrid:SendGridBackend",
    "smtp": "digest.deliver.smtp:SmtpBackend",
}


class DeliveryError(DigestError):
    """The provider refused the request: fix what it says, then send again."""


class TemporaryDeliveryError(DeliveryError):
    """Worth trying again later (rate limit, provider down, connection lost)."""

    exit_code = EXIT_TEMPFAIL


class UnknownOutcome(TemporaryDeliveryError):
    """The request may have reached the provider: its recipients stay `pending`."""


@dataclass(frozen=True)
class Outgoing:
    """The edition's email, and how to personalise it for one reader."""

    email: Email
    edition_id: str
    newsletter: str
    unsubscribe_url: str = ""  # with {email}
    unsubscribe_mailto: str = ""
    placeholder: str = "%unsubscribe_url%"  # what templates put where the link goes

    def unsubscribe_for(self, recipient: Recipient) -> str:
        return self.unsubscribe_url.replace("{email}", quote(recipient.email, safe=""))

    def list_unsubscribe(self, recipient: Recipient) -> dict[str, str]:
        """RFC 2369 List-Unsubscribe, with RFC 8058 one-click when there is a link."""
        targets = []
        if self.unsubscribe_url:
            targets.append(f"<{self.unsubscribe_for(recipient)}>")
        if self.unsubscribe_mailto:
            targets.append(f"<mailto:{self.unsubscribe_mailto}?subject=unsubscribe>")
        if not targets:
            return {}
        headers = {"List-Unsubscribe": ", ".join(targets)}
        if self.unsubscribe_url:
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers

    def message_for(self, recipient: Recipient) -> bytes:
        """The whole MIME message for one reader, with his own To and unsubscribe link."""
        from email.headerregistry import Address

        from digest.message import to_message

        link = self.unsubscribe_for(recipient) if self.unsubscribe_url else self.placeholder
        personal = Email(
            subject=self.email.subject,
            html=self.email.html.replace(self.placeholder, link),
            text=self.email.text.replace(self.placeholder, link),
            preheader=self.email.preheader,
            sender=self.email.sender,
            reply_to=self.email.reply_to,
        )
        username, _, domain = recipient.email.rpartition("@")
        to = Address(display_name=recipient.name, username=username, domain=domain)
        headers = {**self.list_unsubscribe(recipient), "X-Digest-Edition": self.edition_id}
        return to_message(personal, to=to, extra_headers=headers).as_bytes()


class Backend(Protocol):
    name: str
    batch_size: int

    @classmethod
    def open(cls, config: Config, outbox: Path) -> Backend:
        """The backend as `digest.toml` sets it up; `outbox` is the edition's out/<date>/outbox."""
        ...

    @classmethod
    def needs_unsubscribe_link(cls, config: Config) -> bool:
        """False when readers never see the message (files) or the provider adds its own link."""
        ...

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class Scheduling(Protocol):
    """A backend that can hand a send to the provider for later, and cancel it before then."""

    def send_time(self, day: date) -> int | None:
        """The Unix time the edition of `day` is to go out, or None to send now."""
        ...

    def schedule(self, send_at: int, batch_id: str | None) -> str:
        """Send the following batches at `send_at` under `batch_id` (a new one if None)."""
        ...

    def cancel(self, batch_id: str) -> None:
        ...


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise DigestError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def scheduling(backend: Backend) -> Scheduling:
    """The backend's scheduling, or a clear refusal when it has none."""
    if not isinstance(backend, Scheduling):
        raise DigestError(f"the {backend.name} backend cannot schedule or cancel sends; only "
                          "sendgrid can (delivery.sendgrid.send_at)")
    return backend


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter, so that retrying clients do not come back together."""
    return BACKOFF_BASE_SECONDS * (2**attempt) * random.uniform(0.5, 1.5)
