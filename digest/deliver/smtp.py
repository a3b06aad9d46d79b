"""SMTP with the standard library: one message per reader, one reused connection.

The connection is opened once and reused; when the server drops it, it is opened again and the
message retried. Transient replies (4xx) are retried with backoff; a permanent refusal (5xx) of one
address is recorded for that reader and the others go on.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from email.utils import parseaddr

from digest.config import Config, SmtpConfig
from digest.deliver import DeliveryError, Outgoing, TemporaryDeliveryError
from digest.errors import ConfigError
from digest.models import Outcome
from digest.recipients import Recipient

PASSWORD_VARIABLE = "DIGEST_SMTP_PASSWORD"
BACKOFF_BASE_SECONDS = 0.5


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

    @classmethod
    def open(cls, config: Config, outbox) -> SmtpBackend:
        return cls(config.delivery.smtp)

    @classmethod
    def needs_unsubscribe_link(cls, config: Config) -> bool:
        return True

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.config.ca_file:
            context.load_verify_locations(self.config.ca_file)
        return context

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        where = f"{config.host}:{config.port}"
        try:
            if config.security == "tls":
                connection = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                              context=self._context())
            else:
                connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
                if config.security == "starttls":
                    connection.starttls(context=self._context())
            if config.username:
                connection.login(config.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP server {where} refused the login of "
                                f"{config.username!r}: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server {where}: {exc}; check delivery.smtp.security") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"SMTP server {where}: TLS failed ({exc.reason}); check "
                                "delivery.smtp.security and delivery.smtp.ca_file") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(f"cannot connect to SMTP server {where}: {exc}") from None
        return connection

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.connection = None

    def _send_one(self, sender: str, recipient: Recipient, message: bytes) -> Outcome:
        last = ""
        for attempt in range(self.config.max_attempts):
            if self.connection is None:
                self.connection = self._connect()
            try:
                self.connection.sendmail(sender, [recipient.email], message)
                return Outcome(recipient.key, "sent")
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = exc.recipients[recipient.email]
                if code >= 500:
                    return Outcome(recipient.key, "refused", error=f"{code} {_text(reply)}")
                last = f"{code} {_text(reply)}"
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code >= 500:
                    return Outcome(recipient.key, "refused", error=f"{exc.smtp_code} {_text(exc.smtp_error)}")
                last = f"{exc.smtp_code} {_text(exc.smtp_error)}"
                self._reset()
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                last = f"connection lost ({exc.__class__.__name__})"
                self.close_quietly()
                continue  # reconnect at once
            self.sleep(BACKOFF_BASE_SECONDS * 2**attempt)
        return Outcome(recipient.key, "failed", error=last)

    def _reset(self) -> None:
        try:
            self.connection.rset()
        except (OSError, smtplib.SMTPException):
            self.close_quietly()

    def close_quietly(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def send(self, outgoing: Outgoing, recipients: list[Recipient]) -> Iterator[list[Outcome]]:
        sender = parseaddr(outgoing.email.sender)[1]
        for recipient in recipients:
            yield [self._send_one(sender, recipient, outgoing.message_for(recipient))]


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
