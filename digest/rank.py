"""Choose the lead and the blurbs, and explain every score. Pure functions: no I/O.

score = priority × w_priority + recency × w_recency + length × w_length + image × w_image

recency, length and image are each between 0 and 1, and the default priority weight (10) is larger
than the other weights together (6): a higher priority always ranks above a lower one. Ties go to
the newer article, then to the title in alphabetical order, so the result never depends on the
order in which sources were read.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from digest.config import RankingConfig
from digest.dates import day_window
from digest.models import Article, Edition, Ranked

FULL_LENGTH_WORDS = 600  # an article this long or longer gets the whole length weight


def components(
    article: Article, window: tuple[datetime, datetime], config: RankingConfig
) -> dict[str, float]:
    weights = config.weights
    start, end = window
    recency = (article.date - start) / (end - start)
    recency = min(max(recency, 0.0), 1.0)
    length = min(article.words / FULL_LENGTH_WORDS, 1.0)
    return {
        "priority": round(article.priority * weights.priority, 3),
        "recency": round(recency * weights.recency, 3),
        "length": round(length * weights.length, 3),
        "image": weights.image if article.image else 0.0,
    }


def _order(item: tuple[Article, float, dict]) -> tuple:
    article, score, _ = item
    return (-score, -article.date.timestamp(), article.title, article.url)


def rank(articles: list[Article], day: date, tz: ZoneInfo, config: RankingConfig) -> Edition:
    """The edition for `day`: the lead, `config.blurbs` blurbs and every article considered."""
    if not articles:
        raise ValueError("rank() needs at least one article")
    window = day_window(day, tz)
    parts = [components(a, window, config) for a in articles]
    by_score = sorted(
        ((a, round(sum(c.values()), 3), c) for a, c in zip(articles, parts)), key=_order
    )

    pinned = sorted((a for a in articles if a.lead), key=lambda a: (-a.date.timestamp(), a.title))
    lead = pinned[0] if pinned else by_score[0][0]
    if pinned:
        lead_reason = "pinned as lead" + (
            f" (newest of {len(pinned)} pinned articles)" if len(pinned) > 1 else ""
        )
    else:
        lead_reason = "best score"

    ordered = [item for item in by_score if item[0] is lead] + [
        item for item in by_score if item[0] is not lead
    ]
    considered = []
    for position, (article, score, parts_of_score) in enumerate(ordered, 1):
        if article is lead:
            role, reason = "lead", lead_reason
        elif position - 1 <= config.blurbs:
            role, reason = "blurb", f"score rank {position - 1} among the others"
        else:
            role, reason = "left out", f"beyond ranking.blurbs = {config.blurbs}"
        considered.append(Ranked(article, score, parts_of_score, position, role, reason))
    return Edition(
        date=day,
        lead=considered[0],
        blurbs=tuple(r for r in considered if r.role == "blurb"),
        considered=tuple(considered),
    )
