"""The edition's day in the newsletter's time zone, and dates as readers expect them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.errors import UsageError

# The editions digest makes: every date in between, its day before and after and the
# `ranking.memory_days` before it convert between time zones without leaving datetime's range.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)


def usable_day(day: date) -> date:
    """`day` when an edition can have that date; raises UsageError otherwise."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise UsageError(f"{day.isoformat()}: an edition's date goes from {FIRST_DAY} to "
                         f"{LAST_DAY}")
    return day


def usable_moment(moment: datetime) -> str:
    """Why an article's date cannot be used ("" when it can): editions exist for its day."""
    try:
        usable_day(moment.astimezone(UTC).date())
    except (OverflowError, UsageError):
        return f"{moment.isoformat()} is out of range; dates go from {FIRST_DAY} to {LAST_DAY}"
    return ""


WINDOWS = ("day", "previous_day", "since_last")


@dataclass(frozen=True)
class Window:
    """The span of publication times an edition takes its articles from: [start, end), in UTC."""

    kind: str  # one of WINDOWS
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return self.start, self.end

    def record(self) -> dict[str, str]:
        return {"kind": self.kind, "start": self.start.isoformat(), "end": self.end.isoformat()}


def calendar_window(day: date, tz: ZoneInfo, kind: str = "day") -> Window:
    """The edition of `day` holding the articles of that day, or of the day before."""
    shown = day - timedelta(days=1) if kind == "previous_day" else day
    return Window(kind, *day_window(shown, tz))


def day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[day 00:00, next day 00:00) in `tz`: 23 or 25 hours long on DST changes.

    Returned in UTC: Python subtracts two datetimes of the same tzinfo as wall-clock times,
    which would make every day 24 hours long.
    """
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def long_date(day: date, locale: str) -> str:
    """"mardi 22 avril 2025" in French, "Tuesday, April 22, 2025" in English."""
    from babel.dates import format_date

    return format_date(day, format="full", locale=locale)


def today(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()


# A provider's time stamp is kept only between 2000 and a day after it was received.
EARLIEST_EVENT = 946_684_800.0  # 2000-01-01T00:00:00Z
LATEST_AHEAD = 86_400.0


def provider_time(value: object, now: float) -> float:
    """A time a provider gave (a webhook's `timestamp`, a list's `created`) as Unix seconds,
    or 0.0 ("when it was received") for anything else: a string, a boolean, NaN, infinity,
    1e300 or a date before 2000. Checked before it is stored, so that no later use of it (the
    suppressions' CSV, `digest suppressions list`) meets a time it cannot show."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    if not EARLIEST_EVENT <= value <= now + LATEST_AHEAD:
        return 0.0
    return float(value)


def utc_text(seconds: float, pattern: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    """A stored time in UTC as text; one out of any calendar's range (a row an older release
    wrote) shows as "?" rather than stopping what reads it."""
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime(pattern)
    except (OverflowError, OSError, ValueError):
        return "?"
