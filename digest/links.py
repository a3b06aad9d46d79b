"""Tracking parameters on article links."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from digest.config import LinksConfig


def with_tracking(url: str, links: LinksConfig, day: date) -> str:
    """`url` with the configured utm_* parameters; the link's own query and fragment are kept,
    and a parameter the link already carries is left as the author wrote it."""
    wanted = {
        "utm_source": links.utm_source,
        "utm_medium": links.utm_medium,
        "utm_campaign": links.utm_campaign.replace("{date}", day.isoformat()),
    }
    wanted = {k: v for k, v in wanted.items() if v}
    if not wanted:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(k, v) for k, v in wanted.items() if k not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))
