"""The file backend: each reader's message saved as an .eml, for checking before a real send."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from digest.config import Config
from digest.deliver import Outgoing, ascii_address, readdressed
from digest.models import Outcome, Status
from digest.recipients import Recipient


class FileBackend:
    name = "file"
    batch_size = 100

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def open(cls, config: Config, outbox: Path) -> FileBackend:
        return cls(outbox)

    @classmethod
    def needs_unsubscribe_link(cls, config: Config) -> bool:
        return False  # files for a person to look at, not readers

    def close(self) -> None:
        pass

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        outcomes = []
        for recipient in recipients:
            name = file_name(recipient.email)
            (self.folder / name).write_bytes(message(outgoing, recipient))
            outcomes.append(Outcome(recipient.key, Status.SENT, provider_id=name))
        yield outcomes


def message(outgoing: Outgoing, recipient: Recipient) -> bytes:
    """The reader's message as an SMTP server would get it: a non-ASCII address in To is
    punycode, or UTF-8 when its local part needs it, never encoded words."""
    data = outgoing.message_for(recipient)
    if recipient.email.isascii():
        return data
    ascii_to = ascii_address(recipient.email)
    return readdressed(data, recipient.name, ascii_to or recipient.email, ascii_to is None)


def file_name(address: str) -> str:
    """The address as a file name; one with characters replaced gets a hash of the whole
    address, so that two readers never share a file (é and è both become _)."""
    safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", address)
    if safe != address:
        safe += "-" + hashlib.sha256(address.encode("utf-8")).hexdigest()[:8]
    return safe + ".eml"
