"""Article addresses: compared without their tracking, and given the newsletter's tracking; and
whether a server's host is this machine's own."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:  # a leaf: nothing of digest is imported when it runs
    from digest.config import LinksConfig

_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|mc_cid|mc_eid|igshid|_hsenc|_hsmi)$",
                       re.IGNORECASE)


def normalize_url(url: str) -> str:
    """The address without tracking parameters, fragment or trailing slash, for comparison.
    One that does not parse (`http://[oops/x`) is compared as written: never an error."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not _TRACKING.match(k))
    scheme = "https" if parts.scheme.lower() in ("http", "https") else parts.scheme.lower()
    return urlunsplit((scheme, parts.netloc.lower(), parts.path.rstrip("/"), urlencode(query), ""))


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
    try:
        parts = urlsplit(url)
    except ValueError:  # not an address any reader gave: left as it is
        return url
    if parts.scheme not in ("http", "https"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(k, v) for k, v in wanted.items() if k not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_loopback(host: str) -> bool:
    """Whether `--host` reaches this machine only (digest preview, digest serve)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_url(signup_url: str, unsubscribe_url: str, page: str) -> str:
    """The public address of a page of `digest serve` ("subscribe", "preferences"...):
    under `signup.url`, else beside the unsubscribe link's page; "" when neither says where."""
    base = signup_url.rstrip("/")
    if not base:
        parts = urlsplit(unsubscribe_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return ""
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rpartition('/')[0]}"
    return f"{base}/{page}"
