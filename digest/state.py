"""The newsletter's state database, `.digest/state.db`: the send ledger and the feed cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, with `schema` created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed row survives a killed process (not a power cut).
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
