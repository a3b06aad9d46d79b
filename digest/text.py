"""Text helpers: HTML to plain text, excerpts, reading time, typography, wrapping and spreadsheet
cells."""

from __future__ import annotations

import functools
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


# What squash changes: a character _BREAKS takes other than the space, or two spaces in a row.
_TO_SQUASH = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|  ")


def squash(text: str) -> str:
    """One line: runs of whitespace, control characters and line or paragraph separators become
    one space; no-break spaces are the author's, and stay."""
    # most text has nothing to squash: finding that out costs far less than replacing each space
    if _TO_SQUASH.search(text) is not None:
        text = _BREAKS.sub(" ", text)
    return encodable(text.strip())


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
    # Squashing is most of the cost for a long text, and only the first words are shown: a prefix
    # of the text squashes to a prefix of the whole text squashed (runs become one space, only
    # the end may lose a space), so the whole text is squashed only when that prefix falls short.
    flat = squash(text[: 2 * limit + 200])
    if len(flat) <= limit:
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
        head = squash(text).split(" ", 1)[0]
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
# A character reference written out ("&amp;", "&#233;", "&#xE9;"), up to its ;
_REFERENCE = re.compile(r"&(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#[xX][0-9a-fA-F]+)")
_LONGEST_REFERENCE = 40  # characters looked back for its &: each ; costs a bounded search
# Thousands typed with spaces: "6 000", "1 462 000" (not "2028 300": a year, then a number).
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)")
_PERCENT_FR = re.compile(r"(\d)[ \u00a0\u202f]?([%€])")
# a number and its unit stay on one line: "7 min", "80 km/h", "14 h 30", "3 °C"
_UNIT = re.compile(r"(\d) (min|h|s|km|m|cm|mm|ha|kg|g|t|l|°C|°|Mo|Go|Ko|MB|GB|KB|kWh|MW)(?![\w])")
_PERCENT_EN = re.compile(r"(\d)[ \u00a0\u202f]([%€])")
# French ordinals: 1er, 1re, 93e (also typed 93ème, 93è), 2es.
_ORDINAL = re.compile(r"\b(\d+)(?:(er)|(re|ère)|(es|èmes|emes)|(e|ème|eme|è))(?![^\W_])")
_OPENING_CONTEXT = set(" \t\n\u00a0\u202f([{«‹“‘—–-/")
SUP_E, SUP_R, SUP_S = "\u1d49", "\u02b3", "\u02e2"


def french_typography(text: str) -> str:
    """French typography: `typography(text, "fr")`."""
    return typography(text, "fr")


def typography(text: str, locale: str, before: str = " ") -> str:
    """Typographic apostrophes and quotes, no-break spaces in numbers and before % and €, and in
    French ordinals (93ᵉ, 1ᵉʳ) and narrow no-break spaces before ; : ! ? » and after «. URLs,
    addresses and times ("12:30") are left alone. `before` is the character the text follows
    (from an earlier HTML text node), which tells an opening quote from a closing one."""
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        out.append(_fix(text[position : match.start()], locale, _last(out, before)))
        out.append(match.group())
        position = match.end()
    out.append(_fix(text[position:], locale, _last(out, before)))
    return "".join(out)


def _last(parts: list[str], before: str) -> str:
    for part in reversed(parts):
        if part:
            return part[-1]
    return before


def _fix(text: str, locale: str, before: str) -> str:
    if not text:
        return text
    text = _quotes(text, locale, before)
    text = _THOUSANDS.sub(lambda m: re.sub(r"[ \u00a0]", NNBSP, m.group()), text)
    text = _UNIT.sub("\\1\u00a0\\2", text)
    if locale == "fr":
        text = _PERCENT_FR.sub("\\1" + NNBSP + "\\2", text)
        text = _ORDINAL.sub(_ordinal, text)
        text = _GLUED.sub(_glued, text)
        text = _SPACE_BEFORE.sub(_before, text)
        text = _SPACE_AFTER.sub(r"\1" + NNBSP, text)
    else:
        text = _PERCENT_EN.sub("\\1\u00a0\\2", text)
    return text


def _quotes(text: str, locale: str, before: str) -> str:
    """Straight quotes as typographic ones: « » (fr) or “ ” (en), and ’ for apostrophes."""
    if "'" not in text and '"' not in text:
        return text
    out = []
    previous = before
    for char in text:
        if char in "'\"":
            opening = previous in _OPENING_CONTEXT
            if char == '"':
                char = ("«" if opening else "»") if locale == "fr" else ("“" if opening else "”")
            else:
                char = "‘" if opening and locale == "en" else "’"
        out.append(char)
        previous = char
    return "".join(out)


def _ordinal(match: re.Match) -> str:
    number, first_m, first_f, plural, _ = match.groups()
    if first_m and number == "1":
        return f"1{SUP_E}{SUP_R}"
    if first_f and number == "1":
        return f"1{SUP_R}{SUP_E}"
    if first_m or first_f:
        return match.group()  # "2er" is not an ordinal
    return number + SUP_E + (SUP_S if plural else "")


def _glued(match: re.Match) -> str:
    marks, start, text = match.group(1), match.start(), match.string
    if marks[0] == ";":
        amp = text.rfind("&", max(0, start - _LONGEST_REFERENCE), start)
        if amp >= 0 and _REFERENCE.fullmatch(text, amp, start):
            # the ; ends a reference ("&amp;"): no punctuation, it stays glued
            return ";" + (NNBSP + marks[1:] if len(marks) > 1 else "")
    return NNBSP + marks


def _before(match: re.Match) -> str:
    whole = match.group(0)
    if whole == match.group(1) and match.group(1) != "»":
        return whole  # no space was typed: "12:30", "a:b" stay as they are
    return NNBSP + match.group(1)


# Text inside these elements is code or preformatted: typography never touches it.
_VERBATIM = {"code", "pre", "kbd", "samp", "tt", "var", "script", "style"}
# Inline elements continue the text around them ("<em>mot</em>" after a quote); others start anew.
_INLINE = {"a", "abbr", "b", "cite", "del", "em", "i", "ins", "mark", "q", "s", "small", "span",
           "strong", "sub", "sup", "u"}
_TOKEN = re.compile(r"<!--.*?-->|<[^>]*>|[^<]+", re.DOTALL)
_TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9]*)")


def html_typography(html: str, locale: str) -> str:
    """`typography` applied to the text between tags, never to tags, attributes, entities or
    the content of code, pre, kbd and samp."""
    out: list[str] = []
    verbatim = 0
    before = " "
    for match in _TOKEN.finditer(html):
        token = match.group()
        if token.startswith("<"):
            out.append(token)
            tag = _TAG_NAME.match(token)
            if tag:
                closing, name = tag.group(1), tag.group(2).lower()
                if name in _VERBATIM and not token.rstrip().endswith("/>"):
                    verbatim = max(0, verbatim + (-1 if closing else 1))
                if name not in _INLINE:
                    before = " "
                elif name in _VERBATIM:
                    before = "x"  # text after code continues a word
            continue
        if verbatim:
            out.append(token)
            before = "x"
            continue
        text = unescape(token)
        fixed = typography(text, locale, before)
        out.append(escape(fixed, quote=False))
        before = fixed[-1] if fixed else before
    return "".join(out)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "article"


TEXT_WIDTH = 76  # columns of the plain-text part


def wrap(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    """Lines of at most `width` columns, broken only at spaces: never inside a hyphenated word
    ("Marie-Thérèse"), a URL or at a no-break space. A word longer than the width stays whole."""
    return _wrapped(str(text), width, indent)


@functools.lru_cache(maxsize=1024)  # the same excerpts in the text part of each set's edition
def _wrapped(text: str, width: int, indent: str) -> str:
    import textwrap

    wrapper = textwrap.TextWrapper(width=width, break_long_words=False, break_on_hyphens=False,
                                   subsequent_indent=indent)
    return "\n".join(wrapper.fill(line) if line.strip() else line
                     for line in str(text).split("\n"))


# A spreadsheet runs a cell that starts with = + - @ (or tab, CR) as a formula: such a cell of a
# CSV digest writes is put after a quote, as OWASP advises, and shown as text. A value that starts
# with a quote gets one more, so that reading the cell gives back the value whatever it was.
_SPREADSHEET_QUOTED = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_cell(value: str) -> str:
    """`value` as a CSV cell a spreadsheet shows as text and never runs."""
    return "'" + value if value.startswith(_SPREADSHEET_QUOTED) else value


def spreadsheet_value(cell: str) -> str:
    """The value `spreadsheet_cell` wrote as `cell` (a cell without its quote stays as it is)."""
    quoted = cell.startswith("'") and cell[1:].startswith(_SPREADSHEET_QUOTED)
    return cell[1:] if quoted else cell
