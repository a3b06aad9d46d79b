"""Sentence vectors (and general word frequencies) already computed, so that a day is embedded
once: keyed by the text's hash and the model's version (a new model never reuses an old model's
vectors)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, timedelta

from digest.state.db import StateDatabase

KEEP_DAYS = 90  # rows written longer ago than this are dropped (see `EmbeddingCache.put`)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def get(self, model: str, texts: Iterable[str]) -> dict[str, bytes]:
        """The stored vectors (raw float32 bytes) of those texts that have one, by text."""
        by_key = {text_key(t): t for t in texts}
        rows = self.db.rows_in("SELECT text_hash, vector FROM embeddings WHERE model = ? AND"
                               " text_hash IN ({})", list(by_key), before=(model,))
        return {by_key[key]: vector for key, vector in rows}

    def put(self, model: str, vectors: dict[str, bytes], today: date | None = None) -> None:
        """Keep `vectors` by text. Rows written more than KEEP_DAYS before `today` go: else the
        table would grow with every article ever ranked, and keep each set of rows an older
        release made (a new version of the model, of wordfreq or of grouping's features). A
        text needed again after that is computed again."""
        today = today or date.today()
        cutoff = (today - timedelta(days=KEEP_DAYS)).isoformat()
        with self.db.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (text_hash, model, vector) VALUES (?, ?, ?)",
                ((text_key(text), model, vector) for text, vector in vectors.items()))
            # rows are numbered in the order they are written: each day's last one marks it
            self.db.execute(
                "INSERT INTO embedding_days (day, last_rowid)"
                " SELECT ?, COALESCE(MAX(rowid), 0) FROM embeddings WHERE true"
                " ON CONFLICT (day) DO UPDATE SET last_rowid = excluded.last_rowid",
                (today.isoformat(),))
            (written_before,) = self.db.execute(
                "SELECT MAX(last_rowid) FROM embedding_days WHERE day < ?", (cutoff,)).fetchone()
            if written_before is not None:
                self.db.execute("DELETE FROM embeddings WHERE rowid <= ?", (written_before,))
                self.db.execute("DELETE FROM embedding_days WHERE day < ?", (cutoff,))
