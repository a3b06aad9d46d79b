"""Text from outside (a title, a reader's name) made safe for an email header.

A title may carry an RFC 2047 encoded word that decodes to a line break:
`Breaking =?utf-8?q?=0D=0AReply-To:_x@evil.example?= news`. Python's email package decodes such
words when it parses a header value, and before 3.11.10 / 3.12.5 (CVE-2024-6923) writes the
decoded line break out as a real one: a Reply-To or Bcc line of the attacker's, or a body of his.
`digest` runs on every 3.11+, so the words are decoded here, where a line break or any other
control character becomes a space, and whatever still looks like an encoded word is kept as text
that no parser decodes again.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from digest.text import squash

_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
WORD_JOINER = "\u2060"  # invisible: "=\u2060?" reads as "=?" to a person, never to a decoder
ROUNDS = 3  # a word that decodes to another word, and so on: decoded this many times at most


def header_text(value: str) -> str:
    """`value` on one line, its encoded words decoded, with no way to become a header line."""
    for _ in range(ROUNDS):
        if not _ENCODED_WORD.search(value):
            break
        value = _decoded(value)
    value = squash(value)
    return value.replace("=?", f"={WORD_JOINER}?") if "=?" in value else value


def _decoded(value: str) -> str:
    """The encoded words of `value` decoded; a word that cannot be (an unknown charset, a bad
    base64) stays as written."""
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value


def list_id(name: str, site: str) -> str:
    """RFC 2919's List-Id of a newsletter: `<name.host>`, the name made a dot-atom, the host of
    its site's address (mail clients group and filter by it; Gmail's bulk sender rules ask
    for it)."""
    import unicodedata
    from urllib.parse import urlsplit

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower())[:40].strip("-") or "newsletter"
    try:
        host = (urlsplit(site).hostname or "").encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        host = ""
    host = host.removeprefix("www.")  # shorter: the header then fits on its line
    return f"<{slug}.{host or 'invalid'}>"
