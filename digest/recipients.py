"""Who gets the digest: `recipients.csv`, read as a stream, checked, deduplicated, suppressed."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.config import Config
from digest.errors import ConfigError, Problem


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    # Other columns of the CSV, for personalisation.
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Addresses are compared without case: one reader, one copy."""
        return self.email.lower()


def check_address(address: str) -> tuple[str | None, str]:
    """(normalized address, "") when valid, else (None, reason). Syntax only, no DNS."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).normalized, ""
    except EmailNotValidError as exc:
        return None, str(exc)


def _rows(path: Path, shown: str) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: recipients file not found; create it (columns: email,name) "
                          "or set delivery.recipients in digest.toml") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "email" not in columns:
            raise ConfigError(f"{shown}:1: no 'email' column; the first line must name the "
                              "columns, e.g. email,name")
        reader.fieldnames = columns
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def read_recipients(
    path: Path, shown: str, suppressed: set[str], report: Callable[[Problem], None]
) -> Iterator[Recipient]:
    """Valid, unique, not suppressed readers, in file order; every skipped line is reported."""
    seen: dict[str, int] = {}
    for line, row in _rows(path, shown):
        address = row.get("email", "")
        if not address:
            report(Problem(f"{shown}:{line}", "empty email; skipped"))
            continue
        email, reason = check_address(address)
        if email is None:
            report(Problem(f"{shown}:{line}", f'invalid address "{address}": {reason}; skipped'))
            continue
        key = email.lower()
        if key in seen:
            report(Problem(f"{shown}:{line}", f"{email} is already on line {seen[key]}; sent once"))
            continue
        seen[key] = line
        if key in suppressed:
            continue
        extra = tuple((k, v) for k, v in row.items() if k not in ("email", "name"))
        yield Recipient(email=email, name=row.get("name", ""), fields=extra)


def newsletter_readers(config: Config, report: Callable[[Problem], None]) -> Iterator[Recipient]:
    """The readers of `delivery.recipients`, less those of `delivery.suppressions`."""
    delivery = config.delivery
    suppressed = read_suppressions(config.resolve(delivery.suppressions))
    return read_recipients(config.resolve(delivery.recipients), delivery.recipients, suppressed,
                           report)


def read_suppressions(path: Path) -> set[str]:
    """Lower-cased addresses from a suppression list: a CSV with an email column, or one per
    line."""
    if not path.is_file():
        return set()
    addresses = set()
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        for row in csv.reader(handle):
            for cell in row:
                if "@" in cell:
                    addresses.add(cell.strip().lower())
                    break
    return addresses
