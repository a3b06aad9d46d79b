"""Sentence vectors (and general word frequencies) already computed, so that a day is embedded
once: keyed by the text's hash and the model's version (a new model never reuses an old model's
vectors)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from digest.state.db import StateDatabase


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

    def put(self, model: str, vectors: dict[str, bytes]) -> None:
        with self.db.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (text_hash, model, vector) VALUES (?, ?, ?)",
                ((text_key(text), model, vector) for text, vector in vectors.items()))
