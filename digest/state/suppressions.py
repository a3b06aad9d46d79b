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
import io
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from digest.atomic import replace_file
from digest.dates import utc_text
from digest.models import Leaving, Suppression
from digest.state.db import StateDatabase, StateError
from digest.text import spreadsheet_cell

COLUMNS = ("email", "suppressed_at", "kind", "source", "reason", "edition")
GROUP_WAIT_SECONDS = 0.005  # the longest a rewrite waits for additions under way to commit
# An address that leaves is never lost to a busy moment: a write of the suppressions waits this
# long for the other processes' (each holds the lock for one CSV rewrite and its fsync, which a
# loaded disk can make take seconds), where other writes give up after LOCK_WAIT_SECONDS.
WRITE_WAIT_SECONDS = 30.0
REASON_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

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
        self._lock = db.lock
        self._mirroring = threading.Lock()  # one rewrite at a time
        self._changes = threading.Condition()  # guards the three counters below
        self._pending = 0  # additions under way in this process
        self._committed = 0  # additions committed by this process
        self._mirrored = 0  # of those, how many the last rewrite covered
        self._rendered = _Rendered()

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
        with self._changes:
            self._pending += 1
        added = imported = 0
        try:
            with self._lock, self.db.transaction(wait=WRITE_WAIT_SECONDS):
                # the editors' own lines first, in the order they wrote them
                imported = self._import_list()
                added = max(self.db.executemany(_INSERT, rows).rowcount if rows else 0, 0)
                for name, value in (marks or {}).items():
                    self._set_mark(name, value)
        finally:
            with self._changes:
                self._pending -= 1
                self._committed += 1 if added or imported else 0
                ticket = self._committed
                self._changes.notify_all()
        if added or imported:
            self._mirror_covering(ticket)
        return added

    def read_list(self) -> int:
        """The lines editors added to the CSV by hand, into the table now: how many."""
        return self.add([])

    def remove(self, keys: Iterable[str]) -> int:
        """Forget these addresses (an editor's choice): the number removed."""
        keys = list(keys)
        with self._mirroring, self._lock, self._rewriting():
            self._import_list()  # an address added to the CSV by hand goes too
            removed = self.db.executemany("DELETE FROM suppressions WHERE email = ?",
                                          ((k,) for k in keys)).rowcount if keys else 0
            # rows went away: every process's rendered copy of the list is out of date
            self._set_mark("generation", str(int(self._get_mark("generation") or 0) + 1))
        return max(removed, 0)

    def replace(self, key: str, hashed: str, also: Callable[[], None]) -> None:
        """An erased reader's suppression kept only as `hashed` (and one made when he had none,
        so that nobody writes to him again), with `also` run in the same transaction; the CSV
        rewritten without his address."""
        with self._mirroring, self._lock, self._rewriting():
            self._import_list()  # his address in the CSV by hand is his suppression too
            self.db.execute("DELETE FROM suppressions WHERE email = ?", (hashed,))
            self.db.execute("UPDATE suppressions SET email = ?, reason = 'erased' WHERE email = ?",
                            (hashed, key))
            self.db.execute(_INSERT, (hashed, str(Leaving.ADDED), "erasure", "erased", time.time(),
                                      ""))
            also()
            self._set_mark("generation", str(int(self._get_mark("generation") or 0) + 1))

    def _mirror_covering(self, ticket: int) -> None:
        """Rewrite the CSV unless a rewrite that started after change `ticket` already did.
        Only one thread rewrites at a time; it first lets the additions under way commit, so
        that one rewrite covers them all."""
        if self.mirror is None:
            return
        with self._mirroring:
            if self._mirrored >= ticket:
                return
            with self._changes:
                self._changes.wait_for(lambda: self._pending == 0, timeout=GROUP_WAIT_SECONDS)
                target = self._committed
            with self._lock, self._rewriting():
                self._import_list()
            self._mirrored = target

    @contextmanager
    def _rewriting(self) -> Iterator[None]:
        """A transaction whose end writes the CSV from the table, under the write lock: no other
        process can commit between the read and the rename."""
        try:
            with self.db.transaction(wait=WRITE_WAIT_SECONDS):
                yield
                if self.mirror is not None:
                    lines = self._rendered.update(self.db, self._get_mark("generation") or "0")
                    signature = _write_list(self.mirror, lines)
                    self._set_mark(f"mirror:{self.mirror}", signature)
        except BaseException:
            self._rendered = _Rendered()  # it may hold rows of a transaction rolled back
            raise

    def _import_list(self) -> int:
        """The CSV's addresses missing from the table, when the file is not the one digest read
        or wrote last (an editor added lines by hand): how many were added."""
        path = self.mirror
        signature = _signature(path) if path is not None else ""
        if path is None or signature in ("", self._get_mark(f"mirror:{path}")):
            return 0
        from digest.audience.recipients import (
            read_suppressions,  # lazy: not for a build (see folder)
        )

        listed = read_suppressions(path)  # unreadable: an error, rather than lose its lines
        now = time.time()
        imported = self.db.executemany(_INSERT, (
            (key, str(Leaving.ADDED), "list", f"in {path.name}", now, "")
            for key in sorted(listed))).rowcount if listed else 0
        self._set_mark(f"mirror:{path}", signature)  # read once, not at every change
        return max(imported, 0)

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


class _Rendered:
    """The CSV lines of the table's rows, in rowid order, kept between rewrites: a rewrite only
    renders the rows added since the last one. Rebuilt when rows were removed (the generation
    mark changed) or when the count shows rows it did not see."""

    def __init__(self) -> None:
        self._reset(None)

    def _reset(self, generation: str | None) -> None:
        self.chunks: list[str] = []
        self.rows = 0
        self.last_rowid = 0
        self.generation = generation

    def update(self, db: StateDatabase, generation: str) -> list[str]:
        if generation != self.generation:
            self._reset(generation)
        self._read(db)
        (count,) = db.execute("SELECT COUNT(*) FROM suppressions").fetchone()
        if count != self.rows:
            self._reset(generation)
            self._read(db)
        if len(self.chunks) > 64:
            self.chunks = ["".join(self.chunks)]
        return self.chunks

    def _read(self, db: StateDatabase) -> None:
        rows = db.execute(
            "SELECT rowid, email, created_at, kind, source, reason, COALESCE(edition_id, '')"
            " FROM suppressions WHERE rowid > ? ORDER BY rowid", (self.last_rowid,)).fetchall()
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for _, key, created, kind, source, reason, edition in rows:
            moment = utc_text(created)  # "?" for a time an older release stored unchecked
            # "=x@example.org" is a valid address: no cell a spreadsheet would run as a formula
            writer.writerow((spreadsheet_cell(key), moment, kind, spreadsheet_cell(source),
                             spreadsheet_cell(reason), edition))
        self.chunks.append(buffer.getvalue())
        self.rows += len(rows)
        self.last_rowid = rows[-1][0]


def _write_list(path: Path, chunks: list[str]) -> str:
    """Replace `path` with the CSV, atomically and durably; the new file's signature."""
    header = ",".join(COLUMNS) + "\n"
    try:
        replace_file(path, (text.encode("utf-8") for text in (header, *chunks)))
    except OSError as error:
        raise StateError(f"{path}: cannot write the suppression list ({error.strerror}); check "
                         "the disk and the permissions of the file and its folder") from None
    # The rename may be lost to a power cut, leaving the previous list, but so may the
    # database's last commits (WAL, synchronous=NORMAL), and it is the truth.
    return _signature(path)
