"""One newsletter folder and what can be done with it: the verbs the CLI, the preview and `check`
call, each returning data (in the spirit of sqlite-utils' `Database`).

    newsletter = Newsletter.open(Path("digest.toml"))
    result = newsletter.build(newsletter.today())
    newsletter.write(result)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from digest.config import Config, load_config
from digest.dates import usable_day
from digest.errors import NoArticlesError, Problem, StateError
from digest.folder import Folder
from digest.models import Edition, Email
from digest.pipeline import Build, rank_day, refuse_problems, render_edition, render_sections
from digest.ranking.meaning import (
    CachedCommonness,
    CachedEmbedder,
    CachedFeatures,
    cache_folder,
)
from digest.ranking.story_features import Signals
from digest.sources import Gathered, gather

if TYPE_CHECKING:
    from digest.audience.bounces import BounceReport
    from digest.audience.leavers import EditorChange, SyncReport
    from digest.engagement.tally import DayClicks
    from digest.models import Suppression
    from digest.send import SendEvents, SendReport
    from digest.sources.readings import Row
    from digest.state.article_cache import ParsedArticles
    from digest.state.recovery import Recovery, StateCheck
    from digest.status import EditionStatus


T = TypeVar("T")


class Newsletter(Folder):
    """A newsletter folder and its verbs, each returning data."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._readings = _LazyReadings(self)

    @classmethod
    def open(cls, config_path: Path | None = None,
             problems: list[str] | None = None) -> Newsletter:
        """The newsletter of `config_path` (default: digest.toml here). With `problems`, a key
        of digest.toml that cannot be used is listed there and left at its default."""
        return cls(load_config(config_path, problems=problems))

    def gather(self, day: date) -> Gathered:
        """The articles of the edition of `day` from every source, and what went wrong."""
        gathered = self._gather(day)
        self._readings.flush()
        return gathered

    def _gather(self, day: date) -> Gathered:
        """`gather`'s articles, the readings of the files not yet written (see `_LazyReadings`)."""
        usable_day(day)
        feeds = self.state.feeds if self.config.sources.feeds else None
        return gather(self.config, day, self.window(day), feeds, self._readings)

    def signals(self) -> Signals:
        """What grouping compares articles with: sentence vectors, general word frequencies and
        each article's words, all cached in the state database (the model is loaded only for
        texts never seen)."""
        cache = _LazyEmbeddings(self)
        return Signals(CachedEmbedder(cache), CachedCommonness(cache), CachedFeatures(cache))

    def edition(self, day: date) -> tuple[Edition, Gathered]:
        """The ranked edition of `day` (before rendering), and what the sources gave."""
        gathered = self._gather(day)
        try:
            edition = rank_day(self.config, gathered, day, self.history(day), self.signals(),
                               self.interest(day))
        finally:
            self._readings.flush()  # after grouping, which makes the state database at first
        return edition, gathered

    def build(self, day: date, *, strict: bool = False, hold: bool = False,
              action: str = "nothing written") -> Build:
        """The edition of `day` and its email. Bad inputs are in `problems`, not exceptions,
        unless `hold` (a problem in the newsroom's own files raises HeldError) or `strict` (any
        problem raises); an empty day raises NoArticlesError after those."""
        try:
            edition, gathered = self.edition(day)
        except NoArticlesError as error:  # every article of the day may be a broken one
            refuse_problems(list(error.problems), hold=hold, strict=strict, action=action)
            raise
        result = render_edition(self.config, edition, gathered)
        refuse_problems(result.problems, hold=hold, strict=strict, action=action)
        return result

    def section_email(self, result: Build, sections: frozenset[str]) -> Email:
        """The email of `result` as a reader of these sections gets it."""
        return render_sections(self.config, result, sections)

    def write(self, result: Build, out_root: Path | None = None) -> Path:
        """out/<date>/ and the web archive; the folder written."""
        from digest.output import write  # lazy: Jinja2 and the archive, not for digest rank

        return write(result, out_root or self.out_root, self.config)

    # -- sending and readers who leave ------------------------------------------------------

    def send(self, day: date, *, backend: str | None = None, dry_run: bool = False,
             to: str | None = None, resend_unknown: bool = False, force: bool = False,
             events: SendEvents | None = None) -> SendReport:
        from digest.send import send  # lazy: the send machinery, never for a build

        return send(self, self, day, backend_name=backend, dry_run=dry_run, to=to,
                    resend_unknown=resend_unknown, force=force, events=events)

    def status(self, day: date | None = None) -> list[EditionStatus]:
        from digest.status import edition_status  # lazy: sqlite3, for digest status

        return edition_status(self, day)

    def clicks(self, day: date | None = None) -> list[DayClicks]:
        from digest.status import clicks  # lazy: sqlite3, for digest status

        return clicks(self, day)

    def audience(self) -> str:
        from digest.status import audience  # lazy: sqlite3, for digest status

        return audience(self)

    def cancel(self, day: date) -> list[str]:
        from digest.status import cancel_scheduled  # lazy: sqlite3, for digest cancel

        return cancel_scheduled(self, day)

    # -- readers who leave ---------------------------------------------------------------------

    def suppressions(self) -> list[Suppression]:
        state = self.existing_state()
        return state.suppressions.entries() if state is not None else []

    def suppress(self, addresses: list[str], reason: str = "") -> EditorChange:
        from digest.audience.leavers import add  # lazy: digest suppressions' module, not a build's

        return add(self, addresses, reason)

    def unsuppress(self, addresses: list[str]) -> EditorChange:
        from digest.audience.leavers import remove  # lazy: as for suppress

        return remove(self, addresses)

    def sync_suppressions(self, backend: str | None = None) -> SyncReport:
        from digest.audience.leavers import sync  # lazy: as for suppress

        return sync(self, backend)

    def import_bounces(self, path: Path, report: Callable[[Problem], None]) -> BounceReport:
        from digest.audience.leavers import import_bounces  # lazy: as for suppress

        return import_bounces(self, path, report)

    def check(self) -> list[str]:
        """Everything an editor can break, one line per problem (digest check)."""
        from digest.check import check_newsletter  # lazy: Jinja2 and the checks, digest check only

        return check_newsletter(self, self)

    # -- the state database --------------------------------------------------------------------

    def state_check(self) -> StateCheck:
        """SQLite's integrity check of `.digest/state.db` and its rows per table; a damaged file
        is a report, not an error."""
        from digest.state.recovery import check  # lazy: sqlite3, for digest state

        return check(self.state_path)

    def state_recover(self) -> Recovery:
        """A damaged `.digest/state.db` rebuilt from what can be read, the damaged file kept
        beside it; under the send lock."""
        from digest.state.recovery import recover  # lazy: sqlite3, for digest state

        self.close()  # a connection of ours would be to the file replaced
        return recover(self.state_path, self.send_lock_path)


class _LazyEmbeddings:
    """The state database's vector cache, opened only when grouping asks for vectors."""

    def __init__(self, newsletter: Newsletter) -> None:
        self.newsletter = newsletter

    def get(self, model: str, texts: list[str]) -> dict[str, bytes]:
        return self.newsletter.state.embeddings.get(model, texts)

    def put(self, model: str, vectors: dict[str, bytes]) -> None:
        # busy, read-only or full: computed again next time, the build goes on
        _or_nothing(lambda: self.newsletter.state.embeddings.put(model, vectors), None)

    @property
    def folder(self) -> Path | None:
        """Where the model's weights are kept uncompressed: the user's cache, not the
        newsletter's folder (79 MB, the same for every newsletter)."""
        return cache_folder()


class _LazyReadings:
    """The state database's copy of the article files as last read (digest/sources/readings.py):
    read only when the database exists already (nothing makes it for a cache), written at the end
    of the run if it exists by then (grouping and feeds make it on a first run). A database that
    cannot be read or written (damaged, read-only, busy) only means reading every file."""

    def __init__(self, newsletter: Newsletter) -> None:
        self.newsletter = newsletter
        self.pending: list[tuple[Callable[[], Iterable[Row]], list[bytes]]] = []

    def _parsed(self) -> ParsedArticles | None:
        newsletter = self.newsletter
        if newsletter._state is None and not newsletter.state_path.is_file():
            return None  # sqlite3 is not even imported
        try:
            return newsletter.state.parsed
        except StateError:
            return None

    def stamps(self) -> dict[bytes, tuple[str, str]]:
        parsed = self._parsed()
        return _or_nothing(parsed.stamps, {}) if parsed is not None else {}

    def articles(self, paths: list[bytes]) -> dict[bytes, str]:
        parsed = self._parsed()
        return _or_nothing(lambda: parsed.articles(paths), {}) if parsed is not None else {}

    def put(self, rows: Callable[[], Iterable[Row]], gone: list[bytes]) -> None:
        self.pending.append((rows, gone))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        parsed = self._parsed() if pending else None
        if parsed is None:
            return
        for rows, gone in pending:
            try:
                parsed.put(rows(), gone)
            except StateError:  # busy, read-only, full: kept another time
                return


def _or_nothing(call: Callable[[], T], nothing: T) -> T:
    """`call()`, or `nothing` when the state database cannot do it."""
    try:
        return call()
    except StateError:
        return nothing
