"""Errors a user can fix, and the exit codes the CLI turns them into."""

from __future__ import annotations

from enum import StrEnum

# Exit codes, documented in docs/building.md, docs/sending.md and docs/readers.md. sysexits
# values where one exists.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_ARTICLES = 3
EXIT_PARTIAL = 4  # some recipients failed
EXIT_HELD = 65  # EX_DATAERR: the newsroom's own files have a problem; nothing was sent
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: try again later
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C
EXIT_CONFIG = 78  # EX_CONFIG


class DigestError(Exception):
    """A problem the user can fix: the message names the file, line or key and what to do."""

    exit_code = EXIT_ERROR
    # Warnings gathered before the error, shown with it (a failed feed explains an empty day).
    problems: tuple = ()


class UsageError(DigestError):
    """A command-line value that cannot be used (a date out of range)."""

    exit_code = EXIT_USAGE


class ConfigError(DigestError):
    exit_code = EXIT_CONFIG


class NoArticlesError(DigestError):
    exit_code = EXIT_NO_ARTICLES

    def __init__(self, message: str, dates: frozenset = frozenset(), problems=()) -> None:
        super().__init__(message)
        self.dates = dates  # the dates that do have articles
        self.problems = tuple(problems)


class StateError(DigestError):
    """The state database cannot be used as it is; the message says what to do (raised by
    digest.state, caught without importing it: sqlite3 is loaded only with a database)."""


class TemplateError(DigestError):
    """A template (Jinja or MJML) could not be rendered; the message names file and line."""

    exit_code = EXIT_HELD


class HeldError(DigestError):
    """The newsroom's own material has problems (an article of the edition, a template): the
    send holds, so that no reader gets an edition the editors did not mean."""

    exit_code = EXIT_HELD

    def __init__(self, held: list[Problem], others: list[Problem], action: str) -> None:
        count = len(held)
        lines = [problem.without_outcome() for problem in held]
        lines.append(f"{count} problem{'s' if count > 1 else ''} in the newsroom's own files: "
                     f"{action}. Fix {'them' if count > 1 else 'it'} and run again, or set "
                     'delivery.on_article_error = "skip" to send without what cannot be used')
        super().__init__("\n".join(lines))
        self.problems = tuple(others)


class ProblemKind(StrEnum):
    ARTICLE_SKIPPED = "article skipped"  # an article file that could not be used at all
    WARNING = "warning"  # anything else: the input is used as it can be, or skipped and said


SKIPPED = "; skipped"  # how a reader ends the message of an input it left out


class Problem:
    """A non-fatal problem with one input (an article, a feed...): reported, then skipped.

    `ours`: the problem is in what the newsroom controls (an article file of the edition's
    window, a template), which holds `digest send` (delivery.on_article_error); a problem from
    outside (a feed, one of its entries) never does."""

    __slots__ = ("kind", "message", "ours", "where")

    def __init__(self, where: str, message: str, kind: ProblemKind = ProblemKind.WARNING,
                 ours: bool = False) -> None:
        self.where = where
        self.message = message
        self.kind = kind
        self.ours = ours

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def without_outcome(self) -> str:
        """The problem without the reader's "; skipped": a held send skips nothing."""
        return f"{self.where}: {self.message.removesuffix(SKIPPED)}"

    def __repr__(self) -> str:
        return f"Problem({self.where!r}, {self.message!r})"
