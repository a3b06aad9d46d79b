"""A person's rights over what is held about him: access (`digest readers export`, GDPR article
15) and erasure (`digest readers erase`, article 17).

Erasing removes the reader from the state database and from `recipients.csv` (rewritten
atomically, every other line byte for byte as it was), deletes the messages the file backend
wrote to him, and keeps in the ledger and the suppressions only his address's keyed hash
(`digest.state.erasure`), so that no edition reaches him again.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

from digest.atomic import replace_file
from digest.audience.addresses import suppression_key
from digest.audience.recipients import header_columns, split_line
from digest.dates import utc_text
from digest.deliver import MAX_NAME, ascii_address, safe_stem
from digest.errors import ConfigError, UsageError
from digest.folder import Folder
from digest.state.lock import SendLocked, send_lock

ERASE_WAIT_SECONDS = 60.0  # for a send under way to finish


@dataclass
class Held:
    """Everything digest holds about one address."""

    address: str
    sign_up: dict | None = None
    pending_sign_ups: list[dict] = field(default_factory=list)
    recipients_csv: list[dict] = field(default_factory=list)
    editions: list[dict] = field(default_factory=list)
    suppression: dict | None = None
    confirmation_emails: list[str] = field(default_factory=list)
    sign_ups_queued: list[str] = field(default_factory=list)
    unsubscribe_tokens: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(value for name, value in asdict(self).items() if name != "address")

    def as_dict(self) -> dict:
        return asdict(self)


def _key(address: str) -> str:
    key = suppression_key(address)
    if key is None:
        raise UsageError(f"{address!r} is not an email address; give the address as the reader "
                         "wrote it (e.g. reader@example.org)")
    return key


def export(folder: Folder, address: str) -> Held:
    key = _key(address)
    state = folder.state
    state.suppressions.read_list()  # an address an editor added to the CSV by hand
    held = Held(address=key)
    if reader := state.readers.get(key):
        held.sign_up = {**asdict(reader), "status": "confirmed" if reader.confirmed_at else
                        "preferences only", "signed_up_at": utc_text(reader.signed_up_at),
                        "confirmed_at": utc_text(reader.confirmed_at)
                        if reader.confirmed_at else None}
    held.pending_sign_ups = [{**asdict(p), "signed_up_at": utc_text(p.signed_up_at)}
                             for p in state.readers.pending(key)]
    for pending in held.pending_sign_ups:
        pending.pop("nonce")  # the secret of a confirmation link, not about him
    held.recipients_csv = [{"line": line, "row": row} for line, row, _ in _listed(folder, key)]
    held.editions = [{**row, "at": utc_text(float(row["at"]))}  # type: ignore[arg-type]
                     for row in state.ledger.deliveries_to(key)]
    if entry := state.suppressions.get(key):
        held.suppression = {"kind": str(entry.kind), "source": entry.source,
                            "reason": entry.reason, "at": utc_text(entry.at),
                            "after_edition": entry.edition_id or None}
    extra = state.readers.held(key)
    held.confirmation_emails = [utc_text(at) for at in extra["confirmation_emails"]]
    held.sign_ups_queued = [utc_text(at) for at in extra["sign_ups_queued"]]
    held.unsubscribe_tokens = extra["unsubscribe_tokens"]
    held.files = [str(path.relative_to(folder.root))
                  for path in _files(folder, key, _listed(folder, key))]
    return held


@dataclass
class ErasureReport:
    address: str
    record: bool = False
    lines: int = 0  # of recipients.csv
    deliveries: int = 0
    files: int = 0
    journal_emptied: bool = True  # the database's write-ahead log holds no old copy

    def __str__(self) -> str:
        journal = "" if self.journal_emptied else (
            "; the database's journal (.digest/state.db-wal) still holds old copies until "
            "`digest serve` stops reading: run erase again then")
        return (f"{self.address}: erased (sign-up record: {'yes' if self.record else 'none'}, "
                f"recipients.csv lines: {self.lines}, ledger rows now hashed: {self.deliveries}, "
                f"files deleted: {self.files}); no edition will reach this address again"
                + journal)


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
    listed = _listed(folder, key)
    files = _files(folder, key, listed)  # found by the addresses as written, before they go
    lines = [line for line, _, _ in listed]
    erased = folder.state.erasure.erase(key)
    journal_emptied = folder.state.db.checkpoint()
    if lines:
        _rewrite_without(folder.config.resolve(folder.config.delivery.recipients), set(lines))
    for path in files:
        with suppress(FileNotFoundError):
            path.unlink()
    return ErasureReport(key, bool(erased.readers), len(lines), erased.deliveries, len(files),
                         journal_emptied)


# -- recipients.csv ---------------------------------------------------------------------------


def _listed(folder: Folder, key: str) -> list[tuple[int, dict[str, str], str]]:
    """(line number, row, address as written) of each line of recipients.csv for this key."""
    found: list[tuple[int, dict[str, str], str]] = []
    header = None
    path = folder.config.resolve(folder.config.delivery.recipients)
    for number, raw in enumerate(_physical_lines(path), 1):
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


# -- the file backend's messages --------------------------------------------------------------


def _files(folder: Folder, key: str, listed: list[tuple[int, dict[str, str], str]]
           ) -> list[Path]:
    """The messages the file backend wrote to this address (editions, confirmations, welcomes),
    whatever its spelling (case, a domain in Unicode or punycode): found by their names, each
    then checked by its To header."""
    spellings = {key, ascii_address(key) or key, *(written for _, _, written in listed)}
    if reader := folder.state.readers.get(key):
        spellings.add(reader.address)
    stems = {safe_stem(spelling)[:MAX_NAME].lower() for spelling in spellings}
    out = folder.out_root
    folders = [*out.glob("*/outbox"), *out.glob("signups/*")] if out.is_dir() else []
    found = []
    for directory in folders:
        for path in directory.glob("*.eml"):
            stem = path.name[:-4].lower()
            hashed = len(stem) > 9 and stem[-9] == "-"  # a name made unique by a hash
            if (stem in stems or (hashed and stem[:-9] in stems)) and _addressed_to(path, key):
                found.append(path)
    return sorted(found)


def _addressed_to(path: Path, key: str) -> bool:
    try:
        with path.open("rb") as handle:
            headers = BytesHeaderParser(policy=default_policy).parse(handle)
    except OSError:
        return False
    return any(suppression_key(address) == key
               for _, address in getaddresses([str(headers.get("To", ""))]))
