"""The front matter of an article file: the YAML between its two `---` lines, read into checked
fields (a value that cannot be used is a warning and left out; a file that cannot be used at
all is an ArticleFileError with its line), and the date a broken file was probably meant for."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from digest.dates import usable_moment
from digest.sanitize import safe_url
from digest.sources.article_checks import PRIORITY_LIMIT
from digest.text import squash

FIELDS = (
    "title", "date", "category", "author", "url", "image", "image_alt", "summary", "lead",
    "priority", "standfirst", "image_width", "image_height", "image_caption", "image_credit",
    "group", "same_story",
)
_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)
# Unknown front-matter keys named one by one; past that, one line tells how many more there are.
UNKNOWN_FIELDS_SHOWN = 5


class ArticleFileError(Exception):
    """The file cannot be used; carries the line the problem is on, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@functools.cache
def _yaml() -> tuple[Any, Any]:
    """PyYAML and the front matter's loader, imported when a file is parsed (a day whose files
    were all kept as read does without them: 15 ms of a cold build). The loader is libyaml's
    when PyYAML was built with it (about ten times faster than the pure-Python one); a date
    YAML cannot build (2025-02-30, 25:00, an offset of +25:00) stays text, for parse_date to
    report with its line."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
        except (ValueError, OverflowError):
            return loader.construct_scalar(node)

    loader: Any = type("FrontMatterLoader", (base,), {})
    loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    return yaml, loader

def split_front_matter(raw: bytes) -> tuple[str, str]:
    """(front matter, Markdown body) of an article file's bytes."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
        raise ArticleFileError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8", line
        ) from None
    text = lf_lines(text)
    if not text.startswith("---"):
        raise ArticleFileError(
            "no front matter; start the file with a '---' line, then 'title:' and 'date:', "
            "then '---'", 1
        )
    closing = _FENCE.search(text, pos=text.index("\n") + 1 if "\n" in text else len(text))
    if not closing:
        raise ArticleFileError("front matter is not closed; add a '---' line after it", 1)
    front = text[text.index("\n") + 1 : closing.start()]
    return front, text[closing.end() :].lstrip("\n")


def parse_fields(front: str, tz: ZoneInfo) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Validated front-matter fields, plus (key, warning) for values that were ignored."""
    data = _loaded(front)
    warnings = _unknown_fields(data)
    title = squash(str(data.get("title") or ""))
    if not title:
        raise ArticleFileError("missing title; add a 'title:' line", line_of(front, "title"))
    if "date" not in data or data["date"] in (None, ""):
        raise ArticleFileError(
            "missing date; add a 'date: YYYY-MM-DD HH:MM' line", line_of(front, "date")
        )
    fields: dict[str, Any] = {
        "title": title,
        "date": parse_date(data["date"], tz, line_of(front, "date")),
    }
    for key, check, when_null in _OPTIONAL:
        if key not in data or (data[key] is None and not when_null):
            continue
        found, warning = check(key, data[key])
        if warning:
            warnings.append((key, warning))
        else:
            fields.update(found)
    return fields, warnings


def _loaded(front: str) -> dict:
    """The front matter's YAML as a mapping; ArticleFileError with its line when it is not."""
    yaml, loader = _yaml()
    try:
        _refuse_aliases(front)
        data = yaml.load(front, Loader=loader)
    except yaml.YAMLError as exc:
        # the context mark is where the broken construct starts (an unclosed "["), when known
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ArticleFileError(
            f"invalid front matter ({reason}); fix the YAML", mark.line + 2 if mark else None
        ) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # a value YAML cannot build
        raise ArticleFileError(f"invalid front matter ({squash(str(exc))[:200]}); fix the "
                               "YAML") from None
    if not isinstance(data, dict):
        raise ArticleFileError("front matter must be 'key: value' lines", 2)
    return data


def _unknown_fields(data: dict) -> list[tuple[str, str]]:
    """A warning for each unknown key, the first few by name, the rest in one line."""
    warnings = []
    unknown = [key for key in data if key not in FIELDS]
    for key in unknown[:UNKNOWN_FIELDS_SHOWN]:
        close = difflib.get_close_matches(str(key), FIELDS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        warnings.append((str(key), f'unknown field "{key}"{hint}; ignored'))
    if len(unknown) > UNKNOWN_FIELDS_SHOWN:  # one line, not one per key: readable, and quick
        more = len(unknown) - UNKNOWN_FIELDS_SHOWN
        warnings.append((str(unknown[UNKNOWN_FIELDS_SHOWN]),
                         f"…and {more:,} more unknown field{'s' if more > 1 else ''}; ignored"))
    return warnings


# Each optional field's check: (the fields it gives, or the warning why the value is ignored).
Checked = tuple[dict[str, Any], str]


def _text(key: str, value: Any) -> Checked:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {key: squash(str(value))}, ""
    return {}, f"{key}: expected text, got {_kind(value)}; ignored"


def _address(key: str, value: Any) -> Checked:
    if key == "image" and isinstance(value, str) and is_relative_path(value):
        return {"image_file": value.strip()}, ""  # a file beside the article: see make_article
    url = safe_url(value) if isinstance(value, str) else None
    if url is None or (key == "image" and url.startswith("mailto:")):
        return {}, f"{key}: {value!r} is not an http(s) address; ignored"
    return {key: url}, ""


def _pixels(key: str, value: Any) -> Checked:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return {key: value}, ""
    return {}, f"{key}: expected a number of pixels, got {value!r}; ignored"


def _flag(key: str, value: Any) -> Checked:
    if isinstance(value, bool):
        return {key: value}, ""
    return {}, f"{key}: expected true or false, got {value!r}; ignored"


def _priority(key: str, value: Any) -> Checked:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= PRIORITY_LIMIT:
        return {key: value}, ""
    return {}, (f"priority: expected an integer from -{PRIORITY_LIMIT:,} to {PRIORITY_LIMIT:,}, "
                f"got {_kind(value)[:40]}; using 0")


def _same_story(key: str, value: Any) -> Checked:
    values = value if isinstance(value, list) else [value]
    if values and all(isinstance(v, str) and v.strip() for v in values):
        return {key: tuple(v.strip() for v in values)}, ""
    return {}, ("same_story: expected an address or a file name (or a list of them), got "
                f"{value!r}; ignored")


# (key, its check, whether a null value is checked too), in the order warnings are given
_OPTIONAL: tuple[tuple[str, Callable[[str, Any], Checked], bool], ...] = (
    *((key, _text, False) for key in ("category", "author", "image_alt", "summary",
                                      "standfirst", "image_caption", "image_credit")),
    ("url", _address, False), ("image", _address, False),
    ("image_width", _pixels, False), ("image_height", _pixels, False),
    ("lead", _flag, True), ("priority", _priority, True), ("group", _flag, True),
    ("same_story", _same_story, True),
)


def _refuse_aliases(front: str) -> None:
    """An alias (*name) repeats a value: nested ones make a few lines take all the memory there is.
    Front matter has no use for them."""
    if "*" not in front:
        return
    yaml, loader = _yaml()
    for event in yaml.parse(front, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise ArticleFileError("front matter uses a YAML alias (*name); write the value out "
                                   "instead", mark.line + 2 if mark else None)


def parse_date(value: Any, tz: ZoneInfo, line: int | None) -> datetime:
    """A timezone-aware datetime; a date or time without an offset is local to `tz`."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ArticleFileError(
                f'date: cannot read "{squash(value)[:60]}"; write it as 2025-04-22 or '
                "2025-04-22 08:30 (optionally with an offset such as +02:00)", line
            ) from None
    else:
        raise ArticleFileError(f"date: expected a date, got {_kind(value)[:40]}", line)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
    reason = usable_moment(moment)
    if reason:
        raise ArticleFileError(f"date: {reason}", line)
    return moment


_DATE_LINE = re.compile(rb"(?:^|(?<=\r))date[ \t]*:[ \t]*[\"']?"
                        rb"([0-9]{4}-[0-9]{2}-[0-9]{2}[^\"'\r\n#]*)", re.MULTILINE)
_NAME_DATE = re.compile(r"(?<![0-9])([0-9]{4}-[0-9]{2}-[0-9]{2})(?![0-9])")


def probable_date(path: Path, raw: bytes | None, tz: ZoneInfo) -> datetime | None:
    """The date a file that cannot be read was probably meant for: its `date:` line if one can
    still be read, else a YYYY-MM-DD in its name, else when it was last changed (an editor
    saving a broken file today meant it for today). None when none of them can be had."""
    found = _DATE_LINE.search(raw[:4096]) if raw else None
    for text in (found.group(1).decode("ascii", "replace").strip() if found else "",
                 next(iter(_NAME_DATE.findall(path.name)), "")):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            continue
        moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
        if not usable_moment(moment):
            return moment
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz)
    except (OSError, ValueError, OverflowError):
        return None


def line_of(front: str, key: str) -> int | None:
    """The file line of `key:` in the front matter (which starts on line 2)."""
    return key_lines(front).get(key)


_KEY_END = re.compile(r":(?=[ \t]|$)")  # as YAML ends a plain key: "a:b: c" is key "a:b"


def key_lines(front: str) -> dict[str, int]:
    """The file line of each top-level key of the front matter, its first one if repeated: one
    pass over the text, however many keys are looked up."""
    lines: dict[str, int] = {}
    for number, line in enumerate(front.split("\n"), start=2):
        end = _KEY_END.search(line) if line[:1].strip() else None
        if end:
            key = line[: end.start()].rstrip()
            if len(key) > 1 and key[0] == key[-1] and key[0] in "'\"":
                key = key[1:-1]  # a quoted key: "titre": x
            lines.setdefault(key, number)
    return lines


def lf_lines(text: str) -> str:
    """`text` with its lines ended by LF: CRLF (Windows) and a lone CR (old Mac) are line breaks
    to YAML and to Markdown alike, and line numbers count LFs."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_relative_path(value: str) -> bool:
    value = value.strip()
    return bool(value) and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", value)


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {dict: "a mapping", list: "a list"}
    return kinds.get(type(value), repr(value))
