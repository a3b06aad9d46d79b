"""Text helpers: HTML to plain text, excerpts, reading time and French typography."""

from __future__ import annotations

import math
import re
import unicodedata
from html import escape, unescape
from html.parser import HTMLParser

WORDS_PER_MINUTE = 230
ELLIPSIS = " ..."
NNBSP = "\u202f"  # narrow no-break space, French typography

_BLOCKS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
    "pre", "section", "table", "tr", "ul",
}
_SKIPPED = {"script", "style", "template", "noscript", "head", "title"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data.replace("\n", " "))


# ASCII whitespace, C0 and C1 controls (NEL among them), and the Unicode line and paragraph
# separators: a header refuses them and str.splitlines() cuts at most of them.
_BREAKS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")
_SURROGATES = re.compile(r"[\ud800-\udfff]")  # a JSON "\ud800" escape; UTF-8 cannot carry one


def squash(text: str) -> str:
    """One line: runs of whitespace, control characters and line or paragraph separators become
    one space; no-break spaces are the author's, and stay."""
    return encodable(_BREAKS.sub(" ", text).strip())


def encodable(text: str) -> str:
    """`text` with each lone surrogate (from a JSON "\\ud800" escape) as U+FFFD: UTF-8 cannot
    carry one, and neither can a Rust string."""
    return _SURROGATES.sub("\ufffd", text)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: one paragraph per line, spaces collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (squash(line) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def excerpt(text: str, limit: int) -> str:
    """The first words of `text`, at most `limit` characters, ended with " ..." when cut.

    Never cuts inside a word: the result (without the ellipsis) is a prefix of the
    whitespace-normalized text that ends where a word ends.
    """
    flat = squash(text)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1]
    if cut[-1] == " ":
        head = cut[:-1]
    else:
        space = cut.rfind(" ")
        head = cut[:space] if space > 0 else ""
    head = head.rstrip(" ,;:.-–—")
    if not head:  # a first word longer than the limit: keep it whole rather than cut it
        head = flat.split(" ", 1)[0]
    return head + ELLIPSIS


def reading_minutes(text: str) -> int:
    return max(1, math.ceil(len(text.split()) / WORDS_PER_MINUTE))


# Every pattern here runs in linear time, whatever the text (a title of 100,000 letters without a
# space took minutes with \S+@): an address starts a word and its parts are bounded, a run of
# spaces is read from its start only.
_URL = re.compile(r"(?:https?|ftp|mailto):\S+|www\.\S+"
                  r"|(?<![^\s(\[«\"'])[^\s@]{1,64}@[^\s@]{1,255}\.\S+")
_SPACE_BEFORE = re.compile(r"(?<![ \u00a0\u202f])[ \u00a0\u202f]*([;:!?»])")
_SPACE_AFTER = re.compile(r"(«)[ \u00a0\u202f]*")
# A ; : ! ? glued to a word and followed by a space or the end ("Enfin!"), but not "12:30".
_GLUED = re.compile(r"(?<=[^\W\d_])([;:!?]+)(?=\s|$)")


def french_typography(text: str) -> str:
    """Narrow no-break spaces before ; : ! ? » and after «, leaving URLs and times alone."""
    out = []
    position = 0
    for match in _URL.finditer(text):
        out.append(_fix_french(text[position : match.start()]))
        out.append(match.group())
        position = match.end()
    out.append(_fix_french(text[position:]))
    return "".join(out)


def _fix_french(text: str) -> str:
    text = _GLUED.sub(NNBSP + r"\1", text)
    text = _SPACE_BEFORE.sub(_before, text)
    return _SPACE_AFTER.sub(r"\1" + NNBSP, text)


def _before(match: re.Match) -> str:
    whole = match.group(0)
    if whole == match.group(1) and match.group(1) != "»":
        return whole  # no space was typed: "12:30", "a:b" stay as they are
    return NNBSP + match.group(1)


def typography(text: str, locale: str) -> str:
    return french_typography(text) if locale == "fr" else text


_TEXT_NODE = re.compile(r">([^<>]+)<")  # [^<>]: linear, even on ">>>>…"


def html_typography(html: str, locale: str) -> str:
    """`typography` applied to the text between tags, never to tags, attributes or entities."""
    if locale != "fr":
        return html

    def fix(match: re.Match) -> str:
        return ">" + escape(french_typography(unescape(match.group(1))), quote=False) + "<"

    return _TEXT_NODE.sub(fix, html)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "article"
