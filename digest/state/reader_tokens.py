"""The short unsubscribe tokens handed out, and whose address each one stands for.

A short token is a truncated signature of the reader's address key (see
`digest.audience.signing`): it carries no address, so the web application finds the address
here. Rows are written before the message carrying the token leaves, and a reader's token is the
same in every edition.
"""

from __future__ import annotations

from collections.abc import Iterable

from digest.state.db import StateDatabase


class ReaderTokens:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def add(self, tokens: Iterable[tuple[str, str]]) -> None:
        """(token, address key) pairs; those already known are kept as they are."""
        with self.db.lock, self.db.transaction():
            self.db.executemany("INSERT OR IGNORE INTO reader_tokens (token, email) VALUES (?, ?)",
                                tokens)

    def key(self, token: str) -> str | None:
        """The address key a token was handed out for, or None."""
        with self.db.lock:
            row = self.db.execute("SELECT email FROM reader_tokens WHERE token = ?",
                                  (token,)).fetchone()
        return row[0] if row else None
