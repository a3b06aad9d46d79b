"""Feed formats: RSS, Atom, RDF, CDF (feedparser) and JSON Feed 1.1, read into entries, and an
entry made into a checked Article. Each entry that cannot be read is the reason why, never an
exception: nothing a feed holds stops the edition."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape, unescape
from urllib.parse import urljoin, urlsplit

from digest.config import FeedConfig
from digest.models import Article
from digest.sanitize import clean_html, safe_url
from digest.sources.article_checks import checked
from digest.sources.boilerplate import without_boilerplate
from digest.sources.feed_media import first_image, item_text, picture
from digest.text import encodable, excerpt, html_to_text, squash


class FeedError(Exception):
    """Why a feed could not be read, in one line."""


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
    image_width: int = 0
    image_height: int = 0
    image_caption: str = ""
    image_credit: str = ""
    base: str = ""  # what the item's relative links are relative to (Atom's xml:base)


def _struct_to_datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*value[:6]).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


# an attribute of sanitized HTML (nh3 quotes them all with ") holding an address
_ADDRESS = re.compile(r'(\s(?:href|src)=")([^"]*)"')


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
        html, summary, caption = item_text(item)
        shown = picture(item, html, caption)
        tags = item.get("tags") or []
        details = [*(item.get("content") or []), item.get("summary_detail") or {}]
        entries.append(Entry(
            key=str(item.get("id") or item.get("link") or item.get("title") or ""),
            title=item.get("title", "") or "",
            link=item.get("link", "") or feed_link,  # an entry without its own page: the site
            date=_struct_to_datetime(item.get("published_parsed") or item.get("updated_parsed")),
            html=html,
            summary_html=summary,
            category=(tags[0].get("term") or tags[0].get("label") or "") if tags else "",
            author=item.get("author", "") or "",
            image=shown.url, image_width=shown.width, image_height=shown.height,
            image_caption=shown.caption, image_credit=shown.credit,
            base=next((d.get("base", "") for d in details if d.get("base")), "")
            or item.get("link", "") or feed_link,
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
        image=first_image(text("image"), text("banner_image"), html=html),
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
    body = without_boilerplate(_absolute(body, entry.base))
    if entry.image:  # a CMS's featured picture often opens the text too: shown once
        body = _without_picture(body, entry.image)
    text = html_to_text(body)
    title = squash(html_to_text(entry.title)) or excerpt(text, 80).removesuffix(" ...")
    if not title:
        return "no title and no text"
    feed_link = feed.url if feed.url.startswith(("http://", "https://")) else ""
    link = safe_url(entry.link or feed_link)
    if not link or not link.startswith(("http://", "https://")):
        return f'no usable link ("{squash(entry.link)[:80]}")' if entry.link else "no link"
    summary = html_to_text(without_boilerplate(clean_html(entry.summary_html))) \
        if entry.summary_html else ""
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
        image_width=entry.image_width,
        image_height=entry.image_height,
        image_caption=squash(entry.image_caption),
        image_credit=squash(entry.image_credit),
        summary=squash(summary) if summary and len(summary) < len(text) else "",
        priority=feed.priority,
        guid=entry.key,
        full_text=feed.full_text,
    ))


def _without_picture(html: str, url: str) -> str:
    pictured = re.compile(r'<img\b[^>]*\ssrc="' + re.escape(escape(url)) + r'"[^>]*>')
    return re.sub(r"<p>\s*</p>", "", pictured.sub("", html))


def _absolute(html: str, base: str) -> str:
    """Relative links and pictures of an item made absolute against its base (an email has no
    address of its own to resolve them against)."""
    if not base.startswith(("http://", "https://")) or ('="/' not in html and "=\"." not in html
                                                        and 'href="' not in html):
        return html

    def resolved(match: re.Match) -> str:
        value = unescape(match.group(2))
        if not value or value.startswith("#") or urlsplit(value).scheme:
            return match.group(0)
        joined = safe_url(urljoin(base, value))
        return f'{match.group(1)}{escape(joined)}"' if joined else match.group(0)

    return _ADDRESS.sub(resolved, html)


def feed_label(feed: FeedConfig, title: str) -> str:
    return feed.name or squash(title) or feed.url
