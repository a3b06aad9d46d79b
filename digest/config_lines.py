"""Where a key of digest.toml is written, so that its errors name the line, and how a wrong value
is described in them."""

from __future__ import annotations

import json
import re
from typing import Any


class LineFinder:
    """Best-effort line number of a dotted key, so errors point into the file."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _header(self, table: tuple[str, ...]) -> int | None:
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, table)) + r"\s*\]")
        return next((i + 1 for i, line in enumerate(self.lines) if pattern.match(line)), None)

    def _nth_array_table(self, table: tuple[str, ...], index: int) -> int | None:
        pattern = re.compile(r"^\s*\[\[\s*" + r"\s*\.\s*".join(map(re.escape, table)) + r"\s*\]\]")
        found = [i + 1 for i, line in enumerate(self.lines) if pattern.match(line)]
        return found[index] if index < len(found) else None

    def __call__(self, keys: tuple[str, ...]) -> int | None:
        indexed = [i for i, k in enumerate(keys) if k.startswith("[")]
        if indexed:
            position = indexed[-1]
            start = self._nth_array_table(keys[:position], int(keys[position][1:-1]))
            rest = keys[position + 1:]
            if start is None or not rest:
                return start
            pattern = re.compile(r"^\s*\"?" + re.escape(rest[-1]) + r"\"?\s*=")
            for number, line in enumerate(self.lines[start:], start + 1):
                if pattern.match(line):
                    return number
                if line.lstrip().startswith("["):
                    break
            return start
        if own_table := self._header(keys):
            return own_table
        table, key = keys[:-1], keys[-1]
        start = (self._header(table) or 0) if table else 0
        pattern = re.compile(r"^\s*(?:[\w.\"-]+\.)?\"?" + re.escape(key) + r"\"?\s*=")
        for number, line in enumerate(self.lines[start:], start + 1):
            if pattern.match(line):
                return number
        return start or None


def where(keys: tuple[str, ...], lines: LineFinder) -> str:
    line = lines(keys)
    dotted = ".".join(keys).replace(".[", "[")
    return f"{line}: {dotted}" if line else f" {dotted}"


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value, ensure_ascii=False, default=str)
