"""The spine for one date: articles → ranked edition → rendered email. No files, no state.

What the newsletter remembers (sent stories) comes in as `history`; what the sources gave comes
in as `Gathered`. `digest.newsletter` feeds both from the newsletter's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from digest.config import Config
from digest.dates import Window
from digest.engagement.links import ClickLinks
from digest.engagement.rates import Interest
from digest.errors import ConfigError, DigestError, HeldError, NoArticlesError, Problem
from digest.models import GMAIL_CLIP_BYTES, Edition, Email, PastStory
from digest.ranking.rank import rank
from digest.ranking.story_features import Signals
from digest.sources import Gathered
from digest.sources.full_text import needs_full_text, with_full_text


@dataclass
class Build:
    edition: Edition
    email: Email
    problems: list[Problem] = field(default_factory=list)
    dates: frozenset[date] = frozenset()  # every date that has articles
    sources: int = 1  # the articles folder and each feed
    failed_sources: int = 0


class StrictError(DigestError):
    """--strict was given and some input had a problem."""


def refuse_problems(problems: list[Problem], *, hold: bool, strict: bool, action: str) -> None:
    """Stop before anything goes out: `hold`, on a problem in the newsroom's own files (an
    article of the edition, a template); `strict`, on any problem at all. `action` says what
    was not done ("nothing sent to anyone")."""
    ours = [problem for problem in problems if problem.ours]
    if ours and (hold or strict):
        raise HeldError(ours, [problem for problem in problems if not problem.ours], action)
    if strict and problems:
        count = len(problems)
        raise StrictError(
            "\n".join(str(p) for p in problems)
            + f"\n{count} input problem{'s' if count > 1 else ''}; --strict stops here. "
            "Fix them or run without --strict to skip the bad inputs"
        )


def rank_day(config: Config, gathered: Gathered, day: date, history: tuple[PastStory, ...],
             signals: Signals | None = None, interest: Interest | None = None) -> Edition:
    """The edition of `day` before rendering: ranked, grouped, explained, the readers' clicks
    weighed (`interest`) when `ranking.engagement` says so."""
    if not gathered.articles:
        raise NoArticlesError(no_articles_message(day, gathered.dates, gathered.window, config.tz),
                              frozenset(gathered.dates), gathered.problems)
    return rank(gathered.articles, day, config.tz, config.ranking, history, gathered.window,
                signals, interest)


def render_edition(config: Config, edition: Edition, gathered: Gathered) -> Build:
    """The edition's email, rendered once. Bad inputs are in `problems`, not exceptions."""
    from digest.rendering.render import render  # Jinja2 and the templates: not for `digest rank`

    problems = list(gathered.problems)
    edition = _complete_lead(edition, config, problems)
    email = render(edition, config, problems, click_links(config, problems))
    if email.html_bytes > GMAIL_CLIP_BYTES:
        problems.append(Problem(
            "digest.html",
            f"{email.html_bytes / 1024:.0f} KB, over Gmail's 102 KB limit: Gmail will clip "
            "the message; lower ranking.blurbs or shorten the lead",
        ))
    return Build(edition, email, problems, frozenset(gathered.dates), 1 + len(gathered.feeds),
                 gathered.failed_sources)


def render_sections(config: Config, result: Build, names: frozenset[str]) -> Email:
    """The email of a built edition as a reader of the sections `names` gets it (its problems
    were the built one's: none are added)."""
    from digest.rendering.render import render  # Jinja2 and the templates: not for `digest rank`
    from digest.sections import section_edition  # lazy: with the renderer, for sends only

    return render(section_edition(result.edition, names, config), config,
                  clicks=click_links(config, []))


def click_links(config: Config, problems: list[Problem]) -> ClickLinks | None:
    """The click links of `[tracking] clicks`; without a way to make them (no secret, no
    address), a problem, and the stories' own addresses (a send stops before: `digest.send`)."""
    try:
        return ClickLinks.for_config(config)
    except ConfigError as error:
        problems.append(Problem("digest.toml", f"{error}; until then story links go straight "
                                "to the stories and no click is counted"))
        return None


def _complete_lead(edition: Edition, config: Config, problems: list[Problem]) -> Edition:
    """A lead from a full_text feed gets its page's text (only the lead: one fetch a day)."""
    if not needs_full_text(edition.lead.article):
        return edition
    article, problem = with_full_text(edition.lead.article, config)
    if problem:
        problems.append(problem)
        return edition
    lead = replace(edition.lead, article=article)
    considered = tuple(lead if r is edition.lead else r for r in edition.considered)
    return replace(edition, lead=lead, considered=considered)


def no_articles_message(day: date, dates: set[date], window: Window | None = None,
                        tz=None) -> str:
    if window is not None and window.kind != "day":
        start, end = (moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") for moment in window.bounds)
        return (f"no articles for the edition of {day}: none published from {start} to {end} "
                f"(edition.window = \"{window.kind}\")")
    if not dates:
        return f"no articles for {day}, and none at all in the sources; add some and build again"
    latest = max(dates)
    return (
        f"no articles for {day}; the most recent date with articles is {latest} "
        f"(digest build --date {latest})"
    )
