"""An Email as a MIME message: multipart/alternative, text/plain then text/html, UTF-8."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr

from digest.models import Email

# RFC 5322's hard limit: long List-Unsubscribe URLs stay whole instead of becoming encoded words.
POLICY = SMTP.clone(max_line_length=998)


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def to_message(
    email: Email, to: str | Address | None = None, extra_headers: dict[str, str] | None = None
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["Subject"] = email.subject
    message["From"] = email.sender
    if to:
        message["To"] = to
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_domain(email.sender))
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(email.text, subtype="plain", charset="utf-8")
    message.add_alternative(email.html, subtype="html", charset="utf-8")
    return message
