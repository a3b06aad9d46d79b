"""The emails a reader gets besides editions: the sign-up's confirmation and the welcome.

Both are templates editors can override like the edition's (`confirm.html.j2`, `confirm.txt.j2`,
`welcome.html.j2`, `welcome.txt.j2`), and both leave through the newsletter's own delivery
backend; the file backend writes them under `out/signups/confirm/` and `out/signups/welcome/`.
Neither is recorded in the send ledger: they are not editions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import escape

from digest.audience.recipients import Recipient
from digest.audience.signing import CONFIRM_DAYS
from digest.deliver import (
    Backend,
    DeliveryError,
    Outgoing,
    TemporaryDeliveryError,
    backend_class,
)
from digest.labels import labels_for
from digest.models import Email, Status
from digest.rendering.render import environment_for, render_template

if TYPE_CHECKING:
    from digest.config import Config

KINDS = ("confirm", "welcome")


@dataclass(frozen=True)
class Notice:
    kind: str  # one of KINDS
    reader: Recipient
    links: dict[str, str]  # confirm_url, last_edition_url, preferences_url


def outbox(config: Config, kind: str) -> Path:
    """Where the file backend writes a notice of this kind."""
    return config.root / "out" / "signups" / kind


def notice_email(config: Config, kind: str, links: dict[str, str]) -> Email:
    newsletter = config.newsletter
    labels = labels_for(newsletter.locale, config.labels)
    subject = labels[f"{kind}_subject"].format(newsletter=newsletter.name)
    values = {"newsletter": newsletter, "lang": newsletter.locale, "labels": labels,
              "subject": subject, "days": CONFIRM_DAYS, "confirm_url": "",
              "last_edition_url": "", "preferences_url": "", **links}
    env = environment_for(config)
    return Email(subject=subject, html=render_template(env, f"{kind}.html.j2", values, config),
                 text=render_template(env, f"{kind}.txt.j2", values, config), preheader="",
                 sender=newsletter.sender, reply_to=newsletter.reply_to)


class Postman:
    """Sends notices through the delivery backend, one backend opened per kind and kept open
    for the notices that follow (a relay's connection, an HTTP client)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._backends: dict[str, Backend] = {}
        self._emails: dict[tuple[str, tuple[str, ...]], Email] = {}

    @contextmanager
    def opened(self) -> Iterator[Postman]:
        try:
            yield self
        finally:
            self.close()

    def close(self) -> None:
        backends, self._backends = self._backends, {}
        for backend in backends.values():
            backend.close()

    def _backend(self, kind: str) -> Backend:
        if kind not in self._backends:
            kind_class = backend_class(self.config.delivery.backend)
            self._backends[kind] = kind_class.open(self.config, outbox(self.config, kind))
        return self._backends[kind]

    def email(self, notice: Notice) -> Email:
        """The notice's email: its kind's templates rendered once (with the same links given or
        not), each reader's links put in."""
        given = tuple(sorted(name for name, value in notice.links.items() if value))
        made = self._emails.get((notice.kind, given))
        if made is None:
            made = notice_email(self.config, notice.kind, {name: f"%{name}%" for name in given})
            self._emails[(notice.kind, given)] = made
        html, text = made.html, made.text
        for name in given:
            link = notice.links[name]
            html, text = html.replace(f"%{name}%", escape(link)), text.replace(f"%{name}%", link)
        return replace(made, html=html, text=text)

    def outgoing(self, notice: Notice) -> Outgoing:
        return Outgoing(email=self.email(notice), edition_id=notice.kind,
                        newsletter=self.config.newsletter.name)

    def rehearse(self, notice: Notice) -> None:
        """The work of sending a notice, without sending it (see `digest.audience.signups`)."""
        self.outgoing(notice).message_for(notice.reader)

    def send(self, notices: Iterable[Notice]) -> None:
        """Each notice to its reader. The first one not sent raises: a DeliveryError when it
        was refused for good, a TemporaryDeliveryError when trying later may work."""
        for notice in notices:
            outgoing = self.outgoing(notice)
            for outcomes in self._backend(notice.kind).send(outgoing, [notice.reader]):
                for outcome in outcomes:
                    if outcome.status == Status.REFUSED:
                        raise DeliveryError(f"{notice.kind} email refused: {outcome.error}")
                    if outcome.status != Status.SENT:  # failed for now
                        raise TemporaryDeliveryError(f"{notice.kind} email {outcome.status}: "
                                                     f"{outcome.error}")
