"""Editions per section set: every reader gets the day's lead (the newsroom's front page is
shared); the blurbs are the stories of his sections (`[sections.<name>]`: their categories and
feeds), in the day's ranking order, up to `ranking.blurbs`. A reader with no sections gets the
edition as it is; one whose sections have nothing today gets its blurbs under a one-line note.

One edition is rendered per distinct set of sections, not per reader (`digest.send`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError
from digest.labels import labels_for
from digest.models import Edition, Email, Ranked, Role


def reader_sections(fields: Iterable[tuple[str, str]], known: frozenset[str]) -> frozenset[str]:
    """The sections a reader chose (a `sections` field) that the newsletter has."""
    for name, value in fields:
        if name == "sections":
            return sections_cell(value, known)[0]
    return frozenset()


@lru_cache(maxsize=1024)  # a list of 100,000 readers holds a few dozen distinct cells
def sections_cell(cell: str, known: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(the names of a `sections` cell, separated by ";", that the newsletter has; the others)."""
    names = [n for n in (part.strip() for part in cell.split(";")) if n]
    return (frozenset(n for n in names if n in known),
            tuple(n for n in names if n not in known))


def covers(ranked: Ranked, names: frozenset[str], config: Config) -> bool:
    """Whether the story is in one of the sections `names`."""
    article = ranked.article
    return any(article.category in config.sections[name].categories
               or article.source in config.sections[name].feeds for name in names)


def section_edition(edition: Edition, names: frozenset[str], config: Config) -> Edition:
    """The edition a reader of the sections `names` gets."""
    if not names:
        return edition
    candidates = sorted((r for r in edition.considered
                         if r.role in (Role.BLURB, Role.LEFT_OUT) and r is not edition.lead),
                        key=lambda r: r.position)
    mine = [r for r in candidates if covers(r, names, config)][:config.ranking.blurbs]
    if not mine:
        labels = labels_for(config.newsletter.locale, config.labels)
        return replace(edition, note=labels["sections_nothing_today"])
    # a blurb of the day stays the same object: its view is made once for every set
    return replace(edition, blurbs=tuple(r if r.role == Role.BLURB else replace(r, role=Role.BLURB)
                                         for r in mine))


def label(names: frozenset[str]) -> str:
    """How a dry run and out/ name an edition of these sections."""
    return "+".join(sorted(names)) or "all"


def write_section_email(day_folder: Path, names: frozenset[str], email: Email) -> None:
    """out/<date>/sections/<label>.html and .txt: what the readers of these sections got."""
    if not names:
        return  # the edition as it is: out/<date>/digest.html
    folder = day_folder / "sections"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{label(names)}.html").write_text(email.html, encoding="utf-8")
        (folder / f"{label(names)}.txt").write_text(email.text, encoding="utf-8")
    except OSError as error:  # before any reader of these sections is sent to
        raise DigestError(f"{error.filename or folder}: cannot write the edition of sections "
                          f"{label(names)} ({error.strerror or error}); check the free space"
                          ) from None
