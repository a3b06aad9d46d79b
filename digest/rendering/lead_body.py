"""The lead's body as the email shows it: headings under the title, images with a numeric width,
the first N paragraphs when the edition shows a shorter lead, and its blocks for the text part.

The body is HTML the reader already sanitized (nh3), so its markup is regular: these helpers work
on its top-level blocks and on single tags, never on the text in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.text import html_to_text

_HEADING = re.compile(r"<(/?)h([1-6])\b", re.IGNORECASE)
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""\s(width|height)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""",
                        re.IGNORECASE)


def outline(html: str) -> str:
    """Headings of the body one level under the lead's h1: a body that uses h1 is shifted down."""
    levels = [int(level) for _, level in _HEADING.findall(html)]
    if not levels or min(levels) >= 2:
        return html
    shift = 2 - min(levels)
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + shift, 6)}", html)


def sized_images(html: str, width: int) -> str:
    """Every <img> with numeric width (and height, when known) attributes no wider than `width`:
    Outlook for Windows sizes an image without them from the file itself."""

    def size(match: re.Match) -> str:
        tag = match.group()
        found = {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "")
                 for m in _ATTRIBUTE.finditer(tag)}
        bare = _ATTRIBUTE.sub("", tag)
        own_width = _number(found.get("width"))
        own_height = _number(found.get("height"))
        shown = min(own_width or width, width)
        sizes = f' width="{shown}"'
        if own_width and own_height:
            sizes += f' height="{round(own_height * shown / own_width)}"'
        end = "/>" if bare.endswith("/>") else ">"
        return bare[: -len(end)].rstrip() + sizes + end

    return _IMG.sub(size, html)


def _number(value: str | None) -> int:
    if value and value.strip().isdigit():
        return int(value.strip())
    return 0


@dataclass(frozen=True)
class Block:
    html: str
    heading: bool


def blocks(html: str) -> list[Block]:
    """The top-level blocks of an HTML fragment (paragraphs, headings, lists, quotes...)."""
    from lxml import html as lxml_html

    if not html.strip():
        return []
    found = []
    for part in lxml_html.fragments_fromstring(html):
        if isinstance(part, str):
            if part.strip():
                found.append(Block(f"<p>{_escape(part.strip())}</p>", False))
            continue
        text = lxml_html.tostring(part, encoding="unicode", with_tail=False)
        found.append(Block(text, bool(re.fullmatch(r"h[1-6]", str(part.tag)))))
        if part.tail and part.tail.strip():
            found.append(Block(f"<p>{_escape(part.tail.strip())}</p>", False))
    return found


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


def first_paragraphs(html: str, count: int) -> tuple[str, bool]:
    """The first `count` paragraphs with the headings among them, in order, and whether anything
    was left out. `count` 0 keeps the whole body."""
    if count <= 0:
        return html, False
    parts = blocks(html)
    kept: list[Block] = []
    paragraphs = 0
    for block in parts:
        if paragraphs == count:
            break
        kept.append(block)
        if not block.heading:
            paragraphs += 1
    while kept and kept[-1].heading:  # a heading with nothing under it
        kept.pop()
    if len(kept) == len(parts):
        return html, False
    return "\n".join(block.html for block in kept) + "\n", True


def text_blocks(html: str) -> list[dict]:
    """The body for the plain-text part: each block's text, and whether it is a sub-heading."""
    shown = []
    for block in blocks(html):
        text = html_to_text(block.html)
        for line in text.split("\n"):
            if line:
                shown.append({"text": line, "heading": block.heading})
    return shown
