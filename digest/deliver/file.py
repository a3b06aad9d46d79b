"""The file backend: each reader's message saved as an .eml, for checking before a real send."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from digest.audience.recipients import Recipient
from digest.config import Config
from digest.deliver import (
    Outgoing,
    TemporaryDeliveryError,
    ascii_address,
    message_file_name,
    readdressed,
)
from digest.models import Outcome, Status

# errors about the folder or the disk, not about one reader's file: they stop the send
STOPPING = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENOENT, errno.EACCES, errno.EIO}


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
        """Each reader's file; one that cannot be written is that reader's failure (tried again
        next run), but a full, read-only or vanished disk stops the send with the rest still to
        do, as a relay that is down does."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TemporaryDeliveryError(f"{self.folder}: cannot be created ({error.strerror}); "
                                         "nothing written, run again once it can") from None
        outcomes: list[Outcome] = []
        for recipient in recipients:
            name = message_file_name(recipient.email)
            try:
                _write_whole(self.folder / name, message(outgoing, recipient))
            except OSError as error:
                if error.errno in STOPPING:
                    yield outcomes  # those written are sent; the others stay to do
                    raise TemporaryDeliveryError(
                        f"{self.folder}: {error.strerror}; {len(outcomes)} of this batch "
                        "written, the others are still to do: run again once there is room"
                    ) from None
                outcomes.append(Outcome(recipient.key, Status.FAILED,
                                        error=f"{name}: {error.strerror}"))
                continue
            outcomes.append(Outcome(recipient.key, Status.SENT, provider_id=name))
        yield outcomes


def _write_whole(path: Path, data: bytes) -> None:
    """The file written under a temporary name, then renamed: whoever watches the folder (an
    editor, a test) never reads half a message. Not synced: these are copies to look at."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


def message(outgoing: Outgoing, recipient: Recipient) -> bytes:
    """The reader's message as an SMTP server would get it: a non-ASCII address in To is
    punycode, or UTF-8 when its local part needs it, never encoded words."""
    data = outgoing.message_for(recipient)
    if recipient.email.isascii():
        return data
    ascii_to = ascii_address(recipient.email)
    return readdressed(data, recipient.name, ascii_to or recipient.email, ascii_to is None)
