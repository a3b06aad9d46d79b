"""Email addresses: checked and normalized as email_validator does (syntax only, no DNS), and the
key that makes one reader one copy. A leaf: the readers' list, the suppressions, the providers'
events and the bounces all compare addresses by these rules."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# C0, DEL, C1 (NEL among them), and the Unicode line and paragraph separators: none belongs in an
# address, a name or a header, and str.splitlines() would cut a row at most of them.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ANGLE_ADDRESS = re.compile(r"<([^<>]*)>\s*$")


def address_key(normalized: str) -> str:
    """The key of an address normalized by `check_address`, compared without case.

    email_validator gives the domain in its Unicode form whether it was written in Unicode or in
    punycode, so `bob@xn--bcher-kva.example` and `bob@bücher.example` share one key; for an ASCII
    address the key is the lower-cased address, as the ledger has always stored it.
    """
    return normalized.lower()


def check_address(address: str) -> tuple[str | None, str]:
    """(normalized address, "") when valid, else (None, reason). Syntax only, no DNS.

    email_validator is the judge. An ASCII local part is checked here and the domain once per
    domain; anything else, and every address found invalid, goes to email_validator whole.
    """
    local, _, domain = address.partition("@")
    rules = _rules()
    # the lengths email_validator checks (as written, normalized, with the domain in ASCII) are
    # in UTF-8 bytes, of which the ASCII local part has one a character
    if (_local_is_plain(local, rules) and "@" not in domain
            and (checked := checked_domain(domain))
            and len(local) + 1 + checked[2] <= rules.limit):
        return f"{local}@{checked[0]}", ""
    return _validated(address)


def _validated(address: str) -> tuple[str | None, str]:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).normalized, ""
    except EmailNotValidError as exc:
        return None, str(exc)


@dataclass(frozen=True)
class _Rules:
    plain_local: re.Pattern[str] | None
    lowered_locals: frozenset[str]
    limit: int  # UTF-8 bytes in a whole address


@functools.cache
def _rules() -> _Rules:
    """The very rules email_validator applies (imported when first needed: it loads idna)."""
    try:
        from email_validator import rfc_constants as rfc
    except ImportError:  # pragma: no cover - then every address goes to email_validator whole
        return _Rules(None, frozenset(), 0)
    return _Rules(rfc.DOT_ATOM_TEXT, frozenset(rfc.CASE_INSENSITIVE_MAILBOX_NAMES),
                  rfc.EMAIL_MAX_LENGTH)


def _local_is_plain(local: str, rules: _Rules) -> bool:
    """An ASCII dot-atom local part, which email_validator keeps as it is. The RFC 2142 mailbox
    names (postmaster...) are left to it: it lower-cases them."""
    return (rules.plain_local is not None and rules.plain_local.match(local) is not None
            and local.lower() not in rules.lowered_locals)


@functools.lru_cache(maxsize=65536)
def checked_domain(domain: str) -> tuple[str, str, int] | None:
    """(normalized domain, its ASCII form, the longest of these and `domain` in UTF-8 bytes) as
    email_validator gives them, or None if invalid.

    email_validator splits an address with a plain local part at its one @ and checks what
    follows without regard to what precedes, so a probe with the same domain answers for all.
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    longest = max(len(domain.encode()), len(checked.domain.encode()), len(checked.ascii_domain))
    return checked.domain, checked.ascii_domain, longest


def suppression_key(text: str) -> str | None:
    """The key of `addr` or `Name <addr>`, normalized as a reader's address is; None if invalid."""
    text = text.strip()
    if angle := ANGLE_ADDRESS.search(text):
        # the last <...> of the line: an unquoted comma in the name does not matter
        text = angle.group(1).strip()
    if not text or CONTROL.search(text):
        return None
    email, _ = check_address(text)
    return address_key(email) if email else None
