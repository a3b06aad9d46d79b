"""MJML's own rules over the MJML a render made, reported at the template's file and line.

MRML (mjml-python) compiles unknown tags and attributes without a word: `<mj-txet>` lands in the
HTML as a raw tag, and a misspelt attribute is dropped. MJML's own validator knows better; its
list of components (each tag's attributes and the tags it may hold) is `mjml_schema.json`, made
from the mjml package by `.ci/node/mjml_schema.js` (a test keeps the two equal).

The render does not say where its text came from, so every `<mj…` and `</mj…` of a template gets
a mark first (`mark`, a Jinja preprocessor): `<!--@LINE@NAME-->` just before it. `lint` reads the
marks back to name the editor's file and line; `unmarked` takes them out again before MRML, so
the HTML is what it would be without them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote

MARK_VERSION = "2"  # part of the compiled templates' checksum: a change compiles them again
_MARK = re.compile(r"<!--@(\d+)@([^\s>]*)-->")
# a tag to mark, or a comment (left as it is: a mark's "-->" would end it early)
_TAG_START = re.compile(r"<!--.*?(?:-->|\Z)|<(?=/?mj)", re.DOTALL)
_TOKEN = re.compile(
    r"<!--@(?P<line>\d+)@(?P<name>[^\s>]*)-->"  # a mark
    r"|<!--.*?-->"  # a comment
    r"|<(?P<close>/?)(?P<tag>mj[a-z0-9-]*)(?P<attributes>(?:[^>\"']|\"[^\"]*\"|'[^']*')*?)"
    r"(?P<empty>/?)>",
    re.DOTALL,
)
_ATTRIBUTE = re.compile(r"([^\s=/\"'<>]+)(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")
# Attributes every component takes (MJML's validator allows them everywhere), and the root's.
EVERY_TAG = ("css-class", "mj-class")
ROOT_ATTRIBUTES = ("dir", "lang", "owa")
# Tags that only stand inside mj-attributes or mj-html-attributes, with attributes of any name
FREE_TAGS = ("mj-all", "mj-class", "mj-html-attribute", "mj-selector")


def mark(source: str, name: str) -> str:
    """`source` with `<!--@LINE@NAME-->` before each of its MJML tags."""
    quoted = quote(name, safe="/._")
    line, last = 1, 0

    def marked(match: re.Match) -> str:
        nonlocal line, last
        if match.group() != "<":
            return match.group()
        line += source.count("\n", last, match.start())
        last = match.start()
        return f"<!--@{line}@{quoted}--><"

    return _TAG_START.sub(marked, source)


def unmarked(mjml: str) -> str:
    return _MARK.sub("", mjml)


@dataclass(frozen=True)
class Finding:
    name: str  # the template's name ("lead.mjml.j2"), "" when no mark said it
    line: int
    message: str


@dataclass
class _Open:
    tag: str
    name: str
    line: int


@cache
def schema() -> dict[str, dict]:
    """MJML's tags: their attributes, the tags they may hold, whether their content is text."""
    data = json.loads((Path(__file__).parent / "mjml_schema.json").read_text(encoding="utf-8"))
    return data["tags"]


def lint(mjml: str) -> list[Finding]:
    """What MJML's validator would say of `mjml` (marked by `mark`): unknown tags and
    attributes, a tag where its parent cannot hold it, tags not closed or closed out of turn.
    Each once: a partial included in a loop (a blurb) says the same of every turn."""
    tags = schema()
    findings: list[Finding] = []
    stack: list[_Open] = []
    name, line = "", 0
    position = 0
    for match in _TOKEN.finditer(mjml):
        if match.start() < position:
            continue
        if match.group("line"):
            name, line = unquote(match.group("name")), int(match.group("line"))
            continue
        tag = match.group("tag")
        if tag is None:
            continue
        at = _Open(tag, name, line)

        def say(message: str, where: _Open = at) -> None:
            findings.append(Finding(where.name, where.line, message))

        if match.group("close"):
            _close(stack, at, say)
            continue
        parent = stack[-1].tag if stack else None
        _check_tag(tag, parent, match.group("attributes"), tags, say)
        if match.group("empty"):
            continue
        stack.append(at)
        if tags.get(tag, {}).get("ending"):  # its content is HTML, not MJML: up to its end tag
            end = re.compile(rf"</{re.escape(tag)}\s*>").search(mjml, match.end())
            if end is None:  # the rest is its text: nothing more can be read as MJML
                say(f"<{tag}> is never closed; add </{tag}>")
                stack.clear()
                break
            position = end.end()
            stack.pop()
    for left in reversed(stack):
        findings.append(Finding(left.name, left.line, f"<{left.tag}> is never closed; add "
                                f"</{left.tag}> where it ends"))
    return list(dict.fromkeys(findings))


def _close(stack: list[_Open], at: _Open, say: Callable[..., None]) -> None:
    depth = next((i for i in range(len(stack) - 1, -1, -1) if stack[i].tag == at.tag), None)
    if depth is None:
        say(f"</{at.tag}> closes nothing: no <{at.tag}> is open here; remove it or add the "
            "opening tag")
        return
    for left in reversed(stack[depth + 1:]):
        shown = f"{at.name}:{at.line}" if at.name else "it"
        say(f"<{left.tag}> is not closed before </{at.tag}> ({shown}); add </{left.tag}>",
            left)
    del stack[depth:]


def _check_tag(tag: str, parent: str | None, attributes: str, tags: dict[str, dict],
               say: Callable[[str], None]) -> None:
    if tag in FREE_TAGS:
        return
    known = tags.get(tag)
    if known is None:
        say(f"<{tag}> is not an MJML tag{_did_you_mean(tag, tags)}")
        return
    holder = tags.get(parent) if parent else None
    if parent is None and tag != "mjml":
        say(f"<{tag}> is outside <mjml>")
    elif holder is not None and not holder["any_child"] and tag not in holder["children"]:
        places = sorted(name for name, spec in tags.items() if tag in spec["children"])
        say(f"<{tag}> cannot be inside <{parent}>; it goes inside " +
            (", ".join(f"<{place}>" for place in places) or "nothing"))
    # (inside mj-attributes, a tag's attributes are its defaults: the same names)
    allowed = ROOT_ATTRIBUTES if tag == "mjml" else (*known["attributes"], *EVERY_TAG)
    for attribute in _attribute_names(attributes):
        if attribute not in allowed:
            close = difflib.get_close_matches(attribute, allowed, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            say(f'<{tag}> has no attribute "{attribute}"{hint}; MRML ignores it')


def _attribute_names(text: str) -> Iterator[str]:
    for match in _ATTRIBUTE.finditer(text):
        yield match.group(1)


def _did_you_mean(tag: str, tags: dict[str, dict]) -> str:
    close = difflib.get_close_matches(tag, [*tags, *FREE_TAGS], n=1)
    return f" (did you mean <{close[0]}>?)" if close else ""
