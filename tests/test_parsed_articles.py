"""Article files kept as read in the state database (digest/sources/readings.py): a file served from
there gives exactly what reading it gives, and only while it is the same file, read by the same
code with the same settings."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from datetime import date
from pathlib import Path

import pytest
from conftest import REPO, Newsletter, copy_sample, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import digest.sources.markdown as markdown
import digest.sources.readings as parsed
from digest.newsletter import Newsletter as Letter
from digest.sources import gather

DAY = date(2025, 4, 22)


class Reads:
    """Counts the files actually read (not served from the state database)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files: list[str] = []
        read_file = markdown.read_file

        def counted(path, *args, **kwargs):
            self.files.append(path.name)
            return read_file(path, *args, **kwargs)

        monkeypatch.setattr(markdown, "read_file", counted)
        monkeypatch.setattr(parsed, "SETTLE_NS", 0)  # files written by the test are kept at once

    def take(self) -> list[str]:
        files, self.files = self.files, []
        return sorted(files)


@pytest.fixture
def reads(monkeypatch) -> Reads:
    return Reads(monkeypatch)


def read(config, day=DAY, make_state=True):
    """What `digest` gathers for `day`, through the state database."""
    with Letter(config) as letter:
        if make_state:
            letter.state  # noqa: B018  a first run makes it by grouping; here at once
        return letter.gather(day)


def fresh(config, day=DAY):
    """What reading every file gives, with no state database at all."""
    with Letter(config) as letter:
        feeds = letter.state.feeds if config.sources.feeds else None
        return gather(config, day, letter.window(day), feeds)


def assert_same(got, expected) -> None:
    assert got.articles == expected.articles
    # the word count a served article carries (kept with it) is the text's
    assert [a.words for a in got.articles] == [len(a.text.split()) for a in expected.articles]
    # the same values, of the same types, time zone objects included
    assert repr(got.articles) == repr(expected.articles)
    assert [a.date.tzinfo for a in got.articles] == [a.date.tzinfo for a in expected.articles]
    assert problems(got) == problems(expected)
    assert got.dates == expected.dates


def problems(gathered) -> list[tuple[str, str, str]]:
    return [(p.where, p.message, p.kind) for p in gathered.problems]


def test_the_sample_served_from_the_state_database_is_the_sample_read(tmp_path, reads):
    root = copy_sample(tmp_path / "sample")
    from digest.config import load_config

    config = load_config(root / "digest.toml")
    expected = fresh(config)
    reads.take()
    for day in (DAY, date(2025, 4, 21), DAY):  # a day keeps the other days' front matter
        assert_same(read(config, day), fresh(config, day))
    reads.take()
    assert_same(read(config), expected)
    assert reads.take() == []  # every file served
    assert len(expected.articles) >= 5


def test_generated_articles_served_are_the_articles_read(tmp_path, reads):
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from bench_build import generate
    finally:
        sys.path.remove(str(REPO / "bench"))
    from digest.config import load_config

    generate(tmp_path / "day", 150)
    config = load_config(tmp_path / "day" / "digest.toml")
    expected = fresh(config)
    reads.take()
    read(config)
    assert len(reads.take()) == 150
    assert_same(read(config), expected)
    assert reads.take() == []


# -- a property: whatever the front matter and body, served == read ------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=30)
_dates = st.sampled_from([
    "2025-04-22", "2025-04-22 08:30", "2025-04-22T08:30:00+02:00", "2025-04-22T23:30:00Z",
    "'2025-04-22 08:30:15.250'", "2025-04-22T12:00:00-05:30", "2025-04-21 23:59",
    "2025-04-22T01:00:00+14:00", "'2025-04-22T06:00:00+00:00'", "2025-02-30", "demain", "",
    "2025-10-26 02:30",
])
_bodies = st.lists(st.sampled_from([
    "Un paragraphe *important* avec un [lien](https://exemple.fr/a?b=1&c=2).",
    "## Un titre\n\n- un\n- deux", "<script>alert(1)</script><b>gras</b>",
    "| a | b |\n|---|---|\n| 1 | 2 |", "~~barré~~ et `code`", "> une citation\n> suite",
    "![photo](https://exemple.fr/p.jpg)", "Texte « français » : l’été, 12\u202f%.",
    "<div onclick=\"x()\">bloc</div>", "```\nbloc de code\n```",
]), max_size=5)
_front = st.fixed_dictionaries({"title": _text, "date": _dates}, optional={
    "category": _text, "author": _text, "summary": _text, "priority": st.integers(-5, 5),
    "lead": st.booleans(), "url": st.sampled_from(["https://exemple.fr/x", "ftp://x", "x"]),
    "same_story": st.sampled_from(["https://exemple.fr/y", "['a.md', 'b.md']", "[]"]),
    "group": st.booleans(), "image": st.sampled_from(["https://exemple.fr/i.png", "1"]),
    "titre": _text,
})


def _file(front: dict, body: list[str]) -> str:
    lines = []
    for key, value in front.items():
        if isinstance(value, str) and key not in ("date", "same_story"):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif isinstance(value, bool):
            value = "true" if value else "false"
        lines.append(f"{key}: {value}")
    return "---\n" + "\n".join(lines) + "\n---\n\n" + "\n\n".join(body) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.tuples(_front, _bodies), min_size=1, max_size=4),
       zone=st.sampled_from(["Europe/Paris", "America/Montreal", "UTC"]))
def test_any_article_served_is_the_article_read(files, zone):
    from digest.config import load_config

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsed, "SETTLE_NS", 0)
        letter = Newsletter(Path(tmp) / "lettre")
        letter.set_config(letter.config.read_text().replace("Europe/Paris", zone))
        for index, (front, body) in enumerate(files):
            letter.raw(f"a{index}.md", _file(front, body))
        config = load_config(letter.config)
        expected = fresh(config)
        assert_same(read(config), expected)  # read and kept
        assert_same(read(config), expected)  # served


# -- only the same file, read the same way -------------------------------------------------------

def test_an_edited_file_of_the_same_size_is_read_again(newsletter, reads):
    path = newsletter.article("une", "Le conseil vote mardi.", lead=True)
    config = load(newsletter)
    assert read(config).articles[0].text == "Le conseil vote mardi."
    reads.take()
    assert read(config).articles[0].text == "Le conseil vote mardi."
    assert reads.take() == []
    stat = path.stat()
    path.write_text(path.read_text().replace("mardi", "jeudi"), encoding="utf-8")
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # another mtime
    assert read(config).articles[0].text == "Le conseil vote jeudi."
    assert reads.take() == ["une.md"]
    # even with its modification time put back as it was: its change time moved
    path.write_text(path.read_text().replace("jeudi", "lundi"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert read(config).articles[0].text == "Le conseil vote lundi."
    assert reads.take() == ["une.md"]


def test_a_deleted_file_is_not_served_and_its_row_goes(newsletter, reads):
    newsletter.article("une", "Un article. " * 5, lead=True)
    path = newsletter.article("deux")
    config = load(newsletter)
    assert len(read(config).articles) == 2
    path.unlink()
    assert [a.title for a in read(config).articles] == ["Une"]
    rows = sqlite3.connect(newsletter.root / ".digest" / "state.db").execute(
        "SELECT path FROM parsed_articles").fetchall()
    assert [os.path.basename(os.fsdecode(p)) for p, in rows] == ["une.md"]


def test_a_file_changed_a_moment_ago_is_not_kept(newsletter, reads, monkeypatch):
    monkeypatch.setattr(parsed, "SETTLE_NS", 2_000_000_000)
    newsletter.article("une", "Un article.", lead=True)
    config = load(newsletter)
    read(config)
    read(config)
    assert reads.take() == ["une.md", "une.md"]  # an edit in the same clock tick would not show


def test_a_setting_that_changes_the_reading_reads_files_again(newsletter, reads):
    newsletter.article("une", "Un article.", lead=True, date="2025-04-22 08:00")
    config = load(newsletter)
    assert read(config).articles[0].date.isoformat() == "2025-04-22T08:00:00+02:00"
    newsletter.set_config(newsletter.config.read_text().replace("Europe/Paris", "UTC"))
    reads.take()
    assert read(load(newsletter)).articles[0].date.isoformat() == "2025-04-22T08:00:00+00:00"
    assert reads.take() == ["une.md"]
    newsletter.set_config(newsletter.config.read_text().replace(
        "https://gazette.example\"", "https://autre.example\""))
    assert read(load(newsletter)).articles[0].url == "https://autre.example/une"
    assert reads.take() == ["une.md"]


def test_a_bad_article_reports_its_problem_every_run(newsletter, reads):
    newsletter.article("une", "Un article.", lead=True)
    newsletter.raw("cassé.md", "---\ntitle: [pas fermé\ndate: 2025-04-22\n---\nTexte\n")
    newsletter.article("inconnu", "Un autre.", titre="faute de frappe")
    config = load(newsletter)
    first = read(config)
    reads.take()
    second = read(config)
    assert reads.take() == []
    assert problems(second) == problems(first)
    messages = [f"{p.where}: {p.message}" for p in second.problems]
    assert any(m.startswith("articles/cassé.md:2: invalid front matter") for m in messages)
    assert any('articles/inconnu.md:2: unknown field "titre"' in m for m in messages), messages


def test_an_article_with_local_images_is_read_every_time(newsletter, reads):
    newsletter.set_config(newsletter.config.read_text().replace(
        'locale = "fr"', 'locale = "fr"\nassets_url = "https://cdn.gazette.example"'))
    (newsletter.articles / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    newsletter.article("une", "Un article.\n\n![vue](photo.jpg)", lead=True)
    config = load(newsletter)
    assert read(config).articles[0].assets
    (newsletter.articles / "photo.jpg").unlink()
    again = read(config)
    assert not again.articles[0].assets and "no such image file" in again.problems[0].message
    assert reads.take() == ["une.md", "une.md"]


# -- a state database that cannot help only means reading every file ----------------------------

def test_no_state_database_no_cache_and_none_made(newsletter, reads):
    newsletter.article("une", "Un article.", lead=True)
    config = load(newsletter)
    read(config, make_state=False)
    read(config, make_state=False)
    assert reads.take() == ["une.md", "une.md"]
    assert not (newsletter.root / ".digest").exists()


def test_a_busy_state_database_only_means_no_cache(newsletter, reads):
    newsletter.article("une", "Un article.", lead=True)
    config = load(newsletter)
    expected = read(config)  # makes the database
    newsletter.article("deux")
    expected_two = fresh(config)
    other = sqlite3.connect(newsletter.root / ".digest" / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, for as long as it takes
    try:
        reads.take()
        assert_same(read(config), expected_two)
        assert reads.take() == ["deux.md"]  # "une" served, "deux" read and not kept
    finally:
        other.execute("ROLLBACK")
    assert_same(read(config), expected_two)
    assert reads.take() == ["deux.md"]  # kept now
    assert expected.articles[0] in expected_two.articles


def test_a_damaged_state_database_only_means_no_cache(newsletter, reads):
    newsletter.article("une", "Un article.", lead=True)
    (newsletter.root / ".digest").mkdir()
    (newsletter.root / ".digest" / "state.db").write_bytes(b"not a database" * 100)
    config = load(newsletter)
    assert [a.title for a in read(config, make_state=False).articles] == ["Une"]
    assert reads.take() == ["une.md"]


def test_a_damaged_row_is_read_again(newsletter, reads):
    newsletter.article("une", "Un article.", lead=True)
    config = load(newsletter)
    expected = read(config)
    db = sqlite3.connect(newsletter.root / ".digest" / "state.db")
    db.execute("UPDATE parsed_articles SET article = '{\"article\": {\"title\": 1}}'")
    db.commit()
    reads.take()
    assert_same(read(config), expected)
    assert reads.take() == ["une.md"]


def test_a_kept_file_replaced_by_a_link_out_of_the_folder_is_refused(newsletter, reads, tmp_path):
    path = newsletter.article("une", "Un article.", lead=True)
    newsletter.article("deux")
    config = load(newsletter)
    assert len(read(config).articles) == 2
    outside = tmp_path / "ailleurs.md"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    again = read(config)
    assert [a.title for a in again.articles] == ["Deux"]
    assert "outside the folder; skipped" in again.problems[0].message
