"""`digest rank`: every article considered, its place, its score and why."""

from __future__ import annotations

from digest.build import article_record, groups_record
from digest.config import Config
from digest.models import Edition

COMPONENTS = ("priority", "recency", "length", "image", "coverage", "category")
HEADERS = ("priority", "recency", "length", "image", "coverage", "cat. pts")


def ranking_record(edition: Edition, config: Config) -> dict:
    return {
        "date": edition.date.isoformat(),
        "articles": [article_record(r, config.ranking.excerpt_chars) for r in edition.considered],
        "groups": groups_record(edition),
    }


def ranking_table(edition: Edition, explain: bool):
    """A rich Table: rank, role, score, each component, group, category, source, title, why."""
    from rich.table import Table

    table = Table(title=f"Edition of {edition.date}", header_style="bold", expand=False)
    for name in ("#", "role", "score", *HEADERS, "group"):
        table.add_column(name, justify="right" if name not in ("role",) else "left")
    for name in ("category", "source", "title", "why"):
        table.add_column(name, overflow="fold")
    for ranked in edition.considered:
        shown = ranked.role in ("lead", "blurb")
        why = ranked.reason if (explain or not shown) else ""
        if ranked.follow_up:
            why = ("Suite: " + why) if why else "Suite"
        style = "bold" if ranked.role == "lead" else "dim" if not shown else None
        table.add_row(
            str(ranked.position), ranked.role, f"{ranked.score:.3f}",
            *(f"{ranked.components.get(c, 0):.3f}" for c in COMPONENTS),
            str(ranked.group), ranked.article.category, ranked.article.source,
            ranked.article.title, why, style=style,
        )
    return table
