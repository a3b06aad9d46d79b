"""Where a key of digest.toml is written, so that its errors name the line; whether a value has
the type its key declares, and how a wrong one is described."""

from __future__ import annotations

import json
import math
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


TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false",
    list[str]: "a list of strings",
    dict[str, str]: "a table of strings",
    dict[str, float]: "a table of numbers",
}


def check_scalar(kind: type, value: Any) -> Any:
    """The value converted to `kind`, or None when it has the wrong type."""
    if kind == dict[str, str]:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return dict(value) if ok else None
    if kind == dict[str, float]:
        ok = isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
        return {k: float(v) for k, v in value.items()} if ok else None
    if kind == list[str]:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else None
    if kind is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int | float):
        return float(value)  # nan and inf pass here: finite refuses them with their own words
    return value if isinstance(value, kind) else None


def finite(value: Any) -> str | None:
    """nan and inf are TOML numbers, but no duration, weight or size can be one."""
    numbers = value.values() if isinstance(value, dict) else [value]
    wrong = next((n for n in numbers if isinstance(n, float) and not math.isfinite(n)), None)
    return None if wrong is None else f"expected a finite number, got {describe(wrong)}"
