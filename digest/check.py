"""`digest check`: everything an editor can break, reported like a linter (path:line: message)."""

from __future__ import annotations

from datetime import date
from email.utils import parseaddr
from html import unescape
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from digest.config import Config, LeadConfig
from digest.engagement.links import ClickLinks
from digest.errors import ConfigError, DigestError, Problem, TemplateError
from digest.models import SAFE_BYTES, Article, Edition, Ranked, Role
from digest.rendering.render import environment_for, load_template, render, web_page
from digest.rendering.theme import templates
from digest.sources.markdown import image_problems
from digest.urls import served_url

PREHEADER_MIN_CHARS = 90
SUBJECT_MAX_CHARS = 60  # what a phone's inbox shows of a subject
PADDING_CHARACTERS = ("\u200c", "\u034f", "&zwnj;", "&#847;")

if TYPE_CHECKING:
    from digest.folder import Folder
    from digest.pipeline import Build
    from digest.sources import Gathered


class Pipeline(Protocol):
    """What checking needs of the pipeline above it (`Newsletter` gives both)."""

    def gather(self, day: date) -> Gathered: ...

    def build(self, day: date) -> Build: ...


def check_newsletter(folder: Folder, pipeline: Pipeline) -> list[str]:
    """Every problem found, one line each; an empty list when all is well."""
    config = folder.config
    gathered = pipeline.gather(date.today())  # reads and checks every article, whatever its day
    lines = [str(p) for p in gathered.problems]
    lines += _images(config, set(lines))
    template_errors = _template_syntax(config)
    lines += template_errors
    if not template_errors:
        template_errors = _template_branches(config)
        lines += template_errors
    lines += _unsubscribe_link(config)
    lines += _signup(config)
    lines += _tracking(config)
    lines += _recipients(folder)
    lines += _identity(config)
    if not template_errors:
        lines += _email(folder, pipeline, max(gathered.dates) if gathered.dates else None)
    return lines


def sample_edition(day: date, tz) -> Edition:
    """An edition where every field is set (image, author, grouped articles, a follow-up), so that
    rendering it reaches the branches a real edition may not: undefined variables hide there."""
    from datetime import datetime, time

    def article(n: int, image: str = "https://example.org/image.jpg", category: str = "Rubrique",
                author: str = "Auteur", summary: str = "Un résumé d'exemple.") -> Article:
        return Article(
            title=f"Titre d'exemple {n}", date=datetime.combine(day, time(8, n), tzinfo=tz),
            url=f"https://example.org/exemple-{n}", source=f"Source {n}",
            body_html="<p>Premier paragraphe.</p><h2>Sous-titre</h2><p>Second paragraphe.</p>"
                      '<p><img src="https://example.org/corps.jpg" alt="Corps"></p>',
            text="Premier paragraphe.\nSous-titre\nSecond paragraphe.", category=category,
            author=author, image=image, image_alt="Une image", summary=summary,
            standfirst="Un chapô d'exemple." if n == 1 else "", image_caption="Une légende",
            image_credit="Photo : Auteur", image_width=1280, image_height=720)

    def ranked(n: int, role: Role, **extra) -> Ranked:
        return Ranked(article(n), 1.0, {"priority": 1.0}, n, role, "exemple", n,
                      also=(article(n + 10), article(n + 20, image="", category="", author="")),
                      **extra)

    lead = ranked(1, Role.LEAD, follow_up=True)
    plain = Ranked(article(3, image="", category="", author="", summary=""), 0.5, {}, 3,
                   Role.BLURB, "exemple", 3)
    blurbs = (ranked(2, Role.BLURB, follow_up=True), plain)
    return Edition(day, lead, blurbs, (lead, *blurbs))


def _template_branches(config: Config) -> list[str]:
    from dataclasses import replace

    edition = sample_edition(date.today(), config.tz)
    shortened = replace(config, lead=LeadConfig(paragraphs=1))  # the "Lire la suite" branch
    problems: list[Problem] = []
    try:
        render(edition, config, problems)
        render(edition, shortened, problems)
        web_page(edition, config, problems)
    except DigestError as error:
        return [f"{line} (found with a sample edition where every field is set)"
                for line in str(error).splitlines()]
    return [str(problem) for problem in problems]


def _images(config: Config, known: set[str]) -> list[str]:
    """Every article's images that cannot go out (a path without newsletter.assets_url...)."""
    return [line for line in map(str, image_problems(config)) if line not in known]


def _identity(config: Config) -> list[str]:
    """The footer's publisher and postal address: the law asks for them (CAN-SPAM for commercial
    email) and readers and spam filters expect them everywhere."""
    return [f"{config.path.name}: newsletter.{key} is not set; the footer shows {what} "
            f"(CAN-SPAM asks for it, readers expect it): add {key} = \"...\" under [newsletter]"
            for key, what in (("publisher", "who publishes the newsletter"),
                              ("address", "the publisher's postal address"))
            if not getattr(config.newsletter, key).strip()]


def _recipients(folder: Folder) -> list[str]:
    """The recipients file's problems: missing, unreadable, its bad lines."""
    problems: list[Problem] = []
    try:
        for _ in folder.readers(problems.append):
            pass
    except DigestError as error:  # the message names the file
        return [*map(str, problems), *str(error).splitlines()]
    return [str(problem) for problem in problems]


def _signup(config: Config) -> list[str]:
    """Sign-ups need an address for their confirmation links, and their emails' templates."""
    if not config.signup.enabled:
        return []
    # lazy: the backends' module, for a newsletter that takes sign-ups only
    from digest.audience.notices import KINDS, notice_email
    from digest.audience.signups import NO_ADDRESS

    lines = []
    if not served_url(config.signup.url, config.delivery.unsubscribe_url, ""):
        lines.append(f"{config.path.name}: {NO_ADDRESS}")
    for kind in KINDS:
        try:
            notice_email(config, kind, {})
        except TemplateError as error:
            lines.append(str(error))
    return lines


def _tracking(config: Config) -> list[str]:
    """Click links need the address of digest serve and DIGEST_SECRET to sign them."""
    try:
        ClickLinks.for_config(config)
    except ConfigError as error:
        return [f"{config.path.name}: {error}"]
    return []


def _unsubscribe_link(config: Config) -> list[str]:
    """`{email}` in the link works, but lets anyone unsubscribe anyone and is scored as spam."""
    if "{email}" not in config.delivery.unsubscribe_url:
        return []
    try:
        text = config.path.read_text(encoding="utf-8").splitlines()
    except OSError:
        text = []
    line = next((n for n, t in enumerate(text, 1) if "unsubscribe_url" in t and "{email}" in t), 0)
    return [f"{config.path.name}:{line}: delivery.unsubscribe_url: {{email}} lets anyone "
            "unsubscribe anyone by editing a link, and puts the address in clear where spam "
            "filters score it; use {unsubscribe_token} and set DIGEST_SECRET (see docs/readers.md)"]


def _template_syntax(config: Config) -> list[str]:
    """Jinja syntax of every template, including ones the email does not reach yet."""
    env = environment_for(config)
    lines = []
    for template in templates(config):
        try:
            load_template(env, template.name, config)
        except DigestError as error:
            lines.append(str(error))
    return lines


def _email(folder: Folder, pipeline: Pipeline, day: date | None) -> list[str]:
    """Checks of the finished email, built for `day` (the most recent date with articles)."""
    config = folder.config
    if day is None:
        return [f"{config.sources.articles}: no articles at all, so the email could not be checked"]
    try:
        result = pipeline.build(day)
    except DigestError as error:
        return str(error).splitlines()
    where = f"email of {day}"
    email = result.email
    lines = []
    if email.html_bytes > SAFE_BYTES:
        lines.append(f"{where}: {email.html_bytes / 1024:.0f} KB, over {SAFE_BYTES // 1024} KB: "
                     "click tracking can push it past Gmail's 102 KB clip; lower ranking.blurbs "
                     "or shorten the lead")
    page = _Links()
    page.feed(email.html)
    for src in page.images_without_alt:
        lines.append(f"{where}: image without alt text: {src}")
    for href in page.links_without_text:
        lines.append(f"{where}: link without text: {href}")
    for href in sorted(set(page.links)):
        if href.startswith(("http://", "https://")) and href not in email.text:
            lines.append(f"{where}: link missing from the text part: {href}")
    unsubscribe = config.newsletter.unsubscribe_url
    if unsubscribe not in email.html:
        lines.append(f"{where}: no unsubscribe link; keep {{{{ unsubscribe_url }}}} in a template")
    if len(email.preheader) < PREHEADER_MIN_CHARS:
        lines.append(f"{where}: preheader is {len(email.preheader)} characters, under "
                     f"{PREHEADER_MIN_CHARS}: inboxes fill the rest with body text; give the lead "
                     "a longer summary")
    if not any(mark in email.html for mark in PADDING_CHARACTERS):
        lines.append(f"{where}: preheader is not padded; keep {{{{ preheader_padding }}}} after "
                     "{{ preheader }} in digest.mjml.j2")
    return lines + _inbox(config, result, where)


def _inbox(config: Config, result: Build, where: str) -> list[str]:
    """What the inbox shows: a subject phones cut, a sender name that hides the newsletter's,
    pictures Outlook 2007–2019 cannot show."""
    lines = []
    subject = result.email.subject
    if len(subject) > SUBJECT_MAX_CHARS:
        lines.append(f"{where}: the subject is {len(subject)} characters; phones show about "
                     f"{SUBJECT_MAX_CHARS}: keep newsletter.subject short, or the lead's title")
    sender = parseaddr(config.newsletter.sender)[0]
    if sender and config.newsletter.name.casefold() not in sender.casefold():
        lines.append(f"{config.path.name}: newsletter.sender's name \"{sender}\" does not say "
                     f"\"{config.newsletter.name}\": readers look for the newsletter's name in "
                     "their inbox")
    for ranked in (result.edition.lead, *result.edition.blurbs):
        if urlsplit(ranked.article.image).path.lower().endswith(".webp"):
            lines.append(f"{ranked.article.source}: image {ranked.article.image} is WebP, which "
                         "Outlook 2007–2019 for Windows cannot show; prefer JPEG or PNG")
    return lines


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images_without_alt: list[str] = []
        self.links_without_text: list[str] = []
        self._open: list[list] = []  # [href, has_text]

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(unescape(attributes["href"]))
            self._open.append([attributes["href"], False])
        elif tag == "img":
            alt = (attributes.get("alt") or "").strip()
            if not alt:
                self.images_without_alt.append(attributes.get("src", "?"))
            elif self._open:
                self._open[-1][1] = True

    def handle_data(self, data):
        if self._open and data.strip():
            self._open[-1][1] = True

    def handle_endtag(self, tag):
        if tag == "a" and self._open:
            href, has_text = self._open.pop()
            if not has_text:
                self.links_without_text.append(href)
