"""premailer, set up once per process for what `render.inline_css` asks of it.

premailer is the inliner; three of its costs buy us nothing, and each is taken away here:

- Its network stack (requests, urllib3: ~100 ms to import) serves remote stylesheets only, which
  `allow_network=False` never fetches. While premailer is imported, `requests` stands for a
  placeholder that imports the real module if premailer ever uses it; nothing else sees the
  placeholder (a later `import requests` gets the real module).
- `disable_validation` does not reach the style attributes premailer parses (the styles it
  merges into each element, floating images): cssutils validates every property of those against
  its CSS profiles, which only logs, never changes a value, and costs most of the first inlining
  of a process (~100 ms). premailer is cssutils' only user here, so `cssutils.parseStyle` skips
  validation.
- premailer keeps each <style> block's parsed sheet, yet serializes every rule of it again on
  each call: what it makes of a block (the rules to inline, the media queries to keep) is kept,
  by the block's text, for the next email (the archive's copy, the preview's next build).
- A new process would parse the theme's CSS again with cssutils (its style blocks, then each
  style it merges into an element: a tenth of a cold build). What premailer made of those texts
  is kept in the user's cache (`Memo`), one JSON file per premailer and cssutils release.

tests/test_golden.py holds the proof that the output is the same, byte for byte.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
import threading
from pathlib import Path
from types import ModuleType

from digest.usercache import folder, installed_version, replace_atomically

KEPT_BLOCKS = 64  # style blocks kept; an editor changing the theme in the preview makes more
MEMO_ENTRIES = 4096  # past this, the file starts again (a theme restyled all day long)

# How render.inline_css runs premailer (what it makes of CSS depends on them: the memo too)
OPTIONS = {
    "allow_network": False,  # never fetch a remote stylesheet
    "keep_style_tags": False,  # leftover rules (media queries) are kept in a new <style>
    "remove_classes": False,  # MJML's responsive classes are still needed by the media queries
    "strip_important": False,
    "disable_validation": True,
    # the width and height attributes are MJML's and ours, in pixels: premailer would copy
    # CSS widths into them ("100%"), which Outlook for Windows reads from the file's size
    "disable_basic_attributes": ["width", "height"],
    "cssutils_logging_level": logging.CRITICAL,  # cssutils warns on every mso-/-webkit- property
}


@functools.cache
def premailer_class() -> type:
    placeholder = None
    if "requests" not in sys.modules:
        placeholder = sys.modules["requests"] = _ImportedOnUse("requests")
    try:
        import cssutils
        from premailer import Premailer
    finally:
        if placeholder is not None and sys.modules.get("requests") is placeholder:
            del sys.modules["requests"]

    parse_style = cssutils.parseStyle

    @functools.wraps(parse_style)
    def unvalidated(css_text, encoding="utf-8", validate=None):
        return parse_style(css_text, encoding, validate=False)

    cssutils.parseStyle = unvalidated
    _remember_pairs()
    return _keeping_blocks(Premailer)


class Memo:
    """What premailer made of CSS texts in earlier processes: "blocks" (a style block and its
    index → the rules to inline and the leftover CSS) and "pairs" (a style → its properties).
    Read once per process; `save` writes it back (whole, atomically) when something was added.
    A cache that cannot be read or written only means parsing again."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.added = False
        self.lock = threading.Lock()  # the preview builds from more than one thread
        self.blocks: dict[str, tuple[list, str | None]] = {}
        self.pairs: dict[str, list[tuple[str, str]]] = {}
        try:
            saved = json.loads(path.read_bytes()) if path else {}
            for key, (rules, leftover) in saved.get("blocks", {}).items():
                self.blocks[key] = ([(tuple(spec), selector, bulk)
                                     for spec, selector, bulk in rules], leftover)
            for key, pairs in saved.get("pairs", {}).items():
                self.pairs[key] = [(name, value) for name, value in pairs]
        except (OSError, ValueError, TypeError, AttributeError):
            self.blocks, self.pairs = {}, {}

    def add(self, kind: str, key: str, value) -> None:
        with self.lock:
            if len(self.blocks) + len(self.pairs) >= MEMO_ENTRIES:
                self.blocks.clear()
                self.pairs.clear()
            getattr(self, kind)[key] = value
            self.added = True

    def save(self) -> None:
        if not self.added or self.path is None:
            return
        with self.lock:
            self.added = False
            text = json.dumps({"blocks": self.blocks, "pairs": self.pairs})
        replace_atomically(self.path, lambda partial: partial.write_text(text, encoding="utf-8"))


@functools.cache
def memo() -> Memo:
    """The memo of this premailer and cssutils, run with `OPTIONS` by this module's code: a
    change to any of them starts another file."""
    import zlib

    cache = folder("premailer")
    try:
        versions = "-".join(installed_version(name, name) for name in ("premailer", "cssutils"))
    except ImportError:  # no record of the installed packages (a frozen install): no memo
        return Memo(None)
    code = zlib.crc32(Path(__file__).read_bytes() + repr(sorted(OPTIONS.items())).encode())
    return Memo(cache / f"{versions}-{code:08x}.json" if cache else None)


def _remember_pairs() -> None:
    """premailer's `csstext_to_pairs` (each style merged into an element) through the memo."""
    import premailer.premailer as module

    parse = module.csstext_to_pairs

    @functools.wraps(parse)
    def remembered(csstext, validate=True):
        key = f"{int(bool(validate))}{csstext}"
        pairs = memo().pairs.get(key)
        if pairs is None:
            pairs = parse(csstext, validate=validate)
            memo().add("pairs", key, pairs)
        return pairs

    module.csstext_to_pairs = remembered


def _keeping_blocks(premailer: type) -> type:
    """A Premailer that keeps what it makes of each style block (when its methods are those of
    the premailer this was written for; otherwise premailer as it is)."""
    expected = {"_parse_style_rules": ["self", "css_body", "ruleset_index"],
                "_css_rules_to_string": ["self", "rules"]}
    for name, parameters in expected.items():
        method = getattr(premailer, name, None)
        if method is None or list(inspect.signature(method).parameters) != parameters:
            return premailer

    class KeepingBlocks(premailer):
        # (block text, its index among the blocks) → (rules, leftover); id(leftover) → its CSS.
        # The leftover lists stay alive in `blocks` as long as their ids are keys in `leftovers`.
        blocks: dict[tuple[str, int], tuple[list, list]] = {}
        leftovers: dict[int, str] = {}

        def _parse_style_rules(self, css_body, ruleset_index):
            key = (css_body, ruleset_index)
            if key not in self.blocks:
                if len(self.blocks) >= KEPT_BLOCKS:
                    self.blocks.clear()
                    self.leftovers.clear()
                self.blocks[key] = self._remembered_rules(css_body, ruleset_index)
            return self.blocks[key]  # premailer reads both lists, never changes them

        def _remembered_rules(self, css_body, ruleset_index):
            key = f"{ruleset_index}:{css_body}"
            if key in memo().blocks:
                rules, css = memo().blocks[key]
                leftover = [_Leftover()] if css is not None else []
                self.leftovers[id(leftover)] = css or ""
                return rules, leftover
            rules, leftover = super()._parse_style_rules(css_body, ruleset_index)
            css = self._css_rules_to_string(leftover) if leftover else None
            memo().add("blocks", key, (rules, css))
            return rules, leftover

        def _css_rules_to_string(self, rules):
            key = id(rules)
            if key not in self.leftovers:
                self.leftovers[key] = super()._css_rules_to_string(rules)
            return self.leftovers[key]

    return KeepingBlocks


class _Leftover:
    """Stands for the leftover rules of a block read from the memo: premailer only tests the
    list for emptiness and asks `_css_rules_to_string` for it, answered from `leftovers`."""


class _ImportedOnUse(ModuleType):
    """A module's name bound to a placeholder that imports the module when first used."""

    def __getattr__(self, attribute: str):
        import importlib

        return getattr(importlib.import_module(self.__name__), attribute)
