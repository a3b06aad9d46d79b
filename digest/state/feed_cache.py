"""What the feed reader keeps between runs, in `.digest/state.db`.

- the last good copy of each feed with its ETag and Last-Modified, for conditional GET and for
  falling back when a feed fails;
- each feed's health: failures in a row, since when, the last error;
- the entries gathered for each day, so a past edition rebuilds the same after the feed moved on;
- when an undated entry was first seen (for `undated = "first_seen"`).
"""

from __future__ import annotations

import json
import time
import typing
import zlib
from dataclasses import dataclass, fields
from datetime import datetime

from digest.models import Article
from digest.state.db import StateDatabase


@dataclass(frozen=True)
class CachedFeed:
    etag: str | None
    last_modified: str | None
    content_type: str
    body: bytes | None
    ok_at: float | None
    failures: int
    failing_since: float | None
    last_error: str | None
    last_status: str | None
    entries: int | None
    seconds: float | None


class FeedStore:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def cached(self, url: str) -> CachedFeed | None:
        row = self.db.execute(
            "SELECT etag, last_modified, content_type, body, ok_at, failures, failing_since,"
            " last_error, last_status, entries, seconds FROM feed_cache WHERE url = ?", (url,)
        ).fetchone()
        if row is None:
            return None
        body = zlib.decompress(row[3]) if row[3] else None
        return CachedFeed(row[0], row[1], row[2] or "", body, *row[4:])

    def succeeded(self, url: str, status: str, body: bytes | None, etag: str | None,
                  last_modified: str | None, content_type: str, entries: int,
                  seconds: float) -> None:
        now = time.time()
        if body is not None:  # a fresh copy (not a 304)
            self.db.execute(
                "INSERT INTO feed_cache (url, etag, last_modified, content_type, body, ok_at,"
                " failures, last_status, entries, seconds, checked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
                " ON CONFLICT(url) DO UPDATE SET etag = excluded.etag,"
                " last_modified = excluded.last_modified, content_type = excluded.content_type,"
                " body = excluded.body, ok_at = excluded.ok_at, failures = 0, failing_since = NULL,"
                " last_error = NULL, last_status = excluded.last_status,"
                " entries = excluded.entries, seconds = excluded.seconds,"
                " checked_at = excluded.checked_at",
                (url, etag, last_modified, content_type, zlib.compress(body), now, status, entries,
                 seconds, now),
            )
        else:
            self.db.execute(
                "UPDATE feed_cache SET ok_at = ?, failures = 0, failing_since = NULL,"
                " last_error = NULL, last_status = ?, entries = ?, seconds = ?, checked_at = ?"
                " WHERE url = ?", (now, status, entries, seconds, now, url),
            )

    def failed(self, url: str, reason: str, seconds: float) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO feed_cache (url, failures, failing_since, last_error, last_status,"
            " seconds, checked_at) VALUES (?, 1, ?, ?, 'failed', ?, ?)"
            " ON CONFLICT(url) DO UPDATE SET failures = failures + 1,"
            " failing_since = COALESCE(failing_since, excluded.failing_since),"
            " last_error = excluded.last_error, last_status = 'failed',"
            " seconds = excluded.seconds, checked_at = excluded.checked_at",
            (url, now, reason, seconds, now),
        )

    # -- entries of a day ---------------------------------------------------------------------

    def remember_day(self, day: str, feed_url: str, articles: dict[str, Article],
                     dates: set[str]) -> None:
        """Keep the day's entries, and every date the feed had entries for, as read this run."""
        with self.db.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO feed_entries (day, feed_url, key, article)"
                " VALUES (?, ?, ?, ?)",
                ((day, feed_url, key, _dump(article)) for key, article in articles.items()),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO feed_days (feed_url, day, dates) VALUES (?, ?, ?)",
                (feed_url, day, ",".join(sorted(dates))),
            )

    def gathered_dates(self, day: str, feed_url: str) -> set[str] | None:
        """The dates seen when this day was last gathered from this feed, or None if never."""
        row = self.db.execute(
            "SELECT dates FROM feed_days WHERE feed_url = ? AND day = ?", (feed_url, day)
        ).fetchone()
        return None if row is None else {d for d in row[0].split(",") if d}

    def day_entries(self, day: str, feed_url: str) -> dict[str, Article | None]:
        """The day's entries as kept, by key; None for a row that cannot be read back."""
        rows = self.db.execute(
            "SELECT key, article FROM feed_entries WHERE day = ? AND feed_url = ?", (day, feed_url)
        )
        return {str(key): _load(text) for key, text in rows}

    def first_seen(self, feed_url: str, key: str) -> float:
        self.db.execute(
            "INSERT OR IGNORE INTO feed_first_seen (feed_url, key, first_seen) VALUES (?, ?, ?)",
            (feed_url, key, time.time()),
        )
        return self.db.execute(
            "SELECT first_seen FROM feed_first_seen WHERE feed_url = ? AND key = ?",
            (feed_url, key),
        ).fetchone()[0]


_FIELDS = [f.name for f in fields(Article)]


def _dump(article: Article) -> str:
    data = {name: getattr(article, name) for name in _FIELDS}
    data["date"] = article.date.isoformat()
    return json.dumps(data, ensure_ascii=False)


# Each field's plain type (tuple for tuple[str, ...]), which a stored value must have.
_TYPES = {name: typing.get_origin(kind) or kind
          for name, kind in typing.get_type_hints(Article).items()}


def _load(text: str) -> Article | None:
    """The Article of a row, or None when the row is not one (damaged, or of another shape)."""
    try:
        data = json.loads(text)
        values = {name: data[name] for name in _FIELDS if name in data}
        values["date"] = datetime.fromisoformat(values["date"])
        for name, value in values.items():  # JSON keeps tuples as lists
            if _TYPES[name] is tuple and isinstance(value, list):
                values[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        article = Article(**values)
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    if not all(isinstance(value, _TYPES[name]) for name, value in values.items()):
        return None
    return article
