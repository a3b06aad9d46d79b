"""The newsletter's state, `.digest/state.db`: the only code that opens it.

`State` is the open database with one view per concern: the send ledger, the feed cache, the
memory of sent stories, the suppressions, the unsubscribe tokens handed out, the readers who
signed up, the clicks per story, the cache of sentence vectors and the article files as last
read, each a module of its own over the same connection.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from digest.state.article_cache import ParsedArticles
from digest.state.clicks import StoryClicks
from digest.state.db import StateDatabase, StateError
from digest.state.embeddings import EmbeddingCache
from digest.state.erasure import Erasure
from digest.state.feed_cache import FeedStore
from digest.state.ledger import Ledger
from digest.state.memory import StoryMemory
from digest.state.reader_tokens import ReaderTokens
from digest.state.readers import SignedUpReaders
from digest.state.suppressions import Suppressions

__all__ = ["State", "StateError"]


class State:
    def __init__(self, path: Path, suppression_list: Path | None = None) -> None:
        self.db = StateDatabase(path)
        self.suppression_list = suppression_list  # the CSV the suppressions are mirrored to

    def close(self) -> None:
        self.db.close()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.db)

    @cached_property
    def feeds(self) -> FeedStore:
        return FeedStore(self.db)

    @cached_property
    def memory(self) -> StoryMemory:
        return StoryMemory(self.db)

    @cached_property
    def suppressions(self) -> Suppressions:
        return Suppressions(self.db, self.suppression_list)

    @cached_property
    def embeddings(self) -> EmbeddingCache:
        return EmbeddingCache(self.db)

    @cached_property
    def tokens(self) -> ReaderTokens:
        return ReaderTokens(self.db)

    @cached_property
    def readers(self) -> SignedUpReaders:
        return SignedUpReaders(self.db)

    @cached_property
    def erasure(self) -> Erasure:
        return Erasure(self.db, self.suppressions)

    @cached_property
    def clicks(self) -> StoryClicks:
        return StoryClicks(self.db)

    @cached_property
    def parsed(self) -> ParsedArticles:
        return ParsedArticles(self.db)
