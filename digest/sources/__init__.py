"""Readers that turn inputs into Articles. A reader never ranks, renders or sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from digest.config import Config
from digest.dates import Window, calendar_window
from digest.errors import Problem
from digest.models import Article
from digest.sources.markdown import read_folder, same_story_problems
from digest.urls import normalize_url

if TYPE_CHECKING:
    from digest.sources.feeds import FeedReport
    from digest.sources.readings import ReadingStore
    from digest.state.feed_cache import FeedStore


@dataclass
class Gathered:
    """What the sources gave for one day, and what went wrong on the way."""

    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Every local date that has at least one article, to point the user at one.
    dates: set[date] = field(default_factory=set)
    feeds: list[FeedReport] = field(default_factory=list)  # one per configured feed
    window: Window | None = None  # the publication times the articles were taken from

    @property
    def failed_sources(self) -> int:
        return sum(1 for report in self.feeds if not report.status.worked)


def gather(config: Config, day: date, window: Window | None = None,
           feed_store: FeedStore | None = None, readings: ReadingStore | None = None) -> Gathered:
    """The articles of the edition of `day`: those published in `window` (default: that calendar
    day), from every source. Feeds keep their cache in `feed_store`, article files theirs in
    `readings`."""
    window = window or calendar_window(day, config.tz)
    read = read_folder(config, window, readings)
    reports: list[FeedReport] = []
    if config.sources.feeds:
        # feeds bring their cache (the state database) and parsers: not for a day of files
        from digest.sources.feeds import read_feeds

        if feed_store is None:
            raise ValueError("feeds are configured: gather needs the newsletter's feed store")
        feeds = read_feeds(config, day, window, feed_store)
        read.add(feeds)
        reports = feeds.reports
    articles = deduplicate(read.articles)
    if any(article.same_story for article in articles):
        # named among every copy read: a file whose feed copy was kept is still of the day
        read.problems += same_story_problems(articles, read.articles, config)
    # Sources are read in a fixed order; sort anyway so nothing depends on reading order.
    articles.sort(key=lambda a: (a.date, a.title, a.url, a.source))
    return Gathered(articles, read.problems, read.dates, reports, window)


def _richness(article: Article) -> tuple:
    return (len(article.text), bool(article.image), bool(article.summary), bool(article.category),
            article.source)


def deduplicate(articles: list[Article]) -> list[Article]:
    """One article per story reached twice: same id, or same address once tracking is removed.

    The richest copy (longest text, then with an image...) is kept."""
    groups: dict[int, list[int]] = {}
    owner: dict[str, int] = {}
    identities = [_identities(article) for article in articles]  # normalizing URLs costs
    for index in range(len(articles)):
        found = {owner[key] for key in identities[index] if key in owner}
        group = min(found) if found else index
        members = groups.setdefault(group, [])
        for other in found - {group}:  # this article links two groups: merge them
            members.extend(groups.pop(other))
        members.append(index)
        for member in members:
            for key in identities[member]:
                owner[key] = group
    return [max((articles[m] for m in members), key=_richness) for members in groups.values()]


def _identities(article: Article) -> list[str]:
    keys = [f"url:{normalize_url(article.url)}"]
    return keys + [f"id:{article.guid}"] if article.guid else keys
