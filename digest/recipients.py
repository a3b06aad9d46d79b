"""Who gets the digest: `recipients.csv`, read as a stream, checked, deduplicated, suppressed.

A reader's row cannot legitimately span lines, so each physical line is parsed on its own: a bad
row (an unbalanced quote, a huge field, a control character, a bad address) is reported with its
line number and skipped, and never takes the following rows with it.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.config import Config
from digest.errors import ConfigError, Problem
from digest.headers import header_text
from digest.text import spreadsheet_value

FIELD_LIMIT = 64 * 1024  # UTF-8 bytes in one field; Python's csv gives up at 128 K characters
LINE_LIMIT = 1024 * 1024  # characters read at once: a file without line breaks stays in bounds
# C0, DEL, C1 (NEL among them), and the Unicode line and paragraph separators: none belongs in an
# address, a name or a header, and str.splitlines() would cut a row at most of them.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NO_EMAIL = "no 'email' column"
SEPARATORS = (",", ";")  # between columns: a comma, or what French spreadsheets write
ANGLE_ADDRESS = re.compile(r"<([^<>]*)>\s*$")


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    # Other columns of the CSV, for personalisation.
    fields: tuple[tuple[str, str], ...] = ()

    @functools.cached_property  # asked for at every step of a send
    def key(self) -> str:
        """One reader, one copy: see `address_key`. The ledger stores this."""
        return address_key(self.email)


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
            and (checked := _checked_domain(domain))
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
def _checked_domain(domain: str) -> tuple[str, str, int] | None:
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


# -- lines and fields -------------------------------------------------------------------------


def _lines(raw: io.BufferedReader) -> Iterator[tuple[int, str | None]]:
    """(line number from 1, text without its line ending) for each physical line of the file;
    None as text for a line over LINE_LIMIT, whose rest is read and dropped."""
    head = raw.peek(LINE_LIMIT)
    # Lines end with LF or CRLF; a CR elsewhere is a character of its row. Only a file with no
    # LF at all (old Mac spreadsheets) ends its lines with a bare CR.
    newline = "\r" if b"\r" in head and b"\n" not in head else "\n"
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline=newline)
    number = 0
    try:
        while line := text.readline(LINE_LIMIT):
            number += 1
            if len(line) == LINE_LIMIT and not line.endswith(newline):
                while (rest := text.readline(LINE_LIMIT)) and not rest.endswith(newline):
                    pass
                yield number, None
                continue
            line = line.removesuffix(newline)
            yield number, line.removesuffix("\r") if newline == "\n" else line
    finally:  # the file is its opener's to close (the wrapper would, with a warning)
        if not text.closed:  # closed already when the reader stopped early
            text.detach()


def split_line(line: str, separator: str = ",") -> tuple[list[str], int]:
    """The fields of one CSV line, read as Python's csv reads them (excel dialect, not strict),
    and the index of a quote that opens a field and is never closed (-1 when there is none):
    csv would carry such a field on over the next lines."""
    if '"' not in line:
        return line.split(separator), -1
    fields: list[str] = []
    start, end = 0, len(line)
    while True:
        if line.startswith('"', start):
            parts, at = [], start + 1
            while True:
                close = line.find('"', at)
                if close < 0:
                    return fields, start
                parts.append(line[at:close])
                if not line.startswith('"', close + 1):
                    break
                parts.append('"')  # "" is a quote inside a quoted field
                at = close + 2
            comma = line.find(separator, close + 1)
            comma = end if comma < 0 else comma
            # text after the closing quote is kept, as csv does when not strict
            fields.append("".join(parts) + line[close + 1:comma])
        else:
            comma = line.find(separator, start)
            comma = end if comma < 0 else comma
            fields.append(line[start:comma])
        if comma == end:
            return fields, -1
        start = comma + 1


def _printable(text: str, limit: int = 40) -> str:
    """User text safe to print on one line: control characters escaped, long text cut."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", cut)


def _column(name: str) -> str:
    return name if name in ("email", "name") else f'column "{_printable(name)}"'


def _row_problem(line: str, fields: list[str], columns: list[str]) -> str:
    """Why a row cannot be used, or "" when it can."""
    if len(line) <= FIELD_LIMIT // 4 and not CONTROL.search(line):
        return ""  # so are its fields: the usual row costs one search
    for index, value in enumerate(fields):
        column = _column(columns[index]) if index < len(columns) and columns[index] else ""
        where = f" in {column}" if column else ""
        if len(value) > FIELD_LIMIT // 4 and len(value.encode()) > FIELD_LIMIT:
            return f"field over {FIELD_LIMIT // 1024} KB{where}: shorten it"
        if control := CONTROL.search(value):
            return f"control character U+{ord(control.group()):04X}{where}: remove it"
    return ""


def _line_problem(line: str | None, separator: str = ",") -> tuple[list[str], str]:
    """The fields of a line, or why the line cannot be read as one row."""
    if line is None:
        return [], f"line over {LINE_LIMIT // (1024 * 1024)} MB: a reader's row fits on one line"
    fields, quote = split_line(line, separator)
    if quote >= 0:
        return [], f"unbalanced quote {_printable(line[quote:], 30)}: close it on the same line"
    return fields, ""


# -- readers ----------------------------------------------------------------------------------


def _rows(path: Path, shown: str,
          report: Callable[[Problem], None]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: stripped value}) for each readable row; the others are reported."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: recipients file not found; create it (columns: email,name) "
                          "or set delivery.recipients in digest.toml") from None
    except OSError as error:
        raise ConfigError(f"{shown}: cannot be read: {error.strerror}") from None
    with raw:
        lines = _lines(raw)
        columns, separator = _header(lines, shown)
        # a row's values are its fields in order, the last one for a column named twice
        plain = all(columns)  # a column without a name is not kept
        short = FIELD_LIMIT // 4
        for number, line in lines:
            if line == "":
                continue  # a blank line is no row, as for csv
            if (plain and line is not None and '"' not in line and len(line) <= short
                    and not CONTROL.search(line)):  # most rows: no quote, nothing to report
                fields = line.split(separator)
                if len(fields) >= len(columns):
                    yield number, dict(zip(columns, map(str.strip, fields), strict=False))
                    continue
            fields, problem = _line_problem(line, separator)
            if line is not None and not problem:
                problem = _row_problem(line, fields, columns)
            if problem:
                report(Problem(f"{shown}:{number}", f"{problem}; skipped"))
                continue
            values = dict(zip(columns, (f.strip() for f in fields), strict=False))
            yield number, {c: values.get(c, "") for c in columns if c}


def _header(lines: Iterator[tuple[int, str | None]], shown: str) -> tuple[list[str], str]:
    """The lower-cased column names, from the first line that is not blank, and the separator:
    a comma, or a semicolon when the header is written with them (what French spreadsheets
    save as "CSV")."""
    advice = "the first line must name the columns, e.g. email,name"
    for number, line in lines:
        if line == "":
            continue
        found = [(_line_problem(line, separator), separator) for separator in SEPARATORS]
        for (fields, problem), separator in found:
            columns = [c.strip().lower() for c in fields]
            if not problem and "email" in columns:
                return columns, separator
        problem = found[0][0][1]  # as read with commas
        raise ConfigError(f"{shown}:{number}: {problem or NO_EMAIL}; {advice} (columns "
                          "separated by commas or by semicolons)")
    raise ConfigError(f"{shown}:1: {NO_EMAIL}; {advice}")


def read_recipients(
    path: Path, shown: str, suppressed: set[str], report: Callable[[Problem], None]
) -> Iterator[Recipient]:
    """Valid, unique, not suppressed readers, in file order; every skipped line is reported."""
    seen: dict[str, int] = {}
    for line, row in _rows(path, shown, report):
        address = row.get("email", "")
        if not address:
            report(Problem(f"{shown}:{line}", "empty email; skipped"))
            continue
        email, reason = check_address(address)
        if email is None:
            report(Problem(f"{shown}:{line}",
                           f'invalid address "{_printable(address, 80)}": {reason}; skipped'))
            continue
        key = address_key(email)
        if key in seen:
            report(Problem(f"{shown}:{line}",
                           f"{email} is already on line {seen[key]}; sent once"))
            continue
        seen[key] = line
        if key in suppressed:
            continue
        name = row.get("name")
        if name and "=?" in name:  # an encoded word: it must not become a header line
            name = header_text(name)
        if len(row) == (1 if name is None else 2):  # email and name only, as most lists
            reader = Recipient(email, name or "")
        else:
            extra = tuple((k, v) for k, v in row.items() if k not in ("email", "name"))
            reader = Recipient(email=email, name=name or "", fields=extra)
        reader.__dict__["key"] = key  # known: the cached property need not make it again
        yield reader


def newsletter_readers(config: Config, report: Callable[[Problem], None],
                       also_suppressed: set[str] | None = None) -> Iterator[Recipient]:
    """The readers of `delivery.recipients`, less those of `delivery.suppressions` and the keys
    of `also_suppressed` (the state database's)."""
    delivery = config.delivery
    suppressed = read_suppressions(config.resolve(delivery.suppressions))
    suppressed |= also_suppressed or set()
    return read_recipients(config.resolve(delivery.recipients), delivery.recipients, suppressed,
                           report)


# -- suppressions -----------------------------------------------------------------------------


def _suppression_key(text: str) -> str | None:
    """The key of `addr` or `Name <addr>`, normalized as a reader's address is; None if invalid."""
    text = text.strip()
    if angle := ANGLE_ADDRESS.search(text):
        # the last <...> of the line: an unquoted comma in the name does not matter
        text = angle.group(1).strip()
    if not text or CONTROL.search(text):
        return None
    email, _ = check_address(text)
    return address_key(email) if email else None


def read_suppressions(path: Path) -> set[str]:
    """The keys of the addresses in a suppression list: a CSV with an email column, or one
    address (or `Name <addr>`) per line. A line without a valid address cannot match a reader:
    it is ignored."""
    if not path.is_file():
        return set()  # no list (yet): nobody unsubscribed
    try:
        raw = path.open("rb")
    except OSError as error:  # sending on regardless could reach those who left
        raise ConfigError(f"{path}: suppression list cannot be read: {error.strerror}") from None
    keys: set[str] = set()
    column = None  # the email column's index, when the first line names one
    with raw:
        for _, line in _lines(raw):
            if not line or len(line) > FIELD_LIMIT:
                continue
            fields, quote = split_line(line)
            if quote >= 0:  # better suppress too many: an open quote runs to the line's end
                fields.append(line[quote + 1:].replace('""', '"'))
            if column is None:
                names = [f.strip().lower() for f in fields]
                column = names.index("email") if "email" in names else -1
                if column >= 0:
                    continue
            if column >= 0:
                candidates = fields[column:column + 1]
            else:  # one per line; or a CSV without header, as such lists were read before
                candidates = [line, *(f for f in fields if "@" in f)]
            for candidate in candidates:
                # "'=x@example.org": an address digest wrote as text for spreadsheets
                if key := _suppression_key(spreadsheet_value(candidate.strip())):
                    keys.add(key)
                    break
    return keys
