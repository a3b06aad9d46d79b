"""Templates, MJML, inlining, sanitization and overrides, through the real renderer."""

import re
from datetime import date

import pytest
from conftest import build, load

from digest.errors import TemplateError
from digest.rendering.render import BUILTIN_TEMPLATES

DAY = date(2025, 4, 22)


def built(newsletter):
    return build(load(newsletter), DAY)


def test_title_with_script_shows_as_text(newsletter):
    newsletter.article("xss", title='<script>alert("x")</script> Titre & co', lead=True)
    newsletter.article("autre", title="<img src=x onerror=alert(1)>")
    email = built(newsletter).email
    assert "<script" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "<img src=x" not in email.html and "&lt;img src=x onerror=alert(1)&gt;" in email.html
    # plain text stays plain (with French quotes: typography applies to titles)
    assert '<script>alert(«\u202fx\u202f»)</script> Titre & co' in email.text


def test_body_html_is_sanitized(newsletter):
    newsletter.article(
        "corps",
        '<p onclick="steal()">Texte <a href="javascript:alert(1)">lien</a></p>\n\n'
        "<script>alert(1)</script>\n\n<iframe src='https://evil.example'></iframe>\n\n"
        '<img src="https://img.example/a.jpg" onerror="alert(1)" alt="a">\n\n'
        "[ok](https://example.org) et [pas ok](vbscript:msgbox)",
        lead=True,
    )
    html = built(newsletter).email.html
    assert "<script" not in html.lower() and "<iframe" not in html.lower()
    assert not re.search(r"\son\w+\s*=", html)
    assert not re.search(r"(href|src)\s*=\s*[\"']?\s*(javascript|vbscript):", html, re.IGNORECASE)
    assert 'href="https://example.org"' in html
    assert 'src="https://img.example/a.jpg"' in html


def test_email_structure(sample):
    from digest.config import load_config

    result = build(load_config(sample / "digest.toml"), DAY)
    html = result.email.html
    assert html.startswith("<!doctype html>")
    assert '<html lang="fr"' in html
    assert "Le Courrier de Val-Sorel" in html and "mardi 22 avril 2025" in html
    assert "Temps de lecture\u202f: 7\u00a0min de lecture" in html
    assert html.count("Lire la suite →") == 1 + len(result.edition.blurbs)
    assert "Voir dans le navigateur" in html and "Se désabonner" in html
    assert "https://www.courrier-valsorel.example/lettre/2025-04-22.html" in html
    assert "%unsubscribe_url%" in html
    # the preheader: the lead's excerpt, hidden, first in the body
    body = html[html.index("<body"):]
    preheader = re.search(r'<div class="preheader" style="(display:none[^"]*)">Après deux ans',
                          body)
    assert preheader, body[:600]
    # hidden without tiny or low-contrast text, which spam filters score
    assert "mso-hide:all" in preheader.group(1)
    assert "color" not in preheader.group(1) and "font-size" not in preheader.group(1)
    # the lead's first three paragraphs keep their sub-heading
    assert html.count("<h2") >= 2
    # blurbs end with " ..." unless they fit
    assert " ..." in html


def test_inline_css_is_applied_and_media_queries_kept(sample):
    from digest.config import load_config

    html = build(load_config(sample / "digest.toml"), DAY).email.html
    head, body = html.split("<body", 1)
    # a rule from <mj-style inline="inline"> lands in style attributes...
    assert re.search(r'<a href="[^"]+"[^>]* style="[^"]*color:#b3151b', body)
    # ...and leaves no plain <style> copy of itself behind
    assert ".blurb .more a" not in head
    # MJML's responsive classes and the theme's media queries stay in <style>
    assert "@media only screen and (min-width: 480px)" in head
    assert ".mj-column-per-100" in head
    assert "max-width: 480px" in head
    assert "fonts.googleapis.com" not in html


def letters(number: int) -> str:
    """A number spelt with letters: words made from it are unlike any other article's."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = "abcdefghijklmnopqrstuvwxyz"[digit] + text
        if number == 0:
            return text


def test_many_blurbs_stay_under_gmail_clip(newsletter):
    newsletter.set_config('[ranking]\nblurbs = 30\n')
    for i in range(31):
        text = " ".join(f"{letters(i):a>2}{letters(j):a>2}x" for j in range(240))  # 31 stories
        newsletter.article(f"a{i}", text, title=f"Titre numéro {i}",
                           category="Ville", image="https://img.example/a.jpg")
    result = built(newsletter)
    assert len(result.edition.blurbs) == 30
    assert result.email.html_bytes < 102 * 1024
    assert not any("Gmail" in p.message for p in result.problems)


def test_oversized_email_warns_with_its_size(newsletter):
    newsletter.article("long", "Un paragraphe de texte assez long pour peser. " * 3000, lead=True)
    result = built(newsletter)
    (problem,) = [p for p in result.problems if "Gmail" in p.message]
    assert re.match(r"\d+ KB, over Gmail's 102 KB limit", problem.message)


def write_template(newsletter, name, content):
    folder = newsletter.root / "templates"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(content, encoding="utf-8")


def test_a_partial_can_be_overridden_alone(newsletter):
    # two different stories: two near-identical placeholder texts would be grouped as one
    newsletter.article("a", "Le marché couvert rouvre samedi.", title="Article A")
    newsletter.article("b", "La chorale donne son concert d'été.", title="Article B",
                       date="2025-04-22T07:00:00+02:00")
    write_template(newsletter, "blurb.mjml.j2",
                   '<mj-text css-class="blurb">PERSO {{ blurb.title }}</mj-text>\n')
    html = built(newsletter).email.html
    assert "PERSO Article B" in html
    assert "Le conseil" not in html
    assert "Voir dans le navigateur" in html  # the other partials still come from the theme


def test_template_syntax_error_names_file_and_line(newsletter):
    newsletter.article("a")
    builtin = (BUILTIN_TEMPLATES / "lead.mjml.j2").read_text().splitlines()
    builtin.insert(2, "{% if lead.title %}")  # never closed
    write_template(newsletter, "lead.mjml.j2", "\n".join(builtin))
    with pytest.raises(TemplateError) as info:
        built(newsletter)
    assert re.match(r"templates/lead\.mjml\.j2:\d+: ", str(info.value))
    assert "endif" in str(info.value)


def test_undefined_variable_names_file_and_line(newsletter):
    newsletter.article("a")
    write_template(newsletter, "footer.mjml.j2",
                   "<mj-section><mj-column>\n<mj-text>\n{{ newsletter.adresse }}</mj-text>\n"
                   "</mj-column></mj-section>\n")
    with pytest.raises(TemplateError) as info:
        built(newsletter)
    assert str(info.value).startswith("templates/footer.mjml.j2:3: ")
    assert "adresse" in str(info.value)


def test_mjml_error_is_reported_like_a_template_error(newsletter):
    newsletter.article("a")
    write_template(newsletter, "footer.mjml.j2", "<mj-section><mj-column><mj-text><p>non fermé"
                   "</mj-text></mj-column></mj-section>\n")
    with pytest.raises(TemplateError) as info:
        built(newsletter)
    assert "MJML error" in str(info.value)
    assert "digest.mjml.j2" in str(info.value)


def test_template_error_through_the_cli_is_one_line_without_traceback(newsletter):
    newsletter.article("a")
    write_template(newsletter, "header.mjml.j2", "{{ date_long | nofilter }}\n")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 65  # the newsroom's own files: the status a send holds with
    assert result.stderr.startswith("error: templates/header.mjml.j2:1: ")
    assert "Traceback" not in result.stderr


def test_subject_is_a_configurable_template(newsletter):
    newsletter.set_config(
        '[newsletter]\nname = "La Gazette"\n'
        'subject = "{{ newsletter.name }} – {{ date_long }} : {{ lead.title }}"\n'
    )
    newsletter.article("a", title="Grande nouvelle")
    subject = built(newsletter).email.subject
    assert subject == "La Gazette – mardi 22 avril 2025\u202f: Grande nouvelle"


def test_english_locale(newsletter):
    newsletter.set_config('[newsletter]\nlocale = "en"\n')
    newsletter.article("a", title="Big news: yes!", lead=True)
    newsletter.article("b", title="Other")
    email = built(newsletter).email
    assert '<html lang="en"' in email.html
    assert "Tuesday, April 22, 2025" in email.html
    assert "Read more →" in email.html and "Lire la suite" not in email.html
    assert "Big news: yes!" in email.html  # no French spacing in English
