"""The user's cache: what is worth keeping between runs for all his newsletters (the sentence
model's weights uncompressed, what premailer made of the theme's CSS), and the installed versions
that such copies depend on."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path


def folder(name: str) -> Path | None:
    """`name` under the user's cache (`DIGEST_CACHE_DIR`, else `$XDG_CACHE_HOME/digest`, else
    `~/.cache/digest`); None when there is no home to keep it in."""
    if os.environ.get("DIGEST_CACHE_DIR"):
        return Path(os.environ["DIGEST_CACHE_DIR"]) / name
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no HOME and no user entry
        return None
    return base / "digest" / name


def replace_atomically(path: Path, write: Callable[[Path], object]) -> bool:
    """`write(partial)`, then the partial file renamed to `path`: no process ever reads a copy
    half written. False, and nothing left behind, when the folder cannot be written (read-only,
    full, a file in its place): a cache only goes without."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return False
    return True


@lru_cache(maxsize=8)
def installed_version(distribution: str, package: str) -> str:
    """The installed version of `distribution` (which provides `package`), read from the name of
    its .dist-info folder beside the package: importlib.metadata takes 25 ms to import (it
    brings in the email package), a twentieth of a cold build."""
    import importlib.util

    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is not None and spec.origin:
        # the name as wheels write it: lowercase, "-" and "." as "_"
        prefix = distribution.replace("-", "_").replace(".", "_").lower() + "-"
        for info in Path(spec.origin).parent.parent.glob("*.dist-info"):
            if info.name.lower().startswith(prefix):
                return info.name[len(prefix):].removesuffix(".dist-info")
    from importlib.metadata import version

    return version(distribution)
