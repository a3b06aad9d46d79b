"""Who an edition goes to: the editors' list (`recipients.csv`) and the readers who signed up and
confirmed, once per address, less the suppressed ones.

A reader on the list who changed his preferences (name, sections, language) gets them; the list's
other columns stay his, and the list alone decides whether he is sent to. An address erased from
the state database and come back in a list is recognised by its hash and skipped: its
suppression is kept only as that hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from digest.audience.recipients import Recipient, keyed_recipient
from digest.state import State
from digest.state.erasure import ERASED
from digest.state.readers import Source


def signed_up(rows: Iterator[tuple[str, str, str, str, str, str]]
              ) -> tuple[dict[str, Recipient], set[str]]:
    """The confirmed readers by key, and the keys of those who are only preferences of readers
    of the list (sent to while the list has them)."""
    readers, only_preferences = {}, set()
    for key, address, name, sections, language, source in rows:
        readers[key] = keyed_recipient(key, address, name,
                                       (("sections", sections), ("language", language)))
        if source == Source.EDITOR:
            only_preferences.add(key)
    return readers, only_preferences


def with_preferences(reader: Recipient, own: Recipient) -> Recipient:
    """A listed reader with the choices he made himself."""
    listed = tuple((k, v) for k, v in reader.fields if k not in ("sections", "language"))
    return replace(reader, name=own.name or reader.name, fields=listed + own.fields)


def everyone(listed: Iterator[Recipient], state: State,
             suppressed: set[str]) -> Iterator[Recipient]:
    """The list's readers (already less the suppressed), then the confirmed sign-ups not on
    it and not suppressed."""
    own, only_preferences = signed_up(state.readers.rows_for_send())
    erased = any(key.startswith(ERASED) for key in suppressed)
    hashed = state.erasure.hashed

    for reader in listed:
        if erased and hashed(reader.key) in suppressed:
            continue
        chosen = own.pop(reader.key, None)
        yield reader if chosen is None else with_preferences(reader, chosen)
    for key, reader in own.items():
        if key not in suppressed and key not in only_preferences \
                and not (erased and hashed(key) in suppressed):
            yield reader
