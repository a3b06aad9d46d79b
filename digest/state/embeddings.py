"""Sentence vectors (and general word frequencies) already computed, so that a day is embedded
once: keyed by the text's hash and the model's version (a new model never reuses an old model's
vectors)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, timedelta

from digest.state.db import StateDatabase

KEEP_DAYS = 90  # rows written longer ago than this are dropped (see `EmbeddingCache.put`)
PRUNED_AT_ONCE = 10_000  # rows, 20 MB of vectors: a fraction of a second in one transaction


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
        release made (a new version of the model, of wordfreq or of grouping's features). What
        is needed again after that (an old day's text, a word the days share) is computed
        again."""
        if not vectors:
            return
        with self.db.transaction():
            newest, written = self.db.execute(
                "SELECT MAX(day), (SELECT COALESCE(MAX(rowid), 0) FROM embeddings)"
                " FROM embedding_days").fetchone()
            # a clock set back adds to the newest day, which would else outlive what follows it
            day = max((today or date.today()).isoformat(), newest or "")
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (text_hash, model, vector) VALUES (?, ?, ?)",
                ((text_key(text), model, vector) for text, vector in vectors.items()))
            # rows are numbered in the order they are written: each day's last one marks it
            self.db.execute(
                "INSERT INTO embedding_days (day, last_rowid) SELECT ?, MAX(rowid) FROM embeddings"
                " WHERE true ON CONFLICT (day) DO UPDATE SET last_rowid = excluded.last_rowid",
                (day,))
            cutoff = (date.fromisoformat(day) - timedelta(days=KEEP_DAYS)).isoformat()
            (expired,) = self.db.execute(
                "SELECT MAX(last_rowid) FROM embedding_days WHERE day < ?", (cutoff,)).fetchone()
            if expired is None:
                return
            # never this write's rows; a share at a time (twice this write's at least), so that
            # a long backlog is worked off over a few writes, each transaction short
            share = max(PRUNED_AT_ONCE, 2 * len(vectors))
            gone = self.db.execute(
                "DELETE FROM embeddings WHERE rowid IN (SELECT rowid FROM embeddings"
                " WHERE rowid <= ? ORDER BY rowid LIMIT ?)", (min(expired, written), share),
            ).rowcount
            if gone < share:  # nothing left under the expired marks
                self.db.execute("DELETE FROM embedding_days WHERE day < ?", (cutoff,))
