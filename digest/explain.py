"""`digest rank`'s table: every article considered, its place, its score and why."""

from __future__ import annotations

from digest.models import Edition, Role

COMPONENTS = ("priority", "recency", "length", "image", "coverage", "category")
HEADERS = ("priority", "recency", "length", "image", "coverage", "cat. pts")


def ranking_table(edition: Edition, explain: bool):
    """A rich Table: rank, role, score, each component, group, category, source, title, why."""
    from rich.table import Table

    table = Table(title=f"Edition of {edition.date}", header_style="bold", expand=False)
    for name in ("#", "role", "score", *HEADERS, "group"):
        table.add_column(name, justify="right" if name not in ("role",) else "left")
    for name in ("category", "source", "title", "why"):
        table.add_column(name, overflow="fold")
    for ranked in edition.considered:
        shown = ranked.role.shown
        why = ranked.reason if (explain or not shown) else ""
        if ranked.follow_up:
            why = ("Suite: " + why) if why else "Suite"
        style = "bold" if ranked.role == Role.LEAD else "dim" if not shown else None
        table.add_row(
            str(ranked.position), ranked.role, f"{ranked.score:.3f}",
            *(f"{ranked.components.get(c, 0):.3f}" for c in COMPONENTS),
            str(ranked.group), ranked.article.category, ranked.article.source,
            ranked.article.title, why, style=style,
        )
    return table
