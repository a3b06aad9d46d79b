"""Click links: with `[tracking] clicks`, a story's link in a reader's copy is
`{base}/c/YYYYMMDD/STORY/MAC` on `digest serve`. STORY names the story by its address (a hash
of it without tracking parameters) and MAC signs the day and the story with `DIGEST_SECRET`:
the link says nothing of the reader, is the same in every copy of the day, and an altered one
is refused rather than sent anywhere (the address it redirects to is the one the send
recorded, never one the link carries)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import date

from digest.audience.signing import SECRET_ADVICE, SECRET_VARIABLE, Signer
from digest.config import Config
from digest.errors import ConfigError
from digest.models import Edition, LinkedStory, Role
from digest.urls import normalize_url, served_url, with_tracking

CLICK_PREFIX = "/c/"
STORY_CHARS = 10
_PATH = re.compile(rf"/c/(\d{{8}})/([a-z2-7]{{{STORY_CHARS}}})/([A-Za-z0-9_-]{{1,40}})")


def story_id(url: str) -> str:
    """A story's name in click links and counters: its address without tracking, hashed."""
    digest = hashlib.sha256(normalize_url(url).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:STORY_CHARS]


def click_base(config: Config) -> str:
    """Where the click links point: `tracking.url`, else `signup.url`, else beside the
    unsubscribe page ("" when none says where)."""
    tracking = config.tracking.url.rstrip("/")
    if tracking:
        return tracking
    return served_url(config.signup.url, config.delivery.unsubscribe_url, "").rstrip("/")


@dataclass(frozen=True)
class ClickLinks:
    base: str
    signer: Signer

    @classmethod
    def for_config(cls, config: Config) -> ClickLinks | None:
        """The click links of a newsletter with `tracking.clicks`; None when off. A
        ConfigError when no address or no secret lets them work."""
        if not config.tracking.clicks:
            return None
        base = click_base(config)
        if not base:
            raise ConfigError("tracking.clicks needs the address of digest serve: set "
                              "tracking.url (or a delivery.unsubscribe_url on digest serve)")
        if not os.environ.get(SECRET_VARIABLE, "").strip():
            raise ConfigError(f"tracking.clicks: {SECRET_VARIABLE} is not set: click links are "
                              f"signed with it; {SECRET_ADVICE}")
        return cls(base, Signer.from_environment(config.newsletter.url))

    def link(self, day: date, url: str) -> str:
        """The click link of the story at `url` in the edition of `day`."""
        stamp, story = day.strftime("%Y%m%d"), story_id(url)
        return f"{self.base}{CLICK_PREFIX}{stamp}/{story}/{self.signer.click_mac(stamp, story)}"

    def clicked(self, path: str) -> tuple[str, str] | None:
        """(the day as YYYY-MM-DD, the story) a click path names, when we signed it."""
        match = _PATH.fullmatch(path)
        if match is None:
            return None
        stamp, story, mac = match.groups()
        if not self.signer.click_signed(stamp, story, mac):
            return None
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}", story


def linked_stories(edition: Edition, config: Config) -> list[LinkedStory]:
    """The stories a day's copies may link to: the lead, the blurbs, and the stories left out
    that a reader's sections may bring in (`digest.sections`). Shown to every reader: the lead,
    and the blurbs when there are no sections (with sections, a reader gets his sections'
    blurbs only)."""
    day = edition.date
    linked = [r for r in edition.considered if r.role in (Role.LEAD, Role.BLURB, Role.LEFT_OUT)]
    to_all = (Role.LEAD,) if config.sections else (Role.LEAD, Role.BLURB)
    return [LinkedStory(day.isoformat(), story_id(r.article.url),
                        with_tracking(r.article.url, config.links, day), r.article.title,
                        r.article.category, r.article.source,
                        0 if r is edition.lead else r.position, r.role in to_all)
            for r in sorted(linked, key=lambda r: r.position) if r.article.url]
