"""Fetching feeds: every feed at once (bounded by `sources.concurrency`) through the guarded
client of `network.py` (public addresses only, a total deadline, a size cap, a bounded number of
redirects) with conditional GET; local files and copies read moments ago without the network.
A feed that cannot be read gives its last good copy when there is one."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from digest.config import Config, FeedConfig
from digest.sources.feed_formats import FeedError, parse_feed
from digest.sources.files import Unreadable, read_capped

if TYPE_CHECKING:  # the state database is opened only when a feed is read
    from digest.state.feed_cache import FeedStore


class FetchStatus(StrEnum):
    """How a feed's body was obtained this run."""

    OK = "ok"
    NOT_MODIFIED = "not modified"
    REUSED = "reused"  # read moments ago, not fetched again
    CACHED = "cached"  # failed, its last good copy used
    FAILED = "failed"

    @property
    def worked(self) -> bool:
        """The feed answered (or was read moments ago): nothing to warn about."""
        return self in (FetchStatus.OK, FetchStatus.NOT_MODIFIED, FetchStatus.REUSED)


@dataclass
class Fetched:
    """One feed's body this run, and how it was obtained."""

    status: FetchStatus
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


async def _fetch_http(client, url: str, cached, limit: int, deadline: float) -> Fetched:
    from digest.sources.network import FetchError, get  # lazy: httpx, for remote feeds only

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
        return Fetched(FetchStatus.NOT_MODIFIED)
    return Fetched(FetchStatus.OK, page.body, page.content_type, page.etag, page.last_modified)


def _read_local(path: Path, limit: int) -> Fetched:
    try:
        return Fetched(FetchStatus.OK, read_capped(path, limit, "sources.max_bytes"))
    except Unreadable as error:
        raise FeedError(f"{path}: {error}") from None


def fetch_all(feeds: list[FeedConfig], config: Config, state: FeedStore,
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
            fetched = Fetched(FetchStatus.REUSED, cached.body, cached.content_type)
            fetched.known_dates = state.gathered_dates(day.isoformat(), feed.url)
        else:
            fetched = _read_local(local, config.sources.max_bytes)
    except FeedError as error:
        fetched = _failed(error, cached)
    return _finished(fetched, feed, cached, state, day, start)


def _failed(error: FeedError, cached) -> Fetched:
    """A feed that could not be read: its last copy if there is one."""
    if cached is not None and cached.body is not None:
        return Fetched(FetchStatus.CACHED, cached.body, cached.content_type, reason=str(error))
    return Fetched(FetchStatus.FAILED, reason=str(error))


def _finished(fetched: Fetched, feed: FeedConfig, cached, state: FeedStore, day: date,
              start: float) -> Fetched:
    if fetched.status == FetchStatus.NOT_MODIFIED:
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
        from digest.sources.network import http_client  # lazy: httpx (see above)
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
