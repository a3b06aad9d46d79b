"""Markdown files with YAML front matter, one article per file."""

from __future__ import annotations

import difflib
import functools
import os
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from digest.config import Config
from digest.dates import Window, local_date, usable_moment
from digest.errors import SKIPPED, Problem, ProblemKind
from digest.models import Article
from digest.sanitize import clean_html, safe_url
from digest.sources.checks import PRIORITY_LIMIT, checked
from digest.sources.files import Unreadable, inside, read_capped
from digest.sources.parsed import Reading, ReadingCache, ReadingStore
from digest.sources.results import SourceRead
from digest.text import html_to_text, slugify, squash


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

FIELDS = (
    "title", "date", "category", "author", "url", "image", "image_alt", "summary", "lead",
    "priority", "standfirst", "image_width", "image_height", "image_caption", "image_credit",
    "group", "same_story",
)
# Images an article may carry as a file beside it (copied to out/<date>/assets/).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)
# Unknown front-matter keys named one by one; past that, one line tells how many more there are.
UNKNOWN_FIELDS_SHOWN = 5


class ArticleFileError(Exception):
    """The file cannot be used; carries the line the problem is on, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def read_folder(config: Config, window: Window,
                store: ReadingStore | None = None) -> SourceRead:
    """The articles of `window` from the articles folder, and every file's problems. `store`
    keeps the files' readings between runs (see digest/sources/parsed.py)."""
    folder = config.resolve(config.sources.articles)
    if not folder.is_dir():
        return SourceRead(problems=[
            Problem(_display(folder, config), "articles folder not found; create it or set "
                    "sources.articles in digest.toml")])
    paths = _files(folder)
    try:
        cache = ReadingCache(store, config, folder) if store is not None else None
    except ImportError:  # no record of the parsing libraries' versions (a frozen install)
        cache = None
    served = cache.served(paths, window) if cache is not None else {}
    read = SourceRead()
    for path in paths:
        shown = _display(path, config)
        reading = served.get(path)
        if reading is None:
            reading = read_file(path, folder, shown, config, window)
            if cache is not None:
                cache.keep(path, reading)
        _report(reading, shown, config, window, read)
    if cache is not None:
        cache.save()
    return read


def read_file(path: Path, folder: Path, shown: str, config: Config, window: Window) -> Reading:
    """What the file at `path` gives: its article only when its date is in `window`. A file
    that cannot be used carries the date it probably has, to tell whether it was meant for the
    edition (see `probable_date`)."""
    try:
        raw = _raw(path, folder, config)
    except Unreadable as exc:  # tried again every run
        return Reading(error=(None, str(exc)), date=probable_date(path, None, config.tz),
                       keep=False)
    try:
        front, body, fields, warnings = _fields(raw, config)
    except ArticleFileError as exc:
        return Reading(error=(exc.line, str(exc)), date=probable_date(path, raw, config.tz))
    lines = _key_lines(front)  # one pass for every warning: a file may have thousands
    reading = Reading(date=fields["date"],
                      warnings=[(lines.get(key), message) for key, message in warnings])
    if window.contains(fields["date"]):
        source = _lf_lines(raw.decode("utf-8-sig"))
        article, problems, images = _make_article(fields, body, path, shown, config, source)
        usable = checked(article)
        reading.made, reading.keep = True, not images
        if isinstance(usable, str):
            reading.unusable = usable
        else:
            reading.article = usable
            reading.problems = [(line or _line_of(front, "image"), message)
                                for line, message in problems]
    return reading


def _report(reading: Reading, shown: str, config: Config, window: Window,
            read: SourceRead) -> None:
    if reading.error is not None:
        line, message = reading.error
        meant = reading.date is None or window.contains(reading.date)  # for this edition
        read.problems.append(Problem(_at(shown, line), f"{message}{SKIPPED}",
                                         ProblemKind.ARTICLE_SKIPPED, ours=meant))
        return
    assert reading.date is not None
    for line, message in reading.warnings:
        read.problems.append(Problem(_at(shown, line), message))
    read.dates.add(local_date(reading.date, config.tz))
    if not window.contains(reading.date):
        return
    if reading.unusable:
        read.problems.append(Problem(shown, f"{reading.unusable}{SKIPPED}",
                                         ProblemKind.ARTICLE_SKIPPED, ours=True))
        return
    assert reading.article is not None
    read.articles.append(reading.article)
    for line, message in reading.problems:
        read.problems.append(Problem(_at(shown, line), message))


def same_story_problems(articles: list[Article], config: Config) -> list[Problem]:
    """`same_story:` values of the edition's article files that name no article of it: the
    editors' grouping would silently not happen. A file name is the newsroom's own (it holds the
    send); an address may be a feed's entry that left the feed (a warning)."""
    from digest.urls import normalize_url

    names: set[str] = set()
    for article in articles:
        names.add(normalize_url(article.url))
        if not article.outlet:  # a Markdown file: its name, with or without .md
            name = article.source.replace("\\", "/").rsplit("/", 1)[-1]
            names |= {name, name.removesuffix(".md")}
        if article.guid:
            names.add(article.guid)
    problems = []
    for article in articles:
        for value in article.same_story:
            address = "://" in value
            if (normalize_url(value) if address else value) in names:
                continue
            where = _at(article.source, _file_line(config.root / article.source, "same_story"))
            problems.append(Problem(where, f"same_story: {value!r} is no article of this "
                                    "edition; give the file name (or address) of an article "
                                    "of the same day, or remove the line", ours=not address))
    return problems


def _file_line(path: Path, key: str) -> int | None:
    """The line of `key:` in an article file's front matter, read again (rare: a problem)."""
    try:
        front, _ = split_front_matter(path.read_bytes())
    except (OSError, ArticleFileError):
        return None
    return _line_of(front, key)


def image_problems(config: Config) -> list[Problem]:
    """The images of every article, whatever its date, that cannot go out (`digest check`)."""
    folder = config.resolve(config.sources.articles)
    problems: list[Problem] = []
    for path in _files(folder) if folder.is_dir() else ():
        shown = _display(path, config)
        try:
            raw, front, body, fields, _ = _parsed(path, folder, config)
        except (Unreadable, ArticleFileError):
            continue  # reported by the reading itself
        if "image_file" not in fields and "<img" not in body and "![" not in body:
            continue
        source = _lf_lines(raw.decode("utf-8-sig"))
        _, found = make_article(fields, body, path, shown, config, source)
        problems += [Problem(_at(shown, line or _line_of(front, "image")), message)
                     for line, message in found]
    return problems


def _files(folder: Path) -> list[Path]:
    """The article files: *.md under `folder`, less hidden ones (an editor's lock or swap file such
    as .#x.md, a hidden folder)."""
    return [path for path in sorted(folder.rglob("*.md")) if not _hidden(path, folder)]


def _parsed(path: Path, folder: Path, config: Config):
    """(raw bytes, front matter, body, fields, warnings) of an article file; raises Unreadable
    or ArticleFileError."""
    raw = _raw(path, folder, config)
    return raw, *_fields(raw, config)


def _raw(path: Path, folder: Path, config: Config) -> bytes:
    return read_capped(inside(path, folder), config.sources.max_article_bytes,
                       "sources.max_article_bytes")


def _fields(raw: bytes, config: Config):
    """(front matter, body, fields, warnings) of an article file's bytes."""
    front, body = split_front_matter(raw)
    fields, warnings = parse_fields(front, config.tz)
    return front, body, fields, warnings


# a line starts after LF, CRLF or a lone CR (old Mac)
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


def _hidden(path: Path, folder: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _at(shown: str, line: int | None) -> str:
    return f"{shown}:{line}" if line else shown


def _display(path: Path, config: Config) -> str:
    try:
        shown = path.relative_to(config.root)
    except ValueError:
        shown = path
    # a name that is not UTF-8 shows its bytes escaped; a line break in it becomes a space
    return squash(os.fsencode(shown).decode("utf-8", "backslashreplace"))


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
    text = _lf_lines(text)
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
    warnings: list[tuple[str, str]] = []
    unknown = [key for key in data if key not in FIELDS]
    for key in unknown[:UNKNOWN_FIELDS_SHOWN]:
        close = difflib.get_close_matches(str(key), FIELDS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        warnings.append((str(key), f'unknown field "{key}"{hint}; ignored'))
    if len(unknown) > UNKNOWN_FIELDS_SHOWN:  # one line, not one per key: readable, and quick
        more = len(unknown) - UNKNOWN_FIELDS_SHOWN
        warnings.append((str(unknown[UNKNOWN_FIELDS_SHOWN]),
                         f"…and {more:,} more unknown field{'s' if more > 1 else ''}; ignored"))

    title = squash(str(data.get("title") or ""))
    if not title:
        raise ArticleFileError("missing title; add a 'title:' line", _line_of(front, "title"))
    if "date" not in data or data["date"] in (None, ""):
        raise ArticleFileError(
            "missing date; add a 'date: YYYY-MM-DD HH:MM' line", _line_of(front, "date")
        )
    fields: dict[str, Any] = {
        "title": title,
        "date": parse_date(data["date"], tz, _line_of(front, "date")),
    }
    for key in ("category", "author", "image_alt", "summary", "standfirst", "image_caption",
                "image_credit"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            fields[key] = squash(str(value))
        else:
            warnings.append((key, f"{key}: expected text, got {_kind(value)}; ignored"))
    for key in ("url", "image"):
        value = data.get(key)
        if value is None:
            continue
        if key == "image" and isinstance(value, str) and _is_relative(value):
            fields["image_file"] = value.strip()  # a file beside the article: see make_article
            continue
        url = safe_url(value) if isinstance(value, str) else None
        if url is None or (key == "image" and url.startswith("mailto:")):
            warnings.append((key, f"{key}: {value!r} is not an http(s) address; ignored"))
        else:
            fields[key] = url
    for key in ("image_width", "image_height"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            fields[key] = value
        else:
            warnings.append((key, f"{key}: expected a number of pixels, got {value!r}; ignored"))
    if "lead" in data:
        if isinstance(data["lead"], bool):
            fields["lead"] = data["lead"]
        else:
            warnings.append(
                ("lead", f"lead: expected true or false, got {data['lead']!r}; ignored"))
    if "priority" in data:
        value = data["priority"]
        if isinstance(value, int) and not isinstance(value, bool) \
                and abs(value) <= PRIORITY_LIMIT:
            fields["priority"] = value
        else:
            warnings.append(("priority", f"priority: expected an integer from -{PRIORITY_LIMIT:,}"
                             f" to {PRIORITY_LIMIT:,}, got {_kind(value)[:40]}; using 0"))
    if "group" in data:
        if isinstance(data["group"], bool):
            fields["group"] = data["group"]
        else:
            warnings.append(
                ("group", f"group: expected true or false, got {data['group']!r}; ignored"))
    if "same_story" in data:
        value = data["same_story"]
        values = value if isinstance(value, list) else [value]
        if values and all(isinstance(v, str) and v.strip() for v in values):
            fields["same_story"] = tuple(v.strip() for v in values)
        else:
            warnings.append(("same_story", "same_story: expected an address or a file name "
                             f"(or a list of them), got {value!r}; ignored"))
    return fields, warnings


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


def make_article(fields: dict[str, Any], body: str, path: Path, shown: str, config: Config,
                 source: str = "") -> tuple[Article, list[tuple[int | None, str]]]:
    """The article, and (line, message) for each image that could not be used. `source` is the
    whole file, to name the line of a body image."""
    article, problems, _ = _make_article(fields, body, path, shown, config, source)
    return article, problems


def _make_article(fields: dict[str, Any], body: str, path: Path, shown: str, config: Config,
                  source: str) -> tuple[Article, list[tuple[int | None, str]], bool]:
    """make_article's, and whether the article uses local images (other files than its own)."""
    html = rendered_body(body)
    url = fields.get("url") or f"{config.newsletter.url.rstrip('/')}/{slugify(path.stem)}"
    images = _LocalImages(path, config, local_date(fields["date"], config.tz))
    if "image_file" in fields:
        fields["image"] = images.url(fields["image_file"], None) or ""
    body_start = source.find(body[:80]) if body and source else 0
    html = _IMG_SRC.sub(lambda m: images.body_image(m, source, max(body_start, 0)), html)
    return Article(
        title=fields["title"],
        date=fields["date"],
        url=url,
        body_html=html,
        text=plain_text(html),
        source=shown,
        category=fields.get("category", ""),
        author=fields.get("author", ""),
        image=fields.get("image", ""),
        image_alt=fields.get("image_alt", ""),
        summary=fields.get("summary", ""),
        lead=fields.get("lead", False),
        priority=fields.get("priority", 0),
        standfirst=fields.get("standfirst", ""),
        image_width=fields.get("image_width", 0),
        image_height=fields.get("image_height", 0),
        image_caption=fields.get("image_caption", ""),
        image_credit=fields.get("image_credit", ""),
        assets=tuple(images.assets),
        group=fields.get("group", True),
        same_story=fields.get("same_story", ()),
    ), images.problems, images.used


@functools.lru_cache(maxsize=1024)
def rendered_body(markdown: str) -> str:
    """The sanitized HTML of an article's Markdown body: most of reading an article. Kept for the
    next build in the same process: the preview reads every article again on each save, and only
    the ones that changed are rendered again."""
    return clean_html(_markdown().render(markdown))


@functools.lru_cache(maxsize=1024)
def plain_text(html: str) -> str:
    """An article's text, kept like its HTML."""
    return html_to_text(html)


_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc="([^"]*)"[^>]*>""", re.IGNORECASE)


def _is_relative(value: str) -> bool:
    value = value.strip()
    return bool(value) and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", value)


class _LocalImages:
    """Images given as paths beside an article: published under newsletter.assets_url, copied to
    out/<date>/assets/ with the edition. Never a file outside the articles folder."""

    def __init__(self, path: Path, config: Config, day: date) -> None:
        self.path = path
        self.folder = config.resolve(config.sources.articles)
        self.base = config.newsletter.assets_base
        self.day = day
        self.assets: list[tuple[str, str]] = []
        self.problems: list[tuple[int | None, str]] = []
        self.used = False  # asked for any image: the article depends on other files

    def url(self, relative: str, line: int | None) -> str | None:
        from urllib.parse import quote, unquote

        self.used = True
        target = (self.path.parent / unquote(relative)).resolve()
        try:
            name = target.relative_to(self.folder).as_posix()
        except ValueError:
            self.problems.append((line, f"image {relative!r} is outside the articles folder; "
                                        "move it beside the articles; left out"))
            return None
        if target.suffix.lower() not in IMAGE_SUFFIXES or not target.is_file():
            self.problems.append((line, f"image {relative!r}: no such image file "
                                        f"({', '.join(IMAGE_SUFFIXES)}); left out"))
            return None
        if not self.base:
            self.problems.append((line, f"image {relative!r} is a path, and the email needs an "
                                        "address: set newsletter.assets_url in digest.toml to "
                                        "where out/<date>/assets/ is published; left out"))
            return None
        self.assets.append((str(target), name))
        return f"{self.base}/{self.day.isoformat()}/{quote(name)}"

    def body_image(self, match: re.Match, source: str, body_start: int) -> str:
        from html import unescape

        src = unescape(match.group(1))
        if not _is_relative(src):
            return match.group()
        at = source.find(src, body_start)
        line = source[:at].count("\n") + 1 if at >= 0 else None
        url = self.url(src, line)
        if url is None:
            return ""
        return match.group().replace(match.group(1), url.replace("&", "&amp;"), 1)


_MARKDOWN = None


def _markdown():
    global _MARKDOWN
    if _MARKDOWN is None:
        from markdown_it import MarkdownIt

        _MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return _MARKDOWN


def _line_of(front: str, key: str) -> int | None:
    """The file line of `key:` in the front matter (which starts on line 2)."""
    return _key_lines(front).get(key)


_KEY_END = re.compile(r":(?=[ \t]|$)")  # as YAML ends a plain key: "a:b: c" is key "a:b"


def _key_lines(front: str) -> dict[str, int]:
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


def _lf_lines(text: str) -> str:
    """`text` with its lines ended by LF: CRLF (Windows) and a lone CR (old Mac) are line breaks
    to YAML and to Markdown alike, and line numbers count LFs."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {dict: "a mapping", list: "a list"}
    return kinds.get(type(value), repr(value))
