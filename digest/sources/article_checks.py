"""The last step of every reader: an Article that nothing downstream has to distrust.

Single-line fields (title, category, author, image alt text, summary, source) hold no line or
paragraph separator and no control character, so a title always makes a valid Subject header;
the date is one an edition can have; the addresses are http(s). Markdown files, feed entries and
the entries kept in the state database all go through `checked`.
"""

from __future__ import annotations

from dataclasses import replace

from digest.dates import usable_moment
from digest.models import Article
from digest.sanitize import safe_url
from digest.text import encodable, squash

PRIORITY_LIMIT = 1_000_000  # beyond this a priority means nothing more, and scores overflow


def checked(article: Article) -> Article | str:
    """`article` with its single-line fields on one line, or the reason it cannot be used."""
    if article.date.tzinfo is None:
        return f"date {article.date.isoformat()} has no time zone"
    reason = usable_moment(article.date)
    if reason:
        return f"date {reason}"
    title = squash(article.title)
    if not title:
        return "no title"
    url = safe_url(article.url)
    if url is None or not url.startswith(("http://", "https://")):
        return f"no usable link ({squash(article.url)[:80]!r})"
    image = safe_url(article.image) if article.image else ""
    return replace(
        article,
        title=title,
        url=url,
        source=squash(article.source),
        category=squash(article.category),
        author=squash(article.author),
        image=image if image and image.startswith(("http://", "https://")) else "",
        image_alt=squash(article.image_alt),
        summary=squash(article.summary),
        guid=encodable(article.guid),
        priority=max(-PRIORITY_LIMIT, min(PRIORITY_LIMIT, article.priority)),
    )
