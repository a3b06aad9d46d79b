"""What editors use to own the look: overrides, init, check, languages, archive, link tracking."""

from datetime import date

import pytest
from conftest import REPO, build, load, run_digest

from digest.config import LinksConfig
from digest.urls import with_tracking

DAY = date(2025, 4, 22)


# -- template overrides ----------------------------------------------------------------------

def test_templates_list_and_copy(newsletter):
    result = newsletter.run("templates", "list")
    assert result.returncode == 0
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["lead.mjml.j2"] == "built-in"
    assert set(lines) >= {"digest.mjml.j2", "header.mjml.j2", "blurb.mjml.j2", "footer.mjml.j2",
                          "digest.txt.j2", "styles.mjml.j2", "archive_index.html.j2"}

    copied = newsletter.run("templates", "copy", "lead.mjml.j2")
    assert copied.returncode == 0, copied.stderr
    target = newsletter.root / "templates" / "lead.mjml.j2"
    assert target.read_text() == (REPO / "templates" / "lead.mjml.j2").read_text()
    listed = dict(line.split(None, 1)
                  for line in newsletter.run("templates", "list").stdout.splitlines())
    assert listed["lead.mjml.j2"] == "same as built-in  (templates/lead.mjml.j2)"
    assert listed["footer.mjml.j2"] == "built-in"

    target.write_text(target.read_text().replace("{{ lead.reading_time }}",
                                                 "LECTURE {{ lead.reading_minutes }}"))
    listed = dict(line.split(None, 1)
                  for line in newsletter.run("templates", "list").stdout.splitlines())
    assert listed["lead.mjml.j2"].startswith("overridden")

    again = newsletter.run("templates", "copy", "lead.mjml.j2")
    assert again.returncode == 1 and "already exists" in again.stderr
    unknown = newsletter.run("templates", "copy", "footer.mjml")
    assert unknown.returncode == 1 and 'did you mean "footer.mjml.j2"?' in unknown.stderr

    newsletter.article("a", "Un texte. " * 50, lead=True)
    html = build(load(newsletter), DAY).email.html
    assert "LECTURE 1" in html and "Temps de lecture" not in html
    assert "Voir dans le navigateur" in html  # the rest is still the built-in theme


# -- init ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale, read_more", [("fr", "Lire la suite →"), ("en", "Read more →")])
def test_init_then_build_works_at_once(tmp_path, locale, read_more):
    result = run_digest("init", "ma-lettre", "--locale", locale, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "ma-lettre"
    assert (folder / "digest.toml").read_text().startswith("#")
    assert len(list((folder / "articles").glob("*.md"))) == 2
    assert (folder / "recipients.csv").read_text().startswith("email,name\n")
    assert (folder / ".gitignore").read_text() == "out/\n.digest/\n"
    assert "digest build && digest preview" in result.stdout

    built = run_digest("build", cwd=folder)
    assert built.returncode == 0, built.stderr
    assert built.stderr == ""
    assert "2 articles (lead + 1 blurb)" in built.stdout
    (html,) = (folder / "out").glob("*/digest.html")
    assert read_more in html.read_text()
    checked = run_digest("check", cwd=folder)
    # the one thing init cannot know: the publisher's postal address, which the footer needs
    assert checked.returncode == 1, checked.stdout
    assert checked.stdout.splitlines() == [line for line in checked.stdout.splitlines()
                                           if line.startswith("digest.toml: newsletter.address")]
    assert len(checked.stdout.splitlines()) == 1


def test_init_refuses_to_overwrite(tmp_path):
    (tmp_path / "digest.toml").write_text("# mine\n")
    result = run_digest("init", cwd=tmp_path)
    assert result.returncode == 1
    assert "digest.toml" in result.stderr and "already exist" in result.stderr
    assert (tmp_path / "digest.toml").read_text() == "# mine\n"
    assert not (tmp_path / "articles").exists()


# -- check --------------------------------------------------------------------------------------

def test_check_reports_one_line_per_problem_with_path_and_line(newsletter):
    newsletter.set_config(
        '[newsletter]\nname = "Test"\n\n[ranking]\nblurbs = 2\n\n[delivery]\n'
        'unsubscribe_url = "https://x.example/u?e={email}"\n'
    )
    newsletter.article("bon", "Un texte. " * 20, summary="Court.", lead=True)
    newsletter.raw("cassé.md", "---\ntitle: Titre\ndate: [2025\n---\nTexte\n")
    (newsletter.root / "recipients.csv").write_text(
        "email,name\nok@x.example,A\nnon-valide,B\nOK@x.example,C\n")
    result = newsletter.run("check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("articles/cassé.md:3: invalid front matter") for line in lines)
    assert 'recipients.csv:3: invalid address "non-valide"' in "\n".join(lines)
    assert "recipients.csv:4: OK@x.example is already on line 2; sent once" in lines
    assert any(line.startswith("email of 2025-04-22: preheader is 6 characters") for line in lines)
    assert "problems found" in result.stderr


def test_check_names_template_errors(newsletter):
    newsletter.article("bon")
    folder = newsletter.root / "templates"
    folder.mkdir()
    (folder / "footer.mjml.j2").write_text(
        "<mj-section>\n<mj-column>\n{% for x in %}\n</mj-column></mj-section>\n")
    (folder / "blurb.mjml.j2").write_text("<mj-text>\n{{ blurb.titre }}\n</mj-text>\n")
    result = newsletter.run("check")
    assert result.returncode == 1
    assert any(line.startswith("templates/footer.mjml.j2:3: ")
               for line in result.stdout.splitlines())
    (folder / "footer.mjml.j2").unlink()
    newsletter.article("deux", title="Deux")
    result = newsletter.run("check")
    assert "templates/blurb.mjml.j2:2: 'dict object' has no attribute 'titre'" in result.stdout


def test_check_reports_config_errors_first_then_everything_else(newsletter):
    newsletter.set_config('[newsletter]\nlocale = "de"\ntimezon = "Europe/Paris"\n')
    newsletter.raw("casse.md", "---\ntitle: Cassé\ndate: 2025-04-22\nauthor: a: b\n---\nTexte\n")
    write = newsletter.root / "templates"
    write.mkdir()
    (write / "lead.mjml.j2").write_text(
        (REPO / "templates" / "lead.mjml.j2").read_text().replace("<mj-button", "<mj-buton", 1))
    result = newsletter.run("check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        'digest.toml:2: newsletter.locale: expected one of fr, en, got "de"',
        'digest.toml:3: newsletter.timezon: unknown key; did you mean "timezone"?',
    ]
    assert any(line.startswith("articles/casse.md:4: invalid front matter") for line in lines)
    button = next(n for n, line in enumerate((write / "lead.mjml.j2").read_text().splitlines(), 1)
                  if "<mj-buton" in line)
    assert f"templates/lead.mjml.j2:{button}: <mj-buton> is not an MJML tag (did you mean " \
        "<mj-button>?)" in lines
    assert "Traceback" not in result.stderr


def test_check_finds_email_problems(newsletter):
    newsletter.article("a", '![](https://img.example/sans-alt.jpg)\n\n[](https://vide.example/)\n\nTexte.',
                       lead=True, summary="Court")
    folder = newsletter.root / "templates"
    folder.mkdir()
    footer = (REPO / "templates" / "footer.mjml.j2").read_text()
    (folder / "footer.mjml.j2").write_text(
        footer.replace('<a href="{{ unsubscribe_url }}">{{ labels.unsubscribe }}</a>', ""))
    lines = newsletter.run("check").stdout.splitlines()
    assert "email of 2025-04-22: image without alt text: https://img.example/sans-alt.jpg" in lines
    assert "email of 2025-04-22: link without text: https://vide.example/" in lines
    assert "email of 2025-04-22: link missing from the text part: https://vide.example/" in lines
    assert any("no unsubscribe link" in line for line in lines)


def test_check_on_the_sample_finds_only_its_deliberately_bad_readers(sample):
    result = run_digest("check", cwd=sample)
    # the sample's recipients.csv shows an invalid and a duplicate line
    assert result.returncode == 1
    assert [line.split(":")[:2] for line in result.stdout.splitlines()] == [
        ["recipients.csv", "6"], ["recipients.csv", "7"]]


# -- languages ----------------------------------------------------------------------------------

def test_labels_can_be_overridden(newsletter):
    newsletter.add_config('[labels]\nread_more = "Continuer : la suite →"\n')
    newsletter.article("a", lead=True)
    newsletter.article("b", "Le marché ouvre samedi place des Tilleuls.",
                       title="Une brève")  # its "read more" link
    email = build(load(newsletter), DAY).email
    assert "Continuer\u202f: la suite →" in email.html
    assert "Lire la suite" not in email.html


def test_unknown_label_is_a_config_error(newsletter):
    newsletter.add_config('[labels]\nread_mor = "x"\n')
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 78
    assert 'unknown label "read_mor"; did you mean "read_more"?' in result.stderr


def test_english_email_reads_naturally(newsletter):
    newsletter.set_config(newsletter.config.read_text().replace('locale = "fr"', 'locale = "en"'))
    newsletter.article("a", "Word " * 500, title="Council votes: yes", lead=True, author="Sam")
    newsletter.article("b", title="Other story")
    email = build(load(newsletter), DAY).email
    for text in ("Tuesday, April 22, 2025", "Reading time: 3\u00a0min read", "By Sam",
                 "Read more →", "More stories today", "View in your browser", "Unsubscribe"):
        assert text in email.html, text
    assert "Council votes: yes" in email.html
    for french in ("Lire la suite", "Temps de lecture", "désabonner", "mardi"):
        assert french not in email.html


# -- dark mode and accessibility ------------------------------------------------------------

def test_dark_mode_and_accessibility_markup(sample):
    from digest.config import load_config

    html = build(load_config(sample / "digest.toml"), DAY).email.html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert '<html lang="fr" dir="ltr"' in html
    assert 'alt="Les berges de la Sorelle au petit matin' in html
    body = html[html.index("<body"):]
    first_text = body.index("Après deux ans")  # the preheader comes before anything visible
    assert first_text < body.index("Le Courrier de Val-Sorel")


def test_image_alt_defaults_to_the_title(newsletter):
    newsletter.article("a", title="Le pont neuf", image="https://img.example/p.jpg", lead=True)
    assert 'alt="Le pont neuf"' in build(load(newsletter), DAY).email.html


# -- web archive --------------------------------------------------------------------------------

def test_archive_pages_and_index_newest_first(sample):
    for day in ("2025-04-21", "2025-04-22"):
        assert run_digest("build", "--date", day, cwd=sample).returncode == 0
    archive = sample / "out" / "archive"
    index = (archive / "index.html").read_text()
    assert index.index("2025-04-22.html") < index.index("2025-04-21.html")
    assert "mardi 22 avril 2025" in index and "Berges de la Sorelle" in index
    page = (archive / "2025-04-22.html").read_text()
    assert "Berges de la Sorelle" in page and "Lire la suite" in page
    assert "%unsubscribe_url%" not in page and "Se désabonner" not in page
    email = (sample / "out" / "2025-04-22" / "digest.html").read_text()
    assert 'href="https://www.courrier-valsorel.example/lettre/2025-04-22.html"' in email


# -- link tracking ------------------------------------------------------------------------------

LINKS = LinksConfig(utm_source="lettre", utm_medium="email", utm_campaign="edition-{date}")


@pytest.mark.parametrize("url, expected", [
    ("https://x.example/a", "https://x.example/a?utm_source=lettre&utm_medium=email&utm_campaign=edition-2025-04-22"),
    ("https://x.example/a?id=3&b=", "https://x.example/a?id=3&b=&utm_source=lettre&utm_medium=email&utm_campaign=edition-2025-04-22"),
    ("https://x.example/a#commentaires", "https://x.example/a?utm_source=lettre&utm_medium=email&utm_campaign=edition-2025-04-22#commentaires"),
    ("https://x.example/a?utm_source=rss#f", "https://x.example/a?utm_source=rss&utm_medium=email&utm_campaign=edition-2025-04-22#f"),
    ("mailto:redaction@x.example", "mailto:redaction@x.example"),
])
def test_tracking_parameters(url, expected):
    assert with_tracking(url, LINKS, DAY) == expected


def test_tracking_goes_on_article_links_only(newsletter):
    newsletter.add_config('[links]\nutm_source = "lettre"\nutm_campaign = "{date}"\n')
    newsletter.article("a", lead=True, url="https://journal.example/a?x=1#haut")
    email = build(load(newsletter), DAY).email
    assert ("https://journal.example/a?x=1&amp;utm_source=lettre&amp;utm_campaign=2025-04-22#haut"
            in email.html)
    assert ("https://journal.example/a?x=1&utm_source=lettre&utm_campaign=2025-04-22#haut"
            in email.text)
    assert "%unsubscribe_url%" in email.html  # untouched
    archive_links = [part for part in email.html.split('href="')[1:] if "/archives/" in part]
    assert archive_links and all("utm_" not in link.split('"')[0] for link in archive_links)


def test_check_finds_undefined_variables_in_branches_the_real_edition_never_reaches(newsletter):
    newsletter.article("seul", "Un article sans image ni autre source.", lead=True)  # no groups
    folder = newsletter.root / "templates"
    folder.mkdir()
    blurb = (REPO / "templates" / "blurb.mjml.j2").read_text()
    (folder / "blurb.mjml.j2").write_text(blurb.replace("{{ other.source }}", "{{ other.sourse }}"))
    assert newsletter.run("build", "--date", "2025-04-22").returncode == 0  # not reached today
    result = newsletter.run("check")
    assert result.returncode == 1
    assert result.stdout.startswith("templates/blurb.mjml.j2:")
    assert ("'sourse'" in result.stdout
            and "sample edition where every field is set" in result.stdout)
