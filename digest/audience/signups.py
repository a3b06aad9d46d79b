"""Readers joining: a sign-up with double opt-in, its confirmation, the reader's preferences.

The form's request is only queued (`request`): the answer is the same, and as quick, whatever
the address's state, so that nobody learns who reads. The web application's worker handles the
queue (`handle_queued`): a new or returning address gets a sign-up of its own, with the choices
posted, and its confirmation email (at most `signup.confirmations_per_day`); a confirmed one
nothing, and a confirmed reader's record is never changed by a sign-up. The confirmation link
names the sign-up, not the address, and is signed with `DIGEST_SECRET` for 7 days; confirming
records that sign-up's choices and lifts the reader's suppression, if he had left.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from digest.audience.addresses import CONTROL, address_key, check_address
from digest.audience.notices import Notice, Postman
from digest.audience.recipients import Recipient
from digest.audience.signing import Signer
from digest.config import LOCALES, Config
from digest.deliver import DeliveryError, TemporaryDeliveryError
from digest.errors import ConfigError, DigestError
from digest.folder import Folder
from digest.state.readers import PendingSignUp, Reader, SignUpOutcome, SignUpRequest, Source
from digest.urls import served_url

log = logging.getLogger("digest.signups")

NAME_CHARS = 120
NO_ADDRESS = ("signup.url: the confirmation links need the public address of digest serve; set "
              'it (e.g. "https://lettre.example.org")')
DOWN_AFTER = 3  # sign-ups in a row the backend could not take: it is down, try later
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


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

    def check_links(self) -> None:
        """The confirmation links can work: `digest serve` answers them, at a known address."""
        if not self.page_url(""):
            raise ConfigError(f"{self.config.path.name}: {NO_ADDRESS}")
        if not self.config.signup.enabled:
            raise ConfigError(f"{self.config.path.name}: signup.enabled is false: digest serve "
                              "answers no confirmation link; set it to true")

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

    def handle_queued(self, postman: Postman, stopping: Callable[[], bool] = lambda: False
                      ) -> int:
        """Handle the sign-ups due, oldest first: how many were handled. One whose email the
        backend could not take waits longer and longer (its address may be greylisted) while the
        others go; after a few such in a row the backend is taken for down, and the round
        ends."""
        handled = failures = 0
        while failures < DOWN_AFTER and (batch := self.readers.claim(self.clock())):
            for done, (request_id, request) in enumerate(batch):
                if stopping():  # the server stops: those left to the next start, at once
                    self.readers.release(i for i, _ in batch[done:])
                    return handled
                try:
                    sent = self._handle(request_id, request, postman)
                except TemporaryDeliveryError as error:
                    failures += 1
                    again = self.readers.retry_later(request_id, self.clock())
                    log.warning("confirmation email to reader %s not sent (%s); %s",
                                self.signer.reference(request.key), without_addresses(str(error)),
                                "tried again later" if again else "given up")
                    if failures >= DOWN_AFTER:
                        self.readers.release(i for i, _ in batch[done + 1:])
                        break
                    continue
                failures = 0
                self.readers.done(request_id, request.key if sent else None, self.clock())
                handled += 1
        return handled

    def sign_up(self, request: SignUpRequest, source: Source,
                request_id: int | None = None) -> SignUpOutcome:
        """A sign-up recorded under the newsletter's consent version and daily limit."""
        signup = self.config.signup
        return self.readers.sign_up(
            request, suppressed=self.suppressed(request.key), source=source,
            consent_version=signup.consent_version,
            confirmations_per_day=signup.confirmations_per_day, now=self.clock(),
            request_id=request_id)

    def _handle(self, request_id: int, request: SignUpRequest, postman: Postman) -> bool:
        """Whether a confirmation email went."""
        outcome = self.sign_up(request, Source.FORM, request_id)
        log.info("sign-up of reader %s: %s", self.signer.reference(request.key), outcome.why)
        if outcome.pending is not None:
            return self.send_confirmation(outcome.pending, postman)
        # the same work as for an email, so that its time says nothing of the address
        postman.rehearse(Notice("confirm", Recipient(request.address),
                                {"confirm_url": self.page_url("subscribe/confirm")}))
        return False

    def send_confirmation(self, pending: PendingSignUp, postman: Postman) -> bool:
        """The confirmation email; whether it went (then it counts against the daily limit).
        A TemporaryDeliveryError (the relay down) is raised: the sign-up is tried again."""
        try:
            postman.send([self.confirmation(pending)])
        except TemporaryDeliveryError:
            raise
        except DeliveryError as error:  # refused for good: the reader can sign up again
            log.error("confirmation email to reader %s refused (%s)",
                      self.signer.reference(pending.key), without_addresses(str(error)))
            return False
        return True

    def confirmation(self, pending: PendingSignUp) -> Notice:
        """The confirmation email of a sign-up, with its signed link."""
        token = self.signer.confirmation_token(pending.nonce, self.clock())
        link = f"{self.page_url('subscribe/confirm')}?t={token}"
        return Notice("confirm", recipient(pending), {"confirm_url": link})

    def suppressed(self, key: str) -> bool:
        state = self.folder.state
        return any(state.suppressions.get(k) for k in (key, state.erasure.hashed(key)))

    # -- the confirmation link ----------------------------------------------------------------

    def valid(self, token: str) -> bool:
        """Whether a confirmation token is ours and current (the page a GET shows)."""
        return self.signer.confirmed_nonce(token, self.clock()) is not None

    def confirm(self, token: str, postman: Postman) -> Reader | None:
        """The reader a confirmation link makes, with the choices of its own sign-up, now
        confirmed and no longer suppressed; None for a link that is not ours, altered, expired,
        or whose sign-up is gone. A second click changes nothing (and lifts nothing: a reader
        who left since stays gone)."""
        now = self.clock()
        nonce = self.signer.confirmed_nonce(token, now)
        confirmed = self.readers.confirm(nonce, now) if nonce else None
        if confirmed is None:
            return None
        reader, now_confirmed = confirmed
        if not now_confirmed:
            return reader
        state = self.folder.state
        lifted = state.suppressions.remove([reader.key, state.erasure.hashed(reader.key)])
        log.info("reader %s confirmed%s", self.signer.reference(reader.key),
                 ", suppression lifted" if lifted else "")
        if self.config.signup.welcome:
            notice = Notice("welcome", recipient(reader), self.welcome_links(reader))
            try:
                postman.send([notice])
            except DigestError as error:  # a welcome is a courtesy: he is confirmed
                log.error("welcome email to reader %s not sent (%s)",
                          self.signer.reference(reader.key), without_addresses(str(error)))
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


def recipient(reader: Reader | PendingSignUp) -> Recipient:
    return Recipient(reader.address, reader.name)


def without_addresses(text: str) -> str:
    """A provider's or relay's message for the log, which never holds an address."""
    return _ADDRESS.sub("<address>", text)
