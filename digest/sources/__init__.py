"""Readers that turn inputs into Articles. A reader never ranks, renders or sends."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    feeds: list = field(default_factory=list)  # one FeedReport per configured feed

    @property
    def failed_sources(self) -> int:
        return sum(1 for report in self.feeds if report.status in ("failed", "cached"))


def gather(config: Config, day: date) -> Gathered:
    from digest.sources.markdown import read_folder

    gathered = Gathered()
    read_folder(config, day, gathered)
    if config.sources.feeds:
        from digest.sources.feeds import read_feeds

        gathered.feeds = read_feeds(config, day, gathered)
    gathered.articles = deduplicate(gathered.articles)
    # Sources are read in a fixed order; sort anyway so nothing depends on reading order.
    gathered.articles.sort(key=lambda a: (a.date, a.title, a.url, a.source))
    return gathered


_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|mc_cid|mc_eid|igshid|_hsenc|_hsmi)$", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """The address without tracking parameters, fragment or trailing slash, for comparison."""
    parts = urlsplit(url.strip())
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not _TRACKING.match(k))
    scheme = "https" if parts.scheme.lower() in ("http", "https") else parts.scheme.lower()
    return urlunsplit((scheme, parts.netloc.lower(), parts.path.rstrip("/"), urlencode(query), ""))


def _richness(article: Article) -> tuple:
    return (len(article.text), bool(article.image), bool(article.summary), bool(article.category),
            article.source)


def deduplicate(articles: list[Article]) -> list[Article]:
    """One article per story reached twice: same id, or same address once tracking is removed.

    The richest copy (longest text, then with an image...) is kept."""
    groups: dict[int, list[Article]] = {}
    owner: dict[str, int] = {}
    for index, article in enumerate(articles):
        found = {owner[key] for key in _identities(article) if key in owner}
        group = min(found) if found else index
        members = groups.setdefault(group, [])
        for other in found - {group}:  # this article links two groups: merge them
            members.extend(groups.pop(other))
        members.append(article)
        for member in members:
            for key in _identities(member):
                owner[key] = group
    return [max(members, key=_richness) for members in groups.values()]


def _identities(article: Article) -> list[str]:
    keys = [f"url:{normalize_url(article.url)}"]
    return keys + [f"id:{article.guid}"] if article.guid else keys
