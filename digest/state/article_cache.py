"""Article files as last read, so that a day of thousands of articles is not parsed again on
every run: one row per file, keyed by its path (bytes: a name need not be UTF-8).

What a row holds is the reader's business (digest/sources/readings.py): a stamp that says which
file and which reading it is, the front matter's outcome, and the Article once one was made.
"""

from __future__ import annotations

from collections.abc import Iterable

from digest.state.db import StateDatabase

WRITE_WAIT_SECONDS = 0.2  # a cache is not worth waiting for another process's writes


class ParsedArticles:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def stamps(self) -> dict[bytes, tuple[str, str]]:
        """(stamp, front matter) of every file kept, by path."""
        rows = self.db.execute("SELECT path, stamp, front FROM parsed_articles")
        return {bytes(path): (stamp, front) for path, stamp, front in rows}

    def articles(self, paths: list[bytes]) -> dict[bytes, str]:
        """The stored article of those paths that have one."""
        rows = self.db.rows_in("SELECT path, article FROM parsed_articles WHERE article IS NOT"
                               " NULL AND path IN ({})", paths)
        return {bytes(path): article for path, article in rows}

    def put(self, rows: Iterable[tuple[bytes, str, str, str | None]],
            gone: Iterable[bytes] = ()) -> None:
        """Keep (path, stamp, front, article) rows and forget the files that are `gone`; raises
        StateBusy rather than wait long for another process."""
        with self.db.transaction(wait=WRITE_WAIT_SECONDS):
            self.db.executemany(
                "INSERT OR REPLACE INTO parsed_articles (path, stamp, front, article)"
                " VALUES (?, ?, ?, ?)", rows)
            self.db.executemany("DELETE FROM parsed_articles WHERE path = ?",
                                ((path,) for path in gone))
