"""The click links' redirect, and the provider's click and open events, for `digest serve`.

A click counts once per client and story in a day, remembered in this process's memory only
(a keyed hash, never written): a reader who clicks again, or a loop fetching one link, does not
move the counts that `ranking.engagement` reads. The reader is redirected whatever happens to
the count.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from digest.audience.signing import Signer
from digest.config import Config
from digest.engagement.links import CLICK_PREFIX, ClickLinks, click_base, story_id
from digest.errors import DigestError
from digest.state.clicks import StoryClicks
from digest.web.joining import client_address

log = logging.getLogger("digest.web")

DAY_SECONDS = 86_400.0
REMEMBERED = 200_000  # clicks remembered at most: the oldest are forgotten first


class OncePerDay:
    """Whether a key is new within a day; at most REMEMBERED keys, in insertion (= time) order,
    so that forgetting the expired or the oldest costs nothing per request."""

    def __init__(self, clock: Callable[[], float], limit: int = REMEMBERED) -> None:
        self.clock, self.limit = clock, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            while self._seen and (len(self._seen) >= self.limit
                                  or next(iter(self._seen.values())) <= now - DAY_SECONDS):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def _client(address: str) -> str:
    """A client as clicks count it: an IPv4 address, or an IPv6 one's /64 (a home or a phone
    gets a whole /64: its addresses are one client)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


class StoryLinks:
    def __init__(self, config: Config, signer: Signer | None, clicks: StoryClicks,
                 clock: Callable[[], float]) -> None:
        self.links = ClickLinks(click_base(config), signer) if signer else None
        self.clicks = clicks
        self.signer = signer
        self.once = OncePerDay(clock)

    def follow(self, request: Request) -> Response:
        """GET (or HEAD) of a click link: 302 to the story the send recorded, or 404."""
        named = self.links.clicked(request.path) if self.links else None
        url = self.clicks.destination(*named) if named else None
        if named is None or url is None or urlsplit(url).scheme not in ("http", "https"):
            log.info("click: refused a link that is none of ours")
            return Response("not found\n", 404, content_type="text/plain; charset=utf-8")
        day, story = named
        if request.method == "GET" and self._first(request, day, story):
            try:
                self.clicks.count(day, story)
            except DigestError as error:  # the database busy: the reader still gets his story
                log.warning("click: story %s of %s not counted: %s", story, day, error)
        log.info("click: story %s of %s", story, day)
        return Response("", 302, {"Location": url}, content_type="text/plain; charset=utf-8")

    def _first(self, request: Request, day: str, story: str) -> bool:
        """Whether this client's click on the story is its first of the day (HEAD requests,
        link checkers', never count)."""
        assert self.signer is not None  # there are links only with a signer
        client = _client(client_address(request))
        return self.once.first(self.signer.client_hash(f"{client}\0{day}/{story}"))

    def provider_events(self, clicks: list[tuple[str, str]], opens: list[str]) -> int:
        """Count a provider's clicks on the stories of an edition (when its own click tracking
        wraps the stories' addresses) and its opens; a click on one of our own click links is
        left out (`follow` counts it when the reader gets there). The clicks counted."""
        ours = self.links.base + CLICK_PREFIX if self.links and self.links.base else ""
        stories = [(day, story_id(url)) for day, url in clicks
                   if not (ours and url.startswith(ours))]
        return self.clicks.provider_events(stories, opens)
