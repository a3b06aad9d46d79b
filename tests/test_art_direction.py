"""The email as an art director and an email developer audit it, in Chromium: a masthead that
wraps on a phone with or without <style>, headlines above their excerpts, accents kept in
Outlook.com's dark mode, inline backgrounds on headings, the inbox's List-Id, and links a
screen reader tells apart."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from browser import chromium
from conftest import copy_sample, run_digest

from digest.deliver import message_file_name

DAY = "2025-04-22"
LONG_NAME = "La Gazette du Vallon et de la Haute-Sorne"
_STYLE = re.compile(r"<style\b.*?</style>", re.DOTALL | re.IGNORECASE)


@pytest.fixture(scope="module")
def long_named(tmp_path_factory):
    """The sample under a long name, built and sent with the file backend."""
    root = copy_sample(tmp_path_factory.mktemp("art") / "sample")
    config = root / "digest.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'name = "Le Courrier de Val-Sorel"', f'name = "{LONG_NAME}"'), encoding="utf-8")
    sent = run_digest("send", "--date", DAY, cwd=root)
    assert sent.returncode == 0, sent.stderr
    return root


def opened(browser, html: str, width: int = 375):
    page = browser.new_page(viewport={"width": width, "height": 800})
    # the sample's pictures point at the network: off, as a reader with images blocked
    page.route("**/*", lambda route: route.abort() if route.request.url.startswith("http")
               else route.continue_())
    page.set_content(html)
    return page


def test_a_long_masthead_wraps_within_a_phone_with_and_without_style(long_named):
    html = (long_named / "out" / DAY / "digest.html").read_text(encoding="utf-8")
    assert LONG_NAME in html
    with chromium() as browser:
        for shown in (html, _STYLE.sub("", html)):  # the Gmail apps reading other accounts
            for width in (320, 375):
                page = opened(browser, shown, width)
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"{width} px wide page scrolls to {scroll} px"
                page.close()


def test_blurb_headlines_stand_above_their_excerpts_with_rules_between(long_named):
    html = (long_named / "out" / DAY / "digest.html").read_text(encoding="utf-8")
    with chromium() as browser:
        for width in (375, 800):
            page = opened(browser, html, width)
            sizes = page.evaluate("""() => [...document.querySelectorAll('.blurb')]
                .filter(b => b.querySelector('h3')).map(b => [
                parseFloat(getComputedStyle(b.querySelector('h3')).fontSize),
                parseFloat(getComputedStyle(b.querySelector('.excerpt')).fontSize)])""")
            assert sizes and all(h >= 1.2 * e for h, e in sizes), (width, sizes)
            rules = page.locator(".blurb-rule").count()
            assert rules == len(sizes) - 1, "a hairline between blurbs"
            page.close()


def test_outlook_dark_mode_keeps_the_accents(long_named):
    """Outlook.com marks what it recolours with data-ogsc / data-ogsb: set on the body, every
    [data-ogsc] rule applies, as in its dark mode."""
    html = (long_named / "out" / DAY / "digest.html").read_text(encoding="utf-8")
    with chromium() as browser:
        page = opened(browser, html, 800)
        page.evaluate("document.body.setAttribute('data-ogsc', '');"
                      "document.body.setAttribute('data-ogsb', '')")
        colour = page.evaluate("""() => {
            const of = (s) => getComputedStyle(document.querySelector(s)).color;
            return {body: of('.lead-body p'), kicker: of('.kicker div'),
                    blurb_kicker: of('.blurb-kicker'), more: of('.more a'),
                    excerpt: of('.excerpt'), title: of('.blurb h3 a'),
                    rule: getComputedStyle(document.querySelector('.section-rule p'))
                          .borderTopColor,
                    card: getComputedStyle(document.querySelector('.card td'))
                          .backgroundColor}; }""")
        page.close()
    assert colour["body"] == colour["title"] == "rgb(236, 231, 222)", colour
    for accent in ("kicker", "blurb_kicker", "more"):
        assert colour[accent] not in (colour["body"], colour["excerpt"]), (accent, colour)
    assert colour["excerpt"] != colour["body"]
    assert colour["rule"] not in (colour["card"], "rgb(29, 29, 27)"), colour


def test_every_heading_has_an_inline_background(long_named):
    html = (long_named / "out" / DAY / "digest.html").read_text(encoding="utf-8")
    headings = re.findall(r"<h[1-3]\b[^>]*>", html)
    assert len(headings) >= 3
    assert all(re.search(r'style="[^"]*background', h) or
               re.search(r"style='[^']*background", h) for h in headings), headings


def test_a_readers_copy_has_a_list_id_and_read_more_links_a_screen_reader_tells_apart(
        long_named):
    outbox = long_named / "out" / DAY / "outbox"
    reader = (long_named / "recipients.csv").read_text().splitlines()[1].split(",")[0]
    message = email.message_from_bytes((outbox / message_file_name(reader)).read_bytes(),
                                       policy=policy.default)
    assert message["List-Id"].strip() == "<la-gazette-du-vallon-et-de-la-haute-sorn." \
        "courrier-valsorel.example>"
    html = message.get_body(("html",)).get_content()
    labels = re.findall(r'<a href="[^"]+" aria-label="([^"]+)"', html)
    assert len(labels) >= 6 and len(set(labels)) == len(labels), labels
    assert all(label.startswith("Lire la suite : ") and "→" not in label for label in labels)


def test_check_warns_of_a_long_subject_a_hidden_name_and_webp_pictures(newsletter):
    newsletter.article("une", "Le conseil a voté. " * 40, lead=True,
                       title="Le conseil municipal vote un plan de quatorze millions d'euros "
                             "pour les berges", image="https://img.example/berges.webp")
    checked = newsletter.run("check")
    assert re.search(r"the subject is \d\d characters; phones show about 60", checked.stdout)
    assert 'newsletter.sender\'s name "La rédaction" does not say "La Gazette de Test"' in \
        checked.stdout
    assert "articles/une.md: image https://img.example/berges.webp is WebP" in checked.stdout
