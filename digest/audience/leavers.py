"""Who must not get the digest again, whoever says so: a reader's one-click link (`digest serve`),
SendGrid's events and lists, bounce reports from a mailbox, an editor.

Every address is keyed as a reader's is (the recipients' key: case, IDNA both ways, `Name <addr>`),
and recorded in the state database, which mirrors it to `delivery.suppressions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from digest.audience.addresses import suppression_key
from digest.audience.signing import Signer
from digest.errors import DigestError, Problem
from digest.models import Leaving, Suppression

if TYPE_CHECKING:
    from digest.audience.bounces import BounceReport
    from digest.folder import Folder

@dataclass
class EditorChange:
    done: list[str] = field(default_factory=list)  # the keys added or removed
    unchanged: list[str] = field(default_factory=list)  # already so
    invalid: list[str] = field(default_factory=list)  # not addresses


def _keys(addresses: Iterable[str], change: EditorChange) -> list[str]:
    keys = []
    for address in addresses:
        key = suppression_key(address)
        if key is None:
            change.invalid.append(address)
        elif key not in keys:
            keys.append(key)
    return keys


def add(folder: Folder, addresses: Iterable[str], reason: str) -> EditorChange:
    change = EditorChange()
    store = folder.state.suppressions
    for key in _keys(addresses, change):
        added = store.add([Suppression(key, Leaving.ADDED, "editor", reason)])
        (change.done if added else change.unchanged).append(key)
    return change


def remove(folder: Folder, addresses: Iterable[str]) -> EditorChange:
    change = EditorChange()
    keys = _keys(addresses, change)
    store = folder.state.suppressions
    present = store.keys()
    store.remove(keys)
    for key in keys:
        (change.done if key in present else change.unchanged).append(key)
    return change


# -- providers ----------------------------------------------------------------------------------


@dataclass
class SyncReport:
    backend: str
    lists: list[tuple[str, int, int]] = field(default_factory=list)  # (name, listed, new)

    @property
    def added(self) -> int:
        return sum(new for _, _, new in self.lists)

    def __str__(self) -> str:
        shown = ", ".join(f"{name} {listed}" for name, listed, _ in self.lists)
        return (f"{self.backend}: {self.added} new suppression{'s' if self.added != 1 else ''} "
                f"(listed since the last sync: {shown or 'none'})")


def sync(folder: Folder, backend_name: str | None = None) -> SyncReport:
    """The provider's suppression lists, read since the last sync, into ours. Each list's entries
    and the time it was read up to are recorded together: an interrupted sync starts that list
    again, never skips what it did not record."""
    from digest.deliver import SuppressionSource, backend_class  # lazy: not for suppressions add

    config = folder.config
    name = backend_name or config.delivery.backend
    backend = backend_class(name).open(config, folder.out_root)
    try:
        if not isinstance(backend, SuppressionSource):
            raise DigestError(f"the {name} backend keeps no suppression lists to sync; only "
                              "sendgrid does")
        store = folder.state.suppressions
        prefix = f"sync:{name}:"
        since = {mark.removeprefix(prefix): int(value)
                 for mark, value in store.marks(prefix).items()}
        report = SyncReport(name)
        for list_name, until, entries in backend.suppressions(since):
            new = store.add(entries, marks={prefix + list_name: str(until)})
            report.lists.append((list_name, len(entries), new))
        return report
    finally:
        backend.close()


def sync_before_send(folder: Folder, backend_name: str,
                     report: Callable[[Problem], None]) -> SyncReport | None:
    """The automatic sync at the start of a send, when the backend has lists and the newsletter
    wants it. A failure is a warning: the provider enforces its own lists anyway."""
    from digest.deliver import SuppressionSource, backend_class  # lazy: as in sync

    backend_type = backend_class(backend_name)
    if not (issubclass(backend_type, SuppressionSource)
            and backend_type.syncs_before_send(folder.config)):
        return None
    try:
        return sync(folder, backend_name)
    except DigestError as error:
        report(Problem(f"{backend_name} suppressions", f"not synced ({error}); sending on: "
                       f"{backend_name} keeps applying its own lists"))
        return None


# -- bounces ------------------------------------------------------------------------------------


def import_bounces(folder: Folder, path: Path,
                   report: Callable[[Problem], None]) -> BounceReport:
    from digest.audience.bounces import (
        read_bounces,  # lazy: mailbox and its parsers, for bounces only
    )

    config = folder.config
    bounce_address = config.delivery.bounce_address
    state = folder.state
    signer = Signer.from_environment(config.newsletter.url) if bounce_address else None

    def matched(key: str, edition: str, token: str) -> str | None:
        """The reader a failure is about, when a message of ours went to him."""
        if token and signer is not None:
            reader = signer.verify(token, state.tokens.key)
            if reader is not None:
                return reader
        return key if edition and state.ledger.received(edition, key) else None

    result = read_bounces(path, report, matched, bounce_address)
    result.added = state.suppressions.add(result.hard) if result.hard else 0
    return result
