"""Delivery backends behind one small interface, and what they share.

A backend takes the edition's email and a batch of recipients and yields `Outcome`s, in chunks
that the ledger records as they come. It raises `TemporaryDeliveryError` when trying again later
may work, `UnknownOutcome` when a request may or may not have reached the provider, and
`DeliveryError` when the provider refused the request.

What a backend can do beyond sending, it declares: `Scheduling` (send later, cancel before),
`SuppressionSource` (the provider's own lists of who left or bounced). Backends are found by name
in `BACKENDS`; nothing outside this package imports their classes.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes
from email.headerregistry import Address
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import quote

from digest.audience.recipients import Recipient
from digest.audience.signing import PREFERENCES_PLACEHOLDER, TOKEN, Signer
from digest.deliver.template import MessageTemplate
from digest.errors import EXIT_TEMPFAIL, ConfigError, DigestError
from digest.headers import header_text
from digest.message import POLICY
from digest.models import Email, Outcome, Suppression

if TYPE_CHECKING:
    from digest.config import Config

BACKOFF_BASE_SECONDS = 0.5
# `delivery.unsubscribe_url = "{asm_unsubscribe_url}"`: SendGrid's page for its unsubscribe group,
# whose own tag SendGrid replaces per reader
ASM_UNSUBSCRIBE = "{asm_unsubscribe_url}"
SENDGRID_ASM_TAG = "<%asm_group_unsubscribe_raw_url%>"

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
    unsubscribe_url: str = ""  # with {unsubscribe_token}, {email} or {asm_unsubscribe_url}
    unsubscribe_mailto: str = ""
    placeholder: str = "%unsubscribe_url%"  # what templates put where the link goes
    signer: Signer | None = None  # makes {unsubscribe_token}, and the return paths' {token}
    bounce_address: str = ""  # "bounces+{token}@...": each reader's return path (VERP)
    preferences_url: str = ""  # with {unsubscribe_token}: each reader's preferences page
    list_id: str = ""  # RFC 2919's List-Id, the same in every copy

    @cached_property
    def provider_link(self) -> bool:
        """The link is the provider's own page (SendGrid's group unsubscribe), the same tag for
        every reader: the provider personalises it and adds its own List-Unsubscribe."""
        return ASM_UNSUBSCRIBE in self.unsubscribe_url

    @cached_property
    def _link_template(self) -> tuple[str, bool, bool]:
        """`unsubscribe_url` with the provider's tag in place, and whether it holds a token and
        an address to fill in for each reader."""
        url = self.unsubscribe_url.replace(ASM_UNSUBSCRIBE, SENDGRID_ASM_TAG)
        return url, TOKEN in url, "{email}" in url

    @cached_property
    def _mailto(self) -> str:
        mailto = self.unsubscribe_mailto
        return f"<mailto:{mailto}?subject=unsubscribe>" if mailto else ""

    def return_path(self, recipient: Recipient) -> str:
        """The reader's own bounce address (VERP), or "" to use the sender's."""
        if not self.bounce_address:
            return ""
        if self.signer is None:
            raise ConfigError("delivery.bounce_address uses {token} but no secret signs it")
        return self.bounce_address.replace("{token}", self.signer.token(recipient.key))

    def unsubscribe_for(self, recipient: Recipient) -> str:
        url, token, email = self._link_template
        if token:
            if self.signer is None:
                raise ConfigError(f"delivery.unsubscribe_url uses {TOKEN} but no secret signs it")
            url = url.replace(TOKEN, self.signer.token(recipient.key))
        return url.replace("{email}", quoted(recipient.email)) if email else url

    def preferences_for(self, recipient: Recipient) -> str:
        if not self.preferences_url or self.signer is None:
            return ""
        return self.preferences_url.replace(TOKEN, self.signer.token(recipient.key))

    def links(self, recipient: Recipient) -> tuple[str, dict[str, str]]:
        """The reader's unsubscribe link ("" when there is none) and his List-Unsubscribe
        headers: the link made once, for the body and the headers."""
        link = self.unsubscribe_for(recipient) if self.unsubscribe_url else ""
        return link, self.list_unsubscribe(link)

    def list_unsubscribe(self, link: str) -> dict[str, str]:
        """RFC 2369 List-Unsubscribe with the reader's `link`, and RFC 8058 one-click, unless
        the link is the provider's own page."""
        mailto = self._mailto
        if link and not self.provider_link:  # one click
            return {"List-Unsubscribe": f"<{link}>, {mailto}" if mailto else f"<{link}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        return {"List-Unsubscribe": mailto} if mailto else {}

    def message_for(self, recipient: Recipient) -> bytes:
        """The whole MIME message for one reader, with his own To and unsubscribe link."""
        link, unsubscribe = self.links(recipient)
        values = {self.placeholder: link or self.placeholder}
        if preferences := self.preferences_for(recipient):
            values[PREFERENCES_PLACEHOLDER] = preferences
        username, _, domain = recipient.email.rpartition("@")
        to = Address(display_name=header_text(recipient.name), username=username, domain=domain)
        return self._template.message(to, unsubscribe, values)

    @cached_property
    def _template(self) -> MessageTemplate:
        """The message every copy is made from (digest.deliver.template)."""
        return MessageTemplate(self.email, self.shared_headers(),
                               (self.placeholder, PREFERENCES_PLACEHOLDER))

    def shared_headers(self) -> dict[str, str]:
        """The headers of every copy besides the email's own: List-Id, the edition's id."""
        return {**({"List-Id": self.list_id} if self.list_id else {}),
                "X-Digest-Edition": self.edition_id}


_UNRESERVED = re.compile(r"[^A-Za-z0-9_.~-]")  # what quote(..., safe="") escapes in ASCII


def quoted(text: str) -> str:
    """`urllib.parse.quote(text, safe="")`, a reader's address at a time: for ASCII text (most
    addresses) only the one or two characters to escape cost a call, not every character, and
    an address whose only one is its @ none."""
    if not text.isascii():
        return quote(text, safe="")
    local, at, domain = text.partition("@")
    if at and not _UNRESERVED.search(local) and not _UNRESERVED.search(domain):
        return f"{local}%40{domain}"
    return _UNRESERVED.sub(lambda match: f"%{ord(match.group()):02X}", text)


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


@runtime_checkable
class SuppressionSource(Protocol):
    """A provider that keeps its own lists of addresses not to send to (unsubscribes, bounces,
    spam reports), which digest reads into its suppressions."""

    @classmethod
    def syncs_before_send(cls, config: Config) -> bool:
        """Whether a send reads the lists first (delivery.sendgrid.sync_suppressions)."""
        ...

    def suppressions(self, since: Mapping[str, int]
                     ) -> Iterator[tuple[str, int, list[Suppression]]]:
        """For each list: (its name, the time it was read up to, its entries added since
        `since[name]`, or all of them when the list was never read)."""
        ...


def check_unsubscribe_link(config: Config, backend_name: str) -> Signer | None:
    """What `delivery.unsubscribe_url` needs to work with this backend, checked before anything
    is built: the signer of {unsubscribe_token} (None when the link has none)."""
    url = config.delivery.unsubscribe_url
    if ASM_UNSUBSCRIBE in url and (backend_name != "sendgrid"
                                   or not config.delivery.sendgrid.asm_group_id):
        raise ConfigError(f"digest.toml: delivery.unsubscribe_url: {ASM_UNSUBSCRIBE} is "
                          "SendGrid's page for an unsubscribe group: it needs the sendgrid backend "
                          "and delivery.sendgrid.asm_group_id")
    return Signer.for_link(url, config.newsletter.url)


def ascii_address(address: str) -> str | None:
    """The address with an IDNA domain as punycode; None when its local part is not ASCII."""
    if address.isascii():
        return address
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError:
        return None


def readdressed(message: bytes, name: str, address: str, utf8: bool) -> bytes:
    """The message with To: fit for SMTP (and for a file that a mail client opens); only that
    line changes.

    The message module writes a non-ASCII address as encoded words, which no address may hold:
    SMTPUTF8 takes it in UTF-8, otherwise the domain goes as punycode.
    """
    parsed = message_from_bytes(message, policy=POLICY.clone(utf8=utf8))
    username, _, domain = address.rpartition("@")
    parsed.replace_header("To", Address(display_name=header_text(name), username=username,
                                        domain=domain))
    return parsed.as_bytes()

# a file name's characters before its hash and ".eml": within the 255 bytes of ext4 and most
MAX_NAME = 200
_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9@._+-]")


def safe_stem(address: str) -> str:
    """The address with every character a file name should not hold replaced by "_"."""
    return _UNSAFE_IN_NAMES.sub("_", address)


def message_file_name(address: str) -> str:
    """The address as a file name; one with characters replaced gets a hash of the whole
    address, so that two readers never share a file (é and è both become _), and so does one
    too long for a file system (a valid address has up to 254 characters, a name 255 bytes)."""
    safe = safe_stem(address)
    if safe != address or len(safe) > MAX_NAME:
        safe = safe[:MAX_NAME] + "-" + hashlib.sha256(address.encode("utf-8")).hexdigest()[:8]
    return safe + ".eml"


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
