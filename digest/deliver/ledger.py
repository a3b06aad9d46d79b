"""The send ledger: who got which edition, written before and after every network call.

SQLite in WAL mode under `.digest/state.db`. A recipient's row is written as `pending` in the same
transaction as its batch, *before* the request leaves, then updated to `sent`, `failed` or `refused`
once the provider answered. After a crash, `pending` rows are the readers whose fate is unknown:
they are not sent again unless asked (`--resend-unknown`).

Statuses: sent (delivered to the provider), failed (not delivered; tried again on the next run),
refused (the server refused this address for good; not tried again), pending (unknown).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from digest.state import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS editions (
    id TEXT PRIMARY KEY,
    newsletter TEXT NOT NULL,
    day TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at REAL NOT NULL,
    sendgrid_batch_id TEXT,
    send_at INTEGER
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    edition_id TEXT NOT NULL REFERENCES editions(id),
    round INTEGER NOT NULL,
    backend TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    provider_id TEXT,
    error TEXT,
    started_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS deliveries (
    edition_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    provider_id TEXT,
    error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (edition_id, round, email)
);
CREATE INDEX IF NOT EXISTS editions_by_day ON editions (newsletter, day);
CREATE TABLE IF NOT EXISTS stories (
    edition_id TEXT NOT NULL REFERENCES editions(id),
    urls TEXT NOT NULL,
    terms TEXT NOT NULL
);
"""

DONE = ("sent", "refused", "pending")  # statuses a normal run does not send to again


@dataclass(frozen=True)
class Outcome:
    """What the provider said about one recipient."""

    key: str  # the lower-cased address
    status: str  # sent | failed | refused
    provider_id: str = ""
    error: str = ""


@dataclass(frozen=True)
class EditionStats:
    edition_id: str
    day: str
    subject: str
    round: int
    sent: int
    failed: int
    refused: int
    unknown: int


class Ledger:
    def __init__(self, path: Path) -> None:
        self.db = connect(path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _tx(self):
        return _Transaction(self.db)

    # -- editions -----------------------------------------------------------------------------

    def edition(self, edition_id: str, newsletter: str, day: str, content_hash: str,
                subject: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO editions (id, newsletter, day, content_hash, subject, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (edition_id, newsletter, day, content_hash, subject, time.time()),
        )

    def other_versions_sent(self, newsletter: str, day: str, edition_id: str) -> list[tuple[str, int]]:
        """Other editions of the same day that already reached readers: (id, readers)."""
        return self.db.execute(
            "SELECT e.id, COUNT(d.email) FROM editions e JOIN deliveries d ON d.edition_id = e.id"
            " WHERE e.newsletter = ? AND e.day = ? AND e.id != ? AND d.status IN ('sent', 'pending')"
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

    def scheduled(self, newsletter: str, day: str) -> list[tuple[str, str, int]]:
        return self.db.execute(
            "SELECT id, sendgrid_batch_id, send_at FROM editions"
            " WHERE newsletter = ? AND day = ? AND sendgrid_batch_id IS NOT NULL",
            (newsletter, day),
        ).fetchall()

    def remember_stories(self, edition_id: str, stories: list[tuple[list[str], list[str]]]) -> None:
        """The sent edition's stories (their addresses and terms), for ranking's memory."""
        import json

        with self._tx():
            self.db.execute("DELETE FROM stories WHERE edition_id = ?", (edition_id,))
            self.db.executemany(
                "INSERT INTO stories (edition_id, urls, terms) VALUES (?, ?, ?)",
                ((edition_id, json.dumps(urls), json.dumps(terms)) for urls, terms in stories),
            )

    def stories_between(self, newsletter: str, first: str, last: str) -> list[tuple[str, list, list]]:
        """(day, urls, terms) of stories sent in editions dated first to last included."""
        import json

        rows = self.db.execute(
            "SELECT e.day, s.urls, s.terms FROM stories s JOIN editions e ON e.id = s.edition_id"
            " WHERE e.newsletter = ? AND e.day BETWEEN ? AND ?"
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')",
            (newsletter, first, last),
        )
        return [(day, json.loads(urls), json.loads(terms)) for day, urls, terms in rows]

    # -- recipients -----------------------------------------------------------------------------

    def statuses(self, edition_id: str, round: int) -> dict[str, str]:
        """Every recipient already handled in this round, with his status."""
        return dict(self.db.execute(
            "SELECT email, status FROM deliveries WHERE edition_id = ? AND round = ?",
            (edition_id, round),
        ))

    def forget_unknown(self, edition_id: str, round: int) -> int:
        """Drop `pending` rows so that those readers are sent to again (--resend-unknown)."""
        with self._tx():
            cursor = self.db.execute(
                "DELETE FROM deliveries WHERE edition_id = ? AND round = ? AND status = 'pending'",
                (edition_id, round),
            )
        return cursor.rowcount

    def start_batch(self, edition_id: str, round: int, backend: str, keys: list[str]) -> int:
        """Record the batch and its recipients as pending, committed before any network call."""
        now = time.time()
        with self._tx():
            batch_id = self.db.execute(
                "INSERT INTO batches (edition_id, round, backend, size, status, started_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                (edition_id, round, backend, len(keys), now),
            ).lastrowid
            self.db.executemany(
                "INSERT OR REPLACE INTO deliveries"
                " (edition_id, round, email, status, batch_id, updated_at)"
                " VALUES (?, ?, ?, 'pending', ?, ?)",
                ((edition_id, round, key, batch_id, now) for key in keys),
            )
        return batch_id

    def record(self, edition_id: str, round: int, outcomes: Iterable[Outcome]) -> None:
        now = time.time()
        with self._tx():
            self.db.executemany(
                "UPDATE deliveries SET status = ?, provider_id = ?, error = ?, updated_at = ?"
                " WHERE edition_id = ? AND round = ? AND email = ?",
                ((o.status, o.provider_id, o.error, now, edition_id, round, o.key) for o in outcomes),
            )

    def finish_batch(self, batch_id: int, status: str, provider_id: str = "", error: str = "") -> None:
        self.db.execute(
            "UPDATE batches SET status = ?, provider_id = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, provider_id, error, time.time(), batch_id),
        )

    def fail_pending(self, batch_id: int, error: str) -> None:
        """The provider said no to the whole batch: its readers did not get it, try them again."""
        with self._tx():
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', error = ?, updated_at = ?"
                " WHERE batch_id = ? AND status = 'pending'",
                (error, time.time(), batch_id),
            )
            self.finish_batch(batch_id, "failed", error=error)

    # -- reports ------------------------------------------------------------------------------

    def stats(self, newsletter: str, day: str | None = None) -> list[EditionStats]:
        query = (
            "SELECT e.id, e.day, e.subject, COALESCE(d.round, 1),"
            " SUM(d.status = 'sent'), SUM(d.status = 'failed'), SUM(d.status = 'refused'),"
            " SUM(d.status = 'pending')"
            " FROM editions e LEFT JOIN deliveries d ON d.edition_id = e.id"
            " WHERE e.newsletter = ?" + (" AND e.day = ?" if day else "") +
            " GROUP BY e.id, d.round ORDER BY e.day DESC, e.created_at DESC, d.round DESC"
        )
        rows = self.db.execute(query, (newsletter, day) if day else (newsletter,)).fetchall()
        return [EditionStats(r[0], r[1], r[2], r[3], *(int(v or 0) for v in r[4:])) for r in rows]


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
