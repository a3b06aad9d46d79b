"""`ranking.engagement` on a simulated month: readers who favour two categories, and what the
weight does to the editions.

    python bench/bench_engagement.py [--days 30] [--readers 2000] [--seeds 5]

Each day has 24 articles over eight categories (three each, distinct texts, spread over the
day); on some days the editors pin a lead, and a few articles carry an explicit priority
(1 or 2). The day is ranked by digest's own `rank` (grouping off: no sentence model), with the
categories' interest computed by `digest.engagement.rates` from the clicks of the days before.
The readers then click the day's lead and blurbs: each story is clicked by each reader with
a probability of its category's appeal (8 % for the two favoured categories, 2 % for the
others) times a position decay (1 / (1 + 0.15 × position)), drawn from a seeded generator.

Printed for each weight (0, 1, 2, 4): the share of blurb slots the favoured categories won
in the second half of the month, their mean position among the blurbs, the click rate, and
the number of violations: a pinned lead not leading, or a story shown above one of higher
priority. The estimator's settings (PRIOR_STORIES, STORY_CAP) come from the unit test of one
lucky story (tests/test_engagement.py), not from this simulation.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from digest.config import RankingConfig  # noqa: E402
from digest.engagement.links import story_id  # noqa: E402
from digest.engagement.rates import category_interest  # noqa: E402
from digest.models import Article, LinkedStory, Role  # noqa: E402
from digest.ranking.rank import rank  # noqa: E402

CATEGORIES = ["Ville", "Sport", "Culture", "Économie", "Météo", "Transports", "Santé", "Monde"]
FAVOURED = ("Culture", "Santé")
APPEAL = {c: 0.08 if c in FAVOURED else 0.02 for c in CATEGORIES}
START = date(2025, 3, 3)
WORDS = ["conseil", "budget", "école", "tramway", "festival", "hôpital", "marché", "orage",
         "ligne", "club", "musée"]


def articles(day: date, rng: random.Random) -> list[Article]:
    found = []
    for i in range(24):
        category = CATEGORIES[i % len(CATEGORIES)]
        words = " ".join(rng.choice(WORDS) + str(rng.randrange(10_000)) for _ in range(60 + 8 * i))
        found.append(Article(
            title=f"{category} {day} n°{i}", url=f"https://exemple.fr/{day}/{i}",
            date=datetime(day.year, day.month, day.day, 5 + i % 17, i, tzinfo=UTC),
            body_html=f"<p>{words}</p>", text=words, source=f"articles/{i}.md",
            category=category, lead=(i == 5 and day.day % 4 == 0),
            priority=rng.choice([0] * 10 + [1, 2]), group=False))
    return found


def month(weight: float, days: int, readers: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    config = RankingConfig(engagement=weight, max_per_category=2, memory_days=0)
    past: list[LinkedStory] = []
    reached: dict[str, int] = {}
    won = positions = slots = violations = 0
    clicks = deliveries = 0
    for n in range(days):
        day = START + timedelta(days=n)
        recent = [s for s in past if (day - date.fromisoformat(s.day)).days <= 28]
        interest = category_interest(recent, reached)
        edition = rank(articles(day, rng), day, ZoneInfo("Europe/Paris"), config,
                       interest=interest)
        pinned = [r for r in edition.considered if r.article.lead]
        violations += bool(pinned) and not edition.lead.article.lead
        shown = [edition.lead, *edition.blurbs]
        violations += sum(1 for i, a in enumerate(edition.blurbs) for b in edition.blurbs[i + 1:]
                          if a.article.priority < b.article.priority)
        if n >= days // 2:
            for position, ranked in enumerate(edition.blurbs, 1):
                slots += 1
                if ranked.article.category in FAVOURED:
                    won += 1
                    positions += position
        reached[day.isoformat()] = readers
        for position, ranked in enumerate(shown):
            p = APPEAL[ranked.article.category] / (1 + 0.15 * position)
            count = sum(1 for _ in range(readers) if rng.random() < p)
            clicks, deliveries = clicks + count, deliveries + readers
            past.append(LinkedStory(day.isoformat(), story_id(ranked.article.url),
                                    ranked.article.url, ranked.article.title,
                                    ranked.article.category, ranked.article.source, position,
                                    ranked.role != Role.LEFT_OUT, count))
    return {"share": won / slots, "position": positions / won if won else 0.0,
            "rate": clicks / deliveries, "violations": violations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--readers", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    options = parser.parse_args()
    print(f"{options.days} days, {options.readers} readers, favoured: {', '.join(FAVOURED)} "
          f"(2 of 8 categories: 25 % of the articles); medians of {options.seeds} seeds")
    print(f"{'engagement':>10}  {'favoured blurb share':>20}  {'their mean position':>19}  "
          f"{'click rate':>10}  {'violations':>10}")
    for weight in (0.0, 1.0, 2.0, 4.0):
        runs = [month(weight, options.days, options.readers, seed)
                for seed in range(options.seeds)]
        row = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        total = sum(run["violations"] for run in runs)
        print(f"{weight:>10g}  {row['share']:>20.1%}  {row['position']:>19.2f}  "
              f"{row['rate']:>10.2%}  {total:>10d}")


if __name__ == "__main__":
    main()
