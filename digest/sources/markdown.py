"""Markdown files with YAML front matter, one article per file (the front matter:
front_matter.py)."""

from __future__ import annotations

import functools
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

from digest.config import Config
from digest.dates import Window, local_date
from digest.errors import SKIPPED, Problem, ProblemKind
from digest.models import Article, story_keys, story_reference
from digest.sanitize import clean_html
from digest.sources.article_checks import checked
from digest.sources.files import Unreadable, inside, read_capped
from digest.sources.front_matter import (
    ArticleFileError,
    is_relative_path,
    key_lines,
    lf_lines,
    line_of,
    parse_fields,
    probable_date,
    split_front_matter,
)
from digest.sources.readings import Reading, ReadingCache, ReadingStore
from digest.sources.results import SourceRead
from digest.text import html_to_text, slugify, squash

# Images an article may carry as a file beside it (copied to out/<date>/assets/).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
def read_folder(config: Config, window: Window,
                store: ReadingStore | None = None) -> SourceRead:
    """The articles of `window` from the articles folder, and every file's problems. `store`
    keeps the files' readings between runs (see digest/sources/readings.py)."""
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
        # a file with no front matter at all is no article (notes, a README): never this
        # edition's, whatever its date
        meant = raw.removeprefix(b"\xef\xbb\xbf").startswith(b"---")
        return Reading(error=(exc.line, str(exc)),
                       date=probable_date(path, raw, config.tz) if meant else None)
    lines = key_lines(front)  # one pass for every warning: a file may have thousands
    reading = Reading(date=fields["date"],
                      warnings=[(lines.get(key), message) for key, message in warnings])
    if window.contains(fields["date"]):
        source = lf_lines(raw.decode("utf-8-sig"))
        article, problems, images = _make_article(fields, body, path, shown, config, source)
        usable = checked(article)
        reading.made, reading.keep = True, not images
        if isinstance(usable, str):
            reading.unusable = usable
        else:
            reading.article = usable
            reading.problems = [(line or line_of(front, "image"), message)
                                for line, message in problems]
    return reading


def _report(reading: Reading, shown: str, config: Config, window: Window,
            read: SourceRead) -> None:
    if reading.error is not None:
        line, message = reading.error
        # meant for this edition; a file whose date cannot even be guessed is not held on
        meant = reading.date is not None and window.contains(reading.date)
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


def same_story_problems(articles: list[Article], known: list[Article],
                        config: Config) -> list[Problem]:
    """`same_story:` values of the edition's article files that name no article of it: the
    editors' grouping would silently not happen. A file name is the newsroom's own (it holds the
    send); an address may be a feed's entry that left the feed (a warning)."""
    # every copy read, before deduplication kept one of each story
    names = {key for article in known for key in story_keys(article)}
    problems = []
    for article in articles:
        for value in article.same_story:
            address = "://" in value
            if story_reference(value) in names:
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
    return line_of(front, key)


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
        source = lf_lines(raw.decode("utf-8-sig"))
        _, found = make_article(fields, body, path, shown, config, source)
        problems += [Problem(_at(shown, line or line_of(front, "image")), message)
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
        if not is_relative_path(src):
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


