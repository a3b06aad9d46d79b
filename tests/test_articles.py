"""Front matter: every field, every bad case, and the day an article belongs to."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import gather, load

from digest.sources.front_matter import (
    ArticleFileError,
    parse_date,
    parse_fields,
    split_front_matter,
)

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2025, 4, 22)


def gathered(newsletter, day=DAY):
    return gather(load(newsletter), day)


def test_all_fields_are_read(newsletter):
    newsletter.article(
        "conseil",
        "## Sous-titre\n\nPremier paragraphe.\n\nSecond paragraphe.",
        title="Le conseil vote",
        date="2025-04-22 09:30",
        category="Ville",
        author="Camille",
        url="https://journal.example/conseil",
        image="https://img.example/c.jpg",
        image_alt="La salle du conseil",
        summary="Un résumé choisi.",
        lead=True,
        priority=2,
    )
    (article,) = gathered(newsletter).articles
    assert article.title == "Le conseil vote"
    assert article.date == datetime(2025, 4, 22, 9, 30, tzinfo=PARIS)
    assert (article.category, article.author) == ("Ville", "Camille")
    assert article.url == "https://journal.example/conseil"
    assert article.image == "https://img.example/c.jpg"
    assert article.image_alt == "La salle du conseil"
    assert article.summary == "Un résumé choisi."
    assert article.lead is True and article.priority == 2
    assert "<h2>Sous-titre</h2>" in article.body_html
    assert article.text == "Sous-titre\nPremier paragraphe.\nSecond paragraphe."
    assert article.source == "articles/conseil.md"


def test_url_defaults_to_the_newsletter_url_and_a_slug(newsletter):
    newsletter.article("Été à Val-Sorel")
    (article,) = gathered(newsletter).articles
    assert article.url == "https://gazette.example/ete-a-val-sorel"


def test_date_without_offset_is_local_time():
    assert parse_date("2025-04-22T08:00", PARIS, 3) == datetime(2025, 4, 22, 8, tzinfo=PARIS)
    assert parse_date(date(2025, 4, 22), PARIS, 3) == datetime(2025, 4, 22, tzinfo=PARIS)
    utc = datetime(2025, 4, 21, 23, 30, tzinfo=UTC)
    assert parse_date(utc, PARIS, 3) == utc


def test_an_article_late_in_utc_belongs_to_the_next_paris_day(newsletter):
    newsletter.article("tard", date="2025-04-21T23:30:00+00:00")
    assert [a.title for a in gathered(newsletter, date(2025, 4, 22)).articles] == ["Tard"]
    assert gathered(newsletter, date(2025, 4, 21)).articles == []


@pytest.mark.parametrize(
    "stamp, day, inside",
    [
        # 30 March 2025: clocks go forward in Paris, the day is 23 hours long.
        ("2025-03-30T00:00:00+01:00", date(2025, 3, 30), True),
        ("2025-03-30T23:59:00+02:00", date(2025, 3, 30), True),
        ("2025-03-30T22:30:00+00:00", date(2025, 3, 30), False),  # 00:30 on the 31st
        ("2025-03-29T23:30:00+00:00", date(2025, 3, 30), True),  # 00:30 on the 30th
        # 26 October 2025: clocks go back, the day is 25 hours long.
        ("2025-10-26T23:30:00+01:00", date(2025, 10, 26), True),
        ("2025-10-26T22:59:00+00:00", date(2025, 10, 26), True),
        ("2025-10-26T23:00:00+00:00", date(2025, 10, 26), False),
        ("2025-10-25T22:00:00+00:00", date(2025, 10, 26), True),  # 00:00 CEST on the 26th
    ],
)
def test_day_window_across_dst(newsletter, stamp, day, inside):
    newsletter.article("a", date=stamp)
    assert bool(gathered(newsletter, day).articles) is inside


def test_day_window_lengths():
    from digest.dates import day_window

    spring = day_window(date(2025, 3, 30), PARIS)
    autumn = day_window(date(2025, 10, 26), PARIS)
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)


def test_other_time_zone(newsletter):
    newsletter.set_config('[newsletter]\ntimezone = "America/New_York"\n')
    newsletter.article("ny", date="2025-04-22T02:00:00+00:00")  # 22:00 on the 21st in New York
    assert gathered(newsletter, date(2025, 4, 21)).articles
    assert not gathered(newsletter, date(2025, 4, 22)).articles


BAD_FILES = {
    "broken-yaml.md": (
        "---\ntitle: Bon titre\ndate: 2025-04-22\ncategory: [non fermé\n---\nTexte\n",
        "broken-yaml.md:", "invalid front matter"),
    "no-title.md": ("---\ndate: 2025-04-22\n---\nTexte\n", "no-title.md", "missing title"),
    "empty-title.md": ('---\ntitle: ""\ndate: 2025-04-22\n---\nTexte\n', "empty-title.md:2",
                       "missing title"),
    "no-date.md": ("---\ntitle: Sans date\n---\nTexte\n", "no-date.md", "missing date"),
    "bad-date.md": ("---\ntitle: Date fausse\ndate: mardi prochain\n---\nTexte\n", "bad-date.md:3",
                    'cannot read "mardi prochain"'),
    "no-front-matter.md": ("Juste du texte\n", "no-front-matter.md:1", "no front matter"),
    "unclosed.md": ("---\ntitle: Ouvert\ndate: 2025-04-22\nTexte sans fin\n", "unclosed.md:1",
                    "front matter is not closed"),
    "list.md": ("---\n- un\n- deux\n---\nTexte\n", "list.md:2", "must be 'key: value' lines"),
    "latin1.md": ("---\ntitle: Été\ndate: 2025-04-22\n---\n".encode("latin-1"), "latin1.md:2",
                  "not UTF-8 text (byte 0xc9)"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_reported_with_its_name_and_skipped(newsletter, name):
    content, where, reason = BAD_FILES[name]
    newsletter.article("bonne-nouvelle", title="Bonne nouvelle")
    newsletter.raw(name, content)
    result = gathered(newsletter)
    assert [a.title for a in result.articles] == ["Bonne nouvelle"]
    (problem,) = result.problems
    assert str(problem).startswith(f"articles/{where}")
    assert reason in problem.message
    assert problem.message.endswith("skipped")


def test_yaml_error_points_at_the_file_line():
    with pytest.raises(ArticleFileError) as info:
        parse_fields("title: ok\ndate: 2025-04-22\ncategory: [non fermé\n", PARIS)
    assert info.value.line == 4  # where the unclosed list starts


def test_front_matter_split_keeps_body():
    front, body = split_front_matter(b"---\ntitle: A\n---\n\nCorps\n")
    assert front == "title: A\n"
    assert body == "Corps\n"


def test_questionable_values_warn_but_keep_the_article(newsletter):
    newsletter.raw(
        "douteux.md",
        """\
        ---
        title: Douteux
        date: 2025-04-22 10:00
        priority: haute
        url: "javascript:alert(1)"
        image: ftp://images.example/a.jpg
        titre: doublon
        lead: oui
        ---
        Texte.
        """,
    )
    result = gathered(newsletter)
    (article,) = result.articles
    assert article.priority == 0
    assert article.url == "https://gazette.example/douteux"
    assert article.image == ""
    assert article.lead is False
    messages = sorted(str(p) for p in result.problems)
    assert any(m.startswith("articles/douteux.md:4: priority: expected an integer")
               for m in messages)
    assert any(m.startswith("articles/douteux.md:5: url:") for m in messages)
    assert any(m.startswith("articles/douteux.md:6: image:") for m in messages)
    assert any('unknown field "titre" (did you mean "title"?)' in m for m in messages)
    assert any(m.startswith("articles/douteux.md:8: lead: expected true or false")
               for m in messages)


def test_dates_of_all_articles_are_known_for_the_no_article_message(newsletter):
    newsletter.article("a", date="2025-04-20T10:00:00+02:00")
    newsletter.article("b", date="2025-04-18T10:00:00+02:00")
    result = gathered(newsletter, date(2025, 4, 25))
    assert result.articles == []
    assert result.dates == {date(2025, 4, 20), date(2025, 4, 18)}


def test_missing_articles_folder_is_reported(newsletter):
    newsletter.set_config('[sources]\narticles = "nowhere"\n')
    result = gathered(newsletter)
    assert "articles folder not found" in str(result.problems[0])


def test_every_bad_article_is_reported_and_the_rest_builds(newsletter):
    newsletter.article("une", title="Une bonne nouvelle")
    newsletter.article("deux", title="Une autre bonne nouvelle")
    for name, (content, _, _) in BAD_FILES.items():
        newsletter.raw(name, content)
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == len(BAD_FILES)
    # those dated 2025-04-22 by a date: line or their name (the others' is today's, by mtime)
    assert "digest send would hold: 5 problems in the newsroom's own files" in result.stdout
    for name in BAD_FILES:
        assert any(line.startswith(f"warning: articles/{name}") for line in warnings), name
    assert "Traceback" not in result.stderr
    assert "2 articles" in result.stdout
    assert f"{len(BAD_FILES)} skipped" in result.stdout


def test_strict_turns_warnings_into_a_failure(newsletter):
    newsletter.article("une", title="Une bonne nouvelle")
    newsletter.raw("no-title.md", BAD_FILES["no-title.md"][0])
    result = newsletter.run("build", "--date", "2025-04-22", "--strict")
    assert result.returncode == 65  # a file of the newsroom's own, as digest send holds on
    assert "error: articles/no-title.md" in result.stderr
    assert "nothing written" in result.stderr
    assert not (newsletter.root / "out").exists()
    (newsletter.root / "articles" / "no-title.md").unlink()
    newsletter.article("vieux", title="Hors de l'édition", date="2025-04-01")
    newsletter.raw("ancien.md", "---\ntitle: Ancien\ndate: 2025-04-01\nauthor: a: b\n---\nTexte\n")
    result = newsletter.run("build", "--date", "2025-04-22", "--strict")
    assert result.returncode == 1  # not of this edition: a warning --strict turns into a failure
    assert "articles/ancien.md:4" in result.stderr and "--strict" in result.stderr
    assert not (newsletter.root / "out").exists()


def test_thousands_of_unknown_fields_are_a_handful_of_lines(newsletter):
    """60,000 unknown keys (800 KB) once took minutes: one search of the file per warning."""
    unknown = "".join(f"champ{i:05d}: x\n" for i in range(60_000))
    newsletter.article("voisine", title="Voisine")
    newsletter.raw("touffu.md",
                   f"---\ntitle: Touffu\ndate: 2025-04-22 10:00\n{unknown}---\nTexte\n")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    about = [line for line in result.stderr.splitlines() if "touffu.md" in line]
    assert len(about) == 6
    assert about[:2] == ['warning: articles/touffu.md:4: unknown field "champ00000"; ignored',
                         'warning: articles/touffu.md:5: unknown field "champ00001"; ignored']
    assert about[5:] == ["warning: articles/touffu.md:9: …and 59,995 more unknown fields; "
                         "ignored"]
    assert "2 articles" in result.stdout


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("body", ["", "Texte"], ids=["closing-last", "body"])
def test_front_matter_reads_whatever_the_line_endings(newsletter, newline, body):
    """Old Mac files end their lines with a lone CR; without a body the file may end right
    after the closing ---, with no line break."""
    lines = ["---", "title: Fins de ligne", "date: 2025-04-22 10:00", "titre: doublon", "---"]
    content = newline.join(lines + [body]) + newline if body else newline.join(lines)
    newsletter.raw("fins.md", content.encode())
    result = gathered(newsletter)
    (article,) = result.articles
    assert article.title == "Fins de ligne"
    assert article.text == body
    (problem,) = result.problems  # on its line, whatever ends the lines
    assert str(problem).startswith('articles/fins.md:4: unknown field "titre"')


def test_a_bad_byte_is_on_its_line_in_an_old_mac_file(newsletter):
    newsletter.raw("vieux-mac.md", "---\rtitle: Été\rdate: 2025-04-22\r---\r".encode("latin-1"))
    (problem,) = gathered(newsletter).problems
    assert str(problem).startswith("articles/vieux-mac.md:2: not UTF-8 text (byte 0xc9)")
