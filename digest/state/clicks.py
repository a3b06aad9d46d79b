"""Clicks per story and opens per edition: the stories each sent edition linked to (where a
click on each goes), and counters. No row names a reader, an address, a token or a client."""

from __future__ import annotations

from collections.abc import Iterable

from digest.models import LinkedStory
from digest.state.db import StateDatabase


class StoryClicks:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def link(self, stories: Iterable[LinkedStory]) -> None:
        """The stories of a day's edition, before it leaves; a story linked again keeps its
        count (a second round, a later version of the day)."""
        with self.db.transaction():
            self.db.executemany(
                "INSERT INTO story_clicks (day, story, url, title, category, source, position,"
                " shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, story) DO UPDATE SET"
                " url = excluded.url, title = excluded.title, category = excluded.category,"
                " source = excluded.source, position = excluded.position,"
                " shown = excluded.shown",
                ((s.day, s.story, s.url, s.title, s.category, s.source, s.position, s.shown)
                 for s in stories))

    def destination(self, day: str, story: str) -> str | None:
        """Where a click on the story goes, if the edition of that day linked to it."""
        with self.db.lock:  # the web application's threads
            row = self.db.execute("SELECT url FROM story_clicks WHERE day = ? AND story = ?",
                                  (day, story)).fetchone()
        return row[0] if row else None

    def count(self, day: str, story: str) -> bool:
        """One click on a story of the day's edition; False when it linked to no such story."""
        with self.db.lock, self.db.transaction():  # the web application's threads
            cursor = self.db.execute(
                "UPDATE story_clicks SET clicks = clicks + 1 WHERE day = ? AND story = ?",
                (day, story))
        return cursor.rowcount > 0

    def provider_events(self, clicks: list[tuple[str, str]], opens: list[str]) -> int:
        """A provider's batch of events, in one transaction (a batch it sends again after an
        error counts once): a click for each (day, story), an open for each day's edition a
        send linked. The clicks counted."""
        counted = 0
        with self.db.lock, self.db.transaction():
            for day, story in clicks:
                counted += self.db.execute(
                    "UPDATE story_clicks SET clicks = clicks + 1 WHERE day = ? AND story = ?",
                    (day, story)).rowcount
            self.db.executemany(
                "INSERT INTO edition_opens (day, opens) SELECT ?1, 1 WHERE EXISTS"
                " (SELECT 1 FROM story_clicks WHERE day = ?1)"
                " ON CONFLICT (day) DO UPDATE SET opens = opens + 1", ((d,) for d in opens))
        return counted

    def stories(self, first_day: str, last_day: str) -> list[LinkedStory]:
        """The stories linked by the editions of those days, by day and position."""
        rows = self.db.execute(
            "SELECT day, story, url, title, category, source, position, shown, clicks"
            " FROM story_clicks WHERE day BETWEEN ? AND ? ORDER BY day, position",
            (first_day, last_day)).fetchall()
        return [LinkedStory(day, story, url, title, category, source, position, bool(shown),
                            clicks)
                for day, story, url, title, category, source, position, shown, clicks in rows]

    def opens(self, first_day: str, last_day: str) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT day, opens FROM edition_opens WHERE day BETWEEN ? AND ?",
            (first_day, last_day)).fetchall())
