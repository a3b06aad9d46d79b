"""The edition as data: edition.json and `digest rank --json` (one shape for both)."""

from __future__ import annotations

from digest.config import Config
from digest.models import Edition, Ranked
from digest.pipeline import Build
from digest.ranking.reasons import reason_text


def article_record(ranked: Ranked, excerpt_chars: int, locale: str = "en") -> dict:
    """One article as edition.json and `digest rank --json` show it: the reason as a stable code
    (`reason_code`) and in words in the newsletter's language (`reason`)."""
    article = ranked.article
    reason = (reason_text(ranked.reason_code, ranked.reason_args, locale) if ranked.reason_code
              else ranked.reason)
    return {
        "position": ranked.position,
        "role": ranked.role,
        "reason": reason,
        "reason_code": ranked.reason_code,
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
        return article_record(ranked, config.ranking.excerpt_chars, config.newsletter.locale)

    return {
        "date": edition.date.isoformat(),
        "window": edition.window.record() if edition.window else None,
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


def ranking_record(edition: Edition, config: Config) -> dict:
    """`digest rank --json`: every article considered, and the groups."""
    return {
        "date": edition.date.isoformat(),
        "articles": [article_record(r, config.ranking.excerpt_chars, config.newsletter.locale)
                     for r in edition.considered],
        "groups": groups_record(edition),
        "grouping": list(edition.grouping),
    }
