"""Feeds beside articles/: each configured feed fetched (feed_fetch.py), read (feed_formats.py)
and its entries of the edition's window returned as articles, with one line for each feed or
entry that went wrong and the last good copy of a feed that failed. What a run read for a day is
kept, so that the edition of that day rebuilds the same."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from digest.config import Config, FeedConfig
from digest.dates import Window, local_date
from digest.errors import Problem
from digest.models import Article
from digest.sources.article_checks import checked
from digest.sources.feed_fetch import Fetched, FetchStatus, fetch_all
from digest.sources.feed_formats import feed_label, to_article
from digest.sources.results import SourceRead
from digest.text import html_to_text, squash

if TYPE_CHECKING:  # the state database is opened only when a feed is read
    from digest.state.feed_cache import FeedStore


@dataclass
class FeedReport:
    """What `digest sources` shows for one feed."""

    label: str
    url: str
    status: FetchStatus
    reason: str = ""
    entries: int = 0
    seconds: float = 0.0
    failing_since: float | None = None
    failures: int = 0


@dataclass
class FeedsRead(SourceRead):
    """What the feeds gave for an edition, and how each configured feed did."""

    reports: list[FeedReport] = field(default_factory=list)

    def add(self, other: SourceRead) -> None:
        super().add(other)
        if isinstance(other, FeedsRead):
            self.reports += other.reports


@dataclass(frozen=True)
class _Run:
    """What every feed of one reading shares."""

    config: Config
    day: date
    window: Window
    state: FeedStore


@dataclass
class _Entries:
    """What one feed's entries gave: its label, the window's articles by key, every date with
    entries (ISO), how many entries, and the entries that could not be used."""

    label: str
    articles: dict[str, Article]
    dates: set[str]
    count: int
    problems: list[Problem]


def read_feeds(config: Config, day: date, window: Window, state: FeedStore) -> FeedsRead:
    """The feeds' articles published in `window`, kept under the edition's `day` so that it
    rebuilds the same; one report per configured feed."""
    read = FeedsRead()
    feeds = list(config.sources.feeds)
    if feeds:
        run = _Run(config, day, window, state)
        for feed, fetched in zip(feeds, fetch_all(feeds, config, state, day), strict=True):
            read.add(_one_feed(run, feed, fetched))
    return read


def _one_feed(run: _Run, feed: FeedConfig, fetched: Fetched) -> FeedsRead:
    """One feed's articles of the day, with what went wrong and how the feed did."""
    state, key = run.state, run.day.isoformat()
    stored = state.day_entries(key, feed.url)  # what earlier runs read for that day
    if fetched.parse_error:
        fetched.status, fetched.reason = FetchStatus.FAILED, fetched.parse_error
    if fetched.known_dates is not None:  # unchanged since that day was read: nothing to parse
        cached = state.cached(feed.url)
        label = next((squash(a.source) for a in stored.values() if a is not None),
                     feed.name or feed.url)
        entries = _Entries(label, {}, set(fetched.known_dates),
                           (cached.entries or 0) if cached else 0, [])
    else:
        entries = _read_entries(run, feed, fetched)
        if fetched.body is not None:
            state.remember_day(key, feed.url, entries.articles, entries.dates)
    report, ok_at = _health(state, feed, fetched, entries)
    kept, unusable = _kept({k: a for k, a in stored.items() if k not in entries.articles},
                           entries.label)
    merged = {**kept, **entries.articles}
    dates = {date.fromisoformat(d) for d in entries.dates} | ({run.day} if merged else set())
    problems = [*entries.problems, *_warnings(report, run.config, ok_at), *unusable]
    return FeedsRead(list(merged.values()), problems, dates, [report])


def _health(state: FeedStore, feed: FeedConfig, fetched: Fetched,
            entries: _Entries) -> tuple[FeedReport, float | None]:
    """How the feed did, recorded: its report, and when it last worked."""
    if fetched.status in (FetchStatus.OK, FetchStatus.NOT_MODIFIED):
        state.succeeded(feed.url, fetched.status,
                        fetched.body if fetched.status == FetchStatus.OK else None,
                        fetched.etag, fetched.last_modified, fetched.content_type, entries.count,
                        fetched.seconds)
    elif fetched.status != FetchStatus.REUSED:  # a reused copy says nothing new of its health
        state.failed(feed.url, fetched.reason, fetched.seconds)
    cached = state.cached(feed.url)
    report = FeedReport(entries.label, feed.url, fetched.status, fetched.reason, entries.count,
                        fetched.seconds, cached.failing_since if cached else None,
                        cached.failures if cached else 0)
    return report, cached.ok_at if cached else None


def _read_entries(run: _Run, feed: FeedConfig, fetched: Fetched) -> _Entries:
    """The articles, dates and problems of a parsed feed's entries."""
    entries = _Entries(feed_label(feed, fetched.title), {}, set(), len(fetched.entries), [])
    for number, entry in enumerate(fetched.entries, 1):
        where = f"feed {entries.label} entry {number}"
        if isinstance(entry, str):
            entries.problems.append(Problem(where, f"{entry}; skipped"))
            continue
        when = entry.date
        if when is None:
            if feed.undated != "first_seen":
                entries.problems.append(Problem(
                    where, f'"{squash(html_to_text(entry.title))[:60]}" has no date; skipped '
                    '(set undated = "first_seen" to date it when first seen)'))
                continue
            when = datetime.fromtimestamp(run.state.first_seen(feed.url, entry.key), UTC)
        article = to_article(entry, feed, entries.label, when)
        if isinstance(article, str):
            entries.problems.append(Problem(where, f"{article}; skipped"))
            continue
        entries.dates.add(local_date(when, run.config.tz).isoformat())
        if run.window.contains(when):
            entries.articles[entry.key or article.url] = article
    return entries


def _kept(stored: dict[str, Article | None],
          label: str) -> tuple[dict[str, Article], list[Problem]]:
    """The entries an earlier run kept for the day, through the same checks as fresh ones (an
    earlier release let separators through; a damaged row cannot be read back)."""
    kept, problems = {}, []
    for key, article in stored.items():
        result = checked(article) if article is not None else "cannot be read back"
        if isinstance(result, str):
            problems.append(Problem(f"feed {label} entry {squash(key)[:60]!r}",
                                    f"kept from an earlier run, {result}; skipped"))
        else:
            kept[key] = result
    return kept, problems


def _warnings(report: FeedReport, config: Config, ok_at: float | None) -> list[Problem]:
    where = f"feed {report.label}"
    problems = []
    if report.status == FetchStatus.FAILED:
        problems.append(Problem(where, f"{report.reason}; skipped"))
    elif report.status == FetchStatus.CACHED:
        age = _age(time.time() - ok_at) if ok_at else "an earlier run"
        problems.append(Problem(where, f"{report.reason}; using its copy from {age} ago"))
    if report.failures > config.sources.stale_after:
        since = datetime.fromtimestamp(report.failing_since or time.time(), UTC)
        problems.append(Problem(
            where, f"stale: failed {report.failures} runs in a row since "
            f"{since.astimezone(config.tz):%Y-%m-%d %H:%M}; check the address or remove it"))
    return problems


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
