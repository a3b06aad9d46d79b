"""Readers joining: a sign-up with double opt-in, its confirmation, the reader's preferences.

The form's request is only queued (`request`): the answer is the same, and as quick, whatever
the address's state, so that nobody learns who reads. The web application's worker handles the
queue (`handle_queued`): a new or returning address gets a confirmation email (at most
`signup.confirmations_per_day`), a confirmed one nothing, and a confirmed reader's record is never
changed by a sign-up. The confirmation link names the sign-up, not the address, and is signed
with `DIGEST_SECRET` for 7 days; confirming lifts the reader's suppression, if he had left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from digest.audience.addresses import CONTROL, address_key, check_address
from digest.audience.notices import Notice, Postman
from digest.audience.recipients import Recipient
from digest.audience.signing import Signer, reference
from digest.config import LOCALES, Config
from digest.deliver import DeliveryError, TemporaryDeliveryError
from digest.folder import Folder
from digest.state.readers import Reader, SignUpRequest, Source
from digest.urls import served_url

log = logging.getLogger("digest.signups")

NAME_CHARS = 120


@dataclass(frozen=True)
class Choices:
    """What a reader chooses on the form or his preferences page, cleaned."""

    name: str = ""
    sections: tuple[str, ...] = ()
    language: str = ""


def clean_choices(config: Config, name: str, sections: list[str], language: str) -> Choices:
    """Only what the newsletter offers: known sections and languages, a one-line short name."""
    known = configured_sections(config)
    return Choices(
        name=" ".join(CONTROL.sub(" ", name).split())[:NAME_CHARS],
        sections=tuple(dict.fromkeys(s for s in sections if s in known)),
        language=language if language in LOCALES else config.newsletter.locale,
    )


def configured_sections(config: Config) -> dict[str, str]:
    """{name: label} of the sections readers choose from, as digest.toml lists them."""
    return {name: section.label or name for name, section in config.sections.items()}


class SignUps:
    def __init__(self, folder: Folder, signer: Signer,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.config = folder.config
        self.signer = signer
        self.clock = clock
        self.readers = folder.state.readers

    def page_url(self, page: str) -> str:
        return served_url(self.config.signup.url, self.config.delivery.unsubscribe_url, page)

    # -- the form -----------------------------------------------------------------------------

    def request(self, address: str, choices: Choices, client: str) -> bool:
        """Queue a sign-up; False when `address` is not one (nothing queued)."""
        email, _ = check_address(address.strip()) if len(address) <= 320 else (None, "")
        if email is None:
            return False
        self.readers.queue(SignUpRequest(address_key(email), email, choices.name,
                                         choices.sections, choices.language,
                                         self.signer.client_hash(client)), self.clock())
        return True

    def handle_queued(self, postman: Postman) -> int:
        """Handle the sign-ups waiting, oldest first: how many were handled. When the backend
        cannot be reached, those left are released for the next try and the error raised."""
        handled = 0
        while batch := self.readers.claim(self.clock()):
            for done, (request_id, request) in enumerate(batch):
                try:
                    self._handle(request, postman)
                except TemporaryDeliveryError:
                    self.readers.release([i for i, _ in batch[done:]])
                    raise
                self.readers.done(request_id)
                handled += 1
        return handled

    def _handle(self, request: SignUpRequest, postman: Postman) -> None:
        signup = self.config.signup
        now = self.clock()
        outcome = self.readers.sign_up(
            request, suppressed=self.suppressed(request.key), source=Source.FORM,
            consent_version=signup.consent_version,
            confirmations_per_day=signup.confirmations_per_day, now=now)
        log.info("sign-up of reader %s: %s", reference(request.key), outcome.why)
        if outcome.confirm:
            self.send_confirmation(outcome.reader, postman)

    def send_confirmation(self, reader: Reader, postman: Postman) -> None:
        """The confirmation email, counted against the daily limit once it went. A
        TemporaryDeliveryError (the relay down) is raised: the sign-up is tried again."""
        try:
            postman.send([self.confirmation(reader)])
        except TemporaryDeliveryError:
            raise
        except DeliveryError as error:  # refused for good: the reader can sign up again
            log.error("confirmation email to reader %s refused: %s", reference(reader.key),
                      error)
            return
        self.readers.confirmation_sent(reader.key, self.clock())

    def confirmation(self, reader: Reader) -> Notice:
        """The confirmation email of a sign-up, with its signed link."""
        token = self.signer.confirmation_token(reader.nonce, self.clock())
        link = f"{self.page_url('subscribe/confirm')}?t={token}"
        return Notice("confirm", recipient(reader), {"confirm_url": link})

    def _send(self, postman: Postman, notice: Notice) -> None:
        try:
            postman.send([notice])
        except DeliveryError as error:  # the reader can sign up again; nothing else to undo
            log.error("%s email to reader %s not sent: %s", notice.kind,
                      reference(notice.reader.key), error)

    def suppressed(self, key: str) -> bool:
        state = self.folder.state
        return any(state.suppressions.get(k) for k in (key, state.erasure.hashed(key)))

    # -- the confirmation link ----------------------------------------------------------------

    def valid(self, token: str) -> bool:
        """Whether a confirmation token is ours and current (the page a GET shows)."""
        return self.signer.confirmed_nonce(token, self.clock()) is not None

    def confirm(self, token: str, postman: Postman) -> Reader | None:
        """The reader a confirmation link names, now confirmed and no longer suppressed; None
        for a link that is not ours, altered, expired, or whose sign-up is gone."""
        now = self.clock()
        nonce = self.signer.confirmed_nonce(token, now)
        reader = self.readers.confirm(nonce, now) if nonce else None
        if reader is None:
            return None
        state = self.folder.state
        lifted = state.suppressions.remove([reader.key, state.erasure.hashed(reader.key)])
        log.info("reader %s confirmed%s", reference(reader.key),
                 ", suppression lifted" if lifted else "")
        if self.config.signup.welcome and reader.confirmed_at == now:
            self._send(postman, Notice("welcome", recipient(reader), self.welcome_links(reader)))
        return reader

    def welcome_links(self, reader: Reader) -> dict[str, str]:
        links = {"preferences_url": self.preferences_url(reader.key)}
        last = self.folder.last_edition_day()
        if last and self.config.newsletter.archive_url:
            links["last_edition_url"] = f"{self.config.newsletter.archive_base}/{last}.html"
        return links

    # -- preferences --------------------------------------------------------------------------

    def preferences_url(self, key: str) -> str:
        token = self.signer.token(key)
        self.folder.state.tokens.add([(token, key)])
        return f"{self.page_url('preferences')}?t={token}"

    def expire(self) -> int:
        """Forget the sign-ups left unconfirmed for `signup.pending_days`."""
        return self.readers.expire(self.clock(), self.config.signup.pending_days)


def recipient(reader: Reader) -> Recipient:
    return Recipient(reader.address, reader.name)
