"""Ranking's memory: the stories of each sent edition, so a later edition leaves them out."""

from __future__ import annotations

import json
from datetime import date, timedelta

from digest.models import PastStory
from digest.state.db import StateDatabase


class StoryMemory:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def remember(self, edition_id: str, stories: list[tuple[list[str], list[str]]]) -> None:
        """The edition's stories (their addresses and terms), replacing what was kept for it."""
        with self.db.transaction():
            self.db.execute("DELETE FROM stories WHERE edition_id = ?", (edition_id,))
            self.db.executemany(
                "INSERT INTO stories (edition_id, urls, terms) VALUES (?, ?, ?)",
                ((edition_id, json.dumps(urls), json.dumps(terms)) for urls, terms in stories),
            )

    def before(self, newsletter: str, day: date, days: int) -> tuple[PastStory, ...]:
        """Stories that reached readers in editions of the `days` days before `day`."""
        if days <= 0:
            return ()
        rows = self.db.execute(
            "SELECT e.day, s.urls, s.terms FROM stories s JOIN editions e ON e.id = s.edition_id"
            " WHERE e.newsletter = ? AND e.day BETWEEN ? AND ?"
            " AND (EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id"
            " AND d.status = 'sent')"
            # a batch taken whole whose readers are not settled yet (a send under way, killed)
            " OR EXISTS (SELECT 1 FROM batches b WHERE b.edition_id = e.id AND b.status = 'sent'))",
            (newsletter, (day - timedelta(days=days)).isoformat(),
             (day - timedelta(days=1)).isoformat()),
        )
        return tuple(PastStory(date.fromisoformat(d), frozenset(json.loads(urls)),
                               frozenset(json.loads(terms))) for d, urls, terms in rows)
