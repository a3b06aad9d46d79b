"""Hostile inputs, written the way an attacker (or an unlucky editor) would leave them: shared by
the tests and bench/bench_hostile.py."""

from __future__ import annotations

import os
from pathlib import Path

GOOD_DATE = "2025-04-22T08:00:00+02:00"


def front(title: str, date: str = GOOD_DATE, extra: str = "") -> str:
    return f"---\ntitle: {title}\ndate: {date}\n{extra}---\n\n"


def alias_bomb(levels: int = 8, width: int = 9) -> str:
    """YAML whose aliases expand to width**levels strings: a few lines, all the memory there is."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + f"\ntitle: *a{levels}\n"


# file name → why it is bad; the file itself is made by `write_bad_articles`
BAD_ARTICLES = {
    "date-impossible.md": "a day that does not exist (30 February)",
    "date-hour-25.md": "25 o'clock",
    "date-offset-25.md": "an offset of +25:00",
    "date-year-1.md": "year 1 with a +14:00 offset: out of datetime's range in UTC",
    "date-year-9999.md": "31 December 9999: the next day does not exist",
    "dangling.md": "a link to nothing",
    "dossier.md": "a folder named like an article",
    "tube.md": "a FIFO: reading it waits for a writer forever",
    "zero.md": "a link to /dev/zero: endless bytes",
    "ailleurs.md": "a link to a file outside the articles folder",
    "bombe.md": "a YAML alias bomb in the front matter",
    "enorme.md": "50 MB of text",
}
# not articles at all: an editor's lock file is skipped without a word
EDITOR_FILES = (".#lead.md",)
SEPARATOR_TITLE = "Titre\u2028sur\u2029deux\x85lignes\x1c\x1d\x1e fin"


def write_bad_articles(articles: Path, outside: Path, only: tuple[str, ...] = ()) -> None:
    """One file of each hostile kind (or of the kinds named in `only`) in `articles`; `outside`
    is a folder beside it."""
    articles.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.md"
    secret.write_text(front("Le fichier secret") + "Ne doit pas être publié.\n")
    writers = {
        "date-impossible.md": lambda p: p.write_text(front("Impossible", "2025-02-30") + "x\n"),
        "date-hour-25.md": lambda p: p.write_text(front("Heure", "2025-04-22T25:00:00") + "x\n"),
        "date-offset-25.md": lambda p: p.write_text(
            front("Décalage", "2025-04-22T08:00:00+25:00") + "x\n"),
        "date-year-1.md": lambda p: p.write_text(
            front("An un", "0001-01-01T00:00:00+14:00") + "x\n"),
        "date-year-9999.md": lambda p: p.write_text(
            front("An 9999", "9999-12-31T23:00:00-14:00") + "x\n"),
        "dangling.md": lambda p: os.symlink(articles / "nowhere.md", p),
        "dossier.md": lambda p: p.mkdir(),
        "tube.md": os.mkfifo,
        "zero.md": lambda p: os.symlink("/dev/zero", p),
        "ailleurs.md": lambda p: os.symlink(secret, p),
        "bombe.md": lambda p: p.write_text(f"---\n{alias_bomb()}date: {GOOD_DATE}\n---\n\nx\n"),
        "enorme.md": _write_huge,
    }
    assert set(writers) == set(BAD_ARTICLES)
    for name, write in writers.items():
        if not only or name in only:
            write(articles / name)
    # Emacs's lock file: a dangling link named .#<file>
    os.symlink("editor@host.4242:1745300000", articles / ".#lead.md")


def _write_huge(path: Path, megabytes: int = 50) -> None:
    with path.open("w") as handle:
        handle.write(front("Énorme"))
        line = "Un paragraphe très long qui se répète sans fin. " * 20 + "\n\n"
        for _ in range(megabytes * 1024 * 1024 // len(line)):
            handle.write(line)


def write_good_articles(articles: Path) -> list[str]:
    """Three good articles (one with a title full of separators); their titles as built."""
    articles.mkdir(parents=True, exist_ok=True)
    body = "Le conseil municipal a voté le budget des écoles ce mardi soir. " * 40
    (articles / "budget.md").write_text(
        front('"Le budget des écoles voté"', extra="lead: true\n") + body + "\n")
    (articles / "marche.md").write_text(
        front('"Le marché des Tilleuls rouvre"') + "Les commerçants reviennent samedi.\n")
    (articles / "separateurs.md").write_text(
        front('"' + SEPARATOR_TITLE.encode("unicode_escape").decode() + '"')
        + "Un titre écrit avec des séparateurs de ligne.\n")
    return ["Le budget des écoles voté", "Le marché des Tilleuls rouvre",
            "Titre sur deux lignes fin"]
