"""`digest readers list` and `import`: who signed up, and readers an editor brings. A person's
rights over what is held about him (export, erase): `digest.audience.privacy`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digest.audience.notices import Postman
from digest.audience.recipients import (
    Recipient,
    newsletter_readers,
    read_recipients,
)
from digest.audience.signing import Signer
from digest.audience.signups import SignUps, clean_choices, without_addresses
from digest.config import Config
from digest.dates import utc_text
from digest.deliver import TemporaryDeliveryError
from digest.errors import Problem, UsageError
from digest.folder import Folder
from digest.state.readers import PendingSignUp, Reader, SignUpRequest, Source


@dataclass
class Roster:
    """The readers who signed up (confirmed, or left since), those waiting for their
    confirmation, and how many of each status and source."""

    readers: list[tuple[Reader, str]]  # with "confirmed" or "left" (suppressed since)
    pending: list[PendingSignUp]  # of addresses not confirmed
    listed: int  # readers of recipients.csv, less its suppressions

    def counts(self) -> Counter[tuple[str, str]]:
        """{(status, source): addresses}."""
        counts = Counter((status, str(r.source)) for r, status in self.readers)
        counts.update(("pending", str(p.source)) for p in
                      {p.key: p for p in self.pending}.values())
        return counts

    def summary(self) -> str:
        parts = []
        counts = self.counts()
        for status in ("pending", "confirmed", "left"):
            sources = {src: n for (st, src), n in sorted(counts.items()) if st == status}
            detail = ", ".join(f"{n} {src}" for src, n in sources.items())
            parts.append(f"{sum(sources.values())} {status}" + (f" ({detail})" if detail else ""))
        return f"signed up: {', '.join(parts)}; recipients.csv: {self.listed}"

    def lines(self) -> list[str]:
        lines = [f"{r.address}  {status}  {r.source}  signed up {utc_text(r.signed_up_at)}"
                 f"  confirmed {utc_text(r.confirmed_at or 0)}" for r, status in self.readers]
        return lines + [f"{p.address}  pending  {p.source}  signed up {utc_text(p.signed_up_at)}"
                        for p in self.pending]


def roster(folder: Folder) -> Roster:
    """Every reader who signed up; not those of the list who only chose their preferences."""
    state = folder.state
    suppressed = state.suppressions.keys()
    readers = [(r, "left" if r.key in suppressed else "confirmed")
               for r in state.readers.all() if r.source != Source.EDITOR]
    confirmed = {r.key for r, _ in readers}
    pending = [p for p in state.readers.pending() if p.key not in confirmed]
    listed = sum(1 for _ in newsletter_readers(folder.config, lambda problem: None))
    return Roster(readers, pending, listed)


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
    if not path.is_file():
        raise UsageError(f"{path}: no such file; give a CSV with an email column")
    rows = list(read_recipients(path, str(path), set(), report, frozenset(config.sections)))
    requests = [_request(config, reader) for reader in rows]
    result = Imported()
    if not confirm:
        result.added = state.readers.add_confirmed(requests, Source.IMPORT,
                                                   config.signup.consent_version, time.time())
        result.known = len(requests) - result.added
        return result
    signups = SignUps(folder, Signer.from_environment(config.newsletter.url))
    signups.check_links()
    with Postman(config).opened() as postman:
        for request in requests:
            outcome = signups.sign_up(request, Source.IMPORT)
            if outcome.pending is None:
                result.known += 1
                continue
            result.added += 1
            try:
                sent = signups.send_confirmation(outcome.pending, postman)
            except TemporaryDeliveryError as error:
                raise TemporaryDeliveryError(
                    f"{path}: {result.confirmations} confirmation emails sent, then the backend "
                    f"failed ({without_addresses(str(error))}); run the import again later (a "
                    "reader already sent one gets another, up to signup.confirmations_per_day)"
                ) from None
            if sent:
                state.readers.confirmation_sent(request.key, time.time())
                result.confirmations += 1
    return result


def _request(config: Config, reader: Recipient) -> SignUpRequest:
    fields = dict(reader.fields)
    choices = clean_choices(config, reader.name, fields.get("sections", "").split(";"),
                            fields.get("language", ""))
    return SignUpRequest(reader.key, reader.email, choices.name, choices.sections,
                         choices.language)
