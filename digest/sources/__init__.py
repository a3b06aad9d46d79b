"""Readers that turn inputs into Articles. A reader never ranks, renders or sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.config import Config
from digest.errors import Problem
from digest.models import Article


@dataclass
class Gathered:
    """What the sources gave for one day, and what went wrong on the way."""

    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Every local date that has at least one article, to point the user at one.
    dates: set[date] = field(default_factory=set)


def gather(config: Config, day: date) -> Gathered:
    from digest.sources.markdown import read_folder

    gathered = Gathered()
    read_folder(config, day, gathered)
    # Files are read in name order; sort anyway so nothing depends on reading order.
    gathered.articles.sort(key=lambda a: (a.date, a.title, a.source))
    return gathered
