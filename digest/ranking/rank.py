"""Choose the lead and the blurbs, and explain every choice. Pure functions: no I/O.

score = priority × w_priority + recency × w_recency + length × w_length + image × w_image
        + coverage × w_coverage + the category's points
        + the category's click lift × ranking.engagement (digest.engagement.rates)

recency, length, image and coverage are each between 0 and 1, and the default priority weight (10)
is larger than the other weights together (9): a higher priority always ranks above a lower one.
Articles that tell the same story are grouped (ranking/stories.py); the best-scored one stands
for the story and the others are listed under it. Ties go to the newer article, then to the
title, so the result never depends on the order in which sources were read. With
`ranking.engagement`, stories are ordered by priority first: readers' clicks never outrank
the editors' priorities (nor a pinned lead, which is chosen before any score).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from digest.config import RankingConfig
from digest.dates import Window, calendar_window
from digest.engagement.rates import Interest
from digest.models import (
    Article,
    Edition,
    PastStory,
    Ranked,
    Role,
    story_keys,
    story_reference,
)
from digest.ranking import reasons
from digest.ranking.stories import Grouping, group
from digest.ranking.story_features import Item, Signals
from digest.ranking.story_rules import GroupingSettings
from digest.ranking.terms import Document, Weighted, compare, document, term_weights
from digest.urls import normalize_url

FULL_LENGTH_WORDS = 600  # an article this long or longer gets the whole length weight
FULL_COVERAGE_SOURCES = 4  # a story carried by this many sources gets the whole coverage weight


def components(article: Article, window: tuple[datetime, datetime], config: RankingConfig,
               sources: int = 1, interest: Interest | None = None) -> dict[str, float]:
    weights = config.weights
    start, end = window
    recency = min(max((article.date - start) / (end - start), 0.0), 1.0)
    length = min(article.words / FULL_LENGTH_WORDS, 1.0)
    coverage = min(sources - 1, FULL_COVERAGE_SOURCES - 1) / (FULL_COVERAGE_SOURCES - 1)
    parts = {
        "priority": round(article.priority * weights.priority, 3),
        "recency": round(recency * weights.recency, 3),
        "length": round(length * weights.length, 3),
        "image": weights.image if article.image else 0.0,
        "coverage": round(coverage * weights.coverage, 3),
    }
    if article.category in config.categories:
        parts["category"] = config.categories[article.category]
    if config.engagement and interest is not None:
        parts["engagement"] = round(interest.lift(article.category) * config.engagement, 3)
    return parts


def _order(article: Article, score: float) -> tuple:
    return (-score, -article.date.timestamp(), article.title, article.url)


def _representative(member: tuple[Article, float, dict]) -> tuple:
    """The article that stands for its story: pinned first, then the highest priority, then the
    most complete (the longest, with a picture), then the best score."""
    article, score = member[0], member[1]
    return (not article.lead, -article.priority, -article.words, not article.image,
            *_order(article, score))


class _Story:
    """The articles of one story, the one that stands for it first. `priority_first`: a higher
    priority ranks first whatever the score (with `ranking.engagement`, which readers' clicks
    move: they never outrank the editors' priorities)."""

    def __init__(self, members: list[tuple[Article, float, dict]], number: int,
                 priority_first: bool = False) -> None:
        self.members = sorted(members, key=_representative)
        self.number = number
        self.priority_first = priority_first
        self.shown = self.members[0]
        self.role: Role | None = None  # set when memory leaves it out; else chosen at the end
        self.reason = ""  # a code of digest.ranking.reasons, with its values
        self.reason_args: dict = {}
        self.follow_up = False

    def explain(self, code: str, **args) -> None:
        self.reason, self.reason_args = code, args

    @property
    def article(self) -> Article:
        return self.shown[0]

    @property
    def score(self) -> float:
        return self.shown[1]

    def key(self) -> tuple:
        if self.priority_first:
            return (-self.article.priority, *_order(self.article, self.score))
        return _order(self.article, self.score)


@contextmanager
def _collector_paused():
    """Ranking allocates many small containers and no reference cycles: the cyclic garbage
    collector would rescan them again and again (a third of the time at 50,000 articles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rank(articles: list[Article], day: date, tz: ZoneInfo, config: RankingConfig,
         history: tuple[PastStory, ...] = (), window: Window | None = None,
         signals: Signals | None = None, interest: Interest | None = None) -> Edition:
    """The edition for `day`: one lead, up to `config.blurbs` blurbs, every article explained.
    Recency is measured across `window`, the publication times the articles were taken from
    (default: the calendar day). Articles are grouped by meaning only with `signals` (the
    sentence vectors, which the pipeline always gives); without, only the editors'
    `same_story:` groups them. `interest`: the categories' click rates of past editions, which
    `ranking.engagement` weighs."""
    if not articles:
        raise ValueError("rank() needs at least one article")
    with _collector_paused():
        edition = _rank(articles, day, window or calendar_window(day, tz), config, history,
                        signals, interest)
    if config.engagement and interest is not None:
        edition = replace(edition, engagement=interest.notes(config.engagement))
    return edition


def grouping_items(articles: list[Article]) -> list[Item]:
    """What grouping needs of each article, editors' overrides included."""
    # the keys are only looked up for `same_story:`; a day without one skips normalizing URLs
    pointed = any(a.same_story for a in articles)
    return [Item(keys=story_keys(a) if pointed else (), title=a.title, text=a.text,
                 date=a.date, alone=not a.group,
                 same_as=tuple(story_reference(v) for v in a.same_story),
                 placed=a.lead or a.priority > 0)
            for a in articles]


def _rank(articles: list[Article], day: date, window: Window, config: RankingConfig,
          history: tuple[PastStory, ...], signals: Signals | None,
          interest: Interest | None) -> Edition:
    articles = sorted(articles, key=lambda a: (a.date, a.title, a.url, a.source))  # input order
    settings = GroupingSettings(threshold=config.group_threshold, hours=config.group_hours)
    grouping = group(grouping_items(articles), signals, settings)
    groups = grouping.labels

    by_group: dict[int, list[int]] = defaultdict(list)
    for index, number in enumerate(groups):
        by_group[number].append(index)
    stories = []
    for indexes in by_group.values():
        sources = len({articles[i].outlet for i in indexes})
        members = []
        for i in indexes:
            parts = components(articles[i], window.bounds, config, sources, interest)
            members.append((articles[i], round(sum(parts.values()), 3), parts))
        # clicks weigh in: then never above the editors' priorities
        weighed = bool(config.engagement) and interest is not None
        stories.append((_Story(members, 0, priority_first=weighed), indexes))
    stories.sort(key=lambda item: item[0].key())
    for number, (story, _) in enumerate(stories, 1):
        story.number = number

    _remember(stories, articles, history, config)
    candidates = [story for story, _ in stories if story.role != Role.ALREADY_SENT]
    if not candidates:
        candidates = [story for story, _ in stories]  # everything was sent: better than nothing
        for story in candidates:
            story.role = None
    lead = _choose_lead(candidates, config)
    blurbs = _choose_blurbs([s for s in candidates if s is not lead], config)
    edition = _edition(day, lead, blurbs, [story for story, _ in stories], window)
    return replace(edition, grouping=_grouping_notes(grouping, articles))


def _grouping_notes(grouping: Grouping, articles: list[Article]) -> tuple[str, ...]:
    """`digest rank --explain`: why each pair was grouped, and the closest pair that was not."""
    notes = [f"«{articles[e.first].title}» + «{articles[e.second].title}»: {e.describe()}"
             for e in grouping.pairs]
    miss = grouping.closest_miss
    if miss is not None:
        notes.append(f"closest not grouped: «{articles[miss.first].title}» / "
                     f"«{articles[miss.second].title}»: {miss.describe()}")
    return tuple(notes)


def _remember(stories, articles: list[Article], history, config: RankingConfig) -> None:
    """Leave out stories sent in recent editions, unless they have new articles (a follow-up)."""
    if not history:
        return
    documents = [document(a.title, a.text) for a in articles]

    def weighed(terms: frozenset[str]) -> Weighted:
        return Weighted(Document(terms, frozenset(), frozenset()), idf)

    idf = term_weights(documents + [Document(p.terms, frozenset(), frozenset()) for p in history])
    pasts = [(past, weighed(past.terms))
             for past in sorted(history, key=lambda p: p.day, reverse=True)]
    for story, indexes in stories:
        urls = {id(m): normalize_url(m[0].url) for m in story.members}
        mine = weighed(frozenset().union(*(documents[i].all_terms for i in indexes)))
        for past, theirs in pasts:
            # the same article, or a close resemblance between the two stories' vocabularies
            # (twice the pair threshold: leaving a story out on a loose match would lose news)
            same = set(urls.values()) & past.urls or \
                compare(mine, theirs)[0] >= config.group_threshold * 2
            if not same:
                continue
            fresh = [m for m in story.members if urls[id(m)] not in past.urls]
            if fresh:
                story.follow_up = True
                story.shown = fresh[0]
                story.explain(reasons.FOLLOW_UP, day=past.day.isoformat())
            else:
                story.role = Role.ALREADY_SENT
                story.explain(reasons.ALREADY_SENT, day=past.day.isoformat())
            break


def _choose_lead(candidates: list[_Story], config: RankingConfig) -> _Story:
    pinned = [s for s in candidates if any(m[0].lead for m in s.members)]
    if pinned:
        newest = max(pinned, key=lambda s: max(m[0].date for m in s.members if m[0].lead))
        newest.shown = next(m for m in newest.members if m[0].lead)
        newest.explain(reasons.PINNED, count=len(pinned))
        return newest
    long_enough = [s for s in candidates if s.article.words >= config.lead_min_words]
    pool = long_enough or candidates
    # within the highest priority, a story with a picture makes a better lead
    top = max(s.article.priority for s in pool)
    pool = [s for s in pool if s.article.priority == top]
    pictured = [s for s in pool if s.article.image]
    lead = min(pictured or pool, key=_Story.key)
    follow_up = lead.reason_args.get("day") if lead.reason == reasons.FOLLOW_UP else None
    lead.explain(reasons.BEST_SCORE, image=bool(pictured), min_words=config.lead_min_words,
                 long_enough=bool(long_enough), **({"follow_up": follow_up} if follow_up else {}))
    return lead


def _choose_blurbs(others: list[_Story], config: RankingConfig) -> list[_Story]:
    """The best stories, at most max_per_category of one category while others are waiting."""
    ordered = sorted(others, key=_Story.key)
    chosen: list[_Story] = []
    per_category: dict[str, int] = defaultdict(int)
    deferred = []
    for story in ordered:
        if len(chosen) == config.blurbs:
            break
        category = story.article.category
        if category and per_category[category] >= config.max_per_category:
            deferred.append(story)
            continue
        per_category[category] += 1
        chosen.append(story)
    for story in deferred:  # no other category had candidates left
        if len(chosen) == config.blurbs:
            break
        story.explain(reasons.OVER_CATEGORY_TAKEN, max=config.max_per_category)
        chosen.append(story)
    for story in ordered:
        if story not in chosen and not story.follow_up and not story.reason:
            if story in deferred:
                story.explain(reasons.OVER_CATEGORY, max=config.max_per_category,
                              category=story.article.category)
            else:
                story.explain(reasons.BEYOND_BLURBS, blurbs=config.blurbs)
    return sorted(chosen, key=_Story.key)


def _edition(day: date, lead: _Story, blurbs: list[_Story], stories: list[_Story],
             window: Window) -> Edition:
    shown_order = [lead, *blurbs] + [s for s in stories if s is not lead and s not in blurbs]
    considered: list[Ranked] = []
    lead_ranked = None
    blurb_ranked = []
    for story in shown_order:
        role = Role.LEAD if story is lead else Role.BLURB if story in blurbs else (
            story.role or Role.LEFT_OUT)
        code, args = story.reason, story.reason_args
        if not code and role == Role.LEAD:
            code, args = reasons.BEST_SCORE, {}
        elif not code and role == Role.BLURB:
            code, args = reasons.SCORE_RANK, {"rank": blurbs.index(story) + 1}
        others = tuple(m[0] for m in story.members if m is not story.shown)
        article, score, parts = story.shown
        ranked = Ranked(article, score, parts, len(considered) + 1, role,
                        reasons.reason_text(code, args), story.number, others, story.follow_up,
                        code, args)
        considered.append(ranked)
        if role == Role.LEAD:
            lead_ranked = ranked
        elif role == Role.BLURB:
            blurb_ranked.append(ranked)
        for member in story.members:
            if member is story.shown:
                continue
            same = {"title": article.title}
            considered.append(Ranked(member[0], member[1], member[2], len(considered) + 1,
                                     Role.SAME_STORY, reasons.reason_text(reasons.SAME_STORY, same),
                                     story.number, reason_code=reasons.SAME_STORY,
                                     reason_args=same))
    assert lead_ranked is not None  # the lead comes first in shown_order
    return Edition(day, lead_ranked, tuple(blurb_ranked), tuple(considered), window)
