"""Erasing a reader (GDPR article 17) while keeping the promises made to everyone.

The reader's record, sign-ups, confirmation counts and unsubscribe tokens go. In the send ledger
and the suppressions his address is replaced by its keyed hash (`erased:` and 32 hex digits):
the ledger still counts what was sent and the address cannot be read back, yet a send recognises
him (and skips him) should his address come back in a list. The hash's key is random, made once
per database and kept in it: whoever holds the database can test a guessed address, which is
what keeps it from being written to again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from digest.state.db import StateDatabase, StateError
from digest.state.suppressions import Suppressions

ERASED = "erased:"
_KEY_MARK = "erasure-key"


@dataclass(frozen=True)
class Erased:
    readers: int = 0  # sign-up records (0 or 1)
    deliveries: int = 0  # rows of the send ledger now holding the hash


class Erasure:
    def __init__(self, db: StateDatabase, suppressions: Suppressions) -> None:
        self.db = db
        self.suppressions = suppressions
        self._key: bytes | None = None

    def _secret(self) -> bytes:
        if self._key is None:
            with self.db.lock, self.db.transaction():
                row = self.db.execute("SELECT value FROM suppression_marks WHERE name = ?",
                                      (_KEY_MARK,)).fetchone()
                if row is None and self.db.execute(
                        "SELECT 1 FROM suppressions WHERE substr(email, 1, ?) = ? LIMIT 1",
                        (len(ERASED), ERASED)).fetchone():
                    # a new key would no longer recognise them: refuse rather than mail them
                    raise StateError(f"{self.db.path}: the key of the erased addresses' hashes "
                                     "is missing; restore it from a backup of the database "
                                     "(`digest state recover` keeps it) before sending")
                if row is None:
                    row = (secrets.token_hex(32),)
                    self.db.execute("INSERT INTO suppression_marks (name, value) VALUES (?, ?)",
                                    (_KEY_MARK, row[0]))
            self._key = bytes.fromhex(row[0])
        return self._key

    def hashed(self, key: str) -> str:
        """What stands for an erased address key."""
        digest = hmac.digest(self._secret(), key.encode("utf-8"), hashlib.sha256)
        return ERASED + digest.hex()[:32]

    def erase(self, key: str) -> Erased:
        hashed = self.hashed(key)
        counts: dict[str, int] = {}

        def rest() -> None:
            execute = self.db.execute
            counts["readers"] = execute("DELETE FROM readers WHERE email = ?", (key,)).rowcount
            execute("DELETE FROM signup_requests WHERE email = ?", (key,))
            execute("DELETE FROM pending_signups WHERE email = ?", (key,))
            execute("DELETE FROM confirmations_sent WHERE email = ?", (key,))
            execute("DELETE FROM reader_tokens WHERE email = ?", (key,))
            # a provider's id (the file backend's file name) or error may name him too
            counts["deliveries"] = execute(
                "UPDATE deliveries SET email = ?, provider_id = iif(provider_id IS NULL, NULL,"
                " 'erased'), error = iif(error IS NULL, NULL, 'erased') WHERE email = ?",
                (hashed, key)).rowcount
            execute("UPDATE batches SET error = 'erased' WHERE instr(lower(error), ?)", (key,))

        self.suppressions.replace(key, hashed, rest)
        return Erased(**counts)
