"""`digest send`: the day's edition to every reader, exactly once, recorded in the ledger."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from digest.audience.addresses import check_address
from digest.audience.leavers import sync_before_send
from digest.audience.recipients import Recipient
from digest.audience.signing import Signer, preferences_link
from digest.deliver import (
    Backend,
    DeliveryError,
    Outgoing,
    Scheduling,
    UnknownOutcome,
    backend_class,
    check_unsubscribe_link,
)
from digest.edition_sets import SectionEditions, chunks
from digest.engagement.links import ClickLinks, linked_stories
from digest.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    ConfigError,
    DigestError,
    NoArticlesError,
    Problem,
    UsageError,
)
from digest.headers import list_id
from digest.models import Email, Outcome, Status
from digest.pipeline import Build
from digest.ranking.terms import fingerprint
from digest.sections import write_section_email
from digest.state.ledger import DONE, Ledger
from digest.state.lock import send_lock

if TYPE_CHECKING:
    from digest.folder import Folder


WINDOW_BATCHES = 64  # batches claimed in one transaction: one of each of 50 sets of sections


@dataclass
class SendReport:
    edition_id: str
    subject: str
    backend: str
    dry_run: bool = False
    test_to: str = ""
    round: int = 1
    sent: int = 0
    already: int = 0  # got this edition in an earlier run
    failed: int = 0
    refused: int = 0
    unknown: int = 0  # left pending by an interrupted run; not sent again
    resent_unknown: int = 0
    batches: int = 0
    scheduled_at: int | None = None
    finishing: str = ""  # the round under way finished with its own version, not the one built
    started: float = field(default_factory=time.monotonic)
    duration: float = 0.0
    error: DigestError | None = None  # what stopped the send, if anything
    interrupted: bool = False  # Ctrl-C (SIGINT): `left` readers of the round were not reached
    left: int = 0
    editions: dict[str, int] = field(default_factory=dict)  # readers of each section set

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.error is not None:
            return self.error.exit_code
        return EXIT_PARTIAL if (self.failed or self.refused) else EXIT_OK


@dataclass
class SendEvents:
    """What the command shows while it works: problems as they are found, progress per batch."""

    problem: Callable[[Problem], None] = lambda problem: None
    batch: Callable[[SendReport, int], None] = lambda report, size: None


def content_hash(result: Build) -> str:
    email = result.email
    digest = hashlib.sha256()
    for part in (email.subject, email.html, email.text):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


class Edition(Protocol):
    """What a send needs of the pipeline above it (`Newsletter` gives them): the edition of a
    day built, holding on the newsroom's own problems when asked, written to out/, and its
    email as a reader of some sections gets it."""

    def build(self, day: date, *, hold: bool, action: str) -> Build: ...

    def write(self, result: Build) -> Path: ...

    def section_email(self, result: Build, sections: frozenset[str]) -> Email: ...


def prepare(folder: Folder, edition: Edition, day: date,
            events: SendEvents) -> tuple[Build, Outgoing]:
    config = folder.config
    result = edition.build(day, hold=config.delivery.on_article_error == "hold",
                           action="nothing sent to anyone")
    for problem in result.problems:
        events.problem(problem)
    count, minimum = len(result.edition.considered), config.delivery.min_articles
    if count < minimum:
        raise NoArticlesError(f"only {count} article{'s' if count > 1 else ''} for {day}, below "
                              f"delivery.min_articles = {minimum}; nothing sent")
    delivery = config.delivery
    outgoing = Outgoing(
        email=result.email,
        edition_id=f"{day.isoformat()}-{content_hash(result)[:10]}",
        newsletter=config.newsletter.name,
        unsubscribe_url=delivery.unsubscribe_url,
        unsubscribe_mailto=delivery.unsubscribe_mailto,
        placeholder=config.newsletter.unsubscribe_url,
        signer=_signer(config),
        bounce_address=delivery.bounce_address,
        preferences_url=preferences_link(config.signup.url, delivery.unsubscribe_url,
                                         config.signup.preferences),
        list_id=list_id(config.newsletter.name, config.newsletter.url),
    )
    return result, outgoing


def _signer(config) -> Signer | None:
    """What signs the readers' tokens: the unsubscribe link's, and the return paths'."""
    delivery = config.delivery
    if delivery.bounce_address:
        return Signer.from_environment(config.newsletter.url)
    return Signer.for_link(delivery.unsubscribe_url, config.newsletter.url)


def send(folder: Folder, edition: Edition, day: date, *, backend_name: str | None = None,
         dry_run: bool = False, to: str | None = None, resend_unknown: bool = False,
         force: bool = False, events: SendEvents | None = None) -> SendReport:
    events = events or SendEvents()
    config = folder.config
    if to is not None:  # before anything else: a mistyped option, not a problem of the send
        address, reason = check_address(to)
        if address is None:
            raise UsageError(f"--to {to!r} is not an address: {reason}")
        to = address
    backend_name = backend_name or config.delivery.backend
    backend_type = backend_class(backend_name)
    if backend_type.needs_unsubscribe_link(config) and not config.delivery.unsubscribe_url:
        raise ConfigError("digest.toml: delivery.unsubscribe_url is required to send: every "
                          "email needs a working unsubscribe link (e.g. "
                          '"https://example.org/unsubscribe?t={unsubscribe_token}")')
    check_unsubscribe_link(config, backend_type.name)  # a missing DIGEST_SECRET, before the build
    ClickLinks.for_config(config)  # and the click links' own needs
    # held from the build on, so that two runs never write out/ or claim readers together; a
    # dry run or a test copy sends to no reader of the list and needs none
    recording = not (dry_run or to)
    with send_lock(folder.send_lock_path, config.delivery.lock_wait) if recording \
            else nullcontext():
        return _send(folder, edition, day, backend_type, events, dry_run=dry_run, to=to,
                     resend_unknown=resend_unknown, force=force)


def _send(folder: Folder, edition: Edition, day: date, backend_type, events: SendEvents, *,
          dry_run: bool, to: str | None, resend_unknown: bool, force: bool) -> SendReport:
    if not (dry_run or to):  # what a run stopped before its end left to settle, before the build
        folder.state.ledger.settle_all()  # reads which stories were sent
    result, outgoing = prepare(folder, edition, day, events)
    report = SendReport(outgoing.edition_id, result.email.subject, backend_type.name,
                        dry_run=dry_run)

    def open_backend() -> Backend:
        return backend_type.open(folder.config, folder.outbox(day))

    if to or dry_run:
        edition.write(result)
        if to:
            return _send_test_copy(folder, open_backend, outgoing, to, report)
    else:
        sync_before_send(folder, backend_type.name, events.problem)  # the provider's leavers
        outgoing = _version_to_send(folder, day, outgoing, force)
        if outgoing.edition_id == report.edition_id:
            edition.write(result)  # out/ holds what readers get: not a version left unsent
            _link_stories(folder, result)
        else:
            report.finishing = outgoing.edition_id
            report.edition_id, report.subject = outgoing.edition_id, outgoing.email.subject
    # a round finished with an earlier version's email gives it to everyone, sections or not
    sections = frozenset() if report.finishing else frozenset(folder.config.sections)

    def email_for(names: frozenset[str]) -> Email:
        email = edition.section_email(result, names)
        write_section_email(folder.out_root / day.isoformat(), names, email)
        return email

    return _send_to_list(folder, day, open_backend, outgoing, report, events,
                         resend_unknown=resend_unknown, force=force, result=result,
                         by_sections=SectionEditions(outgoing, sections, email_for))


def _link_stories(folder: Folder, result: Build) -> None:
    """The stories of the version being sent, where its click links lead and the provider's
    click events count (`[tracking] clicks`, or SendGrid's Event Webhook)."""
    config = folder.config
    if config.tracking.clicks or config.delivery.sendgrid.webhook_public_key:
        folder.state.clicks.link(linked_stories(result.edition, config))


def _version_to_send(folder: Folder, day: date, built: Outgoing, force: bool) -> Outgoing:
    """The version this run sends: the one just built, unless a round of another version of the
    day is under way; then that round is finished with its own email, byte for byte (feeds change
    the day's content without anyone asking). A new version goes out only with --force."""
    ledger: Ledger = folder.state.ledger
    current = ledger.current_round(folder.config.newsletter.url, day.isoformat())
    if force or current is None or current[0] == built.edition_id:
        return built
    edition_id, round = current
    statuses = ledger.statuses(edition_id, round)
    remaining = sum(1 for r in folder.readers(lambda problem: None)
                    if statuses.get(r.key) not in DONE)
    kept = ledger.kept_email(edition_id)
    if remaining and kept is not None:
        return replace(built, email=kept, edition_id=edition_id)
    others = ledger.other_versions_sent(folder.config.newsletter.url, day.isoformat(),
                                        built.edition_id)
    readers = sum(count for _, count in others)
    raise DigestError(
        f"the edition of {day} was already sent to {readers} readers with other content "
        f"({', '.join(i for i, _ in others)}); nothing sent. Use --force to send this "
        "version to everyone"
    )


def _hand_out_tokens(folder: Folder, outgoing: Outgoing,
                     recipients: list[Recipient]) -> None:
    """Whose address each link's token stands for, kept before the messages leave."""
    if outgoing.signer is not None:
        folder.state.tokens.add((outgoing.signer.token(r.key), r.key) for r in recipients)


def _send_test_copy(folder, open_backend, outgoing, address, report) -> SendReport:
    report.test_to = address
    if not report.dry_run:
        reader = Recipient(address)
        _hand_out_tokens(folder, outgoing, [reader])
        backend = open_backend()
        try:
            for outcomes in backend.send(outgoing, [reader]):
                for outcome in outcomes:
                    if outcome.status != Status.SENT:
                        raise DeliveryError(f"test copy to {address} {outcome.status}: "
                                            f"{outcome.error}")
                    report.sent += 1
        finally:
            backend.close()
    report.duration = time.monotonic() - report.started
    return report


def story_fingerprints(edition) -> list[tuple[list[str], list[str]]]:
    return [fingerprint([r.article, *r.also]) for r in (edition.lead, *edition.blurbs)]


def _send_to_list(folder, day, open_backend, outgoing, report, events, *,
                  resend_unknown, force, result, by_sections: SectionEditions) -> SendReport:
    ledger: Ledger = folder.state.ledger
    name, edition_id = folder.config.newsletter.url, outgoing.edition_id

    def record_edition() -> None:
        """The edition in the ledger, once its first readers are about to be claimed: a send
        that stops before (no recipients file, no reader left) leaves no round behind."""
        content = edition_id.rsplit("-", 1)[1]
        ledger.edition(edition_id, name, day.isoformat(), content, outgoing.email.subject,
                       result.edition.window, dry_run=report.dry_run)
        if not report.dry_run and not report.finishing:
            ledger.keep_email(edition_id, outgoing.email)
            folder.state.memory.remember(edition_id, story_fingerprints(result.edition))

    round, statuses = _round(ledger, edition_id, report, force=force,
                             resend_unknown=resend_unknown)

    readers = folder.readers(events.problem)

    def still_to_send(recipients: Iterable[Recipient]) -> Iterator[Recipient]:
        for recipient in recipients:
            status = statuses.get(recipient.key)
            if status is None or status not in DONE:
                yield recipient
            elif status == Status.SENT:
                report.already += 1
            elif status == Status.PENDING:
                report.unknown += 1
            # refused: the server said this address does not take mail; not tried again

    with _older_objects_frozen():
        backend = open_backend()
        try:
            send_at = backend.send_time(day) if isinstance(backend, Scheduling) else None
            batches = by_sections.batches(still_to_send(readers), backend.batch_size)
            for window in chunks(batches, WINDOW_BATCHES):  # claimed together
                if not report.batches:  # the provider's batch id first: it may fail
                    batch_id = _batch_to_schedule(ledger, backend, edition_id, send_at) \
                        if send_at and not report.dry_run else None
                    record_edition()
                    if batch_id and send_at:
                        ledger.schedule(edition_id, batch_id, send_at)
                report.scheduled_at = send_at
                if report.dry_run:
                    for _, chunk in window:
                        report.batches += 1
                        report.sent += len(chunk)
                        events.batch(report, len(chunk))
                    continue
                if not _send_window(folder, ledger, backend, window, edition_id, round, report,
                                    events):
                    break
        except KeyboardInterrupt:  # Ctrl-C: the ledger says where the round stands
            report.interrupted = True
        finally:
            backend.close()
    _settle(folder, ledger, edition_id, round, report)
    report.duration = time.monotonic() - report.started
    report.editions = by_sections.counts()
    return report


def _round(ledger: Ledger, edition_id: str, report: SendReport, *, force: bool,
           resend_unknown: bool) -> tuple[int, dict[str, str]]:
    """The round this run sends and who it already handled: a new round with --force, the
    unknown readers forgotten with --resend-unknown."""
    round = ledger.last_round(edition_id)
    statuses = ledger.statuses(edition_id, round)
    if force and statuses:
        round, statuses = round + 1, {}
    if resend_unknown and not report.dry_run:
        report.resent_unknown = ledger.forget_unknown(edition_id, round)
        statuses = ledger.statuses(edition_id, round)
    report.round = round
    return round, statuses


def _settle(folder: Folder, ledger: Ledger, edition_id: str, round: int,
            report: SendReport) -> None:
    """The batches taken whole, settled at the end of the run, and those claimed and not begun
    released (after an error the next run does it, as after a kill); then where an interrupted
    round stands."""
    if report.batches and not report.dry_run:
        ledger.release_queued()
        ledger.settle(edition_id, round)
    if report.interrupted:
        _interrupted(folder, ledger.statuses(edition_id, round), report)


def _interrupted(folder: Folder, statuses: dict[str, str], report: SendReport) -> None:
    """Where an interrupted round stands: readers whose batch was under way, and those left."""
    report.interrupted = True
    report.unknown = sum(1 for status in statuses.values() if status == Status.PENDING)
    report.left = sum(1 for r in folder.readers(lambda problem: None)
                      if statuses.get(r.key) not in DONE)


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """The cycle collector's full passes, which the readers' rows and requests set off, walk only
    what the send makes, not every object the process held before (the libraries, the built
    edition): 0.2 s of CPU for 100,000 readers. Unfrozen after, so that nothing is kept; left
    alone in a process that froze objects of its own (a server before it forks)."""
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _batch_to_schedule(ledger: Ledger, backend: Scheduling, edition_id: str,
                       send_at: int) -> str | None:
    """One provider batch id per edition: the one the ledger keeps (for `digest cancel`), or a
    new one to keep once the edition is recorded (None when it is kept already)."""
    known = ledger.scheduled_batch(edition_id)
    batch_id = backend.schedule(send_at, known)
    return None if known else batch_id


def _send_window(folder, ledger, backend, window, edition_id, round, report, events) -> bool:
    """Claim the window's batches at once, then send them one by one; False when the send must
    stop (the batches not begun stay queued: `_settle` releases them)."""
    claims = ledger.claim_batches(edition_id, round, backend.name,
                                  [[r.key for r in chunk] for _, chunk in window])
    for (edition_out, chunk), claim in zip(window, claims, strict=True):
        report.batches += 1
        _hand_out_tokens(folder, edition_out, chunk)
        ledger.begin(claim[0])
        if not _send_batch(ledger, backend, edition_out, edition_id, round, chunk, report,
                           claim):
            return False
        events.batch(report, len(chunk))
    return True


def _send_batch(ledger, backend, outgoing, edition_id, round, chunk, report, claim) -> bool:
    """Send one claimed batch and record it; False when the send must stop."""
    batch_id, claimed = claim
    if len(claimed) < len(chunk):  # handled since this run read the ledger: never twice
        report.already += len(chunk) - len(claimed)
        chunk = [r for r in chunk if r.key in claimed]
    answered, whole = 0, False
    try:
        for outcomes in _answers(backend.send(outgoing, chunk), ledger, batch_id):
            taken = not answered and _taken_whole(outcomes, len(chunk))
            whole = whole or taken
            if taken:  # the readers' rows are settled at the end of the run (Ledger.settle)
                ledger.batch_sent(batch_id, outcomes[0].provider_id)
            else:
                ledger.record(edition_id, round, outcomes)  # its failure leaves them pending
            answered += len(outcomes)
            for status, count in Counter(outcome.status for outcome in outcomes).items():
                setattr(report, status, getattr(report, status) + count)
    except UnknownOutcome as error:
        ledger.finish_batch(batch_id, "unknown", error=str(error))  # the batch's, not a reader's
        report.unknown += len(chunk) - answered
        report.error = error
        return False
    except DeliveryError as error:
        ledger.fail_pending(batch_id, str(error))
        report.failed += len(chunk) - answered
        report.error = error
        return False
    if not whole:
        ledger.finish_batch(batch_id, "done")
    return True


def _taken_whole(outcomes: list[Outcome], size: int) -> bool:
    """Whether one answer took the whole batch, with one id for all (SendGrid's 202)."""
    first = outcomes[0] if outcomes else None
    return first is not None and len(outcomes) == size and all(
        o.status == Status.SENT and o.provider_id == first.provider_id and not o.error
        for o in outcomes)


def _answers(outcomes: Iterator[list[Outcome]], ledger: Ledger,
             batch_id: int) -> Iterator[list[Outcome]]:
    """The backend's outcomes; an exception it raises that is not understood (a bug) leaves the
    readers it had not answered to do, never "unknown", and keeps its traceback. An error of
    the ledger itself, after the provider answered, is not one of these: those readers stay
    pending, so that a re-run never sends them a second copy."""
    while True:
        try:
            answered = next(outcomes)
        except StopIteration:
            return
        except DeliveryError:
            raise
        except Exception as error:
            ledger.fail_pending(batch_id, f"{error.__class__.__name__}: {error}")
            raise
        yield answered
