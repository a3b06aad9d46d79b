"""Progress while sending: a bar on a terminal, one plain line per batch otherwise (cron logs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from digest.config import Config
from digest.errors import Problem
from digest.send import SendEvents, SendReport

LOG_EVERY_SECONDS = 5.0


def _count_lines(path) -> int:
    try:
        with open(path, "rb") as handle:
            return max(0, sum(1 for _ in handle) - 1)
    except OSError:
        return 0


@contextmanager
def send_events(config: Config, warn: Callable[[Problem], None],
                log: Callable[[str], None]) -> Iterator[SendEvents]:
    """`warn` shows a problem; `log` writes one line of the log kept when not on a terminal."""
    if not sys.stderr.isatty():
        last = [0.0]

        def log_batch(report: SendReport, size: int) -> None:
            # at most one line every few seconds: a log, not a transcript of every message
            if time.monotonic() - last[0] < LOG_EVERY_SECONDS:
                return
            last[0] = time.monotonic()
            verb = "would send" if report.dry_run else "sent"
            log(f"{verb} {report.sent} so far ({report.batches} requests)"
                + (f", failed {report.failed}" if report.failed else "")
                + (f", refused {report.refused}" if report.refused else ""))

        yield SendEvents(problem=warn, batch=log_batch)
        return

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    total = _count_lines(config.resolve(config.delivery.recipients)) or None
    with Progress(TextColumn("[bold]sending"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("send", total=total)

        def advance(report: SendReport, size: int) -> None:
            bar.advance(task, size)

        def show(problem: Problem) -> None:
            bar.console.print(f"warning: {problem}", markup=False, highlight=False)

        yield SendEvents(problem=show, batch=advance)
