"""Who gets the digest: `recipients.csv`, read as a stream, checked, deduplicated, suppressed.

A reader's row cannot legitimately span lines, so each physical line is parsed on its own: a bad
row (an unbalanced quote, a huge field, a control character, a bad address) is reported with its
line number and skipped, and never takes the following rows with it.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.audience.addresses import CONTROL, address_key, check_address, suppression_key
from digest.config import Config
from digest.errors import ConfigError, Problem
from digest.headers import header_text
from digest.sections import sections_cell
from digest.text import spreadsheet_value

FIELD_LIMIT = 64 * 1024  # UTF-8 bytes in one field; Python's csv gives up at 128 K characters
LINE_LIMIT = 1024 * 1024  # characters read at once: a file without line breaks stays in bounds
NO_EMAIL = "no 'email' column"
SEPARATORS = (",", ";")  # between columns: a comma, or what French spreadsheets write


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


def keyed_recipient(key: str, email: str, name: str = "",
                    fields: tuple[tuple[str, str], ...] = ()) -> Recipient:
    """A reader whose key is known already: the cached property need not make it again."""
    reader = Recipient(email, name, fields)
    reader.__dict__["key"] = key
    return reader


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
        if named := header_columns(line):
            return named
        problem = _line_problem(line)[1]  # as read with commas
        raise ConfigError(f"{shown}:{number}: {problem or NO_EMAIL}; {advice} (columns "
                          "separated by commas or by semicolons)")
    raise ConfigError(f"{shown}:1: {NO_EMAIL}; {advice}")


def header_columns(line: str | None) -> tuple[list[str], str] | None:
    """The lower-cased column names of a header line and its separator, when it names an email
    column."""
    for separator in SEPARATORS:
        fields, problem = _line_problem(line, separator)
        columns = [c.strip().lower() for c in fields]
        if not problem and "email" in columns:
            return columns, separator
    return None


def read_recipients(
    path: Path, shown: str, suppressed: set[str], report: Callable[[Problem], None],
    sections: frozenset[str] = frozenset(),
) -> Iterator[Recipient]:
    """Valid, unique, not suppressed readers, in file order; every skipped line is reported, and
    so is a name in the `sections` column that is none of `sections` (when there are any)."""
    seen: dict[str, int] = {}
    for line, row in _rows(path, shown, report):
        cell = row.get("sections") if sections else None
        if cell and (unknown := sections_cell(cell, sections)[1]):
            _unknown_sections(unknown, sections, f"{shown}:{line}", report)
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
        extra = () if len(row) == (1 if name is None else 2) else tuple(  # most lists: none
            (k, v) for k, v in row.items() if k not in ("email", "name"))
        yield keyed_recipient(key, email, name or "", extra)


def _unknown_sections(names: tuple[str, ...], known: frozenset[str], where: str,
                      report: Callable[[Problem], None]) -> None:
    for name in names:
        report(Problem(where, f'unknown section "{_printable(name)}" (digest.toml has '
                       f"{', '.join(sorted(known))}); ignored"))


def newsletter_readers(config: Config, report: Callable[[Problem], None],
                       also_suppressed: set[str] | None = None) -> Iterator[Recipient]:
    """The readers of `delivery.recipients`, less those of `delivery.suppressions` and the keys
    of `also_suppressed` (the state database's)."""
    delivery = config.delivery
    suppressed = read_suppressions(config.resolve(delivery.suppressions))
    suppressed |= also_suppressed or set()
    return read_recipients(config.resolve(delivery.recipients), delivery.recipients, suppressed,
                           report, frozenset(config.sections))


def listed_reader(config: Config, key: str) -> Recipient | None:
    """The reader of `delivery.recipients` with this address key, if the list has him (a scan
    of the file: for a reader's own page, not for a send)."""
    return next((r for r in newsletter_readers(config, lambda problem: None) if r.key == key),
                None)


# -- suppressions -----------------------------------------------------------------------------


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
                if key := suppression_key(spreadsheet_value(candidate.strip())):
                    keys.add(key)
                    break
    return keys
