"""The readers who signed up (the form, an import, an editor), with their consent record; the
sign-ups waiting for their confirmation; the sign-ups received and not handled yet.

`recipients.csv` stays the editors' list; confirmed readers are added to it at each send (once per
address, less the suppressed ones). A sign-up is queued in the same statement whatever the
address's state, so that the answer to the form takes the same time for everyone; the web
application's worker handles the queue (`sign_up`) and sends the confirmation emails.

Each confirmation email names a sign-up of its own (a random nonce) with the choices it was made
with: whoever posts an address again makes a sign-up of his own, and the link the reader clicks
applies the reader's choices, never a later poster's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from digest.state.db import StateDatabase

CLAIM_SECONDS = 300  # a worker gone this long left its sign-ups to another
RETRY_SECONDS = 60  # the first wait of a sign-up the delivery backend could not take; doubles
MAX_ATTEMPTS = 8  # then it is dropped (about two hours of trying)
READER_COLUMNS = ("email, address, name, sections, language, source, consent_version,"
                  " signed_up_at, confirmed_at, ip_hash")
PENDING_COLUMNS = ("nonce, email, address, name, sections, language, source, consent_version,"
                   " ip_hash, signed_up_at")


class Source(StrEnum):
    FORM = "form"  # the sign-up form of `digest serve`
    IMPORT = "import"  # `digest readers import`
    EDITOR = "editor"  # on recipients.csv, and chose his preferences: the list decides


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
    """A confirmed reader (or the preferences of one of the list), and his consent record."""

    key: str
    address: str
    name: str
    sections: tuple[str, ...]
    language: str
    source: Source
    consent_version: str
    signed_up_at: float
    confirmed_at: float | None
    ip_hash: str

    @classmethod
    def from_row(cls, row: tuple) -> Reader:
        key, address, name, sections, language, source, version, signed_up, confirmed, ip = row
        return cls(key, address, name, split_sections(sections), language, Source(source),
                   version, signed_up, confirmed, ip)


@dataclass(frozen=True)
class PendingSignUp:
    """A sign-up waiting for its confirmation: what its link will record."""

    nonce: str  # what the confirmation link names (never the address)
    key: str
    address: str
    name: str
    sections: tuple[str, ...]
    language: str
    source: Source
    consent_version: str
    ip_hash: str
    signed_up_at: float

    @classmethod
    def from_row(cls, row: tuple) -> PendingSignUp:
        nonce, key, address, name, sections, language, source, version, ip, at = row
        return cls(nonce, key, address, name, split_sections(sections), language, Source(source),
                   version, ip, at)


@dataclass(frozen=True)
class SignUpOutcome:
    pending: PendingSignUp | None  # the sign-up whose confirmation email is to go, if one is
    why: str  # for the log: what was done


def split_sections(text: str) -> tuple[str, ...]:
    return tuple(name for name in text.split(";") if name)


class SignedUpReaders:
    """The `readers`, `pending_signups`, `signup_requests` and `confirmations_sent` tables."""

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
        """Up to `limit` sign-ups due, oldest first, claimed for this worker: another process's
        worker skips them unless this one left them for CLAIM_SECONDS."""
        with self.db.lock, self.db.transaction():
            rows = self.db.execute(
                "UPDATE signup_requests SET claimed_at = ?1 WHERE id IN (SELECT id FROM"
                " signup_requests WHERE retry_at <= ?1 AND (claimed_at IS NULL OR claimed_at < ?2)"
                " ORDER BY id LIMIT ?3)"
                " RETURNING id, email, address, name, sections, language, ip_hash",
                (now, now - CLAIM_SECONDS, limit)).fetchall()
        return sorted((row[0], SignUpRequest(row[1], row[2], row[3], split_sections(row[4]),
                                             row[5], row[6])) for row in rows)

    def release(self, request_ids: Iterable[int]) -> None:
        """Claimed sign-ups left for the next round, untried."""
        with self.db.lock, self.db.transaction():
            self.db.executemany("UPDATE signup_requests SET claimed_at = NULL WHERE id = ?",
                                ((i,) for i in request_ids))

    def retry_later(self, request_id: int, now: float) -> bool:
        """A sign-up the backend could not take, tried again after a growing wait; False when
        it was tried MAX_ATTEMPTS times and is dropped."""
        with self.db.lock, self.db.transaction():
            row = self.db.execute("UPDATE signup_requests SET attempts = attempts + 1,"
                                  " claimed_at = NULL, retry_at = ?2 * (1 << attempts) + ?1"
                                  " WHERE id = ?3 RETURNING attempts",
                                  (now, RETRY_SECONDS, request_id)).fetchone()
            if row is not None and row[0] < MAX_ATTEMPTS:
                return True
            self.db.execute("DELETE FROM signup_requests WHERE id = ?", (request_id,))
            return False

    def done(self, request_id: int, confirmed_to: str | None = None,
             now: float | None = None) -> None:
        """A sign-up handled; the confirmation email it sent to `confirmed_to` counted in the
        same transaction."""
        with self.db.lock, self.db.transaction():
            self.db.execute("DELETE FROM signup_requests WHERE id = ?", (request_id,))
            if confirmed_to is not None:
                self._count_confirmation(confirmed_to, time.time() if now is None else now)

    # -- signing up and confirming ------------------------------------------------------------

    def sign_up(self, request: SignUpRequest, *, suppressed: bool, source: Source,
                consent_version: str, confirmations_per_day: int, now: float,
                request_id: int | None = None) -> SignUpOutcome:
        """A sign-up of its own with a confirmation email to send, unless the reader is
        confirmed already (and not suppressed) or his address got its day's confirmation
        emails. A confirmed reader's record is never changed by a sign-up (anyone can post any
        address); one who left stays suppressed until he confirms. A queued sign-up
        (`request_id`) gone meanwhile (his address erased) makes none."""
        with self.db.lock, self.db.transaction():
            if request_id is not None and self.db.execute(
                    "SELECT 1 FROM signup_requests WHERE id = ?", (request_id,)).fetchone() is None:
                return SignUpOutcome(None, "erased meanwhile")
            found = self._get(request.key)
            if found is not None and found.source != Source.EDITOR and not suppressed:
                return SignUpOutcome(None, "already confirmed")
            (sent,) = self.db.execute(
                "SELECT COUNT(*) FROM confirmations_sent WHERE email = ? AND sent_at > ?",
                (request.key, now - 86400)).fetchone()
            if sent >= confirmations_per_day:
                return SignUpOutcome(None, "daily limit of confirmation emails reached")
            pending = PendingSignUp(secrets.token_urlsafe(12), request.key, request.address,
                                    request.name, request.sections, request.language, source,
                                    consent_version, request.ip_hash, now)
            self.db.execute(
                f"INSERT INTO pending_signups ({PENDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)", (pending.nonce, pending.key, pending.address, pending.name,
                           ";".join(pending.sections), pending.language, str(pending.source),
                           pending.consent_version, pending.ip_hash, pending.signed_up_at))
            return SignUpOutcome(pending, "confirmation to send")

    def confirmation_sent(self, key: str, now: float) -> None:
        with self.db.lock, self.db.transaction():
            self._count_confirmation(key, now)

    def _count_confirmation(self, key: str, now: float) -> None:
        self.db.execute("INSERT INTO confirmations_sent (email, sent_at) VALUES (?, ?)",
                        (key, now))

    def confirm(self, nonce: str, now: float) -> tuple[Reader, bool] | None:
        """The reader the sign-up `nonce` makes, with its choices, and whether he was confirmed
        now (False: by an earlier click of the same link); None when there is no such sign-up.
        His other sign-ups waiting go."""
        with self.db.lock, self.db.transaction():
            row = self.db.execute(f"SELECT {PENDING_COLUMNS}, confirmed_at FROM pending_signups"
                                  " WHERE nonce = ?", (nonce,)).fetchone()
            if row is None:
                return None
            pending = PendingSignUp.from_row(row[:-1])
            if row[-1] is not None:  # clicked before: nothing changes
                reader = self._get(pending.key)
                return (reader, False) if reader is not None else None
            self.db.execute(
                f"INSERT OR REPLACE INTO readers ({READER_COLUMNS}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pending.key, pending.address, pending.name, ";".join(pending.sections),
                 pending.language, str(pending.source), pending.consent_version,
                 pending.signed_up_at, now, pending.ip_hash, now))
            self.db.execute("DELETE FROM pending_signups WHERE email = ? AND nonce != ?",
                            (pending.key, nonce))
            self.db.execute("UPDATE pending_signups SET confirmed_at = ? WHERE nonce = ?",
                            (now, nonce))
            reader = self._get(pending.key)
            assert reader is not None
            return reader, True

    def add_confirmed(self, requests: list[SignUpRequest], source: Source,
                      consent_version: str, now: float) -> int:
        """Readers an editor vouches for (an import): confirmed at once. Those confirmed
        already are left as they are; how many were added."""
        with self.db.lock, self.db.transaction():
            cursor = self.db.executemany(
                f"INSERT INTO readers ({READER_COLUMNS}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)"
                " ON CONFLICT (email) DO UPDATE SET source = excluded.source,"
                " consent_version = excluded.consent_version, confirmed_at = excluded.confirmed_at,"
                " updated_at = excluded.updated_at WHERE readers.source = 'editor'",
                ((r.key, r.address, r.name, ";".join(r.sections), r.language, str(source),
                  consent_version, now, now, now) for r in requests))
        return max(cursor.rowcount, 0)

    def save_preferences(self, key: str, address: str, name: str, sections: tuple[str, ...],
                         language: str, now: float) -> None:
        """A reader's own choices; one of the editors' list gets a record of his own."""
        with self.db.lock, self.db.transaction():
            self.db.execute(
                f"INSERT INTO readers ({READER_COLUMNS}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'editor', '', ?, NULL, '', ?)"
                " ON CONFLICT (email) DO UPDATE SET name = excluded.name,"
                " sections = excluded.sections, language = excluded.language,"
                " updated_at = excluded.updated_at",
                (key, address, name, ";".join(sections), language, now, now))

    # -- reading ------------------------------------------------------------------------------

    def _get(self, key: str) -> Reader | None:
        row = self.db.execute(f"SELECT {READER_COLUMNS} FROM readers WHERE email = ?",
                              (key,)).fetchone()
        return Reader.from_row(row) if row else None

    def get(self, key: str) -> Reader | None:
        with self.db.lock:
            return self._get(key)

    def all(self) -> list[Reader]:
        with self.db.lock:
            rows = self.db.execute(f"SELECT {READER_COLUMNS} FROM readers"
                                   " ORDER BY signed_up_at, rowid").fetchall()
        return [Reader.from_row(row) for row in rows]

    def pending(self, key: str | None = None) -> list[PendingSignUp]:
        """The sign-ups waiting for their confirmation (of one address, or all)."""
        where = "confirmed_at IS NULL" + (" AND email = ?" if key else "")
        with self.db.lock:
            rows = self.db.execute(f"SELECT {PENDING_COLUMNS} FROM pending_signups WHERE {where}"
                                   " ORDER BY signed_up_at, rowid", (key,) if key else ()
                                   ).fetchall()
        return [PendingSignUp.from_row(row) for row in rows]

    def rows_for_send(self) -> Iterator[tuple[str, str, str, str, str, str]]:
        """(key, address, name, sections, language, source) of every reader, for a send: plain
        rows, read as they come."""
        yield from self.db.execute("SELECT email, address, name, sections, language, source"
                                   " FROM readers ORDER BY rowid")

    def held(self, key: str) -> dict[str, list]:
        """What else is kept about one address: confirmation emails, tokens, queued sign-ups."""
        with self.db.lock:
            sent = [at for (at,) in self.db.execute(
                "SELECT sent_at FROM confirmations_sent WHERE email = ? ORDER BY sent_at",
                (key,))]
            tokens = [t for (t,) in self.db.execute(
                "SELECT token FROM reader_tokens WHERE email = ?", (key,))]
            queued = [at for (at,) in self.db.execute(
                "SELECT received_at FROM signup_requests WHERE email = ?", (key,))]
        return {"confirmation_emails": sent, "unsubscribe_tokens": tokens,
                "sign_ups_queued": queued}

    # -- forgetting ---------------------------------------------------------------------------

    def expire(self, now: float, pending_days: int) -> int:
        """Forget the sign-ups not confirmed within `pending_days` (and the confirmed ones'
        links after as long), and the counts of confirmation emails older than a day: how many
        sign-ups went."""
        with self.db.lock, self.db.transaction():
            gone = self.db.execute("DELETE FROM pending_signups WHERE signed_up_at < ?",
                                   (now - pending_days * 86400,))
            self.db.execute("DELETE FROM confirmations_sent WHERE sent_at < ?", (now - 86400,))
        return max(gone.rowcount, 0)
