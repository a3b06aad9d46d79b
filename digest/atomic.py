"""A file replaced atomically and durably: a temporary file in the same folder, fsync, rename.

Readers of the file see the old version or the new one, never half of one; the file's mode is
kept. The folder itself is not synced: a power cut may lose the rename, and leave the old file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path


def replace_file(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` as the new `path`; an OSError leaves the old one as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.writelines(chunks)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
