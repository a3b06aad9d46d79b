"""`digest.toml`: one validated, frozen configuration object.

Every key is declared once, as a dataclass field made by `setting`: its type, default, one-line
description, allowed values and check (from `digest.config_checks`). Loading walks the TOML tables
against those declarations, so an unknown key, a wrong type or a value its check refuses is
reported with the dotted key, the line it is on and what was expected; docs/configuration.md is
generated from them (`python -m digest.config_reference`).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from digest import config_checks as checks
from digest.config_checks import Check
from digest.config_values import TYPE_NAMES, LineFinder, check_scalar, describe, finite, where
from digest.errors import ConfigError

CONFIG_NAME = "digest.toml"
LOCALES = ("fr", "en")
TIMEOUT, BYTES = checks.above_zero_up_to(3600), checks.between(1024, 1e10, " bytes")


def setting(default: Any = dataclasses.MISSING, *, doc: str,
            factory: Callable[[], Any] | None = None, choices: tuple[str, ...] = (),
            check: Check | None = None, required: bool = False) -> Any:
    """A key of digest.toml: its default (or a `factory` making it), its one-line description
    (for docs/configuration.md), the values it takes (`choices`) and the `check` it passes."""
    metadata = {"doc": doc, "choices": choices, "check": check, "required": required}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class NewsletterConfig:
    name: str = setting("La Lettre", doc="shown in the masthead and footer")
    url: str = setting("https://example.org", check=checks.URL,
                       doc="the site; articles without `url` link to `<url>/<file-name-slug>`")
    locale: str = setting("fr", choices=LOCALES, doc="the language of labels, dates "
                          '("mardi 22 avril 2025") and typography')
    timezone: str = setting("Europe/Paris", check=checks.TIME_ZONE,
                            doc="defines the edition's day, and dates written without an offset")
    sender: str = setting("La rédaction <redaction@example.org>", check=checks.ONE_LINE,
                          doc="the From header")
    reply_to: str = setting("", check=checks.ONE_LINE, doc="the Reply-To header, when set")
    subject: str = setting("{{ lead.title }}", doc="a Jinja expression rendered with the edition: "
                           "`lead`, `blurbs`, `date`, `date_long`, `newsletter`")
    archive_url: str = setting("", doc='where the web copy of each edition lives (empty: '
                               '`<url>/archives`): "Voir dans le navigateur" links to '
                               "`<archive_url>/<date>.html`")
    unsubscribe_url: str = setting("%unsubscribe_url%", doc="the unsubscribe link of saved files: "
                                   "a placeholder replaced per reader at send time")
    templates: str = setting("templates", doc="folder of template overrides")
    # CAN-SPAM asks for a postal address
    publisher: str = setting("", doc="who publishes the newsletter, in the footer "
                             "(`digest check` warns when it is missing)")
    address: str = setting("", doc="the publisher's postal address, in the footer "
                           "(`digest check` warns when it is missing)")
    assets_url: str = setting("", check=checks.optional(checks.URL),
                              doc="where `out/<date>/assets/` is published, as "
                              "`<assets_url>/<date>/`: images given as paths beside the articles "
                              "are copied there and linked with absolute addresses")

    @property
    def assets_base(self) -> str:
        return self.assets_url.rstrip("/")

    @property
    def archive_base(self) -> str:
        return (self.archive_url or self.url.rstrip("/") + "/archives").rstrip("/")


@dataclass(frozen=True)
class FeedConfig:
    url: str = setting("", required=True, doc="http(s)://, file:// or a path beside digest.toml")
    name: str = setting("", doc="shown as the source (empty: the feed's own title)")
    category: str = setting("", doc="the category of entries without one of their own")
    priority: int = setting(0, doc="added to each entry's priority")
    full_text: bool = setting(False, doc="the lead's paragraphs come from the article page itself")
    undated: str = setting("skip", choices=("skip", "first_seen"),
                           doc="entries without a date are skipped; `first_seen` dates them "
                           "when first gathered instead")

    @property
    def is_remote(self) -> bool:
        return self.url.split("://", 1)[0].lower() in ("http", "https")

    def local_path(self, root: Path) -> Path | None:
        """The file this feed is read from, or None for an address on the network."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(self.url)
        if parts.scheme == "file":
            return Path(unquote(parts.path))
        if parts.scheme == "" or (len(parts.scheme) == 1 and self.url[1:3] == ":\\"):
            return (root / self.url).resolve()
        return None


@dataclass(frozen=True)
class SourcesConfig:
    articles: str = setting("articles", doc="folder of Markdown articles")
    feeds: tuple[FeedConfig, ...] = setting((), doc="feeds gathered besides the articles (RSS, "
                                            "Atom, JSON Feed), one table each")
    concurrency: int = setting(8, check=checks.from_to(1, 64), doc="feeds fetched at once")
    timeout: float = setting(10.0, check=TIMEOUT, doc="seconds to connect, and between two "
                             "reads (a feed gets 3× that in all)")
    max_bytes: int = setting(5_000_000, check=BYTES, doc="a larger feed is refused")
    stale_after: int = setting(3, doc="failed runs in a row before a feed is reported as stale")
    refetch_after: float = setting(0.0, check=checks.between(0, 86400 * 366, " seconds"),
                                   doc="seconds during which a feed read successfully is not "
                                   "fetched again (the preview uses 60)")
    max_article_bytes: int = setting(1_000_000, check=BYTES,
                                     doc="a larger file in `articles/` is skipped")
    allow_private: bool = setting(False, doc="also fetch from loopback, private, link-local and "
                                  "reserved addresses (an intranet's feeds); off, a feed or a "
                                  "page cannot make digest read the newsroom's internal services")


@dataclass(frozen=True)
class RankingWeights:
    priority: float = setting(10.0, check=checks.WEIGHT, doc="weight of the `priority` field "
                              "(10: above the sum of the others, a higher priority always wins)")
    recency: float = setting(3.0, check=checks.WEIGHT, doc="weight of the time of day "
                             "(0 at midnight, 1 at the end of the day)")
    length: float = setting(2.0, check=checks.WEIGHT,
                            doc="weight of the length (full weight from 600 words)")
    image: float = setting(1.0, check=checks.WEIGHT, doc="weight of having an image")
    coverage: float = setting(3.0, check=checks.WEIGHT, doc="weight of the number of outlets "
                              "carrying the story (full weight from 4)")


@dataclass(frozen=True)
class RankingConfig:
    blurbs: int = setting(6, check=checks.ZERO_OR_MORE, doc="how many blurbs follow the lead")
    excerpt_chars: int = setting(200, check=checks.at_least(20), doc="length of a blurb's "
                                 'excerpt, cut at a word boundary, ended with " ..."')
    weights: RankingWeights = setting(factory=RankingWeights, doc="the weights of the score")
    group_threshold: float = setting(0.5, check=checks.SHARE,
                                     doc="combined evidence (meaning, shared words, names) from "
                                     "which two articles tell the same story")
    group_hours: float = setting(48.0, check=checks.HOURS,
                                 doc="articles published further apart than this never group")
    max_per_category: int = setting(3, check=checks.ONE_OR_MORE,
                                    doc="blurbs of one category, while others have candidates")
    lead_min_words: int = setting(150, doc="words an unpinned lead needs")
    memory_days: int = setting(3, check=checks.between(0, 3650, " days"),
                               doc="a story sent in the last N editions is not sent again (0: off)")
    categories: dict[str, float] = setting(factory=dict, check=checks.POINTS,
                                           doc="points added to the articles of a category, "
                                           "e.g. `International = 2`")
    engagement: float = setting(0.0, check=checks.WEIGHT,
                                doc="weight of each category's click rate over the last "
                                "editions (needs `[tracking] clicks`; 0: clicks rank nothing)")
    engagement_days: int = setting(28, check=checks.between(1, 365, " days"),
                                   doc="the days of clicks `engagement` reads")


@dataclass(frozen=True)
class SendGridConfig:
    api_url: str = setting("https://api.sendgrid.com", check=checks.URL, doc="the API's base "
                           "URL: `https://api.eu.sendgrid.com` for the EU region")
    categories: list[str] = setting(factory=list, doc="categories; `digest` is always added")
    asm_group_id: int = setting(0, doc="SendGrid unsubscribe group (0: none)")
    sandbox_mode: bool = setting(False, doc="SendGrid validates but does not deliver")
    send_at: str = setting("", check=checks.TIME_OF_DAY, doc='`"HH:MM"`: schedule the send at '
                           "that local time on the edition's day (cancellable)")
    batch_size: int = setting(1000, check=checks.from_to(1, 1000, " (SendGrid's limit)"),
                              doc="readers per request")
    max_attempts: int = setting(5, check=checks.from_to(1, 20),
                                doc="attempts per request on 429, 5xx, refused connections")
    timeout: float = setting(30.0, check=TIMEOUT, doc="seconds a request may take in all")
    webhook_public_key: str = setting("", check=checks.PUBLIC_KEY,
                                      doc="the Event Webhook's verification key (Mail Settings, "
                                      "signed webhook): a public key")
    sync_suppressions: bool = setting(True, doc="read SendGrid's unsubscribes, bounces and spam "
                                      "reports into ours before each send")


@dataclass(frozen=True)
class SmtpConfig:
    host: str = setting("localhost", doc="the SMTP server")
    port: int = setting(587, check=checks.between(1, 65535), doc="the SMTP server's port")
    security: str = setting("starttls", choices=("starttls", "tls", "none"),
                            doc="`starttls`, `tls` (implicit, port 465) or `none`")
    username: str = setting("", doc="login; the password comes from `DIGEST_SMTP_PASSWORD`")
    ca_file: str = setting("", doc="a CA bundle to trust besides the system's "
                           "(an internal relay's)")
    timeout: float = setting(30.0, check=TIMEOUT, doc="seconds per command")
    max_attempts: int = setting(3, check=checks.from_to(1, 20), doc="attempts per message")


@dataclass(frozen=True)
class DeliveryConfig:
    backend: str = setting("file", choices=("file", "sendgrid", "smtp"),
                           doc="where editions go: files under `out/`, SendGrid or an SMTP server")
    recipients: str = setting("recipients.csv", doc="readers: `email`, optional `name`, others")
    suppressions: str = setting("unsubscribed.csv", doc="addresses never sent to "
                                "(one per line, or an `email` column)")
    min_articles: int = setting(1, check=checks.ZERO_OR_MORE,
                                doc="below this many articles nothing is sent (exit 3)")
    on_article_error: str = setting(
        "hold", choices=("hold", "skip"),
        doc="a problem in the newsroom's own files (an article of the edition that cannot be "
        "read, a `same_story:` naming no article, a template error): `hold` sends nothing and "
        "exits 65; `skip` sends the edition without what cannot be used (feeds never hold a send)")
    unsubscribe_url: str = setting(
        "", check=checks.UNSUBSCRIBE_URL,
        doc="each reader's unsubscribe link: `{unsubscribe_token}` is his signed token (needs "
        "`DIGEST_SECRET`); `{email}`, his address, lets anyone unsubscribe anyone (`digest check` "
        'warns); `"{asm_unsubscribe_url}"` is SendGrid\'s page for `asm_group_id`')
    unsubscribe_mailto: str = setting("", doc="an address for `List-Unsubscribe` by email, "
                                      "beside the link")
    bounce_address: str = setting(
        "", check=checks.BOUNCE_ADDRESS,
        doc="SMTP: each reader's own return path, `\"bounces+{token}@example.org\"` (VERP), so "
        "that `digest bounces import` knows whose message bounced; needs `DIGEST_SECRET`")
    lock_wait: float = setting(0.0, check=checks.WAIT, doc="seconds a send waits for another send "
                               "of the same newsletter to finish (then exit 75)")
    sendgrid: SendGridConfig = setting(factory=SendGridConfig,
                                       doc='SendGrid, for `backend = "sendgrid"`')
    smtp: SmtpConfig = setting(factory=SmtpConfig, doc='the SMTP relay, for `backend = "smtp"`')


@dataclass(frozen=True)
class LinksConfig:
    utm_source: str = setting("", doc="`utm_source` added to article links")
    utm_medium: str = setting("", doc="`utm_medium` added to article links")
    utm_campaign: str = setting("", doc="`utm_campaign` added to article links; `{date}` "
                                "becomes the edition's date")


@dataclass(frozen=True)
class EditionConfig:
    window: str = setting(
        "day", choices=("day", "previous_day", "since_last"),
        doc="which articles an edition holds: `day`, those of its calendar day; `previous_day`, "
        "those of the day before (a morning send of yesterday's news); `since_last`, everything "
        "published since the last sent edition's cut-off, up to the build (the first takes 24 "
        "hours)")


@dataclass(frozen=True)
class LeadConfig:
    paragraphs: int = setting(3, check=checks.ZERO_OR_MORE,
                              doc='N: the lead article\'s first N paragraphs (sub-headings '
                              'kept), then "Lire la suite →" and the whole article\'s reading '
                              'time; 0: the whole article, then a discreet "Voir sur le site"')


@dataclass(frozen=True)
class ServeConfig:
    hosts: list[str] = setting(factory=list, doc="host names it answers besides the unsubscribe "
                               "link's own and loopback names (e.g. the webhook's)")


@dataclass(frozen=True)
class SectionConfig:
    label: str = setting("", check=checks.ONE_LINE, doc="what readers see on the sign-up form "
                         "and their preferences page (empty: the section's name)")
    categories: list[str] = setting(factory=list, doc="the article categories it covers: its "
                                    "readers' blurbs are stories of these")
    feeds: list[str] = setting(factory=list, doc="the feeds it covers, by their `name`")


@dataclass(frozen=True)
class SignupConfig:
    enabled: bool = setting(False, doc="`digest serve` answers `/subscribe`: a sign-up form with "
                            "double opt-in (see docs/joining.md)")
    url: str = setting("", check=checks.optional(checks.URL),
                       doc="the public address of `digest serve`, before `/subscribe`, "
                       "`/preferences`... (empty: beside `delivery.unsubscribe_url`'s page)")
    consent: str = setting("", check=checks.ONE_LINE, doc="the consent text beside the form's "
                           "checkbox (empty: the language's own, in [labels] "
                           "`subscribe_consent`)")
    consent_version: str = setting("1", check=checks.ONE_LINE, doc="kept with each sign-up: "
                                   "change it whenever the consent text changes")
    preferences: bool = setting(True, doc="every edition links to the reader's preferences page "
                                "(when `delivery.unsubscribe_url` has `{unsubscribe_token}`)")
    welcome: bool = setting(True, doc="a welcome email once a reader confirms (templates "
                            "`welcome.html.j2`, `welcome.txt.j2`)")
    confirmations_per_day: int = setting(3, check=checks.from_to(1, 20),
                                         doc="confirmation emails one address gets in 24 hours "
                                         "at most")
    per_client_per_hour: int = setting(20, check=checks.from_to(1, 100_000),
                                       doc="sign-ups one client (IP address) may post in an hour")
    pending_days: int = setting(30, check=checks.from_to(1, 365),
                                doc="days a sign-up has to be confirmed before it is deleted")


@dataclass(frozen=True)
class TrackingConfig:
    clicks: bool = setting(False, doc="story links go through `digest serve`, which counts one "
                           "click per story and redirects; nothing about the reader is kept "
                           "(see docs/clicks.md)")
    url: str = setting("", check=checks.optional(checks.URL),
                       doc="the public address of `digest serve` the click links use, before "
                       "`/c/` (empty: `signup.url`, else beside `delivery.unsubscribe_url`'s "
                       "page)")


@dataclass(frozen=True)
class Config:
    newsletter: NewsletterConfig = setting(factory=NewsletterConfig,
                                           doc="the newsletter: its name, site, language, "
                                           "sender and footer")
    edition: EditionConfig = setting(factory=EditionConfig, doc="what an edition holds")
    sources: SourcesConfig = setting(factory=SourcesConfig,
                                     doc="where articles come from: `articles/` and feeds")
    ranking: RankingConfig = setting(factory=RankingConfig, doc="how lead and blurbs are chosen")
    delivery: DeliveryConfig = setting(factory=DeliveryConfig, doc="how and to whom it is sent")
    links: LinksConfig = setting(factory=LinksConfig, doc="tracking parameters added to article "
                                 "links (never to unsubscribe or archive links)")
    serve: ServeConfig = setting(factory=ServeConfig, doc="`digest serve`: the unsubscribe page "
                                 "and the providers' webhooks")
    labels: dict[str, str] = setting(factory=dict, check=checks.LABEL_TEXTS,
                                     doc='overrides of the email\'s words, e.g. `read_more = '
                                     '"Continuer la lecture →"`; where a label has '
                                     "placeholders, a brace is written `{{` or `}}`")
    lead: LeadConfig = setting(factory=LeadConfig, doc="how much of the lead article is shown")
    sections: dict[str, SectionConfig] = setting(
        factory=dict, check=checks.SECTION_NAMES,
        doc="the sections readers choose (a `sections` column of recipients.csv, the sign-up "
        "form, the preferences page): each reader's blurbs are those of his sections")
    signup: SignupConfig = setting(factory=SignupConfig, doc="readers joining: the sign-up "
                                   "form, its consent text and its limits")
    tracking: TrackingConfig = setting(factory=TrackingConfig,
                                       doc="clicks per story, counted without recording readers")
    # Not keys: where the file was found, so relative paths resolve against its folder.
    path: Path = field(default=Path(CONFIG_NAME), metadata={"internal": True})

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.newsletter.timezone)


def find_config(explicit: Path | None = None, start: Path | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such configuration file; check the --config path")
        return explicit
    candidate = (start or Path.cwd()) / CONFIG_NAME
    if not candidate.is_file():
        raise ConfigError(
            f"{CONFIG_NAME} not found in {candidate.parent}; run digest from a newsletter folder "
            "or pass --config PATH"
        )
    return candidate


def load_config(explicit: Path | None = None, start: Path | None = None,
                problems: list[str] | None = None) -> Config:
    """The configuration of digest.toml. With `problems`, a key that cannot be used is listed
    there (`path:line: key: what is wrong`) and left at its default instead of raising, so that
    `digest check` goes on; a file that is missing or not TOML raises all the same."""
    path = find_config(explicit, start)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc.strerror})") from None
    return parse_config(text, path, problems)


def parse_config(text: str, path: Path, problems: list[str] | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None
    found: list[str] = []
    values = _build(Config, data, (), found, LineFinder(text))
    found.sort(key=lambda p: int(p.split(":", 1)[0]) if p[0].isdigit() else 0)
    lines = [f"{path.name}:{p}" for p in found]
    if problems is not None:
        problems += lines
    elif lines:
        raise ConfigError("\n".join(lines))
    return dataclasses.replace(values, path=path.resolve())


def _build(
    cls: type, data: dict, keys: tuple[str, ...], problems: list[str], lines: LineFinder
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = (f'; did you mean "{close[0]}"?' if close
                    else f"; known keys: {', '.join(fields)}")
            problems.append(f"{where((*keys, key), lines)}: unknown key{hint}")
    kwargs = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.metadata.get("required"):
                problems.append(f"{where(keys, lines)}: missing {name}; add '{name} = ...'")
            continue
        kind, value, here = hints[name], data[name], (*keys, name)
        if _is_table(kind):
            built = _build_tables(kind, value, here, problems, lines)
            if built is not None and (message := spec.metadata["check"] and
                                      spec.metadata["check"](built)):
                problems.append(f"{where(here, lines)}: {message}")
            elif built is not None:
                kwargs[name] = built
            continue
        checked = check_scalar(kind, value)
        if checked is None:
            problems.append(
                f"{where(here, lines)}: expected {TYPE_NAMES[kind]}, got {describe(value)}"
            )
            continue
        choices = spec.metadata.get("choices")
        if choices and checked not in choices:
            problems.append(
                f"{where(here, lines)}: expected one of {', '.join(choices)}, "
                f"got {describe(value)}"
            )
            continue
        check = spec.metadata.get("check")
        message = finite(checked) or (check(checked) if check else None)
        if message:
            problems.append(f"{where(here, lines)}: {message}")
            continue
        kwargs[name] = checked
    try:
        return cls(**kwargs)
    except TypeError:  # a nested table was invalid and left out; the problem is already listed
        return cls()


def _is_table(kind: Any) -> bool:
    return (_named_tables(kind) is not None or _table_list_item(kind) is not None
            or (isinstance(kind, type) and dataclasses.is_dataclass(kind)))


def _build_tables(kind: Any, value: Any, here: tuple[str, ...], problems: list[str],
                  lines: LineFinder) -> Any:
    """A table, an array of tables or named tables; None when `value` is not one."""
    if (named := _named_tables(kind)) is not None:
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            return {k: _build(named, v, (*here, k), problems, lines) for k, v in value.items()}
        problems.append(f"{where(here, lines)}: expected [{'.'.join(here)}.<name>] tables, "
                        f"got {describe(value)}")
        return None
    if (item := _table_list_item(kind)) is not None:
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return tuple(_build(item, v, (*here, f"[{i}]"), problems, lines)
                         for i, v in enumerate(value))
        problems.append(f"{where(here, lines)}: expected [[{'.'.join(here)}]] tables, "
                        f"got {describe(value)}")
        return None
    if isinstance(value, dict):
        return _build(kind, value, here, problems, lines)
    problems.append(f"{where(here, lines)}: expected a table, got {describe(value)}")
    return None


def _named_tables(kind: Any) -> type | None:
    """The dataclass of a `dict[str, X]` field (tables under names of the editor's), else None."""
    if typing.get_origin(kind) is dict:
        value = typing.get_args(kind)[1]
        if isinstance(value, type) and dataclasses.is_dataclass(value):
            return value
    return None


def _table_list_item(kind: Any) -> type | None:
    """The dataclass of a `tuple[X, ...]` field (an array of tables), else None."""
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if args and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]):
            return args[0]
    return None
