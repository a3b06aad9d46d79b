"""The readers who signed up (the form, an import, an editor), with their consent record, and the
sign-ups received and not handled yet.

`recipients.csv` stays the editors' list; these readers are added to it at each send (once per
address, less the suppressed ones). A sign-up is queued in the same statement whatever the
address's state, so that the answer to the form takes the same time for everyone; the web
application's worker handles the queue (`sign_up`) and sends the confirmation emails.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from digest.state.db import StateDatabase

CLAIM_SECONDS = 300  # a worker gone this long left its sign-ups to another
COLUMNS = ("email, address, name, sections, language, status, source, consent_version,"
           " signed_up_at, confirmed_at, ip_hash, nonce")


class ReaderStatus(StrEnum):
    PENDING = "pending"  # signed up, not confirmed: sent nothing but the confirmation email
    CONFIRMED = "confirmed"


class Source(StrEnum):
    FORM = "form"  # the sign-up form of `digest serve`
    IMPORT = "import"  # `digest readers import`
    EDITOR = "editor"  # on recipients.csv, and changed his preferences: the list decides


@dataclass(frozen=True)
class SignUpRequest:
    """What the form received: an address already checked, and the reader's choices."""

    key: str
    address: str
    name: str = ""
    sections: tuple[str, ...] = ()
    language: str = ""
    ip_hash: str = ""  # a keyed hash of the client's address, never the address itself


@dataclass(frozen=True)
class Reader:
    key: str
    address: str
    name: str
    sections: tuple[str, ...]
    language: str
    status: ReaderStatus
    source: Source
    consent_version: str
    signed_up_at: float
    confirmed_at: float | None
    ip_hash: str
    nonce: str  # what the reader's confirmation links name (never the address)

    @classmethod
    def from_row(cls, row: tuple) -> Reader:
        (key, address, name, sections, language, status, source, version, signed_up,
         confirmed, ip_hash, nonce) = row
        return cls(key, address, name, split_sections(sections), language, ReaderStatus(status),
                   Source(source), version, signed_up, confirmed, ip_hash, nonce)


@dataclass(frozen=True)
class SignUpOutcome:
    reader: Reader
    confirm: bool  # send a confirmation email
    why: str  # for the log: what was done


def split_sections(text: str) -> tuple[str, ...]:
    return tuple(name for name in text.split(";") if name)


def new_nonce() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


class SignedUpReaders:
    """The `readers`, `signup_requests` and `confirmations_sent` tables."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    # -- the queue of sign-ups --------------------------------------------------------------

    def queue(self, request: SignUpRequest, now: float | None = None) -> None:
        with self.db.lock, self.db.transaction():
            self.db.execute(
                "INSERT INTO signup_requests (email, address, name, sections, language, ip_hash,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (request.key, request.address, request.name, ";".join(request.sections),
                 request.language, request.ip_hash, time.time() if now is None else now))

    def claim(self, now: float, limit: int = 100) -> list[tuple[int, SignUpRequest]]:
        """Up to `limit` waiting sign-ups, oldest first, claimed for this worker: another
        process's worker skips them unless this one left them for CLAIM_SECONDS."""
        with self.db.lock, self.db.transaction():
            rows = self.db.execute(
                "UPDATE signup_requests SET claimed_at = ?1 WHERE id IN (SELECT id FROM"
                " signup_requests WHERE claimed_at IS NULL OR claimed_at < ?2 ORDER BY id"
                " LIMIT ?3) RETURNING id, email, address, name, sections, language, ip_hash",
                (now, now - CLAIM_SECONDS, limit)).fetchall()
        return sorted((row[0], SignUpRequest(row[1], row[2], row[3], split_sections(row[4]),
                                             row[5], row[6])) for row in rows)

    def release(self, request_ids: list[int]) -> None:
        """Sign-ups to handle again later (the delivery backend could not be reached)."""
        with self.db.lock, self.db.transaction():
            self.db.executemany("UPDATE signup_requests SET claimed_at = NULL WHERE id = ?",
                                ((i,) for i in request_ids))

    def done(self, request_id: int) -> None:
        with self.db.lock, self.db.transaction():
            self.db.execute("DELETE FROM signup_requests WHERE id = ?", (request_id,))

    # -- signing up and confirming ------------------------------------------------------------

    def sign_up(self, request: SignUpRequest, *, suppressed: bool, source: Source,
                consent_version: str, confirmations_per_day: int, now: float) -> SignUpOutcome:
        """Record a sign-up, and say whether a confirmation email may go (the address's daily
        limit not reached; `confirmation_sent` counts it once it went). A confirmed reader's
        record is never changed by a sign-up (anyone can post any address); one who left is
        pending again, and stays suppressed until he confirms."""
        with self.db.lock, self.db.transaction():
            found = self._get(request.key)
            if found is not None and found.status == ReaderStatus.CONFIRMED and not suppressed:
                return SignUpOutcome(found, False, "already confirmed")
            values = (request.address, request.name, ";".join(request.sections),
                      request.language, str(source), consent_version, now, request.ip_hash, now)
            if found is None:
                self.db.execute(
                    "INSERT INTO readers (address, name, sections, language, source,"
                    " consent_version, signed_up_at, ip_hash, updated_at, email, status, nonce)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (*values, request.key, new_nonce()))
            else:
                self.db.execute(
                    "UPDATE readers SET address = ?, name = ?, sections = ?, language = ?,"
                    " source = ?, consent_version = ?, signed_up_at = ?, ip_hash = ?,"
                    " updated_at = ?, status = 'pending', confirmed_at = NULL WHERE email = ?",
                    (*values, request.key))
            reader = self._get(request.key)
            assert reader is not None
            (sent,) = self.db.execute(
                "SELECT COUNT(*) FROM confirmations_sent WHERE email = ? AND sent_at > ?",
                (request.key, now - 86400)).fetchone()
            if sent >= confirmations_per_day:
                return SignUpOutcome(reader, False, "daily limit of confirmation emails reached")
            return SignUpOutcome(reader, True, "confirmation sent")

    def confirmation_sent(self, key: str, now: float) -> None:
        with self.db.lock, self.db.transaction():
            self.db.execute("INSERT INTO confirmations_sent (email, sent_at) VALUES (?, ?)",
                            (key, now))

    def confirm(self, nonce: str, now: float) -> Reader | None:
        """The reader whose confirmation links name `nonce`, now confirmed (None: no one)."""
        with self.db.lock, self.db.transaction():
            row = self.db.execute(f"SELECT {COLUMNS} FROM readers WHERE nonce = ?",
                                  (nonce,)).fetchone()
            if row is None:
                return None
            reader = Reader.from_row(row)
            if reader.status != ReaderStatus.CONFIRMED:
                self.db.execute("UPDATE readers SET status = 'confirmed', confirmed_at = ?,"
                                " updated_at = ? WHERE email = ?", (now, now, reader.key))
            return self._get(reader.key)

    def add_confirmed(self, requests: list[SignUpRequest], source: Source,
                      consent_version: str, now: float) -> int:
        """Readers an editor vouches for (an import): confirmed at once; those already known
        are left as they are. How many were added."""
        with self.db.lock, self.db.transaction():
            cursor = self.db.executemany(
                "INSERT OR IGNORE INTO readers (email, address, name, sections, language, status,"
                " source, consent_version, signed_up_at, confirmed_at, ip_hash, nonce,"
                " updated_at) VALUES (?, ?, ?, ?, ?, 'confirmed', ?, ?, ?, ?, '', ?, ?)",
                ((r.key, r.address, r.name, ";".join(r.sections), r.language, str(source),
                  consent_version, now, now, new_nonce(), now) for r in requests))
        return max(cursor.rowcount, 0)

    def save_preferences(self, key: str, address: str, name: str, sections: tuple[str, ...],
                         language: str, now: float) -> None:
        """A reader's own choices; one of the editors' list gets a record of his own."""
        with self.db.lock, self.db.transaction():
            self.db.execute(
                "INSERT INTO readers (email, address, name, sections, language, status, source,"
                " consent_version, signed_up_at, confirmed_at, ip_hash, nonce, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'confirmed', 'editor', '', ?, NULL, '', ?, ?)"
                " ON CONFLICT (email) DO UPDATE SET name = excluded.name,"
                " sections = excluded.sections, language = excluded.language,"
                " updated_at = excluded.updated_at",
                (key, address, name, ";".join(sections), language, now, new_nonce(), now))

    # -- reading ------------------------------------------------------------------------------

    def _get(self, key: str) -> Reader | None:
        row = self.db.execute(f"SELECT {COLUMNS} FROM readers WHERE email = ?",
                              (key,)).fetchone()
        return Reader.from_row(row) if row else None

    def get(self, key: str) -> Reader | None:
        with self.db.lock:
            return self._get(key)

    def all(self) -> list[Reader]:
        with self.db.lock:
            rows = self.db.execute(f"SELECT {COLUMNS} FROM readers"
                                   " ORDER BY signed_up_at, rowid").fetchall()
        return [Reader.from_row(row) for row in rows]

    def confirmed_rows(self) -> Iterator[tuple[str, str, str, str, str, str]]:
        """(key, address, name, sections, language, source) of every confirmed reader, for a
        send: plain rows, read as they come."""
        yield from self.db.execute("SELECT email, address, name, sections, language, source"
                                   " FROM readers WHERE status = 'confirmed' ORDER BY rowid")

    def counts(self) -> Counter[tuple[str, str]]:
        """{(status, source): readers}."""
        with self.db.lock:
            rows = self.db.execute("SELECT status, source, COUNT(*) FROM readers"
                                   " GROUP BY status, source").fetchall()
        return Counter({(status, source): count for status, source, count in rows})

    def confirmations(self, key: str) -> list[float]:
        with self.db.lock:
            return [at for (at,) in self.db.execute(
                "SELECT sent_at FROM confirmations_sent WHERE email = ? ORDER BY sent_at",
                (key,))]

    # -- forgetting ---------------------------------------------------------------------------

    def expire(self, now: float, pending_days: int) -> int:
        """Forget the sign-ups not confirmed within `pending_days`, and the counts of
        confirmation emails older than a day: how many sign-ups went."""
        with self.db.lock, self.db.transaction():
            gone = self.db.execute("DELETE FROM readers WHERE status = 'pending'"
                                   " AND signed_up_at < ?", (now - pending_days * 86400,))
            self.db.execute("DELETE FROM confirmations_sent WHERE sent_at < ?", (now - 86400,))
        return max(gone.rowcount, 0)
