"""Article files already read, kept between runs (in the state database, through a `ReadingStore`)
so that a day of thousands of articles is not parsed again on every run: reading a Markdown
article costs about 1.6 ms (Markdown, sanitizing, text extraction, front matter), serving it from
here some 0.1 ms.

A kept reading is served only for the same file, unchanged, read by the same code with the same
settings: its stamp holds the file's device, inode, size, modification and change times, and the
reading's version (a hash of the reading code, the libraries' versions and the settings that
change what a file gives). What is kept is JSON, never pickle: the database is a file anyone with
access to the folder may write, and reading it back must not run anything.

Not kept: an article that uses local images (it depends on other files than its own), a file
that cannot be opened (it is tried again every run), a file changed in the last seconds (an
edit in the same clock tick would keep its stamp).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from digest.models import Article
from digest.sources.files import Unreadable, inside
from digest.usercache import installed_version

if TYPE_CHECKING:
    from digest.config import Config
    from digest.dates import Window

# A file changed less than this before it was read may change again within the same timestamp
# (a filesystem's clock ticks every few milliseconds; FAT's every 2 s): not kept.
SETTLE_NS = 2_000_000_000

Line = tuple[int | None, str]  # a message and the file's line it is about, when known
Row = tuple[bytes, str, str, str | None]  # (path, stamp, front, article) as stored


class ReadingStore(Protocol):
    def stamps(self) -> dict[bytes, tuple[str, str]]:
        """(stamp, front) of every file kept, by path."""
        ...

    def articles(self, paths: list[bytes]) -> dict[bytes, str]:
        """The stored article of those paths that have one."""
        ...

    def put(self, rows: Callable[[], Iterable[Row]], gone: list[bytes]) -> None:
        """Keep the rows `rows()` gives (made when written), forget the paths that are gone."""
        ...


@dataclass
class Reading:
    """What one article file gave, whatever the edition: its problem, or its date and warnings,
    and its Article once the file was in an edition's window."""

    error: Line | None = None  # the file cannot be used (and is skipped)
    date: datetime | None = None  # with an error: the date it was probably meant for
    warnings: list[Line] = field(default_factory=list)  # values ignored in the front matter
    made: bool = False  # the article part below was made
    article: Article | None = None
    unusable: str = ""  # why the article made cannot go in an edition
    problems: list[Line] = field(default_factory=list)  # images left out
    keep: bool = True  # False: it depends on more than the file itself (its local images)


class ReadingCache:
    """The kept readings of one articles folder, for one run of `read_folder`."""

    def __init__(self, store: ReadingStore, config: Config, folder: Path) -> None:
        self.store = store
        self.folder = folder
        self.version = reading_version(config, folder)
        self.kept = store.stamps()
        self.fresh: dict[bytes, tuple[str, Reading]] = {}
        self.seen: set[bytes] = set()
        self.stamps: dict[Path, str] = {}  # of this run's settled files
        self.settled_before = time.time_ns() - SETTLE_NS

    def stamp(self, path: Path) -> str | None:
        """The stamp of the file at `path` as it is now (links followed), or None when it is not
        a settled regular file inside the folder."""
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):  # the listing never enters a linked folder: only the
                st = os.stat(inside(path, self.folder))  # file itself may lead elsewhere
        except (OSError, Unreadable):
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_ctime_ns > self.settled_before \
                or st.st_mtime_ns > self.settled_before:
            return None
        return (f"{self.version}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:"
                f"{st.st_ctime_ns}")

    def served(self, paths: list[Path], window: Window) -> dict[Path, Reading]:
        """The kept readings of the files at `paths` still good for this window; the stamps of
        the others, for `keep`."""
        served: dict[Path, Reading] = {}
        wanted: dict[bytes, tuple[Path, Reading]] = {}
        for path in paths:
            key = os.fsencode(path)
            self.seen.add(key)
            stamp = self.stamp(path)
            if stamp is None:
                continue
            self.stamps[path] = stamp
            kept = self.kept.get(key)
            if kept is None or kept[0] != stamp:
                continue
            reading = _front_reading(kept[1])
            if reading is None:
                continue
            if reading.error is None and reading.date is not None \
                    and window.contains(reading.date):
                wanted[key] = (path, reading)  # its article is needed too
            else:
                served[path] = reading
        for key, text in self.store.articles(list(wanted)).items():
            path, reading = wanted[key]
            if _add_article(reading, text):
                served[path] = reading
        return served

    def keep(self, path: Path, reading: Reading) -> None:
        """Keep a reading made this run, if it may be served again."""
        stamp = self.stamps.get(path)
        if stamp is not None and reading.keep:
            self.fresh[os.fsencode(path)] = (stamp, reading)

    def save(self) -> None:
        folder = os.fsencode(self.folder) + os.fsencode(os.sep)
        gone = [key for key in self.kept if key.startswith(folder) and key not in self.seen]
        if self.fresh or gone:
            fresh = self.fresh
            self.store.put(lambda: _rows(fresh), gone)


def _rows(fresh: dict[bytes, tuple[str, Reading]]) -> Iterator[Row]:
    for key, (stamp, reading) in fresh.items():
        front, article = _dump_front(reading), _dump_article(reading)
        try:
            front.encode()
            if article is not None:
                article.encode()
        except UnicodeEncodeError:  # a lone surrogate SQLite cannot store: read it every time
            continue
        yield key, stamp, front, article


# -- the reading's version ------------------------------------------------------------------------

# The modules whose code decides what a file gives: a change to any of them reads files again.
_READING_MODULES = (
    "digest", "digest.sources.markdown", "digest.sources.front_matter", "digest.sources.readings",
    "digest.sources.article_checks",
    "digest.sources.files", "digest.sanitize", "digest.text", "digest.models", "digest.dates",
    "digest.urls",
)


def reading_version(config: Config, folder: Path) -> str:
    """A hash of everything besides the file that makes its reading: the reading code, the
    libraries that parse (PyYAML, markdown-it-py, nh3), Python, and the settings used. The
    libraries are named by their installed versions, without importing them (PyYAML alone is
    15 ms of a cold build that needs no parsing)."""
    digest = hashlib.sha256()
    for name in _READING_MODULES:
        module = sys.modules.get(name)
        source = getattr(module, "__file__", None)
        digest.update(Path(source).read_bytes() if source else name.encode())
    yaml = find_spec("yaml")
    libyaml = bool(yaml and yaml.origin and any(Path(yaml.origin).parent.glob("_yaml.*")))
    settings = (
        sys.version, installed_version("PyYAML", "yaml"), libyaml, installed_version("nh3", "nh3"),
        installed_version("markdown-it-py", "markdown_it"), config.newsletter.timezone,
        str(config.root), str(folder), config.newsletter.url,
        config.newsletter.assets_base, config.sources.max_article_bytes,
    )
    digest.update(repr(settings).encode())
    return digest.hexdigest()[:24]


# -- JSON -------------------------------------------------------------------------------------

def _dump_front(reading: Reading) -> str:
    if reading.error is not None:
        date = _dump_date(reading.date) if reading.date is not None else None
        return json.dumps({"error": reading.error, "date": date}, ensure_ascii=False)
    assert reading.date is not None
    return json.dumps({"date": _dump_date(reading.date), "warnings": reading.warnings},
                      ensure_ascii=False)


def _dump_article(reading: Reading) -> str | None:
    if not reading.made:
        return None
    if reading.unusable:
        return json.dumps({"unusable": reading.unusable}, ensure_ascii=False)
    assert reading.article is not None
    values = {name: getattr(reading.article, name) for name in _FIELDS}
    values["date"] = _dump_date(reading.article.date)
    # its word count too: splitting 10,000 texts again took ranking 0.3 s
    return json.dumps({"article": values, "problems": reading.problems,
                       "words": reading.article.words}, ensure_ascii=False)


def _dump_date(moment: datetime) -> list:
    """[local time, zone, fold]: the zone a ZoneInfo's key or the offset in microseconds, so that
    the datetime read back is the same, time zone object included."""
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        kind: Any = zone.key
    elif isinstance(zone, timezone):
        kind = (moment.utcoffset() or timedelta(0)) // timedelta(microseconds=1)
    else:
        raise ValueError(f"unexpected time zone {zone!r}")
    return [moment.replace(tzinfo=None).isoformat(), kind, moment.fold]


def _load_date(value: list) -> datetime:
    text, kind, fold = value
    zone = ZoneInfo(kind) if isinstance(kind, str) else timezone(timedelta(microseconds=kind))
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def _lines(value: Any) -> list[Line]:
    lines = [(line, message) for line, message in value]
    if not all((line is None or type(line) is int) and type(message) is str
               for line, message in lines):
        raise ValueError("not (line, message) pairs")
    return lines


def _front_reading(text: str) -> Reading | None:
    """The reading of a stored front matter, or None for a row that cannot be read back."""
    try:
        data = json.loads(text)
        if "error" in data:  # and the date the file was probably meant for
            date = data.get("date")
            return Reading(error=_lines([data["error"]])[0],
                           date=_load_date(date) if date is not None else None)
        return Reading(date=_load_date(data["date"]), warnings=_lines(data["warnings"]))
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


_FIELDS = [f.name for f in fields(Article)]
_TYPES = {f.name: f.type for f in fields(Article)}  # the names of their types (annotations)
_PLAIN = {"str": str, "int": int, "bool": bool}


def _add_article(reading: Reading, text: str) -> bool:
    """Complete `reading` with a stored article; False for one that cannot be read back."""
    try:
        data = json.loads(text)
        if "unusable" in data:
            unusable = data["unusable"]
            if type(unusable) is not str or not unusable:
                return False
            reading.made, reading.unusable = True, unusable
            return True
        values = data["article"]
        if set(values) != set(_FIELDS):
            return False
        for name, value in values.items():
            kind = _TYPES[name]
            if kind == "datetime":
                values[name] = _load_date(value)
            elif kind in _PLAIN:
                if type(value) is not _PLAIN[kind]:
                    return False
            else:  # tuple[str, ...] or tuple[tuple[str, str], ...]: JSON lists
                values[name] = value = tuple(tuple(v) if type(v) is list else v for v in value)
                if not all(type(leaf) is str for v in value
                           for leaf in (v if type(v) is tuple else (v,))):
                    return False
        article = Article(**values)
        words = data.get("words")
        if words is not None:
            if type(words) is not int:
                return False
            article.__dict__["words"] = words  # what the `words` cached_property would find
        reading.article = article
        reading.problems = _lines(data["problems"])
    except (ValueError, TypeError, KeyError, RecursionError):
        return False
    reading.made = True
    return True
