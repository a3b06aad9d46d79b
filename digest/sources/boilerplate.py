"""What the big CMSs add to every item of their feeds, taken out of an item's sanitized HTML:
WordPress's truncation mark (`[…]`, `[&hellip;]`, `[...]`), its "The post … appeared first on
…" footer and Yoast's French "L’article … est apparu en premier sur …", copyright lines,
and "Continue reading" / "Lire la suite" links (the email has its own).

Sources: WordPress's feed templates (wp-includes/feed-rss2.php, `the_excerpt_rss`, the
`[&hellip;]` of `wp_trim_excerpt`, the `more-link` of `get_the_content`), Yoast SEO's RSS
footer ("The post %%POSTLINK%% appeared first on %%BLOGLINK%%.", translated by the site's
language), and the descriptions of news sites' feeds.
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE | re.DOTALL
# the footer paragraph of WordPress and Yoast, in English and in French; bounded, so that a
# paragraph that only begins like one is not scanned to the end of the item
_FIRST_ON = re.compile(
    r"<p>\s*(?:The post\s.{0,600}?\sappeared first on\s"
    r"|L[’']article\s.{0,600}?\sest apparu en premier sur\s).{0,600}?</p>", _FLAGS)
# (?<!\s): a match starts where a run of spaces starts, never inside one (else a long run of
# spaces is scanned again from each of its characters: minutes for a few tens of kilobytes)
_FIRST_ON_TAIL = re.compile(
    r"(?<!\s)\s*(?:The post\s[^<>]{0,300}?\sappeared first on\s"
    r"|L[’']article\s[^<>]{0,300}?\sest apparu en premier sur\s)[^<>]{0,300}$", _FLAGS)
_READ_MORE_WORDS = (r"(?:continue reading|read more|read the full (?:story|article)|keep reading"
                    r"|lire la suite|lire l[’']article|en savoir plus|suite de l[’']article)")
_READ_MORE = re.compile(
    r"<a\b[^>]*>\s*" + _READ_MORE_WORDS + r"(?:[^<]|<(?!/a>)[^>]*>){0,300}?</a>", _FLAGS)
_MARK = re.compile(r"(?<!\s)\s*\[(?:…|&hellip;|&#8230;|\.\.\.)\]")
_COPYRIGHT = re.compile(
    r"<p>\s*(?:©|&copy;|\(c\)\s*\d{4}|copyright\b)[^<]{0,200}</p>", _FLAGS)
_EMPTY = re.compile(r"<p>(?:\s|&nbsp;|<br\s*/?>)*</p>", re.IGNORECASE)


def without_boilerplate(html: str) -> str:
    """`html` (sanitized) less the CMS's additions; the truncation mark becomes an ellipsis."""
    if not html:
        return html
    html = _FIRST_ON.sub("", html)
    html = _READ_MORE.sub("", html)
    html = _COPYRIGHT.sub("", html)
    html = _FIRST_ON_TAIL.sub("", html)
    html = _MARK.sub("…", html)
    return _EMPTY.sub("", html).strip()
