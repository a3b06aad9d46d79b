"""`digest.toml`: one validated, frozen configuration object.

Every key is declared once, as a dataclass field with its type and default. Loading walks the
TOML tables against those declarations, so an unknown key or a wrong type is reported with the
dotted key, the line it is on and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError

CONFIG_NAME = "digest.toml"
LOCALES = ("fr", "en")


def _choices(*values: str) -> dict:
    return {"choices": values}


@dataclass(frozen=True)
class NewsletterConfig:
    name: str = "La Lettre"
    url: str = "https://example.org"
    locale: str = field(default="fr", metadata=_choices(*LOCALES))
    timezone: str = "Europe/Paris"
    sender: str = "La rédaction <redaction@example.org>"
    reply_to: str = ""
    # A Jinja expression rendered with the edition: `lead`, `date`, `newsletter`.
    subject: str = "{{ lead.title }}"
    # Where the web copy of each edition lives; "Voir dans le navigateur" points at
    # <archive_url>/<date>.html.
    archive_url: str = ""
    # Replaced per reader at send time; kept as is in saved files.
    unsubscribe_url: str = "%unsubscribe_url%"
    templates: str = "templates"
    # Who publishes the newsletter and where: the footer shows both (CAN-SPAM asks for a postal
    # address; `digest check` warns when either is missing).
    publisher: str = ""
    address: str = ""
    # Where out/<date>/assets/ is published, as <assets_url>/<date>/: images given as paths
    # beside the articles are copied there and linked with absolute addresses.
    assets_url: str = ""

    @property
    def assets_base(self) -> str:
        return self.assets_url.rstrip("/")

    @property
    def archive_base(self) -> str:
        return (self.archive_url or self.url.rstrip("/") + "/archives").rstrip("/")


@dataclass(frozen=True)
class FeedConfig:
    url: str = field(default="", metadata={"required": True})  # http(s)://, file:// or a path
    name: str = ""  # shown as the source; default: the feed's own title
    category: str = ""  # for entries that have none
    priority: int = 0  # added to each entry's priority
    full_text: bool = False  # the lead's paragraphs come from the article page itself
    # Entries without a date are skipped; "first_seen" dates them when first gathered instead.
    undated: str = field(default="skip", metadata=_choices("skip", "first_seen"))

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
    articles: str = "articles"
    feeds: tuple[FeedConfig, ...] = ()
    concurrency: int = 8  # feeds fetched at once
    timeout: float = 10.0  # seconds to connect, and between two reads
    max_bytes: int = 5_000_000  # a larger feed is refused
    stale_after: int = 3  # failed runs in a row before a feed is reported as stale
    # Seconds during which a feed read successfully is not fetched again (the preview uses 60).
    refetch_after: float = 0.0
    max_article_bytes: int = 1_000_000  # a larger file in articles/ is skipped
    # Fetch from loopback, private, link-local and reserved addresses too (an intranet's feeds);
    # off, a feed or a page cannot make digest read the newsroom's internal services.
    allow_private: bool = False


@dataclass(frozen=True)
class RankingWeights:
    # priority's weight exceeds the sum of the others, so a higher priority always ranks first.
    priority: float = 10.0
    recency: float = 3.0
    length: float = 2.0
    image: float = 1.0
    coverage: float = 3.0  # a story carried by 4 sources or more gets all of it


@dataclass(frozen=True)
class RankingConfig:
    blurbs: int = 6
    excerpt_chars: int = 200
    weights: RankingWeights = field(default_factory=RankingWeights)
    # Two articles whose combined evidence (meaning, shared words, names) reaches this tell
    # the same story (0 to 1; see README).
    group_threshold: float = 0.5
    group_hours: float = 48.0  # articles published further apart than this never group
    max_per_category: int = 3  # blurbs of one category, while others have candidates
    lead_min_words: int = 150  # an unpinned lead needs this much text
    memory_days: int = 3  # a story sent in the last N editions is not sent again
    # Points added to the articles of a category, e.g. International = 2.
    categories: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SendGridConfig:
    # The API's base URL: SendGrid's EU region is https://api.eu.sendgrid.com.
    api_url: str = "https://api.sendgrid.com"
    categories: list[str] = field(default_factory=list)  # "digest" is always added
    asm_group_id: int = 0  # an unsubscribe group; 0 for none
    sandbox_mode: bool = False
    # "HH:MM": schedule the send at that local time on the edition's day (cancellable).
    send_at: str = ""
    batch_size: int = 1000
    max_attempts: int = 5
    timeout: float = 30.0
    # The Event Webhook's verification key (Mail Settings, signed webhook): a public key.
    webhook_public_key: str = ""
    # Read SendGrid's unsubscribes, bounces and spam reports into ours before each send.
    sync_suppressions: bool = True


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = field(default="starttls", metadata=_choices("starttls", "tls", "none"))
    username: str = ""  # the password comes from DIGEST_SMTP_PASSWORD
    ca_file: str = ""  # a CA bundle to trust besides the system's (an internal relay's)
    timeout: float = 30.0
    max_attempts: int = 3


@dataclass(frozen=True)
class DeliveryConfig:
    backend: str = field(default="file", metadata=_choices("file", "sendgrid", "smtp"))
    recipients: str = "recipients.csv"
    suppressions: str = "unsubscribed.csv"
    min_articles: int = 1
    # A problem in the newsroom's own files (an article of the edition that cannot be read, a
    # same_story: naming no article, a template error): "hold" sends nothing and exits 65;
    # "skip" sends the edition without what cannot be used. Feeds never hold a send.
    on_article_error: str = field(default="hold", metadata=_choices("hold", "skip"))
    # Each reader's unsubscribe link: {unsubscribe_token} is his signed token (DIGEST_SECRET),
    # {email} his address (which lets anyone unsubscribe anyone), or "{asm_unsubscribe_url}".
    unsubscribe_url: str = ""
    # An address for List-Unsubscribe by email, beside the link.
    unsubscribe_mailto: str = ""
    # SMTP: each reader's own return path, "bounces+{token}@example.org" (VERP), so that a
    # bounce names the reader it came back for (digest bounces import); needs DIGEST_SECRET.
    bounce_address: str = ""
    # Seconds a send waits for another send of the same newsletter to finish before giving up.
    lock_wait: float = 0.0
    sendgrid: SendGridConfig = field(default_factory=SendGridConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)


@dataclass(frozen=True)
class LinksConfig:
    """Tracking parameters added to article links (never to unsubscribe or archive links)."""

    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""  # "{date}" becomes the edition's date


@dataclass(frozen=True)
class EditionConfig:
    # Which articles an edition holds: "day" (those of the edition's calendar day), "previous_day"
    # (those of the day before: a morning send of yesterday's news) or "since_last" (everything
    # published since the last sent edition's cut-off, up to the build; the first takes 24 hours).
    window: str = field(default="day", metadata=_choices("day", "previous_day", "since_last"))


@dataclass(frozen=True)
class LeadConfig:
    # 0: the whole lead article; N: its first N paragraphs, then "Lire la suite →".
    paragraphs: int = 0


@dataclass(frozen=True)
class ServeConfig:
    """`digest serve`: the unsubscribe page and the providers' webhooks."""

    # Host names it answers besides the unsubscribe link's own and loopback addresses.
    hosts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Config:
    newsletter: NewsletterConfig = field(default_factory=NewsletterConfig)
    edition: EditionConfig = field(default_factory=EditionConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    links: LinksConfig = field(default_factory=LinksConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    # Overrides of the email's words, e.g. read_more = "Continuer la lecture →".
    labels: dict[str, str] = field(default_factory=dict)
    lead: LeadConfig = field(default_factory=LeadConfig)
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
    values = _build(Config, data, (), found, _LineFinder(text))
    found.sort(key=lambda p: int(p.split(":", 1)[0]) if p[0].isdigit() else 0)
    lines = [f"{path.name}:{p}" for p in found]
    if problems is not None:
        problems += lines
    elif lines:
        raise ConfigError("\n".join(lines))
    return dataclasses.replace(values, path=path.resolve())


class _LineFinder:
    """Best-effort line number of a dotted key, so errors point into the file."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _header(self, table: tuple[str, ...]) -> int | None:
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, table)) + r"\s*\]")
        return next((i + 1 for i, line in enumerate(self.lines) if pattern.match(line)), None)

    def _nth_array_table(self, table: tuple[str, ...], index: int) -> int | None:
        pattern = re.compile(r"^\s*\[\[\s*" + r"\s*\.\s*".join(map(re.escape, table)) + r"\s*\]\]")
        found = [i + 1 for i, line in enumerate(self.lines) if pattern.match(line)]
        return found[index] if index < len(found) else None

    def __call__(self, keys: tuple[str, ...]) -> int | None:
        indexed = [i for i, k in enumerate(keys) if k.startswith("[")]
        if indexed:
            position = indexed[-1]
            start = self._nth_array_table(keys[:position], int(keys[position][1:-1]))
            rest = keys[position + 1:]
            if start is None or not rest:
                return start
            pattern = re.compile(r"^\s*\"?" + re.escape(rest[-1]) + r"\"?\s*=")
            for number, line in enumerate(self.lines[start:], start + 1):
                if pattern.match(line):
                    return number
                if line.lstrip().startswith("["):
                    break
            return start
        if own_table := self._header(keys):
            return own_table
        table, key = keys[:-1], keys[-1]
        start = (self._header(table) or 0) if table else 0
        pattern = re.compile(r"^\s*(?:[\w.\"-]+\.)?\"?" + re.escape(key) + r"\"?\s*=")
        for number, line in enumerate(self.lines[start:], start + 1):
            if pattern.match(line):
                return number
        return start or None


def _where(keys: tuple[str, ...], lines: _LineFinder) -> str:
    line = lines(keys)
    dotted = ".".join(keys).replace(".[", "[")
    return f"{line}: {dotted}" if line else f" {dotted}"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value, ensure_ascii=False, default=str)


_TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false",
    list[str]: "a list of strings",
    dict[str, str]: "a table of strings",
    dict[str, float]: "a table of numbers",
}


def _build(
    cls: type, data: dict, keys: tuple[str, ...], problems: list[str], lines: _LineFinder
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = (f'; did you mean "{close[0]}"?' if close
                    else f"; known keys: {', '.join(fields)}")
            problems.append(f"{_where((*keys, key), lines)}: unknown key{hint}")
    kwargs = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.metadata.get("required"):
                problems.append(f"{_where(keys, lines)}: missing {name}; add '{name} = ...'")
            continue
        kind, value, here = hints[name], data[name], (*keys, name)
        item = _table_list_item(kind)
        if item is not None:
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                kwargs[name] = tuple(
                    _build(item, v, (*here, f"[{i}]"), problems, lines) for i, v in enumerate(value)
                )
            else:
                problems.append(f"{_where(here, lines)}: expected [[{'.'.join(here)}]] tables, "
                                f"got {_describe(value)}")
            continue
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            if isinstance(value, dict):
                kwargs[name] = _build(kind, value, here, problems, lines)
            else:
                problems.append(f"{_where(here, lines)}: expected a table, got {_describe(value)}")
            continue
        checked = _check_scalar(kind, value)
        if checked is None:
            problems.append(
                f"{_where(here, lines)}: expected {_TYPE_NAMES[kind]}, got {_describe(value)}"
            )
            continue
        choices = spec.metadata.get("choices")
        if choices and checked not in choices:
            problems.append(
                f"{_where(here, lines)}: expected one of {', '.join(choices)}, "
                f"got {_describe(value)}"
            )
            continue
        message = _finite(checked) or _VALIDATORS.get(here, lambda v: None)(checked)
        if message:
            problems.append(f"{_where(here, lines)}: {message}")
            continue
        kwargs[name] = checked
    try:
        return cls(**kwargs)
    except TypeError:  # a nested table was invalid and left out; the problem is already listed
        return cls()


def _table_list_item(kind: Any) -> type | None:
    """The dataclass of a `tuple[X, ...]` field (an array of tables), else None."""
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if args and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]):
            return args[0]
    return None


def _check_scalar(kind: type, value: Any) -> Any:
    """The value converted to `kind`, or None when it has the wrong type."""
    if kind == dict[str, str]:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return dict(value) if ok else None
    if kind == dict[str, float]:
        ok = isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
        return {k: float(v) for k, v in value.items()} if ok else None
    if kind == list[str]:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else None
    if kind is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int | float):
        return float(value)  # nan and inf pass here: _finite refuses them with their own words
    return value if isinstance(value, kind) else None


def _finite(value: Any) -> str | None:
    """nan and inf are TOML numbers, but no duration, weight or size can be one."""
    numbers = value.values() if isinstance(value, dict) else [value]
    wrong = next((n for n in numbers if isinstance(n, float) and not math.isfinite(n)), None)
    return None if wrong is None else f"expected a finite number, got {_describe(wrong)}"


def _check_timezone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f'unknown time zone "{name}"; use an IANA name such as "Europe/Paris"'
    return None


def _check_positive(value: int) -> str | None:
    return None if value >= 0 else f"expected a number of 0 or more, got {value}"


def _check_labels(labels: dict[str, str]) -> str | None:
    from digest.labels import LABELS, placeholders

    known = list(LABELS["fr"])
    for key, text in labels.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = (f'; did you mean "{close[0]}"?' if close
                    else f"; known labels: {', '.join(known)}")
            return f'unknown label "{key}"{hint}'
        allowed = placeholders(LABELS["fr"][key])
        if not allowed:  # a label without placeholders is never formatted: its braces are text
            continue
        try:
            used = placeholders(text)
        except ValueError as error:  # a lone "{" or "}"
            return f'label "{key}": {error}; write {{{{ and }}}} for a brace'
        if used - allowed:
            offered = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
            return (f'label "{key}": unknown placeholder {{{sorted(used - allowed)[0]}}}; '
                    f"this label has: {offered}")
    return None


def _check_one_line(value: str) -> str | None:
    if re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", value):
        return "expected one line, without control characters or line separators"
    return None


def _number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def _between(low: float, high: float, unit: str = "") -> Callable[[Any], str | None]:
    def check(value: float) -> str | None:
        if low <= value <= high:
            return None
        return f"expected {_number(low)} to {_number(high)}{unit}, got {_number(value)}"

    return check


def _above_zero_up_to(high: float) -> Callable[[Any], str | None]:
    def check(value: float) -> str | None:
        if 0 < value <= high:
            return None
        return f"expected more than 0 and up to {_number(high)} seconds, got {_number(value)}"

    return check


def _weights(values: dict[str, float]) -> str | None:
    wrong = next((v for v in values.values() if abs(v) > WEIGHT_LIMIT), None)
    return None if wrong is None else \
        f"expected -{WEIGHT_LIMIT:,} to {WEIGHT_LIMIT:,}, got {_number(wrong)}"


WEIGHT_LIMIT = 1000  # a weight or category's points beyond this only makes scores overflow


def _check_time(value: str) -> str | None:
    if not value or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        return None
    return f'expected a time such as "07:00", got "{value}"'


def _check_batch_size(value: int) -> str | None:
    return None if 1 <= value <= 1000 else f"expected 1 to 1000 (SendGrid's limit), got {value}"


def _check_attempts(value: int) -> str | None:
    return None if 1 <= value <= 20 else f"expected 1 to 20, got {value}"


def _check_public_key(value: str) -> str | None:
    from digest.deliver.webhooks import EventVerifier

    try:
        EventVerifier(value)
    except (ValueError, TypeError):
        return ("not a public key; paste the verification key SendGrid shows under Mail Settings, "
                "Event Webhook, Signature Verification")
    return None


def _check_bounce_address(value: str) -> str | None:
    local, at, domain = value.rpartition("@")
    if value.count("{token}") != 1 or "{token}" not in local or not at or not domain \
            or any(c.isspace() or c in "<>\"(),;:" for c in value):
        return ('expected an address whose local part holds {token} once, such as '
                f'"bounces+{{token}}@example.org", got {json.dumps(value)}')
    return None


def _check_url(value: str) -> str | None:
    if re.match(r"^https?://[^\s/]+", value):
        return None
    return f'expected an http(s) address such as "https://example.org", got "{value}"'


_VALIDATORS: dict[tuple[str, ...], Callable[[Any], str | None]] = {
    ("newsletter", "timezone"): _check_timezone,
    ("newsletter", "url"): _check_url,
    ("ranking", "blurbs"): _check_positive,
    ("ranking", "excerpt_chars"): lambda v: None if v >= 20 else f"expected at least 20, got {v}",
    ("labels",): _check_labels,
    ("ranking", "group_threshold"):
        lambda v: None if 0 < v <= 1 else f"expected a number above 0 and up to 1, got {v}",
    ("ranking", "group_hours"):
        lambda v: None if v > 0 else f"expected a number of hours above 0, got {v}",
    ("ranking", "max_per_category"): lambda v: None if v >= 1 else f"expected 1 or more, got {v}",
    ("ranking", "memory_days"): _between(0, 3650, " days"),
    ("ranking", "categories"): _weights,
    **{("ranking", "weights", name): _between(-WEIGHT_LIMIT, WEIGHT_LIMIT)
       for name in ("priority", "recency", "length", "image", "coverage")},
    ("sources", "concurrency"): lambda v: None if 1 <= v <= 64 else f"expected 1 to 64, got {v}",
    ("sources", "max_bytes"): _between(1024, 1e10, " bytes"),
    ("sources", "max_article_bytes"): _between(1024, 1e10, " bytes"),
    ("sources", "timeout"): _above_zero_up_to(3600),
    ("sources", "refetch_after"): _between(0, 86400 * 366, " seconds"),
    ("newsletter", "sender"): _check_one_line,
    ("newsletter", "reply_to"): _check_one_line,
    ("delivery", "sendgrid", "timeout"): _above_zero_up_to(3600),
    ("delivery", "smtp", "timeout"): _above_zero_up_to(3600),
    ("delivery", "smtp", "port"): _between(1, 65535),
    ("delivery", "min_articles"): _check_positive,
    ("delivery", "lock_wait"): lambda v: None if 0 <= v <= 86400 else
    f"expected seconds between 0 and 86400, got {v}",
    ("delivery", "sendgrid", "api_url"): _check_url,
    ("delivery", "sendgrid", "send_at"): _check_time,
    ("delivery", "sendgrid", "batch_size"): _check_batch_size,
    ("delivery", "sendgrid", "max_attempts"): _check_attempts,
    ("delivery", "smtp", "max_attempts"): _check_attempts,
    ("delivery", "unsubscribe_url"):  # or SendGrid's own page: "{asm_unsubscribe_url}"
        lambda v: _check_url(v) if v and not v.startswith("{asm_unsubscribe_url}") else None,
    ("delivery", "sendgrid", "webhook_public_key"): lambda v: _check_public_key(v) if v else None,
    ("newsletter", "assets_url"): lambda v: _check_url(v) if v else None,
    ("lead", "paragraphs"): _check_positive,
    ("delivery", "bounce_address"): lambda v: _check_bounce_address(v) if v else None,
}
