"""A damaged `.digest/state.db`: what can still be read of it (`check`), and a new one made of
everything that can be read (`recover`), the damaged file kept beside it.

A file that still reads whole is copied with `VACUUM INTO` (which also rebuilds damaged indexes
from their tables). Otherwise each table is read in rowid order into a new database of the current
schema, stepping over the parts of its b-tree that cannot be read: what lies in a damaged page is
lost, the rest is kept with its rowid. (The sqlite3 shell's `.recover` reads page by page, but it
needs the `sqlite_dbpage` table, which neither Python's sqlite3 nor Debian's shell has: there it
prints an empty database without an error.)

Nothing here raises on a damaged file: what cannot be read is reported, table by table, with what
its loss means for the readers.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.state.db import (
    LOCK_WAIT_SECONDS,
    MIGRATIONS,
    StateBusy,
    StateDatabase,
    StateError,
    backups,
)
from digest.state.lock import SendLocked, send_lock

LEDGER = "the send ledger: a reader whose row is lost gets that edition again if it is sent again"
FEEDS = "the feed cache: the feeds are read again"
# Every table, the send ledger first, with what losing rows of it means.
TABLES: dict[str, str] = {
    "editions": LEDGER,
    "batches": LEDGER,
    "deliveries": LEDGER,
    "edition_emails": "each edition's email as sent: an interrupted round goes on with the email "
                      "built again",
    "reader_tokens": "the unsubscribe tokens handed out: a delivered one-click link whose token "
                     "is lost answers 400",
    "suppressions": "who left: unsubscribed.csv keeps its own copy, which every send reads",
    "suppression_marks": "where each SendGrid sync stopped (the next sync reads the lists again), "
                         "and the key of erased addresses' hashes: an erased address put back in "
                         "a list is no longer recognised",
    "stories": "the memory of the stories sent: one may be picked again",
    "feed_cache": FEEDS,
    "feed_entries": FEEDS,
    "feed_days": FEEDS,
    "feed_first_seen": FEEDS,
    "embeddings": "the cache of sentence vectors: computed again",
    "embedding_days": "the cache of sentence vectors: computed again",
    "parsed_articles": "the article files as last read: read again",
    "readers": "the readers who signed up and their consent: those lost are no longer sent to "
               "and must sign up again",
    "pending_signups": "sign-ups waiting for their confirmation: their links no longer work",
    "signup_requests": "sign-ups received and not handled yet: those lost get no confirmation "
                       "email",
    "confirmations_sent": "the confirmation emails counted against the daily limit: counted "
                          "from zero",
    "story_clicks": "the stories each edition linked to, and their clicks: the click links of "
                    "those lost answer 404, their counts start from zero",
    "edition_opens": "the opens providers reported: counted from zero",
}
KEY_TABLES = ("editions", "batches", "deliveries", "reader_tokens", "suppressions", "readers",
              "suppression_marks")
PROBLEMS_SHOWN = 10  # lines of SQLite's integrity check shown
FIRST_ROWID, LAST_ROWID = -(2 ** 63), 2 ** 63 - 1


@dataclass
class StateCheck:
    """What SQLite's integrity check says of the file, its schema version and its rows per table
    (None: the table cannot be counted)."""

    path: Path
    exists: bool = True
    problems: list[str] = field(default_factory=list)  # empty: healthy
    version: int | None = None
    counts: dict[str, int | None] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if not self.exists:
            return f"{self.path}: no state database yet (nothing was ever sent); nothing to check"
        lines = [f"{self.path}: {'healthy' if self.healthy else 'damaged'}"]
        lines += [f"  {problem}" for problem in self.problems]
        known = len(MIGRATIONS)
        if self.version is not None:
            newer = ", written by a newer digest" if self.version > known else ""
            lines.append(f"schema version {self.version} (this digest knows {known}{newer})")
        if self.counts:
            width = max(len(table) for table in self.counts)
            lines.append("rows:")
            lines += [f"  {table:<{width}}  {'unreadable' if count is None else count}"
                      for table, count in self.counts.items()]
        if not self.healthy:
            lines.append("run `digest state recover`: it rebuilds the database from what can be "
                         "read and keeps the damaged file beside it")
        return "\n".join(lines)


@dataclass
class Recovery:
    """What `recover` did: where the damaged file is kept, how it was read, the rows kept per
    table and the unreadable parts stepped over."""

    path: Path
    before: StateCheck
    kept_as: Path | None = None  # None: the file was healthy, nothing was done
    method: str = ""
    kept: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)  # parts of a table stepped over
    from_indexes: dict[str, int] = field(default_factory=dict)  # rows rebuilt from indexes
    older: list[Path] = field(default_factory=list)  # copies taken before migrations

    def lost(self, table: str) -> int | None:
        """Rows of `table` lost: 0, a number, or None when the damaged file could not count
        them."""
        before, kept = self.before.counts.get(table, 0), self.kept.get(table, 0)
        if before is not None:
            return max(before - kept, 0)
        # not even counted: unknown, unless every row was read (or the table was empty)
        return None if self.unreadable.get(table) or not kept else 0

    def losses(self) -> list[str]:
        lines = []
        for table, meaning in TABLES.items():
            lost = self.lost(table)
            if lost != 0:
                count = "an unknown number of rows" if lost is None else \
                    f"{lost} row{'s' if lost != 1 else ''}"
                lines.append(f"lost: {table}, {count} ({meaning})")
        return lines

    def __str__(self) -> str:
        if self.kept_as is None:
            return f"{self.path}: healthy; nothing to recover"
        lines = [f"{self.path}: was damaged; rebuilt from what could be read ({self.method})",
                 f"the damaged file is kept as {self.kept_as}"]
        lines.append("kept: " + ", ".join(f"{table} {count}"
                                          for table, count in self.kept.items()))
        for table, count in self.from_indexes.items():
            if count:
                lines.append(f"rebuilt: {table}, {count} row{'s' if count != 1 else ''} marked "
                             "sent, from the indexes (their own pages could not be read)")
        losses = self.losses()
        lines += losses
        if not losses:
            lines.append("nothing was lost")
        elif any(self.lost(table) != 0 for table in KEY_TABLES):
            lines.append("`digest status` shows what the send ledger still holds")
            if self.older:
                lines.append(f"an older copy, taken before a migration: {self.older[0]} "
                             f"({_when(self.older[0])})")
        else:
            lines.append("the send ledger, the unsubscribe tokens and the suppressions are whole")
        lines.append("if `digest serve` or `digest preview` is running, restart it: it still "
                     "has the damaged file open")
        return "\n".join(lines)


def check(path: Path) -> StateCheck:
    """SQLite's integrity check of `path`, its schema version and rows per table, read without
    changing it (read-only: not even a checkpoint); a damaged file is a report, never an
    exception."""
    if not path.is_file():
        return StateCheck(path, exists=False)
    try:
        db = _read_only(path)
    except sqlite3.Error as error:
        raise StateError(f"{path}: cannot open the state database ({error}); check the "
                         "permissions of the .digest/ folder") from None
    report = StateCheck(path)
    try:
        try:
            rows = [line for (row,) in db.execute(f"PRAGMA integrity_check({PROBLEMS_SHOWN + 1})")
                    for line in str(row).splitlines() if not line.startswith("*** in database")]
            if rows != ["ok"]:
                report.problems = rows[:PROBLEMS_SHOWN] + (["..."] if len(rows) > PROBLEMS_SHOWN
                                                           else [])
        except sqlite3.DatabaseError as error:
            _unless_not_damage(path, error)
            report.problems = [str(error)]
        try:
            report.version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as error:
            _unless_not_damage(path, error)
        report.counts = _counts(path, db)
    finally:
        db.close()
    return report


def recover(path: Path, lock_path: Path) -> Recovery:
    """A new `path` made of what can be read of the damaged one, which is kept beside it as
    `state.db.damaged-<time>` (with its -wal and -shm); under the send lock, so never while a
    send runs. A healthy file is left as it is."""
    if not path.is_file():
        raise StateError(f"{path}: no state database to recover")
    with ExitStack() as held:
        try:
            held.enter_context(send_lock(lock_path))
        except SendLocked:
            raise StateBusy(f"{lock_path}: a send of this newsletter is running; nothing "
                            "recovered. Run digest state recover again when it is done") from None
        return _recover(path)


def _recover(path: Path) -> Recovery:
    before = check(path)
    if before.healthy:
        return Recovery(path, before, kept={table: count for table, count in
                                            before.counts.items() if count is not None})
    if before.version is not None and before.version > len(MIGRATIONS):
        raise StateError(f"{path}: written by a newer version of digest (schema "
                         f"{before.version}); recover it with that version")
    kept_as = _aside(path)
    rebuilt = path.with_name(f"{path.name}.recovering")
    try:
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").is_file():
                shutil.copy2(f"{path}{suffix}", f"{kept_as}{suffix}")
        _remove(rebuilt)
        method, unreadable, from_indexes = _rebuild(kept_as, rebuilt)
        # the old -wal would be played into the new file: it goes first (its copy is kept)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(rebuilt, path)
    except (OSError, WriteFailed, sqlite3.OperationalError, StateError) as error:
        _remove(rebuilt)
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise StateError(f"{path}: cannot write the recovered database ({reason}); free some "
                         "space or check the permissions of the .digest/ folder, then run again "
                         f"(a copy of the damaged file is kept as {kept_as})") from None
    state = StateDatabase(path)  # the current schema, after a backup if it migrates
    try:
        kept = {table: state.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                for table in TABLES}
    finally:
        state.close()
    return Recovery(path, before, kept_as, method, kept, unreadable, from_indexes,
                    [copy for copy in backups(path) if copy.is_file()])


def _rebuild(source: Path, target: Path) -> tuple[str, dict[str, int], dict[str, int]]:
    """`target` made of what can be read of `source`: how, the unreadable parts per table and the
    rows rebuilt from indexes."""
    try:
        db = _read_only(source)
        try:
            db.execute("VACUUM INTO ?", (str(target),))
        finally:
            db.close()
        if _read_whole(target):
            return "VACUUM INTO", {}, {}
    except sqlite3.DatabaseError:
        pass
    _remove(target)
    StateDatabase(target).close()  # the current schema, empty
    return ("row by row", *_copy_rows(source, target))


def _copy_rows(source: Path, target: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Every row that can be read of every table of `source` into `target`, with its rowid; the
    number of unreadable parts stepped over, per table (a table whose columns cannot be read
    counts one), and the rows rebuilt from indexes (the deliveries sent whose rows could not be
    read)."""
    unreadable: dict[str, int] = {}
    rebuilt: dict[str, int] = {}
    reader = _read_only(source)
    writer = sqlite3.connect(target, isolation_level=None)
    try:
        with suppress(sqlite3.DatabaseError):  # read the tables of a damaged schema
            reader.execute("PRAGMA writable_schema = ON")
        for table in TABLES:
            try:
                present = [row[1] for row in reader.execute(f'PRAGMA table_info("{table}")')]
            except sqlite3.DatabaseError:
                unreadable[table] = 1
                continue
            wanted = [row[1] for row in writer.execute(f'PRAGMA table_info("{table}")')]
            columns = [column for column in wanted if column in present]
            if columns:  # none: a table this file's version did not have yet
                writer.execute("BEGIN")
                parts = _copy_table(reader, writer, table, columns)
                if parts and table == "deliveries":
                    rebuilt["deliveries"] = _sent_from_indexes(reader, writer)
                writer.execute("COMMIT")
                if parts:
                    unreadable[table] = parts
        writer.execute("PRAGMA journal_mode = DELETE")  # all in the file itself, none in a -wal
    finally:
        reader.close()
        writer.close()
    return unreadable, rebuilt


def _copy_table(reader: sqlite3.Connection, writer: sqlite3.Connection, table: str,
                columns: list[str]) -> int:
    """The readable rows of `table`, in rowid order: after an error, the next rowid at which
    reading starts again is searched for (the rows of a damaged page cannot be reached, those
    after it can). The number of unreadable parts stepped over.

    sqlite3 reads one row ahead of the one it returns: the row before an unreadable one comes
    with the error, and is read again alone."""
    names = ", ".join(f'"{column}"' for column in columns)
    select = f'SELECT rowid, {names} FROM "{table}" WHERE rowid >= ? ORDER BY rowid'
    insert = (f'INSERT OR IGNORE INTO "{table}" (rowid, {names}) '
              f'VALUES ({", ".join("?" * (len(columns) + 1))})')
    parts = 0
    start: int | None = FIRST_ROWID
    while start is not None:
        last = None
        try:
            rows = reader.execute(select, (start,))
            while (row := rows.fetchone()) is not None:
                last = row[0]
                _write(writer, insert, row)
            return parts
        except sqlite3.DatabaseError:  # the reader's: the writer's are WriteFailed
            pass
        if last is not None:  # the rows up to `last` are kept; the next may read alone
            start = last + 1 if last < LAST_ROWID else None
            continue
        first = _first_row(reader, select, start)
        if first:  # it reads alone: kept, and on to the next one
            _write(writer, insert, first[0])
            start = first[0][0] + 1 if first[0][0] < LAST_ROWID else None
            continue
        parts += 1  # no row from `start` on reads: step over the damage
        start = _next_readable(reader, select, start) if start < LAST_ROWID else None
    return parts


def _first_row(reader: sqlite3.Connection, select: str, rowid: int) -> list[tuple] | None:
    """The first row of `select` from `rowid` on, read alone: [] when there is none, None when it
    cannot be read."""
    try:
        return reader.execute(f"{select} LIMIT 1", (rowid,)).fetchall()
    except sqlite3.DatabaseError:
        return None


def _sent_from_indexes(reader: sqlite3.Connection, writer: sqlite3.Connection) -> int:
    """The deliveries recorded as sent, rebuilt when the table's own pages cannot be read from
    two indexes kept in other pages, matched by rowid: the primary key's (edition, round,
    address) and the index of the deliveries sent (address, time), since schema 8. Only those
    sent: a reader whose row said pending, failed or unknown is sent to again, as if never
    claimed. Their batch is not known (0). The number of rows rebuilt."""
    keys = {row[0]: row[1:] for row in _index_rows(
        reader, "SELECT rowid, edition_id, round, email FROM deliveries INDEXED BY "
        "sqlite_autoindex_deliveries_1")}
    rebuilt = 0
    for rowid, email, updated_at in _index_rows(
            reader, "SELECT rowid, email, updated_at FROM deliveries INDEXED BY "
            "deliveries_sent_by_email WHERE status = 'sent'"):
        key = keys.get(rowid)
        if key is not None and key[2] == email:
            before = writer.total_changes
            _write(writer, "INSERT OR IGNORE INTO deliveries (rowid, edition_id, round, email, "
                   "status, batch_id, updated_at) VALUES (?, ?, ?, ?, 'sent', 0, ?)",
                   (rowid, *key, updated_at))
            rebuilt += writer.total_changes - before
    return rebuilt


def _index_rows(reader: sqlite3.Connection, sql: str) -> list[tuple]:
    """The rows of `sql` up to the first that cannot be read (none: no such index)."""
    rows: list[tuple] = []
    try:
        cursor = reader.execute(sql)
        while (row := cursor.fetchone()) is not None:
            rows.append(row)
    except sqlite3.DatabaseError:
        pass
    return rows


class WriteFailed(Exception):
    """The new database could not be written (a full disk): the recovery stops."""


def _write(writer: sqlite3.Connection, insert: str, row: tuple) -> None:
    try:
        writer.execute(insert, row)  # OR IGNORE: a garbled row breaking a constraint is left out
    except sqlite3.IntegrityError:
        pass  # one OR IGNORE does not cover (a foreign key): left out as well
    except sqlite3.Error as error:
        raise WriteFailed(str(error)) from error


def _next_readable(reader: sqlite3.Connection, select: str, failed: int) -> int | None:
    """The first rowid after `failed` from which `select` reads a row again, or None when nothing
    after it does: steps doubling until a read starts, then halving back to the damage's end."""
    def reads_from(rowid: int) -> bool:
        return _first_row(reader, select, rowid) is not None

    step, good = 1, None
    while failed < LAST_ROWID:
        candidate = min(failed + step, LAST_ROWID)
        if reads_from(candidate):
            good = candidate
            break
        failed, step = candidate, step * 2
    if good is None:
        return None
    while good - failed > 1:  # `failed` does not read, `good` does
        middle = (failed + good) // 2
        if reads_from(middle):
            good = middle
        else:
            failed = middle
    return good


def _read_whole(path: Path) -> bool:
    try:
        db = sqlite3.connect(path)
        try:
            return db.execute("PRAGMA integrity_check(1)").fetchone()[0] == "ok"
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False


def _read_only(path: Path) -> sqlite3.Connection:
    """`path` opened read-only: nothing written to it, not even a checkpoint of its -wal; text
    that is not UTF-8 (a garbled row) read with replacement characters."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                         timeout=LOCK_WAIT_SECONDS, isolation_level=None)
    db.text_factory = lambda data: data.decode("utf-8", "replace")
    return db


def _counts(path: Path, db: sqlite3.Connection) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for table in TABLES:
        try:
            counts[table] = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                continue  # a table of a later version
            _unless_not_damage(path, error)
            counts[table] = None
        except sqlite3.DatabaseError:
            counts[table] = None
    return counts


def _unless_not_damage(path: Path, error: sqlite3.DatabaseError) -> None:
    """A file locked by another process, or that cannot be opened, is not a damaged one."""
    message = str(error)
    if "locked" in message or "busy" in message:
        raise StateBusy(f"{path}: busy, another digest process is writing to it; run again "
                        "when it is done") from None
    if "unable to open" in message or "readonly" in message:
        raise StateError(f"{path}: cannot open the state database ({message}); check the "
                         "permissions of the .digest/ folder") from None


def _aside(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kept_as = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while any(Path(f"{kept_as}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
        number += 1
        kept_as = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    return kept_as


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _when(path: Path) -> str:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return "date unknown"
