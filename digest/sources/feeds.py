"""RSS, Atom, RDF, CDF (feedparser) and JSON Feed 1.1, fetched concurrently with httpx.

Every feed is fetched at once (bounded by `sources.concurrency`), with timeouts, a size cap,
a bounded number of redirects and conditional GET. A feed that fails is one warning line, and its
last good copy is used when there is one; the other sources go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from digest import __version__
from digest.config import Config, FeedConfig
from digest.dates import Window, local_date
from digest.errors import Problem
from digest.models import Article
from digest.sanitize import clean_html, safe_url
from digest.sources import Gathered
from digest.state.feeds import FeedStore
from digest.text import excerpt, html_to_text, squash

USER_AGENT = f"digest/{__version__} (daily newsletter builder; feed reader)"
MAX_REDIRECTS = 5
ACCEPT = ("application/feed+json, application/atom+xml, application/rss+xml, application/rdf+xml,"
          " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")


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
    import httpx

    headers = {}
    if cached is not None and cached.body is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    try:
        async with asyncio.timeout(deadline):
            async with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Fetched("not modified")
                if response.status_code >= 400:
                    raise FeedError(f"HTTP {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise FeedError(f"too large: {int(declared):,} bytes, over the "
                                    f"{limit:,} byte limit (sources.max_bytes)")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise FeedError(f"too large: over the {limit:,} byte limit "
                                        "(sources.max_bytes)")
                    chunks.append(chunk)
                return Fetched("ok", b"".join(chunks), response.headers.get("Content-Type", ""),
                               response.headers.get("ETag"), response.headers.get("Last-Modified"))
    except TimeoutError:
        raise FeedError(f"no complete answer within {deadline:g} s") from None
    except httpx.TooManyRedirects:
        raise FeedError(f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FeedError("timed out") from None
    except httpx.HTTPError as exc:
        raise FeedError(f"{exc.__class__.__name__}: {exc}".rstrip(": ")) from None


def _read_local(path: Path, limit: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > limit:
            raise FeedError(f"too large: {size:,} bytes, over the {limit:,} byte limit "
                            "(sources.max_bytes)")
        return Fetched("ok", path.read_bytes())
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror}") from None


def http_client(config: Config):
    """The one HTTP client setup for feeds and pages: timeouts, redirects, who we are."""
    import httpx

    sources = config.sources
    return httpx.AsyncClient(
        timeout=httpx.Timeout(sources.timeout),
        limits=httpx.Limits(max_connections=sources.concurrency),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
    )


async def fetch_page(url: str, config: Config) -> Fetched:
    """One web page with the feeds' limits; raises FeedError."""
    async with http_client(config) as client:
        return await _fetch_http(client, url, None, config.sources.max_bytes,
                                 config.sources.timeout * 3)


async def _fetch_all(feeds: list[FeedConfig], config: Config, state: FeedStore,
                     day: date) -> list[Fetched]:
    sources = config.sources
    semaphore = asyncio.Semaphore(sources.concurrency)
    remote = any(feed.is_remote for feed in feeds)

    # no HTTP client (nor its import) when every feed is a local file
    async with http_client(config) if remote else contextlib.nullcontext() as client:
        async def one(feed: FeedConfig) -> Fetched:
            async with semaphore:
                start = time.monotonic()
                cached = state.cached(feed.url)
                recent = (cached is not None and cached.body is not None and cached.ok_at
                          and time.time() - cached.ok_at < sources.refetch_after)
                try:
                    local = feed.local_path(config.root)
                    scheme = urlsplit(feed.url).scheme
                    if recent and local is None:
                        assert cached is not None  # recent implies a cached copy
                        fetched = Fetched("reused", cached.body, cached.content_type)
                        fetched.known_dates = state.gathered_dates(day.isoformat(), feed.url)
                    elif local is not None:
                        fetched = _read_local(local, sources.max_bytes)
                    elif scheme in ("http", "https"):
                        fetched = await _fetch_http(client, feed.url, cached, sources.max_bytes,
                                                    sources.timeout * 3)
                    else:
                        raise FeedError(f"unsupported address scheme {scheme!r}; use http(s)://, "
                                        "file:// or a path")
                    if fetched.status == "not modified":
                        fetched.body = cached.body if cached else None
                        fetched.content_type = cached.content_type if cached else ""
                        fetched.known_dates = state.gathered_dates(day.isoformat(), feed.url)
                except FeedError as error:
                    fetched = Fetched("failed", reason=str(error))
                    if cached is not None and cached.body is not None:
                        fetched = Fetched("cached", cached.body, cached.content_type,
                                          reason=str(error))
                fetched.seconds = time.monotonic() - start
                fetched.parse()
                return fetched

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


_IMG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def _first_image(*candidates: str) -> str:
    for candidate in candidates:
        url = safe_url(candidate or "")
        if url and url.startswith(("http://", "https://")):
            return url
    return ""


def _feedparser_entries(body: bytes, content_type: str) -> tuple[str, list[Entry]]:
    import feedparser

    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
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
    entries = []
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


def _json_feed_entries(body: bytes) -> tuple[str, list[Entry]]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FeedError(f"invalid JSON Feed: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedError("invalid JSON Feed: no items list")
    entries = []
    for item in data["items"]:
        if not isinstance(item, dict):
            continue
        stamp = item.get("date_published") or item.get("date_modified")
        try:
            when = datetime.fromisoformat(str(stamp)) if stamp else None
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        html = item.get("content_html") or ""
        if not html and item.get("content_text"):
            html = "".join(f"<p>{_escape(p)}</p>" for p in str(item["content_text"]).split("\n\n"))
        tags = item.get("tags") or []
        entries.append(Entry(
            key=str(item.get("id") or item.get("url") or ""),
            title=str(item.get("title") or ""),
            link=str(item.get("url") or item.get("external_url")
                     or data.get("home_page_url") or ""),
            date=when,
            html=html or _escape(str(item.get("summary") or "")),
            summary_html=_escape(str(item.get("summary") or "")) if html else "",
            category=str(tags[0]) if tags else "",
            author=(str(authors[0].get("name", ""))
                    if authors and isinstance(authors[0], dict) else ""),
            image=_first_image(str(item.get("image") or ""), str(item.get("banner_image") or ""),
                               *_IMG.findall(html)),
        ))
    return str(data.get("title") or ""), entries


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


def _is_json_feed(body: bytes, content_type: str) -> bool:
    if "json" in content_type:
        return True
    start = body[:200].lstrip()
    return start.startswith(b"{") and b"jsonfeed.org" in body[:2000]


def parse_feed(body: bytes, content_type: str = "") -> tuple[str, list[Entry]]:
    """(the feed's title, its entries). Raises FeedError when it is not a feed."""
    if _is_json_feed(body, content_type):
        return _json_feed_entries(body)
    return _feedparser_entries(body, content_type)


def to_article(entry: Entry, feed: FeedConfig, label: str, when: datetime) -> Article | str:
    """The entry as an Article, or the reason it cannot be one.

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
        return f'no usable link ("{entry.link[:80]}")' if entry.link else "no link"
    summary = html_to_text(clean_html(entry.summary_html)) if entry.summary_html else ""
    return Article(
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
    )


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
    fetched = asyncio.run(_fetch_all(feeds, config, state, day))
    return [_use(feed, result, config, day, window, gathered, state)
            for feed, result in zip(feeds, fetched, strict=True)]


def _use(feed: FeedConfig, fetched: Fetched, config: Config, day: date, window: Window,
         gathered: Gathered, state: FeedStore) -> FeedReport:
    """Record how the feed did, warn when it failed, and add its articles of `day`."""
    kept = state.day_entries(day.isoformat(), feed.url)  # what earlier runs read for that day
    if fetched.parse_error:
        fetched.status, fetched.reason = "failed", fetched.parse_error
    if fetched.known_dates is not None:  # unchanged since that day was read: nothing to parse
        cached = state.cached(feed.url)
        label = next((a.source for a in kept.values()), feed.name or feed.url)
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
    for entry in fetched.entries:
        when = entry.date
        if when is None:
            if feed.undated != "first_seen":
                gathered.problems.append(Problem(
                    f"feed {label}", f'entry "{squash(html_to_text(entry.title))[:60]}" has '
                    "no date; skipped (set undated = \"first_seen\" to date it when first seen)"))
                continue
            when = datetime.fromtimestamp(state.first_seen(feed.url, entry.key), UTC)
        article = to_article(entry, feed, label, when)
        if isinstance(article, str):
            gathered.problems.append(Problem(f"feed {label}", f"entry skipped: {article}"))
            continue
        dates.add(local_date(when, config.tz).isoformat())
        if window.contains(when):
            articles[entry.key or article.url] = article
    return label, articles, dates, len(fetched.entries)


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
