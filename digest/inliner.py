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

tests/test_golden.py holds the proof that the output is the same, byte for byte.
"""

from __future__ import annotations

import functools
import inspect
import sys
from types import ModuleType

KEPT_BLOCKS = 64  # style blocks kept; an editor changing the theme in the preview makes more


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
    return _keeping_blocks(Premailer)


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
                self.blocks[key] = super()._parse_style_rules(css_body, ruleset_index)
            return self.blocks[key]  # premailer reads both lists, never changes them

        def _css_rules_to_string(self, rules):
            key = id(rules)
            if key not in self.leftovers:
                self.leftovers[key] = super()._css_rules_to_string(rules)
            return self.leftovers[key]

    return KeepingBlocks


class _ImportedOnUse(ModuleType):
    """A module's name bound to a placeholder that imports the module when first used."""

    def __getattr__(self, attribute: str):
        import importlib

        return getattr(importlib.import_module(self.__name__), attribute)
