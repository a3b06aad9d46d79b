"""What a reader gives back: its articles of the edition's window, what went wrong, and every
date that has articles (to point the user at one). Readers return one; `gather` merges them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.errors import Problem
from digest.models import Article


@dataclass
class SourceRead:
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dates: set[date] = field(default_factory=set)  # every local date with articles

    def add(self, other: SourceRead) -> None:
        self.articles += other.articles
        self.problems += other.problems
        self.dates |= other.dates
