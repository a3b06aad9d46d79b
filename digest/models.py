"""The plain data that flows between the pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from digest.dates import Window
from digest.text import excerpt as excerpt_of
from digest.urls import normalize_url


@dataclass(frozen=True)
class Article:
    """One story, whatever its source. `body_html` is already sanitized."""

    title: str
    date: datetime  # timezone-aware
    url: str
    body_html: str
    text: str  # plain text of the body, for excerpts and reading time
    source: str  # where it came from: a file path or a feed name
    category: str = ""
    author: str = ""
    image: str = ""
    image_alt: str = ""
    summary: str = ""
    lead: bool = False  # the editor pinned it as the lead
    priority: int = 0
    guid: str = ""  # the source's own id for it (a feed entry's id), for deduplication
    full_text: bool = False  # when it leads, read its text from its page (feed's full_text)
    standfirst: str = ""  # the lead's standfirst (chapô); default: the summary
    image_width: int = 0  # the image's size in pixels, when the editor gave it
    image_height: int = 0
    image_caption: str = ""
    image_credit: str = ""
    # Local images to publish with the edition: (file on disk, its name under assets/).
    assets: tuple[tuple[str, str], ...] = ()
    group: bool = True  # `group: false`: the editors keep it apart from every other article
    same_story: tuple[str, ...] = ()  # `same_story:`: addresses or file names it is told with

    @cached_property  # ranking and grouping ask several times; a long text takes long to split
    def words(self) -> int:
        return len(self.text.split())

    @property
    def outlet(self) -> str:
        """Who published it: a feed's name, or "" for the newsletter's own articles/ folder."""
        return "" if self.source.endswith(".md") else self.source

    def excerpt(self, limit: int) -> str:
        """The blurb text: the editor's summary, else the first words of the article."""
        return self.summary or excerpt_of(self.text, limit)


def story_keys(article: Article) -> tuple[str, ...]:
    """What a `same_story:` may name the article by: its address (normalized), its feed id,
    and for a Markdown file its name, with or without .md."""
    found = [normalize_url(article.url)]
    if article.guid:
        found.append(article.guid)
    if not article.outlet:
        name = article.source.replace("\\", "/").rsplit("/", 1)[-1]
        found += [name, name.removesuffix(".md")]
    return tuple(found)


def story_reference(value: str) -> str:
    """A `same_story:` value as `story_keys` give it: an address normalized, a name as it is."""
    return normalize_url(value) if "://" in value else value


class Role(StrEnum):
    """An article's place in the edition; the values are those edition.json shows."""

    LEAD = "lead"
    BLURB = "blurb"
    SAME_STORY = "same story"  # told by another article, shown under it
    LEFT_OUT = "left out"
    ALREADY_SENT = "already sent"

    @property
    def shown(self) -> bool:
        return self in (Role.LEAD, Role.BLURB)


@dataclass(frozen=True)
class Ranked:
    """An article with its score and the parts the score is made of."""

    article: Article
    score: float
    components: dict[str, float]
    position: int  # 1-based: the lead first, then the blurbs, then the others by score
    role: Role
    reason: str  # why it got that role, in words
    group: int = 0  # articles of the same story share it
    also: tuple[Article, ...] = ()  # for the article shown: the others of its story
    follow_up: bool = False  # a story sent in an earlier edition, with new articles
    reason_code: str = ""  # `reason` as a stable code of digest.ranking.reasons
    reason_args: dict = field(default_factory=dict)  # the values the reason's words need


@dataclass(frozen=True)
class LinkedStory:
    """A story a sent edition linked to, and how often readers clicked it (no reader)."""

    day: str
    story: str  # digest.engagement.links.story_id of its address
    url: str  # where a click goes: the story's address with the day's tracking parameters
    title: str
    category: str
    source: str
    position: int  # 0: the lead; then the day's ranking order
    shown: bool = True  # in every reader's copy; else only in some sections' copies
    clicks: int = 0


@dataclass(frozen=True)
class PastStory:
    """A story sent in an earlier edition, as the ledger remembers it."""

    day: date
    urls: frozenset[str]
    terms: frozenset[str]


@dataclass(frozen=True)
class Edition:
    """The day's choice: one lead, some blurbs, and everything that was considered."""

    date: date
    lead: Ranked
    blurbs: tuple[Ranked, ...]
    considered: tuple[Ranked, ...]
    window: Window | None = None  # the publication times the articles were taken from
    # why articles were grouped, and why the closest pair that was not stayed apart
    grouping: tuple[str, ...] = ()
    note: str = ""  # a line above the blurbs: why a reader's copy shows them (his sections)
    engagement: tuple[str, ...] = ()  # each category's click rate, as ranking weighed it

    @property
    def stories(self) -> int:
        """How many stories the articles considered tell (grouped articles count once)."""
        return len({r.group for r in self.considered})

    @property
    def left_out(self) -> int:
        """Stories neither in the lead nor in the blurbs."""
        return self.stories - 1 - len(self.blurbs)


GMAIL_CLIP_BYTES = 102 * 1024  # Gmail shows "[Message clipped]" past this
SAFE_BYTES = 90 * 1024  # room for a provider's click-tracking rewrites below the clip


@dataclass(frozen=True)
class Email:
    """A rendered edition: both parts and the headers a message needs."""

    subject: str
    html: str
    text: str
    preheader: str
    sender: str
    reply_to: str = ""

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    @property
    def size_level(self) -> str:
        """green under SAFE_BYTES, orange up to the clip, red over it."""
        size = self.html_bytes
        return "red" if size > GMAIL_CLIP_BYTES else "orange" if size >= SAFE_BYTES else "green"


class Status(StrEnum):
    """A reader's delivery status for one edition and round, as the ledger stores it."""

    SENT = "sent"  # delivered to the provider
    FAILED = "failed"  # not delivered; tried again on the next run
    REFUSED = "refused"  # the server refused this address for good
    PENDING = "pending"  # the request left and no answer came back: unknown


class Outcome(NamedTuple):
    """What the provider said about one recipient (a tuple: a send makes one per reader)."""

    key: str  # the lower-cased address
    status: Status  # sent, failed or refused
    provider_id: str = ""
    error: str = ""


class Leaving(StrEnum):
    """Why an address is suppressed: what `digest status` counts after each edition."""

    UNSUBSCRIBED = "unsubscribed"  # the reader asked (a link, a provider's page)
    BOUNCED = "bounced"  # the address does not take mail (a hard bounce, invalid, blocked)
    COMPLAINED = "complained"  # the reader marked the email as spam
    ADDED = "added"  # an editor added it (by hand, or in the suppression list)


@dataclass(frozen=True)
class Suppression:
    """One address never to send to again, and why."""

    key: str  # the address key, as the ledger stores readers
    kind: Leaving
    source: str  # who said so: link, sendgrid-events, sendgrid-sync, bounces, editor, list
    reason: str = ""
    at: float = 0.0  # Unix time; 0: now
    edition_id: str = ""  # the edition it followed, when the source says
