"""Each category's click rate over the last editions, as `ranking.engagement` reads it.

Each story shown in every reader's copy is measured against its own day: its clicks divided by
the average of that day's stories (so a day few readers opened weighs like any other). A story
counts at most STORY_CAP times its day's average, and a category's mean is smoothed towards the
average by PRIOR_STORIES stories at the average, so that one lucky story, or a category seen
twice, moves little. What ranking adds is the category's lift over the average, between -1
(never clicked) and +1 (twice the average), times `ranking.engagement`.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.models import LinkedStory

PRIOR_STORIES = 4  # stories at the average, added to every category's own
STORY_CAP = 2.0  # a story counts at most this many times its day's average


@dataclass(frozen=True)
class CategoryRate:
    category: str
    stories: int
    clicks: int
    deliveries: int  # readers reached × the category's stories shown to all
    lift: float  # the smoothed mean of its stories against their day's average, less 1

    def describe(self, weight: float) -> str:
        """For `digest rank --explain`."""
        rate = self.clicks / self.deliveries if self.deliveries else 0.0
        return (f"{self.category or '(none)'}: {self.clicks} clicks for {self.deliveries} "
                f"deliveries of {self.stories} stories ({rate:.2%}); against each day's "
                f"average, smoothed: {self.lift:+.2f} × {weight:g} = {self.lift * weight:+.3f}")


@dataclass(frozen=True)
class Interest:
    """The categories' lifts over some editions."""

    rates: dict[str, CategoryRate]

    def lift(self, category: str) -> float:
        rate = self.rates.get(category)
        return rate.lift if rate is not None else 0.0

    def notes(self, weight: float) -> tuple[str, ...]:
        return tuple(rate.describe(weight)
                     for rate in sorted(self.rates.values(), key=lambda r: (-r.lift, r.category)))


def category_interest(stories: list[LinkedStory], readers: dict[str, int]) -> Interest | None:
    """The interest of each category from the stories of past editions and the readers each
    day's edition reached; None when nobody clicked a story shown to all."""
    by_day: dict[str, list[LinkedStory]] = {}
    for story in stories:  # one shown in some sections' copies only has no measure
        if story.shown and readers.get(story.day):
            by_day.setdefault(story.day, []).append(story)
    relative: dict[str, list[float]] = {}
    clicks: dict[str, int] = {}
    deliveries: dict[str, int] = {}
    for day, shown in by_day.items():
        total = sum(story.clicks for story in shown)
        if not total:  # no click that day: nothing to compare with
            continue
        average = total / len(shown)
        for story in shown:
            relative.setdefault(story.category, []).append(
                min(story.clicks / average, STORY_CAP))
            clicks[story.category] = clicks.get(story.category, 0) + story.clicks
            deliveries[story.category] = deliveries.get(story.category, 0) + readers[day]
    if not relative:
        return None
    rates = {}
    for category, ratios in relative.items():
        lift = (sum(ratios) + PRIOR_STORIES) / (len(ratios) + PRIOR_STORIES) - 1
        rates[category] = CategoryRate(category, len(ratios), clicks[category],
                                       deliveries[category], round(max(-1.0, lift), 4))
    return Interest(rates)
