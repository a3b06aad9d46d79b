"""`digest status` and `digest cancel`: what the ledger knows about each edition, and what
readers clicked in it."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING

from digest.engagement.tally import DayClicks, day_clicks
from digest.errors import DigestError, StateError
from digest.models import Leaving
from digest.state.ledger import DONE

if TYPE_CHECKING:
    from digest.folder import Folder


@dataclass(frozen=True)
class EditionStatus:
    day: str
    edition_id: str
    round: int
    subject: str
    sent: int
    failed: int
    refused: int
    unknown: int
    remaining: int  # readers of the list who have not got this round yet
    state: str  # complete, partial, superseded (a later round of the day started) or dry run
    # addresses suppressed after this edition (the last one they got), by the events and syncs
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0

    def __str__(self) -> str:
        return (f"{self.day}  {self.edition_id}  round {self.round}: sent {self.sent}, "
                f"failed {self.failed}, refused {self.refused}, unknown {self.unknown}, "
                f"remaining {self.remaining}; {self.state}; after it: bounced {self.bounced}, "
                f"complained {self.complained}, unsubscribed {self.unsubscribed}  ({self.subject})")


def edition_status(folder: Folder, day: date | None) -> list[EditionStatus]:
    """Every round of every edition sent (of `day` only, if given), newest first."""
    state = folder.existing_state()
    if state is None:
        return []
    ledger = state.ledger
    with suppress(StateError):  # a read-only copy, another writer: shown as they are
        ledger.settle_all()  # a run stopped before settling its batches sent whole
    stats = ledger.stats(folder.config.newsletter.url, day.isoformat() if day else None)
    keys = [r.key for r in folder.readers(lambda problem: None)] if stats else []
    name = folder.config.newsletter.url
    current = {entry.day: ledger.current_round(name, entry.day) for entry in stats}
    leaving = state.suppressions.after_editions() if stats else {}
    rows = []
    for entry in stats:
        handled = ledger.statuses(entry.edition_id, entry.round)
        remaining = sum(1 for key in keys if handled.get(key) not in DONE)
        if entry.dry_run:
            round_state = "dry run"
        elif current[entry.day] not in (None, (entry.edition_id, entry.round)):
            round_state = "superseded"
        else:
            round_state = "partial" if remaining else "complete"
        after = leaving.get(entry.edition_id, {})
        rows.append(EditionStatus(entry.day, entry.edition_id, entry.round, entry.subject,
                                  entry.sent, entry.failed, entry.refused, entry.unknown,
                                  remaining, round_state, after.get(Leaving.BOUNCED, 0),
                                  after.get(Leaving.COMPLAINED, 0),
                                  after.get(Leaving.UNSUBSCRIBED, 0)))
    return rows


def clicks(folder: Folder, day: date | None) -> list[DayClicks]:
    """The clicks of each day's edition (of `day` only, if given), newest first."""
    state = folder.existing_state()
    if state is None:
        return []
    first, last = (day.isoformat(), day.isoformat()) if day else ("0001-01-01", "9999-12-31")
    return day_clicks(state, folder.config.newsletter.url, first, last)


def status_document(rows: list[EditionStatus], days: list[DayClicks], readers: str) -> dict:
    """`digest status --json`: the editions' rounds, each day's clicks, the readers' line."""
    return {"editions": [asdict(row) for row in rows],
            "clicks": [day.as_json() for day in days],
            "readers": readers}


def cancel_scheduled(folder: Folder, day: date) -> list[str]:
    from digest.deliver import backend_class, scheduling  # lazy: for digest cancel only

    state = folder.existing_state()
    scheduled = state.ledger.scheduled(folder.config.newsletter.url, day.isoformat()) \
        if state else []
    if not scheduled:
        raise DigestError(f"no scheduled send for {day}; only SendGrid sends with "
                          "delivery.sendgrid.send_at can be cancelled")
    lines = []
    for edition_id, batch_id, backend_name in scheduled:
        name = backend_name or folder.config.delivery.backend
        backend = backend_class(name).open(folder.config, folder.outbox(day))
        try:
            scheduling(backend).cancel(batch_id)
        finally:
            backend.close()
        lines.append(f"{edition_id}: scheduled send cancelled (batch {batch_id})")
    return lines


def audience(folder: Folder) -> str:
    """One line on the readers who signed up ("" when none did), for `digest status`."""
    state = folder.existing_state()
    if state is None or not (state.readers.all() or state.readers.pending()):
        return ""
    # lazy: the register reads recipients.csv, for a newsletter that takes sign-ups only
    from digest.audience.register import roster

    found = roster(folder)
    week = time.time() - 7 * 86400
    joined = sum(1 for reader, status in found.readers
                 if status == "confirmed" and (reader.confirmed_at or 0) > week)
    return f"{found.summary()}; joined in the last 7 days: {joined}"
