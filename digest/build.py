"""The whole spine for one date: gather → rank → render, and the files `digest build` writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, NoArticlesError, Problem
from digest.models import Edition, Email, PastStory, Ranked
from digest.rank import rank
from digest.render import GMAIL_CLIP_BYTES, render
from digest.sources import Gathered, gather


@dataclass
class Build:
    edition: Edition
    email: Email
    problems: list[Problem] = field(default_factory=list)
    dates: frozenset[date] = frozenset()  # every date that has articles
    web_html: str = ""  # the archive's copy: same content, no per-reader links
    sources: int = 1  # the articles folder and each feed
    failed_sources: int = 0


class StrictError(DigestError):
    """--strict was given and some input had a problem."""


def ranked_day(config: Config, day: date, strict: bool = False) -> tuple[Edition, Gathered]:
    """gather → rank for `day`: the edition before rendering, and what the sources gave."""
    gathered = gather(config, day)
    if strict and gathered.problems:
        count = len(gathered.problems)
        raise StrictError(
            "\n".join(str(p) for p in gathered.problems)
            + f"\n{count} input problem{'s' if count > 1 else ''}; --strict stops here. "
            "Fix them or run without --strict to skip the bad inputs"
        )
    if not gathered.articles:
        raise NoArticlesError(no_articles_message(day, gathered.dates), frozenset(gathered.dates),
                              gathered.problems)
    edition = rank(gathered.articles, day, config.tz, config.ranking, load_history(config, day))
    return edition, gathered


def build(config: Config, day: date, strict: bool = False) -> Build:
    """The edition of `day` and its email. Bad inputs are in `problems`, not exceptions."""
    edition, gathered = ranked_day(config, day, strict)
    problems = list(gathered.problems)
    edition = _complete_lead(edition, config, problems)
    email = render(edition, config)
    if email.html_bytes > GMAIL_CLIP_BYTES:
        problems.append(Problem(
            "digest.html",
            f"{email.html_bytes / 1024:.0f} KB, over Gmail's 102 KB limit: Gmail will clip "
            "the message; lower ranking.blurbs or shorten the lead",
        ))
    web_html = render(edition, config, web=True).html
    return Build(edition, email, problems, frozenset(gathered.dates), web_html,
                 1 + len(gathered.feeds), gathered.failed_sources)


def load_history(config: Config, day: date) -> tuple[PastStory, ...]:
    """Stories sent in the `ranking.memory_days` editions before `day`, from the send ledger."""
    from datetime import timedelta

    path = config.state_path
    if not config.ranking.memory_days or not path.is_file():
        return ()
    from digest.deliver.ledger import Ledger

    ledger = Ledger(path)
    try:
        first = (day - timedelta(days=config.ranking.memory_days)).isoformat()
        last = (day - timedelta(days=1)).isoformat()
        rows = ledger.stories_between(config.newsletter.url, first, last)
    finally:
        ledger.close()
    return tuple(PastStory(date.fromisoformat(d), frozenset(u), frozenset(t)) for d, u, t in rows)


def _complete_lead(edition: Edition, config: Config, problems: list[Problem]) -> Edition:
    """A lead from a full_text feed gets its page's text (only the lead: one fetch a day)."""
    from digest.sources.full_text import needs_full_text, with_full_text

    if not needs_full_text(edition.lead.article):
        return edition
    article, problem = with_full_text(edition.lead.article, config)
    if problem:
        problems.append(problem)
        return edition
    lead = replace(edition.lead, article=article)
    considered = tuple(lead if r is edition.lead else r for r in edition.considered)
    return replace(edition, lead=lead, considered=considered)


def no_articles_message(day: date, dates: set[date]) -> str:
    if not dates:
        return f"no articles for {day}, and none at all in the sources; add some and build again"
    latest = max(dates)
    return (
        f"no articles for {day}; the most recent date with articles is {latest} "
        f"(digest build --date {latest})"
    )


def write(result: Build, out_root: Path, config: Config) -> Path:
    """Write digest.html, digest.txt, digest.eml and edition.json under out_root/<date>/."""
    from digest.message import to_message

    folder = out_root / result.edition.date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digest.html").write_text(result.email.html, encoding="utf-8")
    (folder / "digest.txt").write_text(result.email.text, encoding="utf-8")
    (folder / "digest.eml").write_bytes(to_message(result.email).as_bytes())
    edition_json = json.dumps(edition_record(result, config), ensure_ascii=False, indent=2)
    (folder / "edition.json").write_text(edition_json + "\n", encoding="utf-8")
    write_archive(result, out_root, config)
    return folder


def write_archive(result: Build, out_root: Path, config: Config) -> None:
    """out/archive/<date>.html for this edition, and an index of every edition built so far."""
    from digest.dates import long_date
    from digest.labels import labels_for
    from digest.render import environment, render_template

    archive = out_root / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    (archive / f"{result.edition.date.isoformat()}.html").write_text(result.web_html, encoding="utf-8")
    editions = []
    for record_path in out_root.glob("????-??-??/edition.json"):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            day = date.fromisoformat(record["date"])
        except (ValueError, KeyError, OSError):
            continue  # a folder that is not an edition
        if (archive / f"{day.isoformat()}.html").is_file():
            editions.append({
                "date": day.isoformat(),
                "date_long": long_date(day, config.newsletter.locale),
                "title": record["lead"]["title"],
                "file": f"{day.isoformat()}.html",
            })
    editions.sort(key=lambda e: e["date"], reverse=True)
    locale = config.newsletter.locale
    values = {"newsletter": config.newsletter, "lang": locale, "editions": editions,
              "labels": labels_for(locale, config.labels)}
    env = environment(config.resolve(config.newsletter.templates))
    index = render_template(env, "archive_index.html.j2", values, config)
    (archive / "index.html").write_text(index, encoding="utf-8")


def article_record(ranked: Ranked, excerpt_chars: int) -> dict:
    """One article as edition.json and `digest rank --json` show it."""
    article = ranked.article
    return {
        "position": ranked.position,
        "role": ranked.role,
        "reason": ranked.reason,
        "title": article.title,
        "url": article.url,
        "date": article.date.isoformat(),
        "category": article.category,
        "source": article.source,
        "excerpt": article.excerpt(excerpt_chars),
        "words": article.words,
        "score": ranked.score,
        "components": ranked.components,
        "group": ranked.group,
        "follow_up": ranked.follow_up,
    }


def groups_record(edition: Edition) -> list[dict]:
    """Stories told by more than one article: the one shown and the others."""
    groups = []
    for ranked in edition.considered:
        if ranked.also:
            groups.append({
                "group": ranked.group,
                "shown": ranked.article.title,
                "role": ranked.role,
                "articles": [{"title": a.title, "url": a.url, "source": a.source}
                             for a in (ranked.article, *ranked.also)],
                "sources": len({a.outlet for a in (ranked.article, *ranked.also)}),
            })
    return groups


def edition_record(result: Build, config: Config) -> dict:
    """edition.json: what was chosen, and every article's score with its components."""
    edition = result.edition

    def record(ranked: Ranked) -> dict:
        return article_record(ranked, config.ranking.excerpt_chars)

    return {
        "date": edition.date.isoformat(),
        "subject": result.email.subject,
        "preheader": result.email.preheader,
        "html_bytes": result.email.html_bytes,
        "counts": {
            "considered": len(edition.considered),
            "stories": edition.stories,
            "blurbs": len(edition.blurbs),
            "left_out": edition.left_out,
            "problems": len(result.problems),
        },
        "lead": record(edition.lead),
        "blurbs": [record(r) for r in edition.blurbs],
        "articles_considered": [record(r) for r in edition.considered],
        "groups": groups_record(edition),
        "problems": [str(p) for p in result.problems],
    }
