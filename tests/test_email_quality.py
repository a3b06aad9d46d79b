"""The email as a reader, an art director and an email developer see it: real Chromium (layout,
axe-core, the accessibility tree), html-validate, Debian's SpamAssassin, the MIME message.

axe-core and html-validate come from npm into .ci/node (tests/run.sh installs them). html-validate
runs with tests/data/html-validate.json: the recommended rules less those an email must break,
each for a reason:
  no-inline-style          inline CSS is how email clients get styles (Gmail drops <style> often)
  no-conditional-comment   MJML's <!--[if mso]> blocks are what Outlook for Windows reads
  no-deprecated-attr       align, bgcolor, cellpadding, width on tables: Outlook's Word engine
                           ignores the CSS equivalents
  doctype-style            MJML writes <!doctype html> in lower case, which is valid HTML
  long-title               the <title> is the email's subject, written by the newsroom
  prefer-native-element    MJML's wrapper is <div role="article" aria-roledescription="email">,
                           which screen readers announce as an email
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from browser import chromium
from conftest import REPO, copy_sample, run_digest

NODE = REPO / ".ci" / "node" / "node_modules"
AXE = NODE / "axe-core" / "axe.min.js"
HTML_VALIDATE = NODE / "html-validate" / "bin" / "html-validate.mjs"
SPAMASSASSIN = "/usr/bin/spamassassin"
PHONE_HEIGHT = 667  # a 375 px wide phone's screen


def _sample(tmp_path_factory, name: str, toml_edit: tuple[str, str] = ("", "")) -> Path:
    root = copy_sample(tmp_path_factory.mktemp(name) / "sample")
    if toml_edit[0]:
        config = root / "digest.toml"
        text = config.read_text(encoding="utf-8")
        assert toml_edit[0] in text
        config.write_text(text.replace(*toml_edit), encoding="utf-8")
    for day in ("2025-04-21", "2025-04-22"):
        result = run_digest("build", "--date", day, cwd=root)
        assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    return _sample(tmp_path_factory, "quality")


@pytest.fixture(scope="module")
def email_html(sample_root) -> Path:
    return sample_root / "out" / "2025-04-22" / "digest.html"


def _node_tool(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} missing: tests/run.sh installs it (npm install --prefix .ci/node)")


def _offline(page) -> None:
    """The sample's images point at the network: blocked, as a reader with images off sees it."""
    page.route("**/*", lambda route: route.abort() if route.request.url.startswith("http")
               else route.continue_())


# -- layout ---------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_layout_at_phone_and_desktop_widths(email_html, scheme):
    with chromium() as browser:
        for width in (320, 375, 600):
            page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
            _offline(page)
            page.goto(email_html.as_uri())
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{width}px ({scheme}) scrolls sideways to {scroll}px"
            # the masthead stays on one line, even at 320 px
            lines = page.evaluate("""() => {
                const a = document.querySelector('.masthead a');
                const height = parseFloat(getComputedStyle(a).lineHeight);
                return [a.getBoundingClientRect().height, height, a.getClientRects().length];
            }""")
            assert lines[2] == 1 and lines[0] < 1.5 * lines[1], f"masthead wraps at {width}px"
            # the standfirst is shown, between the title and the body
            standfirst = page.locator(".standfirst p")
            assert standfirst.is_visible()
            assert standfirst.inner_text().startswith("Après deux ans de concertation")
            box, title = standfirst.bounding_box(), page.locator("h1").bounding_box()
            assert box["y"] > title["y"] and box["x"] + box["width"] <= width
            page.close()


def _first_blurb_screens(html: Path) -> float:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": PHONE_HEIGHT})
        _offline(page)
        page.goto(html.as_uri())
        top = page.evaluate("document.querySelector('.blurb h3').getBoundingClientRect().top")
        return top / PHONE_HEIGHT


def test_a_shorter_lead_brings_the_other_stories_up(tmp_path_factory, email_html):
    whole = _sample(tmp_path_factory, "whole", ("paragraphs = 3", "paragraphs = 0"))
    whole_html = whole / "out" / "2025-04-22" / "digest.html"
    assert _first_blurb_screens(whole_html) > 5  # the whole lead: the other stories far down
    assert _first_blurb_screens(email_html) < 2.5  # the sample: three paragraphs
    # after the whole lead, no "read more" to what was just read: where it lives, discreetly
    lead = whole_html.read_text(encoding="utf-8")
    lead = lead[lead.index('class="lead-body"'):lead.index("Les autres titres du jour")]
    assert "Lire la suite" not in lead and "Voir sur le site" in lead
    whole_text = (whole / "out" / "2025-04-22" / "digest.txt").read_text(encoding="utf-8")
    lead_text = whole_text[:whole_text.index("LES AUTRES TITRES DU JOUR")]
    assert "Lire la suite" not in lead_text and "Voir sur le site" in lead_text
    root = email_html.parent.parent.parent
    html = email_html.read_text(encoding="utf-8")
    # three paragraphs, then "Lire la suite →" and the whole article's reading time
    body = html[html.index('class="lead-body"'):html.index("Les autres titres du jour")]
    body, after = body[:body.index("À lire aussi")], body[body.index("À lire aussi"):]
    assert body.count("</p>") == 3 and body.count("</h2>") == 1
    after = after[after.index("Lire la suite →"):]
    assert "Temps de lecture\u202f: 7\u00a0min de lecture" in after or \
        "Temps de lecture\u202f: 7 min de lecture" in after
    text = (root / "out" / "2025-04-22" / "digest.txt").read_text(encoding="utf-8")
    assert "(Temps de lecture\u202f: 7\u00a0min de lecture)" in text
    assert "Des zones humides" not in text  # the fourth paragraph's sub-head is left out


# -- accessibility ---------------------------------------------------------------------------

def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("critical", "serious")]


def _accessible_names(page) -> list[str]:
    session = page.context.new_cdp_session(page)
    tree = session.send("Accessibility.getFullAXTree")
    return [str(node.get("name", {}).get("value", "")) for node in tree["nodes"]]


@pytest.mark.parametrize("page_name", ["2025-04-22/digest.html", "archive/2025-04-22.html",
                                       "archive/index.html"])
def test_axe_finds_nothing_serious_and_names_read_as_text(sample_root, page_name):
    _node_tool(AXE)
    with chromium() as browser:
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
            _offline(page)
            page.goto((sample_root / "out" / page_name).as_uri())
            serious = _axe(page)
            assert not serious, [(v["id"], v["impact"], v["nodes"][0]["html"][:120])
                                 for v in serious]
            names = _accessible_names(page)
            assert not [n for n in names if "\\u{" in n]
            if page_name.endswith("digest.html"):
                assert any(n.startswith("Berges de la Sorelle\u202f: un plan") for n in names)
            page.close()


def test_heading_outline_and_sizes_follow_it(email_html):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 600, "height": 900})
        _offline(page)
        page.goto(email_html.as_uri())
        headings = page.evaluate("""[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h =>
            [Number(h.tagName[1]), h.innerText, parseFloat(getComputedStyle(h).fontSize)])""")
    levels = [level for level, _, _ in headings]
    assert levels.count(1) == 1 and levels[0] == 1  # the lead's title, first
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))  # no skipped level
    section = next(i for i, (level, text, _) in enumerate(headings)
                   if text.lower() == "les autres titres du jour")
    assert headings[section][0] == 2
    assert levels[section + 1:] == [3] * 6  # the six other stories, under their section
    assert set(levels[1:section]) == {2}  # the lead's sub-heads
    size = {level: [s for lv, _, s in headings if lv == level] for level in (1, 2, 3)}
    assert max(size[1]) > max(size[2]) and min(size[2]) > max(size[3])


# -- markup ----------------------------------------------------------------------------------

def test_final_html_keeps_what_clients_need(email_html):
    html = email_html.read_text(encoding="utf-8")
    head = html[: html.index("<body")]
    hero = re.search(r'<img [^>]*src="https://picsum[^"]*"[^>]*>', html).group()
    assert ' width="592"' in hero  # the text column's width, in pixels: not "100%"
    assert 'height="auto"' not in html and 'bgcolor="#ebe6dd"' not in html
    for tag in re.findall(r"<img\b[^>]*>", html):
        assert re.search(r'\swidth="\d+"', tag), tag
    # Outlook.com's dark mode survives the inliner
    assert len(re.findall(r"\[data-ogsc\]", head)) >= 5 and "[data-ogsb]" in head
    assert '<meta name="x-apple-disable-message-reformatting">' in head
    assert 'name="format-detection" content="telephone=no' in head
    assert "\\u{" not in html
    assert 'aria-label="Berges de la Sorelle\u202f: un plan de 14 millions' in html
    # the footer: publisher, postal address, why you get it, how to write and leave
    footer = html[html.rindex("Édition du"):]
    for part in ("Le Courrier de Val-Sorel SAS", "12 quai des Tanneurs, 71990 Val-Sorel",
                 "Vous recevez cette lettre", "mailto:courrier@courrier-valsorel.example",
                 "Se désabonner"):
        assert part in footer


def test_premailer_keeps_widths_and_outlook_dark_mode_rules():
    from digest.rendering.render import inline_css

    html = ('<html><head><style>.x img { width: 100%; background-color: #eee } .y { color: red }'
            '</style><style data-premailer="ignore">[data-ogsc] .y { color: #fff !important; }'
            '</style></head><body><div class="x"><img src="a.jpg" alt="a" width="640" '
            'style="width:100%"></div><p class="y">t</p></body></html>')
    out = inline_css(html)
    assert 'width="640"' in out and 'width="100%"' not in out and "bgcolor" not in out
    assert 'bgcolor="#f3f0ea"' in inline_css('<html><head><style>body { background-color: '
                                             '#f3f0ea }</style></head><body></body></html>')
    assert "[data-ogsc] .y" in out
    assert 'style="color:red"' in out  # the other rules are still inlined
    # without the ignore mark the inliner drops the rule, which is why the theme sets it
    assert "[data-ogsc]" not in inline_css(html.replace(' data-premailer="ignore"', ""))


def test_html_validate_reports_no_errors(sample_root):
    _node_tool(HTML_VALIDATE)
    pages = [sample_root / "out" / name for name in
             ("2025-04-21/digest.html", "2025-04-22/digest.html", "archive/2025-04-22.html",
              "archive/index.html")]
    result = subprocess.run(
        ["node", str(HTML_VALIDATE), "--config", str(REPO / "tests/data/html-validate.json"),
         "--formatter", "json", *map(str, pages)],
        capture_output=True, text=True, timeout=120, check=False)
    reports = json.loads(result.stdout or "[]")
    errors = [(Path(r["filePath"]).name, m["ruleId"], m["message"]) for r in reports
              for m in r["messages"] if m["severity"] == 2]
    assert not errors, errors[:10]
    assert result.returncode == 0, result.stderr


def test_mrml_attribute_escapes_never_reach_the_html(newsletter):
    title = 'Un titre\u202fà\u00a0espaces, "guillemets" et \\ barre'
    newsletter.article("a", "Texte. " * 30, title=title, lead=True,
                       image="https://img.example/a.jpg", image_alt="Légende\u202f: oui")
    from conftest import build, load

    html = build(load(newsletter), __import__("datetime").date(2025, 4, 22)).email.html
    assert "\\u{" not in html and "\\\\" not in html
    label = re.search(r'aria-label="([^"]*)"', html).group(1)
    from html import unescape

    assert unescape(label) == "Un titre\u202fà\u00a0espaces, «\u202fguillemets\u202f» et \\ barre"
    assert re.search(r'alt="Légende(\u202f|&#8239;): oui"', html)


# -- the message -----------------------------------------------------------------------------

def test_a_readers_copy_scores_low_with_spamassassin(tmp_path):
    """A reader's copy of the sample as the file backend writes it, with its signed unsubscribe
    link (a `?email=` link would cost GB_CUSTOM_HTM_URI's 1.0)."""
    root = copy_sample(tmp_path / "sample")
    assert "{unsubscribe_token}" in (root / "digest.toml").read_text(encoding="utf-8")
    result = run_digest("send", "--date", "2025-04-22", "--to", "lea@lecteurs.example", cwd=root,
                        env={"DIGEST_SECRET": "a-secret-for-the-sample-only"})
    assert result.returncode == 0, result.stderr
    message = (root / "out" / "2025-04-22" / "outbox" / "lea@lecteurs.example.eml").read_bytes()
    lines = message.split(b"\r\n") if b"\r\n" in message else message.split(b"\n")
    assert [ln for ln in lines if len(ln) > 78] == []  # the signed link's header line too
    assert b"Content-Transfer-Encoding: quoted-printable" in message
    if not Path(SPAMASSASSIN).exists():
        pytest.skip(f"{SPAMASSASSIN} not installed (tests/run.sh installs Debian's spamassassin)")
    scored = subprocess.run([SPAMASSASSIN, "-L", "-t"], input=message, capture_output=True,
                            timeout=120, check=False)
    report = scored.stdout.decode("utf-8", "replace")
    score = float(re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report).group(1))
    assert score < 1.0, report[report.index("Content analysis"):]
    for rule in ("HTML_FONT_LOW_CONTRAST", "LONG_INVISIBLE_TEXT", "MIME_QP_LONG_LINE"):
        assert rule not in report


def test_quoted_printable_and_headers_stay_within_76_columns():
    from email import message_from_bytes, policy

    from digest.message import to_message
    from digest.models import Email

    long_line = "Une très longue ligne sans retour, " * 40
    email = Email(subject="Sujet\u202f: une édition", html=f"<p>{long_line}</p>", text=long_line,
                  preheader="", sender="La rédaction <r@example.org>")
    unsubscribe = ("<https://example.org/desabonnement/lecteur%40example.org>, "
                   "<mailto:desabonnement@example.org?subject=unsubscribe>")
    raw = to_message(email, to="a@example.org",
                     extra_headers={"List-Unsubscribe": unsubscribe}).as_bytes()
    assert max(len(line) for line in raw.split(b"\n")) <= 77  # 76 and the \r
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe"] == unsubscribe  # folded, never encoded words
    assert b"=?utf-8?q?=3Chttps" not in raw
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain.rstrip("\n") == long_line


def test_plain_text_marks_sub_heads_and_wraps_at_76(email_html):
    text = (email_html.parent / "digest.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    heading = lines.index("Une promenade continue, du pont de Brenne à la filature")
    assert lines[heading + 1] == "-" * len(lines[heading])
    for line in lines:
        assert len(line) <= 76 or " " not in line.split("http")[0].strip() or "http" in line, line
    # no hyphenated word is cut at its hyphen
    assert not [ln for ln in lines if re.search(r"\w-$", ln)]


# -- images, archive ------------------------------------------------------------------------

def _png(path: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    raw = b"".join(b"\x00" + b"\x80\x60\x40" * 4 for _ in range(2))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 2, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _article_with_local_images(newsletter) -> None:
    _png(newsletter.articles / "images" / "une.png")
    _png(newsletter.articles / "images" / "carte.png")
    newsletter.article("image", "Un paragraphe.\n\n![La carte](images/carte.png)\n\nLa suite.",
                       title="Avec image", lead=True, image="images/une.png", image_width=400,
                       image_height=200, image_caption="La carte du projet",
                       image_credit="Photo : Mairie")


def test_local_images_are_published_under_assets_url(newsletter):
    newsletter.config.write_text(newsletter.config.read_text().replace(
        "[newsletter]\n", '[newsletter]\nassets_url = "https://cdn.gazette.example/lettre"\n', 1))
    _article_with_local_images(newsletter)
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    out = newsletter.root / "out" / "2025-04-22"
    assert (out / "assets" / "images" / "une.png").read_bytes() == \
        (newsletter.articles / "images" / "une.png").read_bytes()
    assert (out / "assets" / "images" / "carte.png").is_file()
    html = (out / "digest.html").read_text(encoding="utf-8")
    base = "https://cdn.gazette.example/lettre/2025-04-22/images/"
    hero = re.search(rf'<img [^>]*src="{base}une.png"[^>]*>', html).group()
    assert ' width="400"' in hero  # the image's own width, under the column's
    body = re.search(rf'<img [^>]*src="{base}carte.png"[^>]*>', html).group()
    assert re.search(r' width="\d+"', body)
    assert 'src="images/' not in html
    assert "La carte du projet" in html and "Photo\u202f: Mairie" in html


def test_local_images_without_assets_url_are_named_by_build_and_check(newsletter):
    _article_with_local_images(newsletter)
    newsletter.raw("ailleurs.md", "---\ntitle: Ailleurs\ndate: 2025-04-22\n---\n\n"
                   "Texte.\n\n![x](../../secret.png)\n")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0
    warnings = result.stderr.splitlines()
    assert any(w.startswith("warning: articles/image.md:") and "image: images/une.png"
               not in w and "newsletter.assets_url" in w for w in warnings), warnings
    assert any(re.match(r"warning: articles/image\.md:\d+: image 'images/carte\.png'", w)
               for w in warnings)
    assert any(w.startswith("warning: articles/ailleurs.md:8: image '../../secret.png' is "
                            "outside the articles folder") for w in warnings), warnings
    html = (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text(encoding="utf-8")
    assert "images/carte.png" not in html and "secret.png" not in html  # never a broken image
    checked = newsletter.run("check").stdout.splitlines()
    lines = [line for line in checked if "newsletter.assets_url" in line]
    assert {line.split(": image")[0] for line in lines} == {
        f"articles/image.md:{_line(newsletter, 'image.md', 'image: images/une.png')}",
        f"articles/image.md:{_line(newsletter, 'image.md', '![La carte]')}"}


def _line(newsletter, name: str, text: str) -> int:
    lines = (newsletter.articles / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_archive_pages_link_the_index_and_each_other(sample_root):
    archive = sample_root / "out" / "archive"

    def links(name: str) -> dict[str, str]:
        html = (archive / name).read_text(encoding="utf-8")
        nav = re.search(r'<nav class="archive-nav"[^>]*>(.*?)</nav>', html, re.DOTALL).group(1)
        return {text: href for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}

    assert links("2025-04-21.html") == {"Toutes les éditions": "index.html",
                                        "Édition suivante →": "2025-04-22.html"}
    assert links("2025-04-22.html") == {"← Édition précédente": "2025-04-21.html",
                                        "Toutes les éditions": "index.html"}


def test_check_asks_for_the_publisher_and_the_address(newsletter):
    newsletter.article("a", "Texte. " * 30, lead=True)
    lines = newsletter.run("check").stdout.splitlines()
    assert any(line.startswith("digest.toml: newsletter.publisher is not set") for line in lines)
    assert any(line.startswith("digest.toml: newsletter.address is not set") for line in lines)
    newsletter.config.write_text(newsletter.config.read_text().replace(
        "[newsletter]\n",
        '[newsletter]\npublisher = "Gazette SA"\naddress = "1 rue A, Paris"\n', 1))
    lines = newsletter.run("check").stdout.splitlines()
    assert not [line for line in lines if "newsletter.publisher" in line
                or "newsletter.address" in line]


def test_the_line_editors_are_told_to_type_stays_as_typed(tmp_path):
    assert run_digest("init", "lettre", cwd=tmp_path).returncode == 0
    folder = tmp_path / "lettre"
    assert run_digest("build", cwd=folder).returncode == 0
    (html,) = (folder / "out").glob("*/digest.html")
    assert re.search(r"<code[^>]*>lead: true</code>", html.read_text(encoding="utf-8"))
    (text,) = (folder / "out").glob("*/digest.txt")
    assert "`lead: true`" not in text.read_text() and "lead: true" in text.read_text()
