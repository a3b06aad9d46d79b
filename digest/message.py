"""An Email as a MIME message: multipart/alternative, text/plain then text/html, UTF-8."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr

from digest.headers import header_text
from digest.models import Email

# RFC 2045: quoted-printable lines of at most 76 characters; headers fold there too. Headers
# given as text (List-Unsubscribe) are folded by us between addresses and never refolded: the
# library would turn a long URL into encoded words, which no client follows.
LINE_LENGTH = 76
POLICY = SMTP.clone(max_line_length=LINE_LENGTH, refold_source="none")
# Headers made of <address> lists, folded between the addresses.
ADDRESS_LISTS = ("List-Unsubscribe",)


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def to_message(
    email: Email, to: str | Address | None = None, extra_headers: dict[str, str] | None = None
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["Subject"] = header_text(email.subject)  # made of titles: text from outside
    message["From"] = email.sender
    if to:
        message["To"] = to
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_domain(email.sender))
    for name, value in (extra_headers or {}).items():
        if name in ADDRESS_LISTS:
            message.set_raw(name, folded_list(name, value))
        else:
            message[name] = value
    message.set_content(email.text, subtype="plain", charset="utf-8")
    message.add_alternative(email.html, subtype="html", charset="utf-8")
    return message


def folded_list(name: str, value: str) -> str:
    """`<a>, <b>` folded between the addresses when the line would pass 76 characters; an address
    longer than that stays whole (RFC 5322 allows 998)."""
    parts = [part.strip() for part in re.split(r"(?<=>)\s*,", value)]
    # the first address on a line of its own when it does not fit beside the name
    lines = [parts[0]] if len(name) + 2 + len(parts[0]) < LINE_LENGTH else ["", parts[0]]
    for part in parts[1:]:
        width = len(name) + 2 if len(lines) == 1 else 1  # "Name: " or the folding space
        if width + len(lines[-1]) + 2 + len(part) <= LINE_LENGTH:
            lines[-1] += ", " + part
        else:
            lines[-1] += ","
            lines.append(part)
    return "\r\n ".join(lines)
