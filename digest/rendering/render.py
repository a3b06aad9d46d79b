"""Edition → Email: Jinja2 → MJML → HTML (MRML) → inlined CSS, plus the plain-text part.

Templates are looked up in the newsletter's `templates/` folder first, then in the built-in
theme, file by file, so an editor overrides one partial without copying the others.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
from datetime import date
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from types import CodeType

import jinja2
import jinja2.ext
from markupsafe import Markup

from digest.audience.signing import PREFERENCES_PLACEHOLDER, preferences_link
from digest.config import Config
from digest.dates import local_date, long_date
from digest.engagement.links import ClickLinks
from digest.errors import Problem, TemplateError
from digest.headers import header_text
from digest.labels import labels_for
from digest.models import Edition, Email, Ranked
from digest.rendering.inliner import OPTIONS, memo, premailer_class
from digest.rendering.lead_body import first_paragraphs, outline, sized_images, text_blocks
from digest.rendering.mjml_lint import MARK_VERSION, Finding, lint, mark, unmarked
from digest.text import (
    excerpt,
    html_to_text,
    html_typography,
    reading_minutes,
    typography,
    wrap,
)
from digest.urls import with_tracking

BUILTIN_TEMPLATES = Path(__file__).parent.parent / "templates"  # digest/templates
HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
# Invisible characters after the preheader keep inboxes from filling the preview with body text.
PREHEADER_PADDING = Markup("&#847;&zwnj;&nbsp;" * 40)
LAYOUT_WIDTH = 640  # the email's column (mj-body width)
GUTTER = 24  # the cards' side padding
TEXT_WIDTH = LAYOUT_WIDTH - 2 * GUTTER  # the widest an image inside a card is shown


def environment_for(config: Config) -> jinja2.Environment:
    """The newsletter's templates, compiled ones kept in .digest/jinja/ between runs."""
    return environment(config.resolve(config.newsletter.templates),
                       config.root / ".digest" / "jinja")


@lru_cache(maxsize=8)
def environment(templates_dir: Path, bytecode_dir: Path | None = None) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(templates_dir), jinja2.FileSystemLoader(BUILTIN_TEMPLATES)]
    )
    env = jinja2.Environment(
        loader=loader,
        bytecode_cache=_BytecodeCache(str(bytecode_dir)) if bytecode_dir else None,
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2", "html.j2")),
        undefined=jinja2.StrictUndefined,
        extensions=[_MjmlMarks],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    env.filters["mjml_attr"] = mjml_attr
    env.filters["spoken"] = spoken
    env.filters["wrap"] = wrap
    return env


class _MjmlMarks(jinja2.ext.Extension):
    """Each MJML tag of a template marked with its line, for `digest.rendering.mjml_lint`."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return mark(source, name) if name and name.endswith(".mjml.j2") else source


# Compiled templates by (template and file, source checksum), for every newsletter this process
# renders (the preview, a test run): the built-in theme's files are the same for all of them.
_COMPILED: dict[tuple[str, str], CodeType] = {}


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs: compiling them all is about 20 ms of every cold
    build. A source that changed is compiled again (Jinja compares checksums); a folder that
    cannot be read or written only means no cache."""

    def get_source_checksum(self, source: str) -> str:
        """The source's, and the marks' version: code compiled without marks is not served."""
        return super().get_source_checksum(f"{MARK_VERSION}\0{source}")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = _COMPILED.get((bucket.key, bucket.checksum))
        if code is None:
            with contextlib.suppress(OSError):
                super().load_bytecode(bucket)
            if bucket.code is not None:
                _COMPILED[bucket.key, bucket.checksum] = bucket.code
            return
        bucket.code = code
        if not os.path.exists(os.path.join(self.directory, self.pattern % (bucket.key,))):
            self.dump_bytecode(bucket)  # this newsletter's next process finds it too

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is not None:
            _COMPILED[bucket.key, bucket.checksum] = bucket.code
        with contextlib.suppress(OSError):
            Path(self.directory).mkdir(parents=True, exist_ok=True)
            super().dump_bytecode(bucket)


def mjml_attr(value: object) -> Markup:
    """Text for an MJML attribute or <mj-title>, escaped so that MRML keeps it: MRML writes
    whitespace other than the space, invisible and combining characters, and backslashes of
    attribute values as Rust escapes (`\\u{202f}`), which screen readers then read out. As
    character references they reach the HTML intact."""
    import unicodedata

    escaped = str(jinja2.utils.markupsafe.escape(value))
    return Markup("".join(
        f"&#{ord(c)};" if c == "\\" or not c.isprintable()
        or unicodedata.category(c).startswith("M") else c
        for c in escaped
    ))


_DECORATION = re.compile(r"\s*[→←↗↘»«›‹▸►]\s*")


def spoken(label: object) -> str:
    """A label as a screen reader should say it: without its arrows."""
    return _DECORATION.sub(" ", str(label)).strip()


def shown_height(width: int, height: int, shown_width: int) -> int:
    """The height a picture of `width` × `height` takes at `shown_width` (0: unknown)."""
    return round(height * shown_width / width) if width and height else 0


def article_view(ranked: Ranked, config: Config, labels: dict[str, str], day: date) -> dict:
    """What templates see of one article: display-ready, escaped by autoescape where text."""
    article = ranked.article
    locale = config.newsletter.locale
    minutes = reading_minutes(article.text)
    body_html, text = _shown_body(article.body_html, locale)
    summary = typography(article.summary, locale)
    return {
        "title": typography(article.title, locale),
        "url": with_tracking(article.url, config.links, day),
        "category": typography(article.category, locale),
        "author": typography(article.author, locale),
        "image": article.image,
        "image_alt": typography(article.image_alt or article.title, locale),
        "image_width": (shown := min(article.image_width or TEXT_WIDTH, TEXT_WIDTH)),
        # written too, so that a blocked picture keeps its place instead of collapsing
        "image_height": shown_height(article.image_width, article.image_height, shown),
        "image_caption": typography(article.image_caption, locale),
        "image_credit": typography(article.image_credit, locale),
        "date": article.date,
        "date_long": long_date(local_date(article.date, config.tz), locale),
        "reading_minutes": minutes,
        "reading_time": labels["reading_time"].format(minutes=minutes),
        "standfirst": typography(article.standfirst, locale) or summary,
        "excerpt": summary or excerpt(text, config.ranking.excerpt_chars),
        "body_html": Markup(body_html),
        "truncated": False,
        "paragraphs": text.split("\n"),
        "source": article.source,
        "score": ranked.score,
        "follow_up": ranked.follow_up,
        # the other articles of the same story: "À lire aussi"
        "also": [{"title": typography(other.title, locale),
                  "url": with_tracking(other.url, config.links, day),
                  "source": other.outlet or config.newsletter.name} for other in ranked.also],
    }


@lru_cache(maxsize=512)
def _shown_body(body_html: str, locale: str) -> tuple[str, str]:
    """An article's body as the email shows it, and its text: most of an article's view, kept for
    the next render in the same process (the archive's copy, the preview's next build)."""
    # sanitized by the reader; typography never touches code, attributes or URLs
    shown = html_typography(sized_images(outline(body_html), TEXT_WIDTH), locale)
    return shown, html_to_text(shown)


def context(edition: Edition, config: Config, web: bool = False,
            clicks: ClickLinks | None = None) -> dict:
    """Everything templates see. `web` is the archive's copy: no per-reader links. `clicks`:
    the stories' links go through `digest serve`, which counts them (not in the archive's)."""
    newsletter = config.newsletter
    labels = labels_for(newsletter.locale, config.labels)
    lead, blurbs = _article_views(edition, config, labels)
    if clicks is not None and not web:
        for view, ranked in zip((lead, *blurbs), (edition.lead, *edition.blurbs), strict=True):
            view["url"] = clicks.link(edition.date, ranked.article.url)
    date_long = long_date(edition.date, newsletter.locale)
    return {
        "newsletter": newsletter,
        "lang": newsletter.locale,
        "web": web,
        "labels": labels,
        "date": edition.date,
        "date_long": date_long,
        "lead": lead,
        "blurbs": blurbs,
        "note": edition.note,
        "preheader": lead["excerpt"],
        "preheader_padding": PREHEADER_PADDING,
        "archive_url": f"{newsletter.archive_base}/{edition.date.isoformat()}.html",
        "unsubscribe_url": newsletter.unsubscribe_url,
        "preferences_url": PREFERENCES_PLACEHOLDER if preferences_link(
            config.signup.url, config.delivery.unsubscribe_url, config.signup.preferences) else "",
        # where readers write to: the Reply-To address, else the sender's
        "contact": parseaddr(newsletter.reply_to or newsletter.sender)[1],
        "archive_nav": Markup(""),  # the archive's links between editions: digest.output
    }


# Article views already made, by the story they show, for one config: the email and the
# archive's copy show the same articles, and so do the editions of a send's sets of sections.
# The Ranked objects are kept alive here, so that an identity cannot be taken by a new object.
_views: dict[tuple[int, bool], tuple[Ranked, dict]] = {}
_views_config: list[Config] = []
VIEWS_KEPT = 512


def _article_views(edition: Edition, config: Config,
                   labels: dict[str, str]) -> tuple[dict, list[dict]]:
    """The lead's and the blurbs' views, each made once. Each caller gets its own dicts."""
    if _views_config != [config] or len(_views) > VIEWS_KEPT:
        _views.clear()
        _views_config[:] = [config]

    def view(ranked: Ranked, lead: bool) -> dict:
        made = _views.get((id(ranked), lead))
        if made is None or made[0] is not ranked:
            shown = article_view(ranked, config, labels, edition.date)
            made = _views[id(ranked), lead] = (ranked, lead_view(shown, config) if lead else shown)
        return {**made[1]}

    return view(edition.lead, True), [view(r, False) for r in edition.blurbs]


def lead_view(lead: dict, config: Config) -> dict:
    """The lead as `lead.paragraphs` shows it, and its blocks for the plain-text part."""
    body, truncated = first_paragraphs(str(lead["body_html"]), config.lead.paragraphs)
    return {**lead, "body_html": Markup(body), "truncated": truncated,
            "blocks": text_blocks(body)}


def render(edition: Edition, config: Config, problems: list[Problem] | None = None,
           clicks: ClickLinks | None = None) -> Email:
    """The email: its HTML and text parts, subject and preheader. What MJML's rules find in
    the templates goes to `problems`; `clicks`: the stories' links count clicks."""
    env, values = _prepare(edition, config, web=False, clicks=clicks)
    html = _html(env, values, config, problems)
    text = render_template(env, TEXT_TEMPLATE, values, config)
    return Email(
        subject=values["subject"],
        html=html,
        text=text,
        preheader=values["preheader"],
        sender=config.newsletter.sender,
        reply_to=config.newsletter.reply_to,
    )


def web_page(edition: Edition, config: Config, problems: list[Problem] | None = None) -> str:
    """The archive's copy of the email: the same HTML without the per-reader links."""
    env, values = _prepare(edition, config, web=True)
    return _html(env, values, config, problems)


def _prepare(edition: Edition, config: Config, web: bool,
             clicks: ClickLinks | None = None) -> tuple[jinja2.Environment, dict]:
    env = environment_for(config)
    values = context(edition, config, web, clicks)
    values["subject"] = render_subject(config.newsletter.subject, values, config)
    return env, values


def _html(env: jinja2.Environment, values: dict, config: Config,
          problems: list[Problem] | None) -> str:
    marked = render_template(env, HTML_TEMPLATE, values, config)
    findings = [template_problem(finding, config) for finding in lint(marked)]
    try:
        html = mjml_to_html(unmarked(marked), config)
    except TemplateError:
        if findings:  # MRML's own message names no file nor line: these do
            raise TemplateError("\n".join(map(str, findings))) from None
        raise
    if problems is not None:  # the email and the archive's page find the same
        known = set(map(str, problems))
        problems += [found for found in findings if str(found) not in known]
    return inline_css(html)


def template_problem(finding: Finding, config: Config) -> Problem:
    """A finding of MJML's rules at the template file it is in: the editor's copy in the
    newsletter's templates/ folder, or the built-in theme's."""
    if not finding.name:
        where = HTML_TEMPLATE
    elif (config.resolve(config.newsletter.templates) / finding.name).is_file():
        where = f"{config.newsletter.templates}/{finding.name}:{finding.line}"
    else:
        where = f"{finding.name}:{finding.line} (built-in theme)"
    return Problem(where, finding.message, ours=True)


@lru_cache(maxsize=8)
def _subject_template(source: str) -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(source)


def render_subject(source: str, values: dict, config: Config) -> str:
    try:
        subject = _subject_template(source).render(values)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{config.path.name}: newsletter.subject: {exc}") from None
    return typography(header_text(subject), config.newsletter.locale)


def _template_error(exc: jinja2.TemplateError, name: str, config: Config) -> TemplateError:
    """A Jinja error as a one-line TemplateError naming the file and line."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = _shown(exc.filename or exc.name or name, config)
        return TemplateError(f"{where}:{exc.lineno}: {exc.message}")
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(f"{name}: template {exc.name!r} not found in "
                             f"{config.newsletter.templates}/ nor in the built-in theme")
    return TemplateError(f"{_template_frame(exc, name, config)}: {exc.message}")


def load_template(env: jinja2.Environment, name: str, config: Config) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateError as exc:
        raise _template_error(exc, name, config) from None


def render_template(env: jinja2.Environment, name: str, values: dict, config: Config) -> str:
    try:
        return env.get_template(name).render(values)
    except jinja2.TemplateError as exc:
        raise _template_error(exc, name, config) from None
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        # what a template's own expression raised ("{0}".format(), a division by zero...)
        raise TemplateError(f"{_template_frame(exc, name, config)}: {exc.__class__.__name__}: "
                            f"{exc}") from None


def _template_frame(exc: Exception, name: str, config: Config) -> str:
    """file:line of the innermost template frame of a render-time error."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return name
    return f"{_shown(frames[-1].filename, config)}:{frames[-1].lineno}"


def _shown(filename: str, config: Config) -> str:
    path = Path(filename)
    for base in (config.root, BUILTIN_TEMPLATES.parent.parent):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return filename


def mjml_to_html(source: str, config: Config) -> str:
    from mjml import mjml2html

    try:
        # fonts={}: no web font is fetched by the reader's mail client.
        return mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise TemplateError(
            f"{config.newsletter.templates}/{HTML_TEMPLATE}: MJML error: {exc}"
        ) from None


# Attributes that are not HTML on an image: MRML's height="auto" (CSS says so already) and the
# bgcolor premailer derives from the blocked-image background.
_IMG_NOT_HTML = re.compile(r'(<img\b[^>]*?)\s+(?:height="auto"|bgcolor="[^"]*")')


def inline_css(html: str) -> str:
    """Move CSS rules into style attributes; media queries stay in a <style> block.

    MRML emits `<mj-style inline="inline">` as a plain <style>, so this step is what applies it.
    """
    inliner = premailer_class()(html, **OPTIONS)  # premailer, less its costs that buy us nothing
    inlined = inliner.transform()
    memo().save()  # what premailer made of new CSS, for the next process
    while _IMG_NOT_HTML.search(inlined):
        inlined = _IMG_NOT_HTML.sub(r"\1", inlined)
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined
    return inlined
