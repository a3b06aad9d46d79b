"""RSS, Atom, RDF, CDF (feedparser) and JSON Feed 1.1, fetched concurrently.

Every feed is fetched at once (bounded by `sources.concurrency`) through the guarded client of
`network.py` (public addresses only, a total deadline, a size cap, a bounded number of
redirects) with conditional GET. A feed that fails is one warning line, and its last good copy is
used when there is one; the other sources go on. Each entry becomes an Article or one line saying
why not: nothing a feed holds stops the edition.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from digest.config import Config, FeedConfig
from digest.dates import Window, local_date
from digest.errors import Problem
from digest.models import Article
from digest.sanitize import clean_html, safe_url
from digest.sources import Gathered
from digest.sources.checks import checked
from digest.sources.files import Unreadable, read_capped
from digest.state.feeds import FeedStore
from digest.text import encodable, excerpt, html_to_text, squash


class FeedError(Exception):
    """Why a feed could not be read, in one line."""


@dataclass
class Fetched:
    """One feed's body this run, and how it was obtained."""

    # "ok", "not modified", "reused" (read moments ago, not fetched again),
    # "cached" (failed, last good copy used) or "failed"
    status: str
    body: bytes | None = None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    reason: str = ""
    seconds: float = 0.0
    title: str = ""
    entries: list = field(default_factory=list)
    parse_error: str = ""
    known_dates: set[str] | None = None  # unchanged feed, day already read: no need to parse

    def parse(self) -> None:
        """Parse the body now, while other feeds are still on their way."""
        if self.body is None or self.known_dates is not None:
            return
        try:
            self.title, self.entries = parse_feed(self.body, self.content_type)
        except FeedError as error:
            self.parse_error = str(error)


@dataclass
class FeedReport:
    """What `digest sources` shows for one feed."""

    label: str
    url: str
    status: str
    reason: str = ""
    entries: int = 0
    seconds: float = 0.0
    failing_since: float | None = None
    failures: int = 0


# -- fetching --------------------------------------------------------------------------------

async def _fetch_http(client, url: str, cached, limit: int, deadline: float) -> Fetched:
    from digest.sources.network import FetchError, get

    headers = {}
    if cached is not None and cached.body is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    try:
        page = await get(client, url, limit, deadline, headers)
    except FetchError as error:
        raise FeedError(str(error)) from None
    if page.body is None:
        return Fetched("not modified")
    return Fetched("ok", page.body, page.content_type, page.etag, page.last_modified)


def _read_local(path: Path, limit: int) -> Fetched:
    try:
        return Fetched("ok", read_capped(path, limit, "sources.max_bytes"))
    except Unreadable as error:
        raise FeedError(f"{path}: {error}") from None


def _fetch_all(feeds: list[FeedConfig], config: Config, state: FeedStore,
               day: date) -> list[Fetched]:
    """Every feed's body, in order. Local files and copies read recently are read right here:
    an event loop and the HTTP client (and their imports) only when some feed must be fetched."""
    results = [_read_here(feed, config, state, day) for feed in feeds]
    away = [i for i, result in enumerate(results) if result is None]
    if away:
        import asyncio

        fetched = asyncio.run(_fetch_away([feeds[i] for i in away], config, state, day))
        for i, result in zip(away, fetched, strict=True):
            results[i] = result
    return [result for result in results if result is not None]


def _recent(cached, refetch_after: float) -> bool:
    return bool(cached is not None and cached.body is not None and cached.ok_at
                and time.time() - cached.ok_at < refetch_after)


def _read_here(feed: FeedConfig, config: Config, state: FeedStore, day: date) -> Fetched | None:
    """A local feed, or a copy read recently, without the network; None for a feed to fetch."""
    start = time.monotonic()
    cached = state.cached(feed.url)
    local = feed.local_path(config.root)
    if local is None and not _recent(cached, config.sources.refetch_after):
        return None
    try:
        if local is None:
            assert cached is not None  # recent implies a cached copy
            fetched = Fetched("reused", cached.body, cached.content_type)
            fetched.known_dates = state.gathered_dates(day.isoformat(), feed.url)
        else:
            fetched = _read_local(local, config.sources.max_bytes)
    except FeedError as error:
        fetched = _failed(error, cached)
    return _finished(fetched, feed, cached, state, day, start)


def _failed(error: FeedError, cached) -> Fetched:
    """A feed that could not be read: its last copy if there is one."""
    if cached is not None and cached.body is not None:
        return Fetched("cached", cached.body, cached.content_type, reason=str(error))
    return Fetched("failed", reason=str(error))


def _finished(fetched: Fetched, feed: FeedConfig, cached, state: FeedStore, day: date,
              start: float) -> Fetched:
    if fetched.status == "not modified":
        fetched.body = cached.body if cached else None
        fetched.content_type = cached.content_type if cached else ""
        fetched.known_dates = state.gathered_dates(day.isoformat(), feed.url)
    fetched.seconds = time.monotonic() - start
    fetched.parse()
    return fetched


async def _fetch_away(feeds: list[FeedConfig], config: Config, state: FeedStore,
                      day: date) -> list[Fetched]:
    """The feeds that are neither local files nor read recently, `sources.concurrency` at once."""
    import asyncio

    sources = config.sources
    semaphore = asyncio.Semaphore(sources.concurrency)
    remote = any(feed.is_remote for feed in feeds)

    # no HTTP client (nor its import) when no feed is on the web (an unsupported scheme)
    if remote:
        from digest.sources.network import http_client
    async with http_client(config) if remote else contextlib.nullcontext() as client:
        async def one(feed: FeedConfig) -> Fetched:
            async with semaphore:
                start = time.monotonic()
                cached = state.cached(feed.url)
                try:
                    scheme = urlsplit(feed.url).scheme
                    if scheme not in ("http", "https"):
                        raise FeedError(f"unsupported address scheme {scheme!r}; use http(s)://, "
                                        "file:// or a path")
                    fetched = await _fetch_http(client, feed.url, cached, sources.max_bytes,
                                                sources.timeout * 3)
                except FeedError as error:
                    fetched = _failed(error, cached)
                return _finished(fetched, feed, cached, state, day, start)

        return await asyncio.gather(*(one(feed) for feed in feeds))


# -- parsing ---------------------------------------------------------------------------------

@dataclass
class Entry:
    """A feed entry before it becomes an Article: what every feed format can say."""

    key: str
    title: str
    link: str
    date: datetime | None
    html: str
    summary_html: str
    category: str
    author: str
    image: str


def _struct_to_datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*value[:6]).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


# [^<>]: a scan for src stops at the next tag, so "<img<img<img…" costs linear time
_IMG = re.compile(r"<img\b[^<>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def _first_image(*candidates: str) -> str:
    for candidate in candidates:
        url = safe_url(candidate or "")
        if url and url.startswith(("http://", "https://")):
            return url
    return ""


def _feedparser_entries(body: bytes, content_type: str) -> tuple[str, list[Entry | str]]:
    import feedparser

    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                                  resolve_relative_uris=False)
    except Exception as exc:  # noqa: BLE001 - feedparser's own failure (&#xD800; breaks it)
        raise FeedError(f"not a readable feed (feedparser failed: {exc.__class__.__name__}: "
                        f"{squash(str(exc))[:120]})") from None
    if not parsed.entries and parsed.bozo:
        exception = parsed.get("bozo_exception")
        text = body[:512].lstrip().lower()
        if b"<html" in text or b"<!doctype html" in text:
            raise FeedError(f"an HTML page, not a feed (Content-Type {content_type or 'unknown'}); "
                            "check the address")
        raise FeedError(f"not a readable feed ({exception.__class__.__name__}: "
                        f"{str(exception).splitlines()[0] if str(exception) else 'unreadable'})")
    feed_title = html_to_text(parsed.feed.get("title", "") or "")
    feed_link = parsed.feed.get("link", "") or ""
    entries: list[Entry | str] = []
    for item in parsed.entries:
        content = item.get("content") or []
        html = content[0].get("value", "") if content else ""
        summary = item.get("summary", "") or ""
        media = [m.get("url", "") for m in item.get("media_content", [])
                 if m.get("medium") == "image" or str(m.get("type", "")).startswith("image/")]
        thumbnails = [m.get("url", "") for m in item.get("media_thumbnail", [])]
        enclosures = [e.get("href", "") for e in item.get("enclosures", [])
                      if str(e.get("type", "")).startswith("image/")]
        inline = _IMG.findall(html or summary)
        tags = item.get("tags") or []
        entries.append(Entry(
            key=str(item.get("id") or item.get("link") or item.get("title") or ""),
            title=item.get("title", "") or "",
            link=item.get("link", "") or feed_link,  # an entry without its own page: the site
            date=_struct_to_datetime(item.get("published_parsed") or item.get("updated_parsed")),
            html=html or summary,
            summary_html=summary if html else "",
            category=(tags[0].get("term") or tags[0].get("label") or "") if tags else "",
            author=item.get("author", "") or "",
            image=_first_image(*media, *thumbnails, *enclosures, *inline),
        ))
    return feed_title, entries


def _json_feed_entries(body: bytes) -> tuple[str, list[Entry | str]]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FeedError(f"invalid JSON Feed: {exc}") from None
    except RecursionError:
        raise FeedError("invalid JSON Feed: nested too deep") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedError("invalid JSON Feed: no items list")
    home = data.get("home_page_url")
    title = data.get("title")
    entries: list[Entry | str] = []
    for item in data["items"]:
        try:
            entries.append(_json_entry(item, home if isinstance(home, str) else ""))
        except _BadEntry as bad:
            entries.append(str(bad))
    return title if isinstance(title, str) else "", entries


class _BadEntry(Exception):
    """An entry that cannot become an article, and why."""


def _json_entry(item: object, home: str) -> Entry:
    """One JSON Feed item, every field checked for its type (JSON Feed 1.1, and 1.0's author)."""
    if not isinstance(item, dict):
        raise _BadEntry(f"expected an object, got {_json_kind(item)}")

    def text(key: str) -> str:
        value = item.get(key)
        if value is None:
            return ""
        if key == "id" and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # JSON Feed 1.0 readers met numbers there
        if not isinstance(value, str):
            raise _BadEntry(f"{key}: expected text, got {_json_kind(value)}")
        return encodable(value)

    stamp = text("date_published") or text("date_modified")
    try:
        when = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        raise _BadEntry(f"date: cannot read {squash(stamp)[:40]!r}") from None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    html = text("content_html")
    if not html and (plain := text("content_text")):
        html = "".join(f"<p>{_escape(p)}</p>" for p in plain.split("\n\n"))
    summary = text("summary")
    return Entry(
        key=text("id") or text("url"),
        title=text("title"),
        link=text("url") or text("external_url") or home,
        date=when,
        html=html or _escape(summary),
        summary_html=_escape(summary) if html else "",
        category=next(iter(_json_list(item, "tags", str)), ""),
        author=_json_author(item),
        image=_first_image(text("image"), text("banner_image"), *_IMG.findall(html)),
    )


def _json_list(item: dict, key: str, kind: type) -> list:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise _BadEntry(f"{key}: expected a list of {'text' if kind is str else 'objects'}, got "
                        f"{_json_kind(value)}")
    return value


def _json_author(item: dict) -> str:
    authors = _json_list(item, "authors", dict)
    if not authors and item.get("author") is not None:  # JSON Feed 1.0
        if not isinstance(item["author"], dict):
            raise _BadEntry(f"author: expected an object, got {_json_kind(item['author'])}")
        authors = [item["author"]]
    name = authors[0].get("name") if authors else None
    if name is not None and not isinstance(name, str):
        raise _BadEntry(f"authors: a name must be text, got {_json_kind(name)}")
    return name or ""


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return squash(json.dumps(value))[:40]  # true, null, 5, "text"


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


def _is_json_feed(body: bytes, content_type: str) -> bool:
    if "json" in content_type:
        return True
    start = body[:200].lstrip()
    return start.startswith(b"{") and b"jsonfeed.org" in body[:2000]


def parse_feed(body: bytes, content_type: str = "") -> tuple[str, list[Entry | str]]:
    """(the feed's title, its entries, or for each entry that cannot be read, why). Raises
    FeedError when it is not a feed."""
    if _is_json_feed(body, content_type):
        return _json_feed_entries(body)
    return _feedparser_entries(body, content_type)


def to_article(entry: Entry, feed: FeedConfig, label: str, when: datetime) -> Article | str:
    """The entry as a checked Article, or the reason it cannot be one.

    An entry with no link of its own, in a feed with no site link, points at the feed's address
    when that is a web address."""
    body = clean_html(entry.html)  # before anything else sees the feed's HTML
    text = html_to_text(body)
    title = squash(html_to_text(entry.title)) or excerpt(text, 80).removesuffix(" ...")
    if not title:
        return "no title and no text"
    feed_link = feed.url if feed.url.startswith(("http://", "https://")) else ""
    link = safe_url(entry.link or feed_link)
    if not link or not link.startswith(("http://", "https://")):
        return f'no usable link ("{squash(entry.link)[:80]}")' if entry.link else "no link"
    summary = html_to_text(clean_html(entry.summary_html)) if entry.summary_html else ""
    return checked(Article(
        title=title,
        date=when,
        url=link,
        body_html=body,
        text=text,
        source=label,
        category=squash(html_to_text(entry.category)) or feed.category,
        author=squash(html_to_text(entry.author)),
        image=entry.image,
        image_alt="",
        summary=squash(summary) if summary and len(summary) < len(text) else "",
        priority=feed.priority,
        guid=entry.key,
        full_text=feed.full_text,
    ))


def feed_label(feed: FeedConfig, title: str) -> str:
    return feed.name or squash(title) or feed.url


# -- the reader --------------------------------------------------------------------------------

def read_feeds(config: Config, day: date, window: Window, gathered: Gathered,
               state: FeedStore) -> list[FeedReport]:
    """Add the feeds' articles published in `window` to `gathered`, kept under the edition's
    `day` so that it rebuilds the same; one report per configured feed."""
    feeds = list(config.sources.feeds)
    if not feeds:
        return []
    fetched = _fetch_all(feeds, config, state, day)
    return [_use(feed, result, config, day, window, gathered, state)
            for feed, result in zip(feeds, fetched, strict=True)]


def _use(feed: FeedConfig, fetched: Fetched, config: Config, day: date, window: Window,
         gathered: Gathered, state: FeedStore) -> FeedReport:
    """Record how the feed did, warn when it failed, and add its articles of `day`."""
    stored = state.day_entries(day.isoformat(), feed.url)  # what earlier runs read for that day
    if fetched.parse_error:
        fetched.status, fetched.reason = "failed", fetched.parse_error
    if fetched.known_dates is not None:  # unchanged since that day was read: nothing to parse
        cached = state.cached(feed.url)
        label = next((squash(a.source) for a in stored.values() if a is not None),
                     feed.name or feed.url)
        articles, dates, count = {}, fetched.known_dates, (cached.entries or 0) if cached else 0
    else:
        label, articles, dates, count = _read_entries(feed, fetched, config, window, gathered,
                                                      state)
        if fetched.body is not None:
            state.remember_day(day.isoformat(), feed.url, articles, dates)
    if fetched.status in ("ok", "not modified"):
        state.succeeded(feed.url, fetched.status, fetched.body if fetched.status == "ok" else None,
                        fetched.etag, fetched.last_modified, fetched.content_type, count,
                        fetched.seconds)
    elif fetched.status != "reused":  # a reused copy says nothing new about the feed's health
        state.failed(feed.url, fetched.reason, fetched.seconds)
    cached = state.cached(feed.url)
    report = FeedReport(label, feed.url, fetched.status, fetched.reason, count, fetched.seconds,
                        cached.failing_since if cached else None, cached.failures if cached else 0)
    _warn(report, config, gathered, cached.ok_at if cached else None)

    kept = _kept({key: a for key, a in stored.items() if key not in articles}, label, gathered)
    merged = {**kept, **articles}
    gathered.articles.extend(merged.values())
    gathered.dates.update(date.fromisoformat(d) for d in dates)
    if merged:
        gathered.dates.add(day)
    return report


def _read_entries(feed: FeedConfig, fetched: Fetched, config: Config, window: Window,
                  gathered: Gathered, state: FeedStore):
    """(label, the day's articles by key, every date with entries, entry count) of a parsed feed."""
    label = feed_label(feed, fetched.title)
    articles: dict[str, Article] = {}
    dates: set[str] = set()
    for number, entry in enumerate(fetched.entries, 1):
        where = f"feed {label} entry {number}"
        if isinstance(entry, str):
            gathered.problems.append(Problem(where, f"{entry}; skipped"))
            continue
        when = entry.date
        if when is None:
            if feed.undated != "first_seen":
                gathered.problems.append(Problem(
                    where, f'"{squash(html_to_text(entry.title))[:60]}" has no date; skipped '
                    '(set undated = "first_seen" to date it when first seen)'))
                continue
            when = datetime.fromtimestamp(state.first_seen(feed.url, entry.key), UTC)
        article = to_article(entry, feed, label, when)
        if isinstance(article, str):
            gathered.problems.append(Problem(where, f"{article}; skipped"))
            continue
        dates.add(local_date(when, config.tz).isoformat())
        if window.contains(when):
            articles[entry.key or article.url] = article
    return label, articles, dates, len(fetched.entries)


def _kept(stored: dict[str, Article | None], label: str,
          gathered: Gathered) -> dict[str, Article]:
    """The entries an earlier run kept for the day, through the same checks as fresh ones (an
    earlier release let separators through; a damaged row cannot be read back)."""
    kept = {}
    for key, article in stored.items():
        result = checked(article) if article is not None else "cannot be read back"
        if isinstance(result, str):
            gathered.problems.append(Problem(f"feed {label} entry {squash(key)[:60]!r}",
                                             f"kept from an earlier run, {result}; skipped"))
        else:
            kept[key] = result
    return kept


def _warn(report: FeedReport, config: Config, gathered: Gathered, ok_at: float | None) -> None:
    where = f"feed {report.label}"
    if report.status == "failed":
        gathered.problems.append(Problem(where, f"{report.reason}; skipped"))
    elif report.status == "cached":
        age = _age(time.time() - ok_at) if ok_at else "an earlier run"
        gathered.problems.append(Problem(where, f"{report.reason}; using its copy from {age} ago"))
    if report.failures > config.sources.stale_after:
        since = datetime.fromtimestamp(report.failing_since or time.time(), UTC)
        gathered.problems.append(Problem(
            where, f"stale: failed {report.failures} runs in a row since "
            f"{since.astimezone(config.tz):%Y-%m-%d %H:%M}; check the address or remove it"))


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
