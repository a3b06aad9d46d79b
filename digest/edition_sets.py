"""A send's readers in batches of one edition each: the readers of each set of sections get
that set's email, rendered once, when its first reader comes (`digest.sections`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import TypeVar

from digest.audience.recipients import Recipient
from digest.deliver import Outgoing
from digest.models import Email
from digest.sections import label, reader_sections

T = TypeVar("T")

class SectionEditions:
    """The readers in batches of one edition each: those of each set of sections get that
    set's email, rendered once, when its first reader comes (`digest.sections`)."""

    def __init__(self, outgoing: Outgoing, sections: frozenset[str],
                 email_for: Callable[[frozenset[str]], Email]) -> None:
        self.outgoing, self.sections, self.email_for = outgoing, sections, email_for
        self._made: dict[frozenset[str], Outgoing] = {frozenset(): outgoing}
        self._readers: Counter[frozenset[str]] = Counter()

    def _for(self, names: frozenset[str]) -> Outgoing:
        if names not in self._made:
            self._made[names] = replace(self.outgoing, email=self.email_for(names))
        return self._made[names]

    def batches(self, readers: Iterable[Recipient],
                size: int) -> Iterator[tuple[Outgoing, list[Recipient]]]:
        if not self.sections:  # one edition for all, as it streams
            for chunk in chunks(readers, size):
                self._readers[frozenset()] += len(chunk)
                yield self.outgoing, chunk
            return
        waiting: dict[frozenset[str], list[Recipient]] = {}
        known = self.sections
        for reader in readers:  # per reader: as little as can be (100,000 a send)
            names = reader_sections(reader.fields, known)
            batch = waiting.get(names)
            if batch is None:
                batch = waiting[names] = []
            batch.append(reader)
            if len(batch) == size:
                self._readers[names] += size
                yield self._for(names), batch
                waiting[names] = []
        for names, batch in waiting.items():
            if batch:
                self._readers[names] += len(batch)
                yield self._for(names), batch

    def counts(self) -> dict[str, int]:
        """{the sections' label: readers} of this send, when there are sections."""
        if not self.sections:
            return {}
        return {label(names): count for names, count in self._readers.most_common()}


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` `size` at a time (the last chunk shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
