"""Reading a file that anyone may have put in a source folder: only a regular file, never more than
a cap, never blocking.

A size from stat() is only a claim (a /proc file says 0, /dev/zero never ends, a file grows while
it is read): the cap is on the bytes actually read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

CHUNK = 1 << 20


class Unreadable(Exception):
    """Why a file was not read, in words an editor can act on."""


def read_capped(path: Path, limit: int, setting: str) -> bytes:
    """The bytes of the regular file at `path` (a link is followed), at most `limit` of them;
    raises Unreadable for anything else. `setting` names the key that sets the limit."""
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise Unreadable(f"cannot read it ({error.strerror})") from None
    try:
        kind = _kind(os.fstat(handle).st_mode)
        if kind:
            raise Unreadable(f"{kind}, not a file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(handle, min(CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise Unreadable(f"over the {limit:,} byte limit ({setting})")
        return b"".join(chunks)
    except OSError as error:
        raise Unreadable(f"cannot read it ({error.strerror})") from None
    finally:
        os.close(handle)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, or "" for a regular one."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def inside(path: Path, folder: Path) -> Path:
    """Where `path` leads once links are followed, when that is inside `folder` (resolved);
    raises Unreadable for a broken link or one leading out of the folder."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a loop of links
        raise Unreadable(f"a link to {_link(path)}, which does not exist") from None
    if not target.is_relative_to(folder):
        raise Unreadable(f"a link to {_link(path)}, outside the folder")
    return target


def _link(path: Path) -> str:
    try:
        return repr(os.readlink(path))
    except OSError:
        return "a missing file"
