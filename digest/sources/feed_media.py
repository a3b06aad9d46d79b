"""A feed item's picture, as the big outlets' feeds give it: Media RSS (`media:content`, alone
or in a `media:group` of sizes, with `media:description` and `media:credit`), `media:thumbnail`,
an `enclosure` of an image type, else the first `<img>` of the item's HTML.

Of several sizes, the one chosen is the narrowest at least as wide as the email's column, else
the widest. feedparser flattens `media:group` into `media_content`, and reads a
`media:description` as the item's `content` (plain text): `item_text` tells the item's own text
from a picture's caption.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.sanitize import safe_url

COLUMN_WIDTH = 592  # pixels: the email's column (digest.rendering.render.TEXT_WIDTH)
MAX_SIDE = 10_000  # a width or height beyond this is not a picture's
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:[?#]|$)", re.IGNORECASE)
# [^<>]: a scan for src stops at the next tag, so "<img<img<img…" costs linear time
_IMG = re.compile(r"<img\b[^<>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


@dataclass(frozen=True)
class Picture:
    url: str = ""
    width: int = 0
    height: int = 0
    caption: str = ""
    credit: str = ""


def item_text(item: dict) -> tuple[str, str, str]:
    """(the item's HTML, its summary's HTML when both, a picture's caption): a plain-text
    `content` beside Media RSS pictures and a description is the picture's `media:description`,
    not the story's text."""
    content = item.get("content") or []
    summary = item.get("summary", "") or ""
    html = next((c.get("value", "") for c in content
                 if c.get("type") in ("text/html", "application/xhtml+xml")), "")
    plain = next((c.get("value", "") for c in content if c.get("type") == "text/plain"), "")
    pictured = bool(item.get("media_content") or item.get("media_thumbnail"))
    caption = plain if plain and pictured and summary else ""
    if not html and not caption:
        html = content[0].get("value", "") if content else ""
    return html or summary, summary if html else "", caption


def picture(item: dict, html: str, caption: str = "") -> Picture:
    """The item's picture, with its size, caption and credit where the feed gives them."""
    media = [m for m in item.get("media_content", []) if _is_image(m)]
    for candidates in (media, item.get("media_thumbnail", [])):
        chosen = _sized(candidates)
        if chosen is not None:
            credit = next((c.get("content", "") for c in item.get("media_credit", [])
                           if c.get("content")), "")
            return Picture(chosen[0], chosen[1], chosen[2], caption.strip(), credit.strip())
    for enclosure in item.get("enclosures", []):
        if str(enclosure.get("type", "")).startswith("image/"):
            url = _web_url(enclosure.get("href", ""))
            if url:
                return Picture(url, caption=caption.strip())
    return Picture(first_image(html=html))


def first_image(*candidates: str, html: str = "") -> str:
    """The first web address among `candidates`, else of an `<img>` of `html`."""
    return next((url for c in (*candidates, *_IMG.findall(html)) if (url := _web_url(c))), "")


def _is_image(media: dict) -> bool:
    medium, kind = str(media.get("medium", "")), str(media.get("type", ""))
    if medium or kind:
        return medium == "image" or kind.startswith("image/")
    return bool(media.get("width")) or bool(_IMAGE_FILE.search(str(media.get("url", ""))))


def _sized(candidates: list) -> tuple[str, int, int] | None:
    """(url, width, height) of the size the column wants, or None when none is usable."""
    found = [(url, _side(c.get("width")), _side(c.get("height")))
             for c in candidates if (url := _web_url(c.get("url", "")))]
    if not found:
        return None
    wide_enough = [f for f in found if f[1] >= COLUMN_WIDTH]
    if wide_enough:
        return min(wide_enough, key=lambda f: f[1])
    return max(found, key=lambda f: f[1])


def _side(value: object) -> int:
    try:
        side = int(str(value).strip())
    except ValueError:
        return 0
    return side if 0 < side <= MAX_SIDE else 0


def _web_url(candidate: str) -> str:
    url = safe_url(candidate or "")
    return url if url and url.startswith(("http://", "https://")) else ""
