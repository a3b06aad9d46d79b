"""docs/configuration.md, generated from the declarations of `digest.config`:

    python -m digest.config_reference > docs/configuration.md

One table per TOML table, in the order of the declarations, each key with its type, default,
allowed values and description. tests/test_config_reference.py fails when the committed file
differs from what this writes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from digest.config import Config

COMMAND = "python -m digest.config_reference > docs/configuration.md"

TYPE_NAMES: dict[Any, str] = {
    str: "string", int: "integer", float: "number", bool: "boolean",
    list[str]: "list of strings", dict[str, str]: "string", dict[str, float]: "number",
}

INTRODUCTION = f"""\
# Configuration reference: `digest.toml`

<!-- Generated from the declarations of digest/config.py: edit those, not this file, then run
     {COMMAND} -->

Every key is optional, except a feed's `url`. An unknown key, a wrong type or a value out of its
allowed range is an error naming the file, the line and the dotted key, such as
`digest.toml:12: ranking.blurbs: expected an integer, got "six"`, with a suggestion for a
misspelt key; `digest check` lists them all at once. A number may be written as an integer
(`timeout = 10`); `nan` and `inf` are refused everywhere. Relative paths are read from the folder
of `digest.toml`.
"""


@dataclass(frozen=True)
class Row:
    spec: dataclasses.Field
    kind: Any  # its type, resolved
    key: str  # as written: its name, or "<label>" for the free keys of a table such as [labels]


@dataclass(frozen=True)
class Section:
    header: str  # as written in digest.toml: "[ranking.weights]", "[[sources.feeds]]"
    doc: str
    rows: list[Row]


def keys(cls: type = Config, path: tuple[str, ...] = ()) -> Iterator[tuple[str, dataclasses.Field]]:
    """Every key declared under `cls`, dotted (`sources.feeds.url`), with its field: a key of
    digest.toml, a table or an array of tables."""
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        if spec.metadata.get("internal"):
            continue
        here = (*path, spec.name)
        yield ".".join(here), spec
        if (table := _table_of(hints[spec.name])) is not None:
            yield from keys(table, (*here, "<name>") if _named(hints[spec.name]) else here)


def sections(cls: type = Config, path: tuple[str, ...] = (), doc: str = "",
             array: bool = False) -> Iterator[Section]:
    """The tables of digest.toml under `cls`, each followed by those nested in it."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    if path:
        rows = [Row(f, kind, f.name) for f in fields if _table_of(kind := hints[f.name]) is None
                and typing.get_origin(kind) is not dict]
        name = ".".join(path)
        yield Section(f"[[{name}]]" if array else f"[{name}]", doc, rows)
    for spec in fields:
        kind, here = hints[spec.name], (*path, spec.name)
        if (table := _table_of(kind)) is not None:
            yield from sections(table, (*here, "<name>") if _named(kind) else here,
                                spec.metadata["doc"], typing.get_origin(kind) is tuple)
        elif typing.get_origin(kind) is dict:  # a table of free keys: one row says what they hold
            one = spec.name[:-3] + "y" if spec.name.endswith("ies") else spec.name.rstrip("s")
            yield Section(f"[{'.'.join(here)}]", f"Any number of keys, one per {one}",
                          [Row(spec, kind, f"<{one}>")])


def reference() -> str:
    """The text of docs/configuration.md."""
    parts = [INTRODUCTION]
    for section in sections():
        table = ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
        for row in section.rows:
            cells = [f"`{row.key}`", TYPE_NAMES[row.kind], _default(row), _allowed(row.spec),
                     row.spec.metadata["doc"]]
            table.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        doc = section.doc[:1].upper() + section.doc[1:].removesuffix(".") + "."
        parts.append(f"## `{section.header}`\n\n{doc}\n\n" + "\n".join(table) + "\n")
    return "\n".join(parts)


def _named(kind: Any) -> bool:
    """Tables each under a name of the editor's (`dict[str, X]`: [sections.<name>])."""
    return typing.get_origin(kind) is dict and _table_of(kind) is not None


def _table_of(kind: Any) -> type | None:
    """The dataclass of a table (`X`), an array of tables (`tuple[X, ...]`) or named tables
    (`dict[str, X]`), else None."""
    if typing.get_origin(kind) is tuple:
        kind = typing.get_args(kind)[0]
    elif typing.get_origin(kind) is dict:
        kind = typing.get_args(kind)[1]
    return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def _default(row: Row) -> str:
    if row.spec.metadata.get("required"):
        return "required"
    if typing.get_origin(row.kind) is dict:  # free keys: none by default
        return ""
    factory = row.spec.default_factory
    value = factory() if callable(factory) else row.spec.default
    return f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _allowed(spec: dataclasses.Field) -> str:
    if choices := spec.metadata.get("choices"):
        return ", ".join(f"`{choice}`" for choice in choices)
    check = spec.metadata.get("check")
    return check.allowed_text() if check else ""


def main() -> None:
    sys.stdout.buffer.write(reference().encode("utf-8"))


if __name__ == "__main__":
    main()
