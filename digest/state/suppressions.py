"""Addresses never to send to again, kept in `.digest/state.db` and mirrored to the CSV editors
know (`delivery.suppressions`, unsubscribed.csv).

The table is the truth. After each change the CSV is rewritten from it atomically (a temporary
file in the same folder, fsync, rename) while holding the database's write lock, so whichever
process rewrites last writes every entry any process committed: concurrent writers never lose one.
Lines an editor added to the CSV by hand are read into the table first (whenever the file is not
the one digest wrote last), so a rewrite keeps them.

The web application's threads share one connection: a lock serialises them, and a rewrite covers
every entry committed before it started (group commit), so unsubscribes arriving together cost
one rewrite, not one each.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from digest.models import Leaving, Suppression
from digest.state.db import StateDatabase, StateError

COLUMNS = ("email", "suppressed_at", "kind", "source", "reason", "edition")
REASON_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# a spreadsheet runs a cell that starts with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@")

_INSERT = (
    "INSERT OR IGNORE INTO suppressions (email, kind, source, reason, created_at, edition_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, COALESCE((SELECT id FROM editions WHERE id = ?6),"
    # else the last edition this reader got before: the one he left after
    " (SELECT d.edition_id FROM deliveries d WHERE d.email = ?1 AND d.status = 'sent'"
    " AND d.updated_at <= ?5 ORDER BY d.updated_at DESC LIMIT 1)))"
)


def clean_reason(text: str) -> str:
    """Provider and bounce texts are untrusted: one line, no control characters, bounded."""
    text = _CONTROL.sub(" ", text).strip()
    return text[:REASON_CHARS - 1] + "…" if len(text) > REASON_CHARS else text


class Suppressions:
    def __init__(self, db: StateDatabase, mirror: Path | None = None) -> None:
        self.db = db
        self.mirror = mirror  # the CSV kept in step with the table, if any
        self._lock = threading.Lock()
        self._committed = 0  # changes committed by this process
        self._mirrored = 0  # of those, how many the last rewrite covered

    # -- reading ------------------------------------------------------------------------------

    def keys(self) -> set[str]:
        with self._lock:
            return {key for (key,) in self.db.execute("SELECT email FROM suppressions")}

    def entries(self) -> list[Suppression]:
        with self._lock:
            rows = self.db.execute(
                "SELECT email, kind, source, reason, created_at, COALESCE(edition_id, '')"
                " FROM suppressions ORDER BY created_at, rowid").fetchall()
        return [Suppression(r[0], Leaving(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def get(self, key: str) -> Suppression | None:
        with self._lock:
            row = self.db.execute(
                "SELECT email, kind, source, reason, created_at, COALESCE(edition_id, '')"
                " FROM suppressions WHERE email = ?", (key,)).fetchone()
        return Suppression(row[0], Leaving(row[1]), *row[2:]) if row else None

    def mark(self, name: str) -> str | None:
        """A value kept beside the suppressions (when a provider's lists were last read)."""
        with self._lock:
            row = self.db.execute("SELECT value FROM suppression_marks WHERE name = ?",
                                  (name,)).fetchone()
        return row[0] if row else None

    def marks(self, prefix: str) -> dict[str, str]:
        with self._lock:
            rows = self.db.execute("SELECT name, value FROM suppression_marks"
                                   " WHERE substr(name, 1, ?) = ?", (len(prefix), prefix))
            return dict(rows.fetchall())

    def after_editions(self) -> dict[str, dict[Leaving, int]]:
        """{edition id: {kind: addresses suppressed after it}}."""
        counts: dict[str, dict[Leaving, int]] = {}
        with self._lock:
            rows = self.db.execute(
                "SELECT edition_id, kind, COUNT(*) FROM suppressions"
                " WHERE edition_id IS NOT NULL GROUP BY edition_id, kind").fetchall()
        for edition_id, kind, count in rows:
            counts.setdefault(edition_id, {})[Leaving(kind)] = count
        return counts

    # -- writing ------------------------------------------------------------------------------

    def add(self, suppressions: Iterable[Suppression], marks: dict[str, str] | None = None) -> int:
        """Record the addresses not suppressed yet (an address keeps its first reason), and
        `marks` in the same transaction; the number of new entries. Returns once the CSV lists
        them."""
        now = time.time()
        rows = [(s.key, str(s.kind), s.source, clean_reason(s.reason), s.at or now, s.edition_id)
                for s in suppressions if s.key]
        with self._lock, self.db.transaction():
            self._import_list()  # the editors' lines first, in the order they wrote them
            added = self.db.executemany(_INSERT, rows).rowcount if rows else 0
            for name, value in (marks or {}).items():
                self._set_mark(name, value)
            if added:
                self._committed += 1
            ticket = self._committed
        if added:
            self._mirror_covering(ticket)
        return max(added, 0)

    def remove(self, keys: Iterable[str]) -> int:
        """Forget these addresses (an editor's choice): the number removed."""
        keys = list(keys)
        with self._lock, self._rewriting():
            self._import_list()  # an address added to the CSV by hand goes too
            removed = self.db.executemany("DELETE FROM suppressions WHERE email = ?",
                                          ((k,) for k in keys)).rowcount if keys else 0
            self._committed += 1
            self._mirrored = self._committed
        return max(removed, 0)

    def rewrite_mirror(self) -> None:
        """Write the CSV from the table now (and read the editors' lines into it first)."""
        with self._lock, self._rewriting():
            self._import_list()
            self._mirrored = self._committed

    def _mirror_covering(self, ticket: int) -> None:
        """Rewrite the CSV unless a rewrite that started after change `ticket` already did."""
        with self._lock:
            if self.mirror is None or self._mirrored >= ticket:
                return
            target = self._committed
            with self._rewriting():
                self._import_list()
            self._mirrored = target

    @contextmanager
    def _rewriting(self) -> Iterator[None]:
        """A transaction whose end writes the CSV from the table, under the write lock: no other
        process can commit between the read and the rename."""
        with self.db.transaction():
            yield
            if self.mirror is not None:
                rows = self.db.execute(
                    "SELECT email, created_at, kind, source, reason, COALESCE(edition_id, '')"
                    " FROM suppressions ORDER BY rowid").fetchall()
                signature = _write_list(self.mirror, rows)
                self._set_mark(f"mirror:{self.mirror}", signature)

    def _import_list(self) -> None:
        """The CSV's addresses missing from the table, when the file is not the one digest wrote
        last: an editor added lines by hand."""
        path = self.mirror
        if path is None or _signature(path) in ("", self._get_mark(f"mirror:{path}")):
            return
        from digest.recipients import read_suppressions

        try:
            listed = read_suppressions(path)
        except Exception as error:  # unreadable: keep it as it is rather than lose its lines
            raise StateError(f"{path}: {error}; fix the file, then run again") from None
        if listed:
            now = time.time()
            self.db.executemany(_INSERT, ((key, str(Leaving.ADDED), "list", f"in {path.name}",
                                           now, "") for key in sorted(listed)))

    def _get_mark(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM suppression_marks WHERE name = ?",
                              (name,)).fetchone()
        return row[0] if row else None

    def _set_mark(self, name: str, value: str) -> None:
        self.db.execute("INSERT INTO suppression_marks (name, value) VALUES (?, ?)"
                        " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))


def _signature(path: Path) -> str:
    """What identifies one version of a file: inode, size and modification time ("" if none)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ""
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _write_list(path: Path, rows: list[tuple]) -> str:
    """Replace `path` with the rows as CSV, atomically and durably; the new file's signature."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.",
                                                 suffix=".tmp")
    except OSError as error:
        raise StateError(f"{path}: cannot write the suppression list ({error.strerror}); check "
                         "the folder's permissions") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for key, created, kind, source, reason, edition in rows:
                moment = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                writer.writerow((key, moment, kind, source, _cell(reason), edition))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        with suppress(OSError):
            os.unlink(temporary)
        raise StateError(f"{path}: cannot write the suppression list ({error.strerror}); check "
                         "the disk and the file's permissions") from None
    _sync_folder(folder)
    return _signature(path)


def _sync_folder(folder: Path) -> None:
    """The rename itself survives a power cut once the folder is synced (POSIX only)."""
    with suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
