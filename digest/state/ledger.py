"""The send ledger: who got which edition, written before and after every network call.

SQLite in WAL mode under `.digest/state.db`. A recipient's row is written as `pending` in the same
transaction as its batch (up to 64 batches claimed together, each begun just before its
request; those never begun are released), *before* the request leaves, then updated to `sent`,
`failed` or `refused` once the provider answered; a batch the provider took whole in one answer
is marked on its batch row instead, and its readers' rows are settled as `sent` together at the
end of the run (or by the next reader of the ledger after a kill). After a crash, `pending` rows
of the other batches are the readers whose fate is unknown: they are not sent again unless asked
(`--resend-unknown`).

Statuses: sent (delivered to the provider), failed (not delivered; tried again on the next run),
refused (the server refused this address for good; not tried again), pending (unknown).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from digest.dates import Window
from digest.models import Email, Outcome, Status
from digest.state.db import StateDatabase

DONE = (Status.SENT, Status.REFUSED, Status.PENDING)  # a normal run does not send to them again
BATCH_SENT = "sent"  # a batch taken whole, its readers' rows not settled yet (Ledger.settle)
BATCH_QUEUED = "queued"  # claimed with others, its request not begun (Ledger.claim_batches)


@dataclass(frozen=True)
class EditionStats:
    edition_id: str
    day: str
    subject: str
    round: int
    dry_run: bool  # only ever dry-run: nothing sent
    sent: int
    failed: int
    refused: int
    unknown: int


class Ledger:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    # -- editions -----------------------------------------------------------------------------

    def edition(self, edition_id: str, newsletter: str, day: str, content_hash: str,
                subject: str, window: Window, dry_run: bool = False) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO editions (id, newsletter, day, content_hash, subject,"
                " created_at, window_kind, window_start, window_end, dry_run)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (edition_id, newsletter, day, content_hash, subject, time.time(), window.kind,
                 window.start.isoformat(), window.end.isoformat(), int(dry_run)),
            )
            if not dry_run:
                self.db.execute("UPDATE editions SET dry_run = 0 WHERE id = ?", (edition_id,))

    def sent_window(self, newsletter: str, day: str, kind: str) -> Window | None:
        """The window of the edition of `day` that reached readers last, if one did."""
        row = self.db.execute(
            "SELECT e.window_start, e.window_end FROM editions e WHERE e.newsletter = ?"
            " AND e.day = ? AND e.window_kind = ? AND EXISTS (SELECT 1 FROM deliveries d"
            " WHERE d.edition_id = e.id AND d.status IN ('sent', 'pending'))"
            " ORDER BY e.created_at DESC LIMIT 1",
            (newsletter, day, kind),
        ).fetchone()
        if row is None:
            return None
        return Window(kind, datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1]))

    def last_cutoff(self, newsletter: str, before_day: str) -> datetime | None:
        """Where the last edition sent before `before_day` stopped taking articles."""
        row = self.db.execute(
            "SELECT MAX(e.window_end) FROM editions e WHERE e.newsletter = ? AND e.day < ?"
            " AND e.window_end IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries d"
            " WHERE d.edition_id = e.id AND d.status IN ('sent', 'pending'))",
            (newsletter, before_day),
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def keep_email(self, edition_id: str, email: Email) -> None:
        """The email of the edition as it goes out, the first time it does."""
        self.db.execute("INSERT OR IGNORE INTO edition_emails (edition_id, email) VALUES (?, ?)",
                        (edition_id, json.dumps(dataclasses.asdict(email), ensure_ascii=False)))

    def kept_email(self, edition_id: str) -> Email | None:
        row = self.db.execute("SELECT email FROM edition_emails WHERE edition_id = ?",
                              (edition_id,)).fetchone()
        return Email(**json.loads(row[0])) if row else None

    def current_round(self, newsletter: str, day: str) -> tuple[str, int] | None:
        """(edition id, round) of the day's round that started last, if any did."""
        row = self.db.execute(
            "SELECT b.edition_id, b.round FROM batches b JOIN editions e ON e.id = b.edition_id"
            " WHERE e.newsletter = ? AND e.day = ? ORDER BY b.id DESC LIMIT 1",
            (newsletter, day),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def other_versions_sent(self, newsletter: str, day: str,
                            edition_id: str) -> list[tuple[str, int]]:
        """Other editions of the same day that already reached readers: (id, readers)."""
        return self.db.execute(
            "SELECT e.id, COUNT(d.email) FROM editions e JOIN deliveries d ON d.edition_id = e.id"
            " WHERE e.newsletter = ? AND e.day = ? AND e.id != ?"
            " AND d.status IN ('sent', 'pending')"
            " GROUP BY e.id ORDER BY e.created_at",
            (newsletter, day, edition_id),
        ).fetchall()

    def last_round(self, edition_id: str) -> int:
        row = self.db.execute(
            "SELECT MAX(round) FROM deliveries WHERE edition_id = ?", (edition_id,)
        ).fetchone()
        return row[0] or 1

    def schedule(self, edition_id: str, batch_id: str, send_at: int) -> None:
        self.db.execute(
            "UPDATE editions SET sendgrid_batch_id = ?, send_at = ? WHERE id = ?",
            (batch_id, send_at, edition_id),
        )

    def scheduled_batch(self, edition_id: str) -> str | None:
        row = self.db.execute(
            "SELECT sendgrid_batch_id FROM editions WHERE id = ?", (edition_id,)
        ).fetchone()
        return row[0] if row else None

    def scheduled(self, newsletter: str, day: str) -> list[tuple[str, str, str | None]]:
        """(edition id, provider batch id, backend that scheduled it) of the day's editions."""
        return self.db.execute(
            "SELECT e.id, e.sendgrid_batch_id,"
            " (SELECT b.backend FROM batches b WHERE b.edition_id = e.id LIMIT 1) FROM editions e"
            " WHERE e.newsletter = ? AND e.day = ? AND e.sendgrid_batch_id IS NOT NULL",
            (newsletter, day),
        ).fetchall()

    # -- recipients -----------------------------------------------------------------------------

    def statuses(self, edition_id: str, round: int) -> dict[str, str]:
        """Every recipient already handled in this round, with his status."""
        return dict(self.db.execute(
            "SELECT email, status FROM deliveries WHERE edition_id = ? AND round = ?",
            (edition_id, round),
        ))

    def received(self, edition_id: str, key: str) -> bool:
        """Whether the edition went (or may have gone) to that address, in any round."""
        return self.db.execute(
            "SELECT 1 FROM deliveries WHERE edition_id = ? AND email = ?"
            " AND status IN ('sent', 'pending') LIMIT 1", (edition_id, key)).fetchone() is not None

    def last_day_sent(self, newsletter: str) -> str | None:
        """The date of the last edition that reached readers."""
        with self.db.lock:  # also asked by the web application's threads
            row = self.db.execute(
                "SELECT MAX(e.day) FROM editions e WHERE e.newsletter = ? AND (EXISTS (SELECT 1"
                " FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')"
                " OR EXISTS (SELECT 1 FROM batches b WHERE b.edition_id = e.id"
                " AND b.status = 'sent'))",
                (newsletter,)).fetchone()
        return row[0] if row else None

    def deliveries_to(self, key: str) -> list[dict[str, object]]:
        """Every edition handled for one address: day, edition, subject, round, status, when."""
        rows = self.db.execute(
            "SELECT e.day, d.edition_id, e.subject, d.round, d.status, d.updated_at"
            " FROM deliveries d JOIN editions e ON e.id = d.edition_id WHERE d.email = ?"
            " ORDER BY d.updated_at", (key,)).fetchall()
        names = ("day", "edition", "subject", "round", "status", "at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def forget_unknown(self, edition_id: str, round: int) -> int:
        """Drop `pending` rows so that those readers are sent to again (--resend-unknown)."""
        with self.db.transaction():
            cursor = self.db.execute(
                "DELETE FROM deliveries WHERE edition_id = ? AND round = ? AND status = 'pending'",
                (edition_id, round),
            )
        return cursor.rowcount

    def claim_batches(self, edition_id: str, round: int, backend: str,
                      batches: list[list[str]]) -> list[tuple[int, set[str]]]:
        """Claim the readers of several batches as pending, committed before any network call:
        [(each batch's id, the keys it claimed)]. Only readers with no row yet or a failed one
        are claimed; a sent, refused or pending row is never taken back. One transaction, the
        rows in key order: each index page is written once for all the batches, not once per
        batch (a batch of one set of sections holds every Nth reader of the list). Each batch
        stays queued until `begin`; a run that stops before leaves its queued batches to
        `release_queued`, never sent to."""
        now = time.time()
        with self.db.transaction():
            handled = {key for (key,) in self.db.execute(
                "SELECT email FROM deliveries WHERE edition_id = ? AND round = ?"
                " AND status != 'failed' AND email IN (SELECT value FROM json_each(?))",
                (edition_id, round, _json_list(sorted(k for keys in batches for k in keys))))}
            claims, rows = [], []
            for keys in batches:
                claimed = [key for key in keys if key not in handled]
                batch_id = self.db.execute(
                    "INSERT INTO batches (edition_id, round, backend, size, status, started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (edition_id, round, backend, len(claimed), BATCH_QUEUED, now)).lastrowid
                claims.append((batch_id or 0, set(claimed)))
                rows += [(key, batch_id) for key in claimed]
            rows.sort()  # in key order: the index's pages one after the other, not all over it
            self.db.executemany(
                "INSERT INTO deliveries (edition_id, round, email, status, batch_id, updated_at)"
                " VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (edition_id, round, email)"
                " DO UPDATE SET status = 'pending', batch_id = excluded.batch_id,"
                " error = NULL, updated_at = excluded.updated_at WHERE status = 'failed'",
                ((edition_id, round, key, batch_id, now) for key, batch_id in rows))
        return claims

    def begin(self, batch_id: int) -> None:
        """A queued batch's request is about to leave: from now on its readers may get it."""
        self.db.execute("UPDATE batches SET status = 'pending' WHERE id = ? AND status = ?",
                        (batch_id, BATCH_QUEUED))

    def release_queued(self) -> int:
        """The readers of batches claimed and never begun (a run stopped before them): their
        rows go, as if never claimed, and the next run sends to them. The rows released."""
        with self.db.transaction():
            cursor = self.db.execute(
                "DELETE FROM deliveries WHERE status = 'pending' AND batch_id IN"
                " (SELECT id FROM batches WHERE status = ?)", (BATCH_QUEUED,))
            self.db.execute("UPDATE batches SET status = 'released' WHERE status = ?",
                            (BATCH_QUEUED,))
        return cursor.rowcount

    def record(self, edition_id: str, round: int, outcomes: Iterable[Outcome]) -> None:
        """The provider's answers, in one transaction: one statement for all the readers with
        the same answer (a SendGrid batch: all of them)."""
        now = time.time()
        alike: dict[tuple[str, str, str], list[str]] = {}
        for o in outcomes:
            alike.setdefault((o.status, o.provider_id, o.error), []).append(o.key)
        with self.db.transaction():
            for (status, provider_id, error), keys in alike.items():
                self.db.execute(
                    "UPDATE deliveries SET status = ?, provider_id = ?, error = ?, updated_at = ?"
                    " WHERE edition_id = ? AND round = ?"
                    " AND email IN (SELECT value FROM json_each(?))",
                    (status, provider_id, error, now, edition_id, round, _json_list(keys)),
                )

    def batch_sent(self, batch_id: int, provider_id: str) -> None:
        """A batch the provider took whole, in one answer: recorded on the batch alone (one
        row), its readers' rows settled later, all at once (`settle`). Until then they read
        as pending: never sent twice, whatever stops the run."""
        self.db.execute(
            "UPDATE batches SET status = ?, provider_id = ?, finished_at = ? WHERE id = ?",
            (BATCH_SENT, provider_id, time.time(), batch_id),
        )

    def settle(self, edition_id: str, round: int) -> int:
        """The readers of the round's batches sent whole, recorded as sent, in one transaction:
        a batch of every 50th reader of the list rewrote index pages all over the ledger at
        each commit; all the batches together write each page once. The rows settled."""
        with self.db.transaction():
            cursor = self.db.execute(
                "UPDATE deliveries SET status = 'sent', provider_id = b.provider_id,"
                " updated_at = b.finished_at FROM batches b"
                " WHERE deliveries.edition_id = ?1 AND deliveries.round = ?2"
                " AND deliveries.status = 'pending' AND b.id = deliveries.batch_id"
                " AND b.status = ?3",
                (edition_id, round, BATCH_SENT),
            )
            self.db.execute("UPDATE batches SET status = 'done' WHERE status = ?"
                            " AND edition_id = ? AND round = ?", (BATCH_SENT, edition_id, round))
        return cursor.rowcount

    def settle_all(self) -> None:
        """What a run stopped before its end left: its batches queued and never begun
        released, its batches sent whole and not settled yet settled."""
        self.release_queued()
        for edition_id, round in self.db.execute(
                "SELECT DISTINCT edition_id, round FROM batches WHERE status = ?",
                (BATCH_SENT,)).fetchall():
            self.settle(edition_id, round)

    def finish_batch(self, batch_id: int, status: str, provider_id: str = "",
                     error: str = "") -> None:
        """The batch's end; a batch taken whole keeps saying so until it is settled."""
        self.db.execute(
            "UPDATE batches SET status = ?, provider_id = ?, error = ?, finished_at = ?"
            " WHERE id = ? AND status != ?",
            (status, provider_id, error, time.time(), batch_id, BATCH_SENT),
        )

    def fail_pending(self, batch_id: int, error: str) -> None:
        """The provider said no to the whole batch: its readers did not get it, try them again.
        Never those of a batch it took whole: their rows are pending until settled."""
        with self.db.transaction():
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', error = ?1, updated_at = ?2"
                " WHERE batch_id = ?3 AND status = 'pending' AND NOT EXISTS"
                " (SELECT 1 FROM batches WHERE id = ?3 AND status = ?4)",
                (error, time.time(), batch_id, BATCH_SENT),
            )
            self.finish_batch(batch_id, Status.FAILED, error=error)

    # -- reports ------------------------------------------------------------------------------

    def stats(self, newsletter: str, day: str | None = None) -> list[EditionStats]:
        query = (
            "SELECT e.id, e.day, e.subject, COALESCE(d.round, 1), e.dry_run,"
            " SUM(d.status = 'sent'), SUM(d.status = 'failed'), SUM(d.status = 'refused'),"
            " SUM(d.status = 'pending')"
            " FROM editions e LEFT JOIN deliveries d ON d.edition_id = e.id"
            " WHERE e.newsletter = ?" + (" AND e.day = ?" if day else "") +
            " GROUP BY e.id, d.round ORDER BY e.day DESC, e.created_at DESC, d.round DESC"
        )
        rows = self.db.execute(query, (newsletter, day) if day else (newsletter,)).fetchall()
        return [EditionStats(r[0], r[1], r[2], r[3], bool(r[4]), *(int(v or 0) for v in r[5:]))
                for r in rows]


def _json_list(keys: list[str]) -> str:
    """Address keys as one JSON array, which SQLite's json_each reads back as rows: a batch is
    written by one statement, not one per reader."""
    return json.dumps(keys, ensure_ascii=False)
