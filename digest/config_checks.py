"""The checks of `digest.toml`'s values, each declared beside its key in `digest.config` (in the
spirit of attrs' validators).

A check gives what is wrong with a value that has the right type, in words, or None; it also says
in words what it lets through, for docs/configuration.md. It imports nothing of digest but
`digest.labels` (for the labels check), itself over `digest.text` alone.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.labels import LABELS, placeholders

WEIGHT_LIMIT = 1000  # a weight or category's points beyond this only makes scores overflow


@dataclass(frozen=True)
class Check:
    problem: Callable[[Any], str | None]  # what is wrong with a value, or None
    allowed: str | Callable[[], str] = ""  # what passes, in words (computed when a callable)

    def __call__(self, value: Any) -> str | None:
        return self.problem(value)

    def allowed_text(self) -> str:
        return self.allowed() if callable(self.allowed) else self.allowed


def number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def between(low: float, high: float, unit: str = "") -> Check:
    def problem(value: float) -> str | None:
        if low <= value <= high:
            return None
        return f"expected {number(low)} to {number(high)}{unit}, got {number(value)}"

    return Check(problem, f"{number(low)} to {number(high)}{unit}")


def from_to(low: int, high: int, note: str = "") -> Check:
    """Like `between`, for counts: the value is written as it is (1000, not 1,000)."""
    def problem(value: int) -> str | None:
        return None if low <= value <= high else f"expected {low} to {high}{note}, got {value}"

    return Check(problem, f"{number(low)} to {number(high)}")


def above_zero_up_to(high: float) -> Check:
    def problem(value: float) -> str | None:
        if 0 < value <= high:
            return None
        return f"expected more than 0 and up to {number(high)} seconds, got {number(value)}"

    return Check(problem, f"more than 0, up to {number(high)} seconds")


def at_least(low: int) -> Check:
    return Check(lambda v: None if v >= low else f"expected at least {low}, got {v}",
                 f"{low} or more")


def optional(check: Check) -> Check:
    """`check`, for a value that may also be left empty."""
    return Check(lambda v: check(v) if v else None, check.allowed)


ZERO_OR_MORE = Check(lambda v: None if v >= 0 else f"expected a number of 0 or more, got {v}",
                     "0 or more")
ONE_OR_MORE = Check(lambda v: None if v >= 1 else f"expected 1 or more, got {v}", "1 or more")
SHARE = Check(lambda v: None if 0 < v <= 1 else f"expected a number above 0 and up to 1, got {v}",
              "more than 0, up to 1")
HOURS = Check(lambda v: None if v > 0 else f"expected a number of hours above 0, got {v}",
              "more than 0")
WAIT = Check(lambda v: None if 0 <= v <= 86400 else
             f"expected seconds between 0 and 86400, got {v}", "0 to 86,400 seconds")


def _time_zone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f'unknown time zone "{name}"; use an IANA name such as "Europe/Paris"'
    return None


TIME_ZONE = Check(_time_zone, "an IANA name such as `Europe/Paris`")


def _url(value: str) -> str | None:
    if re.match(r"^https?://[^\s/]+", value):
        return None
    return f'expected an http(s) address such as "https://example.org", got "{value}"'


URL = Check(_url, "an http(s) address")
# or SendGrid's own page: "{asm_unsubscribe_url}"
UNSUBSCRIBE_URL = Check(
    lambda v: _url(v) if v and not v.startswith("{asm_unsubscribe_url}") else None,
    'an http(s) address, or `"{asm_unsubscribe_url}"`')


def _one_line(value: str) -> str | None:
    if re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", value):
        return "expected one line, without control characters or line separators"
    return None


ONE_LINE = Check(_one_line, "one line")


def _weights(values: dict[str, float]) -> str | None:
    wrong = next((v for v in values.values() if abs(v) > WEIGHT_LIMIT), None)
    return None if wrong is None else \
        f"expected -{WEIGHT_LIMIT:,} to {WEIGHT_LIMIT:,}, got {number(wrong)}"


POINTS = Check(_weights, f"-{WEIGHT_LIMIT:,} to {WEIGHT_LIMIT:,}")
WEIGHT = between(-WEIGHT_LIMIT, WEIGHT_LIMIT)


def _time_of_day(value: str) -> str | None:
    if not value or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        return None
    return f'expected a time such as "07:00", got "{value}"'


TIME_OF_DAY = Check(_time_of_day, '`"HH:MM"`, or empty')


def _labels(labels: dict[str, str]) -> str | None:
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


def _label_names() -> str:
    def name(key: str) -> str:
        braces = ", ".join(f"`{{{p}}}`" for p in sorted(placeholders(LABELS["fr"][key])))
        return f"`{key}`" + (f" (with {braces})" if braces else "")

    return ", ".join(name(key) for key in LABELS["fr"])


LABEL_TEXTS = Check(_labels, _label_names)


def bare_key(text: str) -> str:
    """A SendGrid verification key as SendGrid shows it (base64, one line), also when pasted as
    PEM (the webhook's verifier reads it so too)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith("-----"))


def _public_key(value: str) -> str | None:
    # what digest.deliver.webhooks.EventVerifier does with the key, without importing delivery
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        EventWebhook(bare_key(value))
    except (ValueError, TypeError):
        return ("not a public key; paste the verification key SendGrid shows under Mail Settings, "
                "Event Webhook, Signature Verification")
    return None


PUBLIC_KEY = optional(Check(_public_key, "SendGrid's verification key (base64 or PEM)"))


def _bounce_address(value: str) -> str | None:
    local, at, domain = value.rpartition("@")
    if value.count("{token}") != 1 or "{token}" not in local or not at or not domain \
            or any(c.isspace() or c in "<>\"(),;:" for c in value):
        return ('expected an address whose local part holds {token} once, such as '
                f'"bounces+{{token}}@example.org", got {json.dumps(value)}')
    return None


BOUNCE_ADDRESS = optional(Check(_bounce_address, "an address with `{token}` in its local part"))


def _section_names(sections: dict) -> str | None:
    wrong = [name for name in sections if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name)]
    return (f"section name {wrong[0]!r}: use letters, digits, - and _ only (it is written in "
            "recipients.csv and in forms)") if wrong else None


SECTION_NAMES = Check(_section_names, "names of letters, digits, `-` and `_`")
