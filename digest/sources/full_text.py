"""The lead's full text from its own page, for feeds that only carry a summary (full_text)."""

from __future__ import annotations

import dataclasses
import re

from digest.config import Config
from digest.errors import Problem
from digest.models import Article
from digest.sanitize import clean_html
from digest.text import html_to_text

SHORT_WORDS = 150  # below this, the feed gave a summary rather than the article


def needs_full_text(article: Article) -> bool:
    return article.full_text and article.words < SHORT_WORDS


def with_full_text(article: Article, config: Config) -> tuple[Article, Problem | None]:
    """The article with the main text of its page, or as it was and the reason why."""
    import asyncio  # here, not above: every build asks needs_full_text, few fetch

    import trafilatura

    from digest.sources.network import FetchError, fetch_page

    where = f"full text of {article.url}"
    try:
        page = asyncio.run(fetch_page(article.url, config))
    except FetchError as error:
        return article, Problem(where, f"{error}; the feed's summary is used")
    # fetch_page sends no If-None-Match: only a 304 from a misbehaving server leaves body None
    body_bytes = page.body or b""
    try:
        html = body_bytes.decode(_charset(page.content_type), "replace")
    except LookupError:  # a charset Python does not know
        html = body_bytes.decode("utf-8", "replace")
    extracted = trafilatura.extract(html, output_format="html", include_links=True,
                                    include_images=False, include_comments=False,
                                    favor_precision=True)
    body = clean_html(extracted or "")
    text = html_to_text(body)
    if len(text.split()) <= article.words:
        return article, Problem(where, "no article text found on the page; the feed's summary "
                                "is used")
    return dataclasses.replace(article, body_html=body, text=text), None


def _charset(content_type: str) -> str:
    match = re.search(r"charset=([\w-]+)", content_type)
    return match.group(1) if match else "utf-8"
