"""One edition's MIME message, built once; each reader's bytes made from it.

`digest.message.to_message` builds an `EmailMessage` and the email package writes it: 7 to 8 ms
of CPU a reader, for a message that differs between readers only in its To, its Message-ID, its
List-Unsubscribe headers and the reader's links in the two parts. Here the headers every copy
shares are folded once by the same policy; a reader's own headers are folded one by one; each
part gets his links put in and is quoted-printable encoded again (a link changes the lines'
lengths: the encoder keeps them within 76 columns). The result reads the same as the email
package's, header by header and part by part (tests/test_message_template.py).
"""

from __future__ import annotations

import binascii
from email.headerregistry import Address
from email.utils import formatdate, make_msgid

from digest.headers import header_text
from digest.message import ADDRESS_LISTS, POLICY, folded_list, sender_domain
from digest.models import Email


class MessageTemplate:
    def __init__(self, email: Email, extra_headers: dict[str, str],
                 placeholders: tuple[str, ...]) -> None:
        """`placeholders`: what each reader's values replace in the parts (his links)."""
        self.domain = sender_domain(email.sender)
        shared = {"Subject": header_text(email.subject), "From": email.sender,
                  "Reply-To": email.reply_to, "Date": formatdate(localtime=False, usegmt=True)}
        self._head = b"".join(_fold(name, value) for name, value in shared.items() if value)
        self._tail = b"".join(_fold(name, value) for name, value in extra_headers.items())
        self._boundary = make_msgid(domain="boundary.invalid")[1:-1].replace("@", ".")
        self._parts = [_Part(subtype, content, placeholders)
                       for subtype, content in (("plain", email.text), ("html", email.html))]

    def message(self, to: Address | None, headers: dict[str, str],
                values: dict[str, str]) -> bytes:
        """A reader's message: `to`, his own `headers` (List-Unsubscribe...), and the parts
        with `values` put in place of the placeholders."""
        own = [_fold("To", to)] if to is not None else []
        own.append(_fold("Message-ID", make_msgid(domain=self.domain)))
        own += [_fold(name, value) for name, value in headers.items()]
        boundary = b"--" + self._boundary.encode("ascii")
        body = []
        for part in self._parts:  # the line break before a boundary belongs to the boundary
            body += [boundary, b"\r\n", part.encoded(values), b"\r\n"]
        return b"".join((
            self._head, *own, self._tail, b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative;\r\n boundary="',
            self._boundary.encode("ascii"), b'"\r\n\r\n', *body, boundary, b"--\r\n"))


class _Part:
    """A text part, quoted-printable encoded once line by line; the lines that hold a
    placeholder are encoded again for each reader (a line is encoded on its own: soft breaks
    never cross a line break)."""

    def __init__(self, subtype: str, content: str, placeholders: tuple[str, ...]) -> None:
        body = content.replace("\r\n", "\n").replace("\r", "\n")
        lines = body.removesuffix("\n").split("\n")  # set_content ends a part with a break
        self.head = (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii")
        self.placeholders = placeholders
        self.lines: list[bytes | str] = [
            line if any(p in line for p in placeholders) else _qp(line) for line in lines]

    def encoded(self, values: dict[str, str]) -> bytes:
        out = [self.head]
        for line in self.lines:
            if isinstance(line, str):
                for placeholder in self.placeholders:
                    line = line.replace(placeholder, values.get(placeholder, placeholder))
                line = _qp(line)
            out += (line, b"\r\n")
        return b"".join(out)


def _qp(line: str) -> bytes:
    return binascii.b2a_qp(line.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _fold(name: str, value: object) -> bytes:
    """One header as the email package writes it with the message's policy."""
    if name in ADDRESS_LISTS:  # written as given: a long URL is never made encoded words
        return f"{name}: {folded_list(name, str(value))}\r\n".encode("ascii")
    name, header = POLICY.header_store_parse(name, value)
    return POLICY.fold_binary(name, header)
