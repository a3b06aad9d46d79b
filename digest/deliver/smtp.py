"""SMTP with the standard library: one message per reader, over one reused connection.

What a failure means depends on how far the message got (`_meaning` is the whole rule):

    stage              4xx reply   no reply (lost, timeout)   5xx reply
    connect, EHLO      retry       retry                      stop the send
    MAIL FROM          retry       retry                      stop the send
    RCPT TO            retry       retry                      that reader is refused
    DATA               retry       retry                      stop the send
    content, to 250    retry       unknown                    stop the send

- retry: reset or reconnect and try the message again, up to `max_attempts`; then stop the send.
- refused: recorded for that reader, who is not tried again; the others go on. Only a refusal
  of the address itself is one: 5.1.x (no such mailbox, domain) and 5.2.x (mailbox disabled,
  full). A 5.7.x (policy: "554 5.7.1 Relay access denied" when the relay's login expired),
  5.3.x, 5.4.x, 5.5.x or 530 at RCPT TO is about the sender or the relay: it stops the send.
- unsure: a 5xx at RCPT TO without an enhanced status code says nothing of whose fault it is:
  that reader is marked failed (tried again next run), and the same reply for SAME_REFUSALS
  readers in a row ("550 Daily sending quota exceeded") stops the send: a server that refuses
  everyone refuses no one in particular.
- stop the send (exit 75): the server refuses the message, not the reader (530 authentication
  required, 552 too large), so nobody is marked refused. The reader in flight is marked failed,
  and the next run, once the server or delivery.smtp is fixed, sends to everyone left. 530 stops
  the send even at RCPT TO: it never concerns the reader.
- unknown (exit 75): once the content has started to leave, a lost connection or a timeout may
  hide a queued message; the reader stays unknown and a plain re-run does not send to him again.

A refused login (5xx to AUTH) or a failed TLS negotiation stops the send with exit 1: the settings
must change first. An address whose local part is not ASCII needs SMTPUTF8; when the server does
not offer it, that reader is refused. A non-ASCII domain alone goes as punycode (IDNA).
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr

from digest.audience.recipients import Recipient
from digest.config import Config, SmtpConfig
from digest.deliver import (
    DeliveryError,
    Outgoing,
    TemporaryDeliveryError,
    UnknownOutcome,
    ascii_address,
    backoff_seconds,
    readdressed,
)
from digest.errors import ConfigError
from digest.models import Outcome, Status

PASSWORD_VARIABLE = "DIGEST_SMTP_PASSWORD"
NO_SMTPUTF8 = "the server does not offer SMTPUTF8, needed for this address"

RETRY, REFUSED, STOP, UNKNOWN, UNSURE = "retry", "refused", "stop", "unknown", "unsure"
SAME_REFUSALS = 3  # the same refusal naming no cause for readers in a row: about the server
# RFC 3463 enhanced status codes that concern the address: 5.1.x addressing, 5.2.x mailbox
ADDRESS_CLASSES = ("1", "2")
_ENHANCED = re.compile(r"\s*[245]\.(\d{1,3})\.\d{1,3}\b")
_ADDRESSES = re.compile(r"<[^<>]*>|[^\s<>]+@[^\s<>]+")
SHOWN = {"connect": "connect", "mail": "MAIL FROM", "rcpt": "RCPT TO", "data": "DATA",
         "content": "the end of DATA"}


def _meaning(stage: str, code: int | None, reply: str = "") -> str:
    """What a failed step means; `code` is None when no reply came (connection lost, timeout)."""
    if code is None:
        return UNKNOWN if stage == "content" else RETRY
    if code == 530:  # authentication required: about the sender, never the reader
        return STOP
    if 400 <= code < 500:
        return RETRY
    if code >= 500:
        return _rcpt_refusal(reply) if stage == "rcpt" else STOP
    return UNKNOWN if stage == "content" else STOP  # a positive reply SMTP does not allow there


def _rcpt_refusal(reply: str) -> str:
    """What a 5xx reply to RCPT TO refuses: this address (5.1.x, 5.2.x), the sender or the relay
    (any other enhanced code), or it does not say (no enhanced code)."""
    enhanced = _ENHANCED.match(reply)
    if enhanced is None:
        return UNSURE
    return REFUSED if enhanced.group(1) in ADDRESS_CLASSES else STOP


def _same_reply(reply: str) -> str:
    """The reply without the addresses it names, to compare the refusals of several readers."""
    return " ".join(_ADDRESSES.sub("", reply).split()).lower()


class _Failed(Exception):
    """A step of one message did not get the reply it needs: which step, what the server said."""

    def __init__(self, stage: str, code: int | None, reply: str) -> None:
        super().__init__(reply if code is None else f"{code} {reply}")
        self.stage = stage
        self.code = code
        self.reply = reply


@dataclass(frozen=True)
class _Envelope:
    """MAIL FROM and RCPT TO of one message, in ASCII when they can be."""

    sender: str
    to: str
    utf8: bool  # a local part is not ASCII: only SMTPUTF8 carries it


class SmtpBackend:
    name = "smtp"
    # One reader a batch: after a crash, at most the one message in flight has an unknown fate.
    batch_size = 1

    def __init__(self, config: SmtpConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.password = os.environ.get(PASSWORD_VARIABLE, "")
        if config.username and not self.password:
            raise ConfigError(f"delivery.smtp.username is set but {PASSWORD_VARIABLE} is not; "
                              "export the SMTP password in the environment")
        self.connection: smtplib.SMTP | None = None
        self.where = f"{config.host}:{config.port}"
        self.refusals: list[str] = []  # the unsure refusals in a row, addresses taken out

    @classmethod
    def open(cls, config: Config, outbox) -> SmtpBackend:
        return cls(config.delivery.smtp)

    @classmethod
    def needs_unsubscribe_link(cls, config: Config) -> bool:
        return True

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        sender = parseaddr(outgoing.email.sender)[1]
        for recipient in recipients:
            yield [self._send_one(sender, recipient, outgoing)]

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError):  # smtplib's errors are OSErrors too
                self.connection.quit()
            self.connection = None

    def close_quietly(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def _send_one(self, sender: str, recipient: Recipient, outgoing: Outgoing) -> Outcome:
        envelope = _envelope(outgoing.return_path(recipient) or sender, recipient.email)
        message = outgoing.message_for(recipient)
        if not recipient.email.isascii():
            message = readdressed(message, recipient.name, envelope.to, envelope.utf8)
        failure: _Failed | None = None
        for attempt in range(self.config.max_attempts):
            if attempt:
                self.sleep(backoff_seconds(attempt - 1))
            try:
                if self.connection is None:
                    self.connection = self._connect()
                if envelope.utf8 and not self.connection.has_extn("smtputf8"):
                    return self._without_smtputf8(recipient, envelope)
                self._transaction(envelope, message)
                self.refusals.clear()
                return Outcome(recipient.key, Status.SENT)
            except _Failed as failed:
                failure = failed
            meaning = _meaning(failure.stage, failure.code, failure.reply)
            if meaning == REFUSED:
                self._reset()
                self.refusals.clear()
                return Outcome(recipient.key, Status.REFUSED, error=str(failure))
            if meaning == UNSURE:
                self._reset()
                return self._unsure(recipient, failure)
            if meaning == UNKNOWN:
                self.close_quietly()
                raise UnknownOutcome(
                    f"SMTP server {self.where}: no answer to the message for {recipient.email} "
                    f"once sent ({failure}); it may have arrived, so it is not sent again unless "
                    "you pass --resend-unknown; run again later for the other readers")
            if meaning == STOP:
                raise TemporaryDeliveryError(self._refusal(failure))
            self._recover(failure)
        assert failure is not None  # max_attempts is at least 1 (checked in config)
        raise TemporaryDeliveryError(self._still_failing(failure, recipient))

    def _unsure(self, recipient: Recipient, failure: _Failed) -> Outcome:
        """A refusal that names no cause: the reader failed (tried again next run), and the send
        stops at the same one for SAME_REFUSALS readers in a row."""
        self.refusals.append(_same_reply(failure.reply))
        latest = self.refusals[-SAME_REFUSALS:]
        if len(latest) == SAME_REFUSALS and len(set(latest)) == 1:
            raise TemporaryDeliveryError(
                f"SMTP server {self.where} refused {SAME_REFUSALS} readers in a row with the "
                f"same reply ({failure}): it refuses the sender or the relay, not these "
                "addresses; no reader was marked refused: fix the server or delivery.smtp, "
                "then run again")
        return Outcome(recipient.key, Status.FAILED,
                       error=f"{failure} (no enhanced status code: tried again next run)")

    def _without_smtputf8(self, recipient: Recipient, envelope: _Envelope) -> Outcome:
        if not recipient.email.isascii():
            return Outcome(recipient.key, Status.REFUSED, error=NO_SMTPUTF8)
        raise DeliveryError(f"SMTP server {self.where} does not offer SMTPUTF8, needed for the "
                            f"sender {envelope.sender}; use an ASCII address in newsletter.sender")

    def _transaction(self, envelope: _Envelope, message: bytes) -> None:
        """MAIL FROM, RCPT TO, DATA and the content; `_Failed` at the first step not answered well.

        DATA is driven here rather than by smtplib, which cannot tell whether a lost connection came
        before the content left (safe to retry) or after (maybe delivered).
        """
        connection = self.connection
        assert connection is not None  # _send_one connects first
        steps = (  # (stage, command, the replies that let the message go on)
            ("mail", lambda: connection.mail(envelope.sender,
                                             self._options(connection, message, envelope)),
             (250,)),
            ("rcpt", lambda: connection.rcpt(envelope.to), (250, 251)),
            ("data", lambda: connection.docmd("DATA"), (354,)),
            ("content", lambda: _content(connection, message), (250,)),
        )
        for stage, command, wanted in steps:
            try:
                code, reply = command()
            except OSError as exc:  # smtplib's errors and timeouts are OSErrors
                raise _Failed(stage, None, f"connection lost: {_detail(exc)}") from None
            if code not in wanted:
                raise _Failed(stage, code, _text(reply))

    def _options(self, connection: smtplib.SMTP, message: bytes,
                 envelope: _Envelope) -> list[str]:
        options = []
        if connection.has_extn("size"):  # the server may refuse a big message before it leaves
            options.append(f"SIZE={len(message)}")
        if envelope.utf8:
            options += ["SMTPUTF8", "BODY=8BITMIME"]  # RFC 6531: UTF-8 headers are 8-bit content
        return options

    def _connect(self) -> smtplib.SMTP:
        """An open connection; wrong settings raise DeliveryError, the rest a `_Failed` to retry."""
        config = self.config
        try:
            return self._open()
        except smtplib.SMTPAuthenticationError as exc:
            if exc.smtp_code < 500:
                raise _Failed("connect", exc.smtp_code, _text(exc.smtp_error)) from None
            raise DeliveryError(f"SMTP server {self.where} refused the login of "
                                f"{config.username!r}: {exc.smtp_code} {_text(exc.smtp_error)}; "
                                f"check delivery.smtp.username and {PASSWORD_VARIABLE}") from None
        except smtplib.SMTPResponseException as exc:
            raise _Failed("connect", exc.smtp_code, _text(exc.smtp_error)) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise _Failed("connect", None, _detail(exc)) from None
        except smtplib.SMTPException as exc:  # STARTTLS or AUTH not offered
            raise DeliveryError(f"SMTP server {self.where}: {_detail(exc)}; check "
                                "delivery.smtp.security") from None
        except ssl.SSLEOFError as exc:  # dropped during the handshake: worth another try
            raise _Failed("connect", None, f"TLS handshake interrupted ({exc.reason})") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"SMTP server {self.where}: TLS failed ({exc.reason}); check "
                                "delivery.smtp.security and delivery.smtp.ca_file") from None
        except OSError as exc:
            raise _Failed("connect", None, _detail(exc)) from None

    def _open(self) -> smtplib.SMTP:
        """A connection ready for MAIL FROM: secured as configured, logged in, EHLO answered."""
        config = self.config
        connection: smtplib.SMTP
        if config.security == "tls":
            connection = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                          context=self._context())
        else:
            connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            if config.security == "starttls":
                connection.starttls(context=self._context())
            if config.username:
                connection.login(config.username, self.password)
            connection.ehlo_or_helo_if_needed()  # its extensions (SMTPUTF8, SIZE) are read later
        except BaseException:
            connection.close()
            raise
        return connection

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.config.ca_file:
            context.load_verify_locations(self.config.ca_file)
        return context

    def _recover(self, failure: _Failed) -> None:
        """Ready for another try: a new connection when it was lost or the server closes it."""
        if failure.code in (None, 421):
            self.close_quietly()
        else:
            self._reset()

    def _reset(self) -> None:
        """Forget the current transaction (RSET) before the next MAIL FROM."""
        if self.connection is None:
            return
        try:
            self.connection.rset()
        except OSError:
            self.close_quietly()

    def _refusal(self, failure: _Failed) -> str:
        if failure.stage == "connect":
            what = f"SMTP server {self.where} refused the connection"
        else:
            what = f"SMTP server {self.where} refused the message at {SHOWN[failure.stage]}"
        return (f"{what}: {failure}; no reader was marked refused: fix the server or "
                "delivery.smtp, then run again")

    def _still_failing(self, failure: _Failed, recipient: Recipient) -> str:
        tries = f"still after {self.config.max_attempts} attempts; run again later"
        if failure.stage == "connect":
            return f"cannot connect to SMTP server {self.where}: {failure}, {tries}"
        return (f"SMTP server {self.where}: {failure} at {SHOWN[failure.stage]} for "
                f"{recipient.email}, {tries}")


def _envelope(sender: str, to: str) -> _Envelope:
    ascii_sender, ascii_to = ascii_address(sender), ascii_address(to)
    return _Envelope(ascii_sender or sender, ascii_to or to, None in (ascii_sender, ascii_to))


def _content(connection: smtplib.SMTP, message: bytes) -> tuple[int, bytes]:
    """The message after DATA's 354, dot-stuffed and ended by a lone dot; then the final reply."""
    data = re.sub(rb"(?m)^\.", b"..", message)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    connection.send(data + b".\r\n")
    return connection.getreply()


def _detail(exc: BaseException) -> str:
    return str(exc).rstrip(".") or exc.__class__.__name__


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
