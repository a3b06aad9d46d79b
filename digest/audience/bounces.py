"""Delivery status notifications (RFC 3464) read from an mbox or a Maildir, for SMTP senders.

A DSN is a `multipart/report; report-type=delivery-status` message whose `message/delivery-status`
part has one block per recipient: `Final-Recipient` (and maybe `Original-Recipient`), `Action` and
`Status`. Postfix, Exim, Exchange and Gmail all send them. A recipient whose delivery failed with
a permanent status (5.x.x) is a hard bounce and gets suppressed; a temporary one (4.x.x, or a
delay) is only counted: the next send tries again. Anything else in the mailbox (a reply, an
out-of-office, a bounce in a home-made format) is left alone, since guessing an address from
free text could suppress a reader who never bounced.

The standard library's parser reads the report's blocks; the returned headers (when the DSN
includes them) name the edition through `X-Digest-Edition`.

Anyone can mail a report to the bounce address, so a failure counts only when it matches a
message this newsletter sent to that address: the edition its returned headers name was sent to
it, or the report came back to that reader's own return path (`delivery.bounce_address`,
"bounces+{token}@...", VERP), whose token names the reader. The others are listed as unmatched
and change nothing.
"""

from __future__ import annotations

import email
import email.errors
import mailbox
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path

from digest.audience.addresses import suppression_key
from digest.errors import DigestError, Problem
from digest.models import Leaving, Suppression

STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")  # RFC 3464, 6533
HEADER_TYPES = ("text/rfc822-headers", "message/rfc822", "message/global-headers")


@dataclass(frozen=True)
class Failure:
    key: str
    permanent: bool
    reason: str  # status and diagnostic, as the server gave them


@dataclass
class BounceReport:
    path: str
    messages: int = 0
    reports: int = 0  # messages that were DSNs
    hard: list[Suppression] = field(default_factory=list)
    soft: int = 0  # temporary failures and delays: counted, not suppressed
    added: int = 0  # new suppressions
    unreadable: int = 0
    unmatched: int = 0  # failures that match no message this newsletter sent: left alone

    def __str__(self) -> str:
        addresses = len({s.key for s in self.hard})
        others = self.messages - self.reports - self.unreadable
        return (f"{self.path}: {self.messages} message{'s' if self.messages != 1 else ''}, "
                f"{self.reports} delivery report{'s' if self.reports != 1 else ''}: "
                f"{addresses} hard bounce{'s' if addresses != 1 else ''} suppressed "
                f"({self.added} new), {self.soft} soft (counted, not suppressed); "
                + (f"{self.unmatched} unmatched (no message of ours to that address: left "
                   "alone); " if self.unmatched else "")
                + f"{others} other message{'s' if others != 1 else ''} left alone")


# (address key that failed, edition of the returned headers, token of the return path) → the key
# of the reader to suppress, or None when no message of ours went there
Matcher = Callable[[str, str, str], str | None]


def read_bounces(path: Path, report: Callable[[Problem], None], matched: Matcher,
                 bounce_address: str = "") -> BounceReport:
    """Every DSN of the mailbox at `path`, classified (nothing recorded yet); a failure that
    `matched` does not tie to a message of ours is reported and left alone."""
    result = BounceReport(str(path))
    returned_to = _return_path_token(bounce_address)
    for where, raw in _messages(path):
        result.messages += 1
        try:
            message = email.message_from_bytes(raw)
            failures = dsn_failures(message)
        except (email.errors.MessageError, ValueError, LookupError) as error:
            result.unreadable += 1
            report(Problem(where, f"unreadable message ({error.__class__.__name__}); skipped"))
            continue
        if failures is None:
            continue
        result.reports += 1
        edition, at, token = _edition(message), _date(message), returned_to(message)
        for failure in failures:
            key = matched(failure.key, edition, token)
            if key is None:
                result.unmatched += 1
                report(Problem(where, f"report for {failure.key} matches no message this "
                               "newsletter sent to that address (no X-Digest-Edition of an "
                               "edition sent to it, no return path of its own); left alone"))
            elif failure.permanent:
                result.hard.append(Suppression(key, Leaving.BOUNCED, "bounces",
                                               failure.reason, at, edition))
            else:
                result.soft += 1
    return result


_TOKEN_CHARS = r"[A-Za-z0-9_-]{16}"
RETURN_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")


def _return_path_token(bounce_address: str) -> Callable[[Message], str]:
    """What finds, in a report, the token of the reader's own return path it came back to."""
    if not bounce_address:
        return lambda message: ""
    before, _, after = bounce_address.partition("{token}")
    pattern = re.compile(re.escape(before) + f"({_TOKEN_CHARS})" + re.escape(after),
                         re.IGNORECASE)

    def token(message: Message) -> str:
        for name in RETURN_HEADERS:
            for value in message.get_all(name, []):
                found = pattern.search(str(value))
                if found:
                    return found.group(1)
        return ""

    return token


def dsn_failures(message: Message) -> list[Failure] | None:
    """The recipients a DSN reports as failed or delayed; None when it is not a DSN."""
    blocks = [block for part in _report_parts(message) for block in _blocks(part)]
    if not blocks:
        return None
    failures = []
    for block in blocks:
        action = str(block.get("Action", "")).strip().lower()
        if not action.startswith(("failed", "delayed")):
            continue  # delivered, relayed, expanded: no failure; the first block is the message's
        key = _recipient(block)
        if key is None:
            continue
        status = str(block.get("Status", "")).strip()
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        code = STATUS.match(status)
        permanent = action.startswith("failed") and code is not None and code.group(1) == "5"
        reason = " ".join(part for part in (status, diagnostic) if part)
        failures.append(Failure(key, permanent, reason or action))
    return failures


def _report_parts(message: Message) -> Iterator[Message]:
    """The delivery-status parts of the message, not looking inside attached messages (a
    forwarded bounce is someone's email, not a report to us)."""
    if message.get_content_type() in REPORT_TYPES:
        yield message
    elif message.is_multipart():
        for part in message.get_payload():
            if isinstance(part, Message) and part.get_content_type() not in HEADER_TYPES:
                yield from _report_parts(part)


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part (the parser splits them for message/delivery-
    status; the global variant of RFC 6533 arrives as text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, str):
        text = _bytes(part)
        chunks = re.split(rb"\r?\n\s*\r?\n", text)
        return [email.message_from_bytes(chunk) for chunk in chunks if chunk.strip()]
    return []


def _recipient(block: Message) -> str | None:
    """The address we sent to: Original-Recipient when given, else Final-Recipient."""
    for name in ("Original-Recipient", "Final-Recipient"):
        value = str(block.get(name, ""))
        kind, _, address = value.partition(";")
        if not address or kind.strip().lower() not in ("rfc822", "utf-8"):
            continue
        key = suppression_key(address.strip())
        if key is not None:
            return key
    return None


def _edition(message: Message) -> str:
    """The edition whose email bounced, from the returned headers (X-Digest-Edition)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            headers = email.message_from_bytes(_bytes(part))
        elif (kind == "message/rfc822" and part.is_multipart()
              and isinstance(returned := part.get_payload(0), Message)):
            headers = returned
        else:
            continue
        edition = str(headers.get("X-Digest-Edition", "")).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}-[0-9a-f]{10}", edition):
            return edition
    return ""


def _bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _date(message: Message) -> float:
    try:
        return parsedate_to_datetime(str(message.get("Date", ""))).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0


def _messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of each message: a Maildir folder, an mbox file, or one message file."""
    if path.is_dir():
        if not ((path / "cur").is_dir() or (path / "new").is_dir()):
            raise DigestError(f"{path}: not a Maildir (no cur/ or new/ folder) nor an mbox file; "
                              "give the mailbox that receives the bounces")
        box: mailbox.Mailbox = mailbox.Maildir(path, factory=None, create=False)
    elif path.is_file():
        try:
            with path.open("rb") as handle:
                single = handle.read(5) != b"From "
        except OSError as error:
            raise DigestError(f"{path}: cannot be read ({error.strerror})") from None
        if single:  # one message saved as a file (.eml)
            yield str(path), path.read_bytes()
            return
        box = mailbox.mbox(path, factory=None, create=False)
    else:
        raise DigestError(f"{path}: no such mailbox; give an mbox file or a Maildir folder")
    try:
        for number, key in enumerate(box.iterkeys(), 1):
            try:
                yield f"{path}#{number}", box.get_bytes(key)
            except (KeyError, FileNotFoundError):
                continue  # taken away (read by a mail client) while we read
    finally:
        box.close()
