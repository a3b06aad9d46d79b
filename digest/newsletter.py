"""One newsletter folder and what can be done with it: the verbs the CLI, the preview and `check`
call, each returning data (in the spirit of sqlite-utils' `Database`).

    newsletter = Newsletter.open(Path("digest.toml"))
    result = newsletter.build(newsletter.today())
    newsletter.write(result)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from digest.config import Config, load_config
from digest.errors import Problem
from digest.models import Edition, PastStory
from digest.pipeline import Build, rank_day, render_edition
from digest.sources import Gathered, gather

if TYPE_CHECKING:
    from digest.recipients import Recipient
    from digest.send import SendEvents, SendReport
    from digest.state import State
    from digest.status import EditionStatus


class Newsletter:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._state: State | None = None

    @classmethod
    def open(cls, config_path: Path | None = None) -> Newsletter:
        """The newsletter of `config_path` (default: digest.toml here or in a parent folder)."""
        return cls(load_config(config_path))

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    def __enter__(self) -> Newsletter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- the folder ---------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def out_root(self) -> Path:
        """Where editions are written: out/ beside digest.toml."""
        return self.root / "out"

    def outbox(self, day: date) -> Path:
        """Where the file backend writes each reader's message."""
        return self.out_root / day.isoformat() / "outbox"

    @property
    def state_path(self) -> Path:
        return self.root / ".digest" / "state.db"

    @property
    def send_lock_path(self) -> Path:
        """Held by the one `digest send` running for this newsletter."""
        return self.root / ".digest" / "send.lock"

    @property
    def state(self) -> State:
        """The state database, opened (and created) on first use."""
        if self._state is None:
            from digest.state import State

            self._state = State(self.state_path)
        return self._state

    def existing_state(self) -> State | None:
        """The state database if one was ever written; never creates it."""
        return self.state if self._state is not None or self.state_path.is_file() else None

    def today(self) -> date:
        from digest.dates import today

        return today(self.config.tz)

    def day(self, value: date | str | None) -> date:
        """An edition date from the command line: a date, "today" (the default) or "yesterday",
        in the newsletter's time zone."""
        from datetime import timedelta

        from digest.dates import usable_day

        if isinstance(value, date):
            return usable_day(value)
        return self.today() - timedelta(days=1 if value == "yesterday" else 0)

    # -- building -----------------------------------------------------------------------------

    def gather(self, day: date) -> Gathered:
        """The articles of `day` from every source, and what went wrong reading them."""
        from digest.dates import usable_day

        usable_day(day)
        return gather(self.config, day, self.state.feeds if self.config.sources.feeds else None)

    def history(self, day: date) -> tuple[PastStory, ...]:
        """Stories sent in the `ranking.memory_days` editions before `day`."""
        state = self.existing_state()
        if state is None:
            return ()
        return state.memory.before(self.config.newsletter.url, day, self.config.ranking.memory_days)

    def edition(self, day: date, strict: bool = False) -> tuple[Edition, Gathered]:
        """The ranked edition of `day` (before rendering), and what the sources gave."""
        gathered = self.gather(day)
        return rank_day(self.config, gathered, day, self.history(day), strict), gathered

    def build(self, day: date, strict: bool = False) -> Build:
        """The edition of `day` and its email. Bad inputs are in `problems`, not exceptions."""
        edition, gathered = self.edition(day, strict)
        return render_edition(self.config, edition, gathered)

    def write(self, result: Build, out_root: Path | None = None) -> Path:
        """out/<date>/ and the web archive; the folder written."""
        from digest.output import write

        return write(result, out_root or self.out_root, self.config)

    # -- readers and sending ------------------------------------------------------------------

    def readers(self, report: Callable[[Problem], None]) -> Iterator[Recipient]:
        """The readers of `delivery.recipients`, less those of `delivery.suppressions`."""
        from digest.recipients import newsletter_readers

        return newsletter_readers(self.config, report)

    def send(self, day: date, *, backend: str | None = None, dry_run: bool = False,
             to: str | None = None, resend_unknown: bool = False, force: bool = False,
             events: SendEvents | None = None) -> SendReport:
        from digest.send import send

        return send(self, day, backend_name=backend, dry_run=dry_run, to=to,
                    resend_unknown=resend_unknown, force=force, events=events)

    def status(self, day: date | None = None) -> list[EditionStatus]:
        from digest.status import edition_status

        return edition_status(self, day)

    def cancel(self, day: date) -> list[str]:
        from digest.status import cancel_scheduled

        return cancel_scheduled(self, day)

    def check(self) -> list[str]:
        from digest.check import check_newsletter

        return check_newsletter(self)
