"""Untrusted HTML and URLs made safe before they reach an email or a page."""

from __future__ import annotations

import re
from html import escape

import nh3

from digest.text import encodable, html_to_text

SAFE_SCHEMES = {"http", "https", "mailto"}

# Ammonia's defaults minus what an email cannot use or should not carry.
_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area", "bdi", "bdo", "rp", "rt", "rtc", "ruby", "wbr"}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
}


def clean_html(html: str) -> str:
    """An allow-list sanitized copy of `html`: no script, no event handler, no unsafe URL.

    HTML nested deeper than any page is (20,000 <div>s took nh3 seconds, 150,000 minutes: its
    cost grows with the depth) is kept as its text, one paragraph a line."""
    html = encodable(html)
    if _too_deep(html):
        return "".join(f"<p>{escape(line, quote=False)}</p>\n"
                       for line in html_to_text(html).split("\n"))
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=SAFE_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


MAX_DEPTH = 256
_OPENING = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
# elements that never nest: void ones, and those the next of their kind closes
_FLAT = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr", "p", "li", "dt", "dd", "option", "tr", "td", "th", "rb", "rt", "rp"}


def _too_deep(html: str) -> bool:
    depth = 0
    for closing, name in _OPENING.findall(html):
        if name.lower() in _FLAT:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        if depth > MAX_DEPTH:
            return True
    return False


_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
# whitespace (Unicode's too), controls, and surrogates no encoder accepts
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def safe_url(url: str) -> str | None:
    """`url` when it is an absolute http(s) or mailto address that every later step can parse,
    otherwise None: parsed here, once, where a bad one is the reader's warning."""
    url = url.strip()
    match = _SCHEME.match(url)
    if not match or match.group(1).lower() not in SAFE_SCHEMES or _UNSAFE.search(url):
        return None
    if match.group(1).lower() != "mailto" and not _usable_host(url):
        return None
    return url


def _idna(host: str) -> str:
    """A non-ASCII host as the HTTP client will send it: IDNA 2008 with UTS 46 mapping, as
    httpx does (Python's own "idna" codec is IDNA 2003, which accepts hosts httpx refuses)."""
    import idna  # lazy: a host outside ASCII is rare

    return idna.encode(host, uts46=True).decode("ascii")


# every label a number, decimal or hexadecimal: what browsers read as an IPv4 address
_NUMERIC_HOST = re.compile(r"(?:(?:0x[0-9a-f]*|[0-9]+)(?:\.|$))+", re.IGNORECASE)


def _usable_host(url: str) -> bool:
    """An http(s) address whose host and port parse: `http://[oops/x` (Python's parser raises),
    a port that is no number, or a host whose digits are no plain IPv4 address (`0177.0.0.1`,
    octal to a browser; full-width digits that IDNA turns into 127.0.0.1) is refused."""
    from ipaddress import IPv4Address
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
        written = parts.hostname or ""
        host = written if written.isascii() else _idna(written)
    except (ValueError, UnicodeError):  # idna's errors are UnicodeErrors
        return False
    if not host:
        return False
    if _NUMERIC_HOST.fullmatch(host):
        if not written.isascii():
            return False
        try:
            IPv4Address(host)
        except ValueError:
            return False
    return True
