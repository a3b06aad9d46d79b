"""The ground floor: one newsletter folder (digest.toml, out/, .digest/) and what every stage
reads of it. Nothing here builds, ranks or sends; `digest.newsletter.Newsletter` is the facade
with the verbs, and the stage modules (send, status, leavers, check) take a Folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Self

from digest.config import Config
from digest.dates import Window, calendar_window, today, usable_day
from digest.errors import Problem
from digest.models import PastStory

if TYPE_CHECKING:
    from digest.audience.recipients import Recipient
    from digest.engagement.rates import Interest
    from digest.state import State


class Folder:
    """A newsletter's folder: its configuration, where things go, its state database, the day and
    window of an edition, its readers. Every stage takes one; `Newsletter` adds the verbs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._state: State | None = None

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    def __enter__(self) -> Self:
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
            from digest.state import State  # lazy: sqlite3, not for a build without state

            self._state = State(self.state_path,
                                self.config.resolve(self.config.delivery.suppressions))
        return self._state

    def existing_state(self) -> State | None:
        """The state database if one was ever written; never creates it."""
        return self.state if self._state is not None or self.state_path.is_file() else None

    def today(self) -> date:
        return today(self.config.tz)

    def day(self, value: date | str | None) -> date:
        """An edition date from the command line: a date, "today" (the default) or "yesterday",
        in the newsletter's time zone."""
        if isinstance(value, date):
            return usable_day(value)
        return self.today() - timedelta(days=1 if value == "yesterday" else 0)

    def window(self, day: date) -> Window:
        """The publication times the edition of `day` takes its articles from (edition.window).

        "since_last" starts where the last edition sent before `day` stopped and ends now (or at
        the end of `day` for a past date); an edition already sent keeps the window it was sent
        with, so that it rebuilds with the same articles."""
        kind, tz = self.config.edition.window, self.config.tz
        if kind != "since_last":
            return calendar_window(day, tz, kind)
        state = self.existing_state()
        newsletter = self.config.newsletter.url
        sent = state.ledger.sent_window(newsletter, day.isoformat(), kind) if state else None
        if sent is not None:
            return sent
        end = min(datetime.now(UTC), calendar_window(day, tz).end)
        cutoff = state.ledger.last_cutoff(newsletter, day.isoformat()) if state else None
        return Window(kind, min(cutoff or end - timedelta(hours=24), end), end)

    def history(self, day: date) -> tuple[PastStory, ...]:
        """Stories sent in the `ranking.memory_days` editions before `day`."""
        state = self.existing_state()
        if state is None:
            return ()
        return state.memory.before(self.config.newsletter.url, day, self.config.ranking.memory_days)

    def interest(self, day: date) -> Interest | None:
        """The categories' click rates of the editions before `day`, when ranking weighs them
        (`ranking.engagement`)."""
        ranking = self.config.ranking
        state = self.existing_state() if ranking.engagement else None
        if state is None:
            return None
        from digest.engagement.tally import past_interest  # lazy: only with engagement

        return past_interest(state, self.config.newsletter.url, day, ranking.engagement_days)

    def last_edition_day(self) -> str | None:
        """The date of the last edition that reached readers, if one did."""
        state = self.existing_state()
        return state.ledger.last_day_sent(self.config.newsletter.url) if state else None

    def readers(self, report: Callable[[Problem], None]) -> Iterator[Recipient]:
        """The readers of `delivery.recipients` and those who signed up and confirmed, once
        per address, less the suppressed ones: those of `delivery.suppressions` and of the
        state database."""
        # lazy: not for a build
        from digest.audience.readership import everyone
        from digest.audience.recipients import newsletter_readers

        state = self.existing_state()
        suppressed = state.suppressions.keys() if state is not None else set()
        listed = newsletter_readers(self.config, report, suppressed)
        return listed if state is None else everyone(listed, state, suppressed)
