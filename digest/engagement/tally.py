"""The clicks of each day's edition, as `digest status` and `digest report` show them: per
story, in all, and as a rate of the readers the day's edition reached."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from digest.engagement.rates import Interest, category_interest
from digest.models import LinkedStory
from digest.state import State


@dataclass(frozen=True)
class DayClicks:
    day: str
    readers: int  # deliveries the day's editions made, every round and version
    stories: list[LinkedStory]
    opens: int | None  # None: no provider reported any

    @property
    def clicks(self) -> int:
        return sum(story.clicks for story in self.stories)

    @property
    def rate(self) -> float:
        """Clicks per reader reached (a reader who clicks twice counts twice)."""
        return self.clicks / self.readers if self.readers else 0.0

    def lines(self) -> list[str]:
        """For `digest status`: the day's clicks, then each story's."""
        opens = f", {self.opens} opens" if self.opens is not None else ""
        lines = [f"{self.day}  clicks {self.clicks} for {self.readers} readers "
                 f"({self.rate:.1%}){opens}"]
        width = max(len(str(story.clicks)) for story in self.stories) if self.stories else 1
        lines += [f"  {story.clicks:>{width}}  {story.title}  [{story.category or '-'}]"
                  for story in sorted(self.stories, key=lambda s: (-s.clicks, s.position))]
        return lines

    def as_json(self) -> dict:
        return {"day": self.day, "readers": self.readers, "clicks": self.clicks,
                "click_rate": round(self.rate, 6), "opens": self.opens,
                "stories": [{k: v for k, v in asdict(story).items() if k != "day"}
                            for story in self.stories]}


def past_interest(state: State, newsletter: str, day: date, days: int) -> Interest | None:
    """The categories' click rates over the `days` days before `day` (`ranking.engagement`)."""
    found = day_clicks(state, newsletter, (day - timedelta(days=days)).isoformat(),
                       (day - timedelta(days=1)).isoformat())
    return category_interest([story for clicked in found for story in clicked.stories],
                             {clicked.day: clicked.readers for clicked in found})


def day_clicks(state: State, newsletter: str, first: str, last: str) -> list[DayClicks]:
    """The days from `first` to `last` (ISO dates) whose edition linked stories, newest first."""
    by_day: dict[str, list[LinkedStory]] = {}
    for story in state.clicks.stories(first, last):
        by_day.setdefault(story.day, []).append(story)
    reached: dict[str, int] = {}
    for entry in state.ledger.stats(newsletter):
        if first <= entry.day <= last:
            reached[entry.day] = reached.get(entry.day, 0) + entry.sent
    opens = state.clicks.opens(first, last)
    return [DayClicks(day, reached.get(day, 0), stories, opens.get(day))
            for day, stories in sorted(by_day.items(), reverse=True)]
