"""The one connection to `.digest/state.db`: WAL journal, one transaction style, a versioned schema.

The schema is a list of migrations; `PRAGMA user_version` says how many were applied. A database
written before the schema was versioned holds version 0 with the first migration's tables already
there, which is why every statement of the first migration is `IF NOT EXISTS`. Before migrating,
the database as it was is copied to `state.db.before-migration-N` (N: the first migration run);
the last BACKUPS_KEPT copies are kept.

SQLite errors a user can act on (a corrupt or read-only file, a lock held too long, a full disk)
become `StateError`s naming the file; nothing else outside this package imports sqlite3.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from digest.errors import EXIT_TEMPFAIL, StateError

LOCK_WAIT_SECONDS = 5  # another process writing longer than this is a problem to report
BACKUPS_KEPT = 3  # copies of the database taken before a migration
PAGE_SIZE = 32768  # bytes, for a new file

MIGRATIONS: tuple[str, ...] = (
    # 1: the send ledger, the memory of sent stories and the feed cache, as first released
    """
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
    CREATE TABLE IF NOT EXISTS feed_cache (
        url TEXT PRIMARY KEY,
        etag TEXT, last_modified TEXT, content_type TEXT,
        body BLOB, ok_at REAL,
        failures INTEGER NOT NULL DEFAULT 0, failing_since REAL, last_error TEXT,
        last_status TEXT, entries INTEGER, seconds REAL, checked_at REAL
    );
    CREATE TABLE IF NOT EXISTS feed_entries (
        day TEXT NOT NULL, feed_url TEXT NOT NULL, key TEXT NOT NULL, article TEXT NOT NULL,
        PRIMARY KEY (day, feed_url, key)
    );
    CREATE TABLE IF NOT EXISTS feed_days (
        feed_url TEXT NOT NULL, day TEXT NOT NULL, dates TEXT NOT NULL,
        PRIMARY KEY (feed_url, day)
    );
    CREATE TABLE IF NOT EXISTS feed_first_seen (
        feed_url TEXT NOT NULL, key TEXT NOT NULL, first_seen REAL NOT NULL,
        PRIMARY KEY (feed_url, key)
    );
    """,
    # 2: the email of each edition as sent, so an interrupted round finishes with the same bytes
    """
    CREATE TABLE IF NOT EXISTS edition_emails (
        edition_id TEXT PRIMARY KEY REFERENCES editions(id),
        email TEXT NOT NULL
    );
    """,
    # 3: the window of publication times each edition took its articles from; editions only
    # ever dry-run
    """
    ALTER TABLE editions ADD COLUMN window_kind TEXT;
    ALTER TABLE editions ADD COLUMN window_start TEXT;
    ALTER TABLE editions ADD COLUMN window_end TEXT;
    ALTER TABLE editions ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: addresses never to send to again (who left, whose mail bounced or who complained), with
    # the edition each followed; the index finds the editions a reader got
    """
    CREATE TABLE IF NOT EXISTS suppressions (
        email TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at REAL NOT NULL,
        edition_id TEXT
    );
    CREATE TABLE IF NOT EXISTS suppression_marks (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS deliveries_by_email ON deliveries (email, updated_at);
    """,
    # 5: sentence vectors for grouping, by the text's hash and the model's version
    """
    CREATE TABLE IF NOT EXISTS embeddings (
        text_hash TEXT NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (text_hash, model)
    );
    """,
    # 6: the short unsubscribe tokens handed out, and whose address each one stands for
    """
    CREATE TABLE IF NOT EXISTS reader_tokens (
        token TEXT PRIMARY KEY,
        email TEXT NOT NULL
    );
    """,
    # 7: each article file as last read (its front matter, and its Article once it was in an
    # edition's window), by the file's path; `stamp` is the file's size and times with the
    # reading's version, so a changed file or a new release reads the file again
    """
    CREATE TABLE IF NOT EXISTS parsed_articles (
        path BLOB PRIMARY KEY,
        stamp TEXT NOT NULL,
        front TEXT NOT NULL,
        article TEXT
    );
    """,
    # 8: the index of the editions a reader got holds only the deliveries sent: a reader's
    # claim as pending no longer writes to it, and his outcome once instead of twice
    """
    DROP INDEX IF EXISTS deliveries_by_email;
    CREATE INDEX IF NOT EXISTS deliveries_sent_by_email ON deliveries (email, updated_at)
        WHERE status = 'sent';
    """,
    # 9: the last row of `embeddings` written each day, so that rows written long ago can go
    """
    CREATE TABLE IF NOT EXISTS embedding_days (
        day TEXT PRIMARY KEY,
        last_rowid INTEGER NOT NULL
    );
    """,
    # 10: the readers who signed up and confirmed (or chose their preferences), with their
    # consent record; each sign-up waiting for its confirmation, with the choices it was made
    # with; the sign-ups received and not handled yet; the confirmation emails sent
    """
    CREATE TABLE IF NOT EXISTS readers (
        email TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        sections TEXT NOT NULL,
        language TEXT NOT NULL,
        source TEXT NOT NULL,
        consent_version TEXT NOT NULL,
        signed_up_at REAL NOT NULL,
        confirmed_at REAL,
        ip_hash TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pending_signups (
        nonce TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        sections TEXT NOT NULL,
        language TEXT NOT NULL,
        source TEXT NOT NULL,
        consent_version TEXT NOT NULL,
        ip_hash TEXT NOT NULL,
        signed_up_at REAL NOT NULL,
        confirmed_at REAL
    );
    CREATE INDEX IF NOT EXISTS pending_signups_by_email ON pending_signups (email);
    CREATE TABLE IF NOT EXISTS signup_requests (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL,
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        sections TEXT NOT NULL,
        language TEXT NOT NULL,
        ip_hash TEXT NOT NULL,
        received_at REAL NOT NULL,
        claimed_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        retry_at REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS confirmations_sent (
        email TEXT NOT NULL,
        sent_at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS confirmations_by_email ON confirmations_sent (email, sent_at);
    """,
    # 11: the stories each day's edition linked to and how often each was clicked, and the
    # opens a provider reported per day: counters only, nothing about any reader
    """
    CREATE TABLE IF NOT EXISTS story_clicks (
        day TEXT NOT NULL,
        story TEXT NOT NULL,
        url TEXT NOT NULL,
        title TEXT NOT NULL,
        category TEXT NOT NULL,
        source TEXT NOT NULL,
        position INTEGER NOT NULL,
        shown INTEGER NOT NULL,
        clicks INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, story)
    );
    CREATE TABLE IF NOT EXISTS edition_opens (
        day TEXT PRIMARY KEY,
        opens INTEGER NOT NULL
    );
    """,
)


class StateBusy(StateError):
    exit_code = EXIT_TEMPFAIL


class StateDatabase:
    """One open `.digest/state.db`. Statements go through `execute`, writes through
    `transaction`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._errors():
            path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: the preview builds in its server's threads, one at a time
            self._db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_WAIT_SECONDS,
                                       check_same_thread=False)
            # large pages for a new file (an existing one keeps its own): a batch of readers
            # every 50th of the list, as one set of sections gives, dirties one page of the
            # deliveries' indexes per reader at 4 KiB and one per several at 32 KiB
            self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed row survives a killed process (not a power cut).
            self._db.execute("PRAGMA synchronous=NORMAL")
            # a deleted row is overwritten, not left in free pages (an erased reader's address)
            self._db.execute("PRAGMA secure_delete=ON")
            self._migrate()
        # for threads sharing the connection (the web application's): one statement or
        # transaction at a time
        self.lock = threading.Lock()

    def _migrate(self) -> None:
        if self._version() == len(MIGRATIONS):
            return
        with self.transaction():  # read again under the write lock: another process may migrate
            version = self._version()
            if version > len(MIGRATIONS):
                raise StateError(f"{self.path}: written by a newer version of digest (schema "
                                 f"{version}, this one knows {len(MIGRATIONS)}); upgrade digest")
            if version < len(MIGRATIONS) and self._holds_tables():  # a new file has nothing
                self._back_up(version)
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):  # migrations hold no ';' inside strings
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def _version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _holds_tables(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None

    def _back_up(self, version: int) -> None:
        """`state.db.before-migration-N`: the database as committed before migration N, copied
        under the write lock this connection holds (by a second connection: a write transaction
        cannot copy itself); the older copies beyond BACKUPS_KEPT go."""
        target = self.path.with_name(f"{self.path.name}.before-migration-{version + 1}")
        partial = target.with_name(f"{target.name}.partial")
        try:
            partial.unlink(missing_ok=True)
            reader = sqlite3.connect(self.path, timeout=LOCK_WAIT_SECONDS)
            try:
                reader.execute("VACUUM INTO ?", (str(partial),))
            finally:
                reader.close()
            os.replace(partial, target)
            for old in backups(self.path)[BACKUPS_KEPT:]:
                old.unlink(missing_ok=True)
        except OSError as error:
            raise StateError(f"{target}: cannot write the copy taken before migrating the state "
                             f"database ({error.strerror}); free some space or check the "
                             "permissions of the .digest/ folder, then run again") from None

    def close(self) -> None:
        self._db.close()

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database and empty it, so that rows deleted are
        nowhere in the files; False when another connection's reading kept it from finishing."""
        with self.lock, self._errors():
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def execute(self, sql: str, parameters: Iterable = ()) -> sqlite3.Cursor:
        with self._errors():
            return self._db.execute(sql, tuple(parameters))

    def rows_in(self, sql: str, keys: Sequence[Any], before: Sequence[Any] = ()) -> Iterator[Any]:
        """The rows of `sql`, whose `IN ({})` takes `keys`: a chunk at a time, under SQLite's
        limit on bound parameters (999 before 3.32); `before` binds the placeholders ahead."""
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            yield from self.execute(sql.format(",".join("?" * len(chunk))), (*before, *chunk))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        with self._errors():
            return self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT: the write lock from the first statement, all or nothing.
        `wait`: how long to wait for another process's write lock (a cache waits less)."""
        with self._errors():
            if wait != LOCK_WAIT_SECONDS:
                self._db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                self._db.execute("BEGIN IMMEDIATE")
            finally:
                if wait != LOCK_WAIT_SECONDS:
                    self._db.execute(f"PRAGMA busy_timeout = {LOCK_WAIT_SECONDS * 1000}")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        with self._errors():
            self._db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as error:
            raise _state_error(self.path, error) from None
        except sqlite3.DatabaseError as error:  # not a database, malformed
            raise StateError(f"{self.path}: {error}; the state database is damaged: move it aside "
                             "and rebuild it from what can be read with `digest state recover`, "
                             "which keeps the send ledger and the unsubscribe tokens of every "
                             "readable row (a file moved aside by hand loses them all: the next "
                             "send of a date already sent goes again to every reader, and "
                             "delivered one-click unsubscribe links answer 400)") from None


def backups(path: Path) -> list[Path]:
    """The copies of `path` taken before migrations, the newest first."""
    def age(copy: Path) -> tuple[int, int]:
        number = copy.name.rsplit("-", 1)[1]
        try:
            return copy.stat().st_mtime_ns, int(number) if number.isdigit() else 0
        except OSError:  # gone meanwhile
            return 0, 0

    found = [copy for copy in path.parent.glob(f"{path.name}.before-migration-*")
             if not copy.name.endswith(".partial")]
    return sorted(found, key=age, reverse=True)


def _state_error(path: Path, error: sqlite3.OperationalError) -> StateError:
    message = str(error)
    if "locked" in message or "busy" in message:
        return StateBusy(f"{path}: busy, another digest process is writing to it; run again "
                         "when it is done")
    if "full" in message:
        return StateBusy(f"{path}: the disk is full; free some space and run again")
    if "disk I/O error" in message:  # what a write past a file size limit gives, among others
        return StateBusy(f"{path}: disk I/O error (a full or failing disk); free some space or "
                         "check the disk, then run again")
    if "readonly" in message or "unable to open" in message or "read-only" in message:
        return StateError(f"{path}: cannot write the state database ({message}); check the "
                          "permissions of the .digest/ folder")
    return StateError(f"{path}: {message}")
