"""`digest readers`: who signed up (list), readers an editor brings (import), and a person's rights
over what is held about him: access (export, GDPR article 15) and erasure (article 17).

Erasing removes the reader from the state database and from `recipients.csv` (rewritten
atomically, every other line byte for byte as it was), deletes the messages the file backend
wrote to him, and keeps in the ledger and the suppressions only his address's keyed hash
(`digest.state.erasure`), so that no edition reaches him again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from digest.atomic import replace_file
from digest.audience.addresses import suppression_key
from digest.audience.notices import Postman
from digest.audience.recipients import (
    Recipient,
    header_columns,
    newsletter_readers,
    read_recipients,
    split_line,
)
from digest.audience.signing import Signer
from digest.audience.signups import SignUps, clean_choices
from digest.config import Config
from digest.dates import utc_text
from digest.deliver import message_file_name
from digest.errors import ConfigError, Problem, UsageError
from digest.folder import Folder
from digest.state.lock import SendLocked, send_lock
from digest.state.readers import Reader, ReaderStatus, SignUpRequest, Source

ERASE_WAIT_SECONDS = 60.0  # for a send under way to finish


@dataclass
class Roster:
    """The readers who signed up, and how many of each status and source."""

    readers: list[Reader]
    counts: dict[tuple[str, str], int]  # {(status, source): readers}
    listed: int  # readers of recipients.csv, less its suppressions

    def summary(self) -> str:
        parts = []
        for status in ReaderStatus:
            sources = {src: n for (st, src), n in sorted(self.counts.items()) if st == status}
            detail = ", ".join(f"{n} {src}" for src, n in sources.items())
            parts.append(f"{sum(sources.values())} {status}" + (f" ({detail})" if detail else ""))
        return f"signed up: {', '.join(parts)}; recipients.csv: {self.listed}"

    def lines(self) -> list[str]:
        return [f"{r.address}  {r.status}  {r.source}  signed up {utc_text(r.signed_up_at)}"
                + (f"  confirmed {utc_text(r.confirmed_at)}" if r.confirmed_at else "")
                for r in self.readers]


def roster(folder: Folder) -> Roster:
    readers = folder.state.readers
    listed = sum(1 for _ in newsletter_readers(folder.config, lambda problem: None))
    return Roster(readers.all(), dict(readers.counts()), listed)


# -- import -----------------------------------------------------------------------------------


@dataclass
class Imported:
    added: int = 0
    known: int = 0  # already signed up: left as they were
    confirmations: int = 0  # emails sent (--confirm)

    def __str__(self) -> str:
        sent = f", {self.confirmations} confirmation emails sent" if self.confirmations else ""
        return f"{self.added} readers added, {self.known} already known{sent}"


def import_readers(folder: Folder, path: Path, *, confirm: bool,
                   report: Callable[[Problem], None]) -> Imported:
    """The readers of a CSV (email, optional name and sections), marked as imported: confirmed
    at once (the editor vouches for their consent), or pending with a confirmation email."""
    config = folder.config
    state = folder.state
    rows = list(read_recipients(path, str(path), set(), report))
    requests = [_request(config, reader) for reader in rows]
    result = Imported()
    now = time.time()
    if not confirm:
        result.added = state.readers.add_confirmed(requests, Source.IMPORT,
                                                   config.signup.consent_version, now)
        result.known = len(requests) - result.added
        return result
    signups = SignUps(folder, Signer.from_environment(config.newsletter.url))
    with Postman(config).opened() as postman:
        for request in requests:
            known = state.readers.get(request.key) is not None
            outcome = state.readers.sign_up(
                request, suppressed=signups.suppressed(request.key), source=Source.IMPORT,
                consent_version=config.signup.consent_version,
                confirmations_per_day=config.signup.confirmations_per_day, now=now)
            result.known += known
            result.added += not known
            if outcome.confirm:
                signups.send_confirmation(outcome.reader, postman)
                result.confirmations += 1
    return result


def _request(config: Config, reader: Recipient) -> SignUpRequest:
    fields = dict(reader.fields)
    choices = clean_choices(config, reader.name, fields.get("sections", "").split(";"),
                            fields.get("language", ""))
    return SignUpRequest(reader.key, reader.email, choices.name, choices.sections,
                         choices.language)


# -- access and erasure -----------------------------------------------------------------------


@dataclass
class Held:
    """Everything digest holds about one address."""

    address: str
    sign_up: dict | None = None
    recipients_csv: list[dict] = field(default_factory=list)
    editions: list[dict] = field(default_factory=list)
    suppression: dict | None = None
    confirmation_emails: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.sign_up or self.recipients_csv or self.editions or self.suppression
                    or self.confirmation_emails or self.files)

    def as_dict(self) -> dict:
        return asdict(self)


def _key(address: str) -> str:
    key = suppression_key(address)
    if key is None:
        raise UsageError(f"{address!r} is not an email address")
    return key


def export(folder: Folder, address: str) -> Held:
    key = _key(address)
    state = folder.state
    held = Held(address=key)
    if reader := state.readers.get(key):
        held.sign_up = {**asdict(reader), "signed_up_at": utc_text(reader.signed_up_at),
                        "confirmed_at": utc_text(reader.confirmed_at) if reader.confirmed_at
                        else None}
        held.sign_up.pop("nonce")  # a secret of the confirmation link, not about him
    held.recipients_csv = [{"line": line, "row": row} for line, row, _ in _listed(folder, key)]
    held.editions = [{**row, "at": utc_text(float(row["at"]))}  # type: ignore[arg-type]
                     for row in state.ledger.deliveries_to(key)]
    if entry := state.suppressions.get(key):
        held.suppression = {"kind": str(entry.kind), "source": entry.source,
                            "reason": entry.reason, "at": utc_text(entry.at),
                            "after_edition": entry.edition_id or None}
    held.confirmation_emails = [utc_text(at) for at in state.readers.confirmations(key)]
    held.files = [str(path.relative_to(folder.root)) for path in _files(folder, key)]
    return held


@dataclass
class ErasureReport:
    address: str
    record: bool = False
    lines: int = 0  # of recipients.csv
    deliveries: int = 0
    files: int = 0

    def __str__(self) -> str:
        return (f"{self.address}: erased (sign-up record: {'yes' if self.record else 'none'}, "
                f"recipients.csv lines: {self.lines}, ledger rows now hashed: {self.deliveries}, "
                f"files deleted: {self.files}); no edition will reach this address again")


def erase(folder: Folder, address: str) -> ErasureReport:
    """Under the send lock: a send running would write the address to the ledger again."""
    key = _key(address)
    try:
        with send_lock(folder.send_lock_path, ERASE_WAIT_SECONDS):
            return _erase(folder, key)
    except SendLocked:
        raise SendLocked("a send of this newsletter is running; nothing erased: run "
                         "`digest readers erase` again when it is done") from None


def _erase(folder: Folder, key: str) -> ErasureReport:
    files = _files(folder, key)  # found by the addresses as written, before they go
    lines = [line for line, _, _ in _listed(folder, key)]
    erased = folder.state.erasure.erase(key)
    if lines:
        _rewrite_without(folder.config.resolve(folder.config.delivery.recipients), set(lines))
    for path in files:
        with suppress(FileNotFoundError):
            path.unlink()
    return ErasureReport(key, bool(erased.readers), len(lines), erased.deliveries, len(files))


def _listed(folder: Folder, key: str) -> list[tuple[int, dict[str, str], str]]:
    """(line number, row, address as written) of each line of recipients.csv for this key."""
    found: list[tuple[int, dict[str, str], str]] = []
    path = folder.config.resolve(folder.config.delivery.recipients)
    lines = _physical_lines(path)
    if not lines:
        return found
    header = None
    for number, raw in enumerate(lines, 1):
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8", "replace").rstrip("\r\n")
        if header is None:
            header = header_columns(text) if text else None
            if header is None and text:
                return found
            continue
        columns, separator = header
        fields, _ = split_line(text, separator)
        row = dict(zip(columns, (f.strip() for f in fields), strict=False))
        written = row.get("email", "")
        if written and suppression_key(written) == key:
            found.append((number, row, written))
    return found


def _physical_lines(path: Path) -> list[bytes]:
    """The file's lines with their endings, as recipients.csv is read: LF or CRLF, or bare CR
    in a file without LF."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    ending = rb"(?<=\n)" if b"\n" in data or b"\r" not in data else rb"(?<=\r)"
    return [line for line in re.split(ending, data) if line]


def _rewrite_without(path: Path, numbers: set[int]) -> None:
    """Replace the file, atomically and durably, by its lines less those numbered."""
    kept = [line for number, line in enumerate(_physical_lines(path), 1) if number not in numbers]
    try:
        replace_file(path, kept)
    except OSError as error:
        raise ConfigError(f"{path}: cannot be rewritten ({error.strerror}); its lines for the "
                          "address are still there (no edition reaches it: its suppression "
                          "holds), run erase again") from None


def _files(folder: Folder, key: str) -> list[Path]:
    """The messages the file backend wrote to this address (editions, confirmations)."""
    addresses = {key, *(written for _, _, written in _listed(folder, key))}
    if reader := folder.state.readers.get(key):
        addresses.add(reader.address)
    names = {message_file_name(address) for address in addresses}
    out = folder.out_root
    folders = [*out.glob("*/outbox"), *out.glob("signups/*")] if out.is_dir() else []
    return sorted(path for directory in folders for name in names
                  if (path := directory / name).is_file())
