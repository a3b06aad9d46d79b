"""Delivery backends behind one small interface, and what they share.

A backend takes the edition's email and a batch of recipients and yields `Outcome`s, in chunks
that the ledger records as they come. It raises `TemporaryDeliveryError` when trying again later
may work, `UnknownOutcome` when a request may or may not have reached the provider, and
`DeliveryError` when the provider refused the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from digest.deliver.ledger import Outcome
from digest.errors import EXIT_TEMPFAIL, DigestError
from digest.models import Email
from digest.recipients import Recipient


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

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        ...

    def close(self) -> None:
        ...
