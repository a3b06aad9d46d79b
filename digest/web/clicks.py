"""The click links' redirect, and the provider's click and open events, for `digest serve`.

A click counts once per client and story in a day, remembered in this process's memory only
(a keyed hash, never written): a reader who clicks again, or a loop fetching one link, does not
move the counts that `ranking.engagement` reads. The reader is redirected whatever happens to
the count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from digest.audience.signing import Signer
from digest.config import Config
from digest.engagement.links import CLICK_PREFIX, ClickLinks, click_base, story_id
from digest.errors import DigestError
from digest.state.clicks import StoryClicks
from digest.web.joining import ClientRate, client_address

log = logging.getLogger("digest.web")

DAY_SECONDS = 86_400.0


class StoryLinks:
    def __init__(self, config: Config, signer: Signer | None, clicks: StoryClicks,
                 clock: Callable[[], float]) -> None:
        self.links = ClickLinks(click_base(config), signer) if signer else None
        self.clicks = clicks
        self.signer = signer
        self.once = ClientRate(1, clock, window=DAY_SECONDS)

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
        return self.once.allow(self.signer.client_hash(f"{client_address(request)}\0{day}/{story}"))

    def provider_clicks(self, clicks: list[tuple[str, str]]) -> int:
        """Count a provider's clicks on the stories of an edition; a click on one of our own
        click links is left out (`follow` counts it when the reader gets there)."""
        ours = self.links.base + CLICK_PREFIX if self.links else ""
        counted = 0
        for day, url in clicks:
            if ours and url.startswith(ours):
                continue
            counted += self.clicks.count(day, story_id(url))
        return counted
