"""One send at a time per newsletter: an OS lock on `.digest/send.lock`, held for the whole send.

The kernel holds the lock for the process (`flock`), so a process that dies, even by `kill -9`,
releases it by dying: no stale PID file to clean. The file also says who holds it, for the message
the next process prints.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from digest.errors import EXIT_TEMPFAIL, DigestError

POLL_SECONDS = 0.1


class SendLocked(DigestError):
    """Another send of the same newsletter holds the lock: run again when it is done."""

    exit_code = EXIT_TEMPFAIL


@contextmanager
def send_lock(path: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the newsletter's send lock; wait up to `wait` seconds for it, then refuse."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole send)
    except OSError as error:
        raise DigestError(f"{path}: cannot open the send lock ({error.strerror}); check the "
                          "permissions of the .digest/ folder") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SendLocked(f"another send of this newsletter is running "
                                     f"({_holder(path)}); nothing sent. Run again when it is "
                                     "done, or set delivery.lock_wait to wait for it") from None
                time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {time.time():.0f}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _holder(path: Path) -> str:
    """'pid N, since HH:MM' from the lock file, as well as it can be read."""
    try:
        pid, started = path.read_text(encoding="utf-8").split()[:2]
        since = datetime.fromtimestamp(float(started)).strftime("%H:%M")
        return f"pid {int(pid)}, since {since}"
    except (OSError, ValueError):
        return "pid unknown"
