"""What every command shares: a user's error as one `error:` line and its documented exit code,
lines on stderr (time-stamped when a send writes to a log), options coerced without pydantic."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from typer.core import TyperGroup

from digest.coercion import plain_coercion
from digest.errors import EXIT_INTERRUPTED, EXIT_USAGE, DigestError, Problem

if TYPE_CHECKING:
    from digest.newsletter import Newsletter

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to digest.toml (default: ./digest.toml).",
                 dir_okay=False),
]


def open_newsletter(config_path: Path | None) -> Newsletter:
    from digest.newsletter import Newsletter  # lazy: not for --version nor --help

    return Newsletter.open(config_path)


class Commands(TyperGroup):
    """Every command's user errors end here: one `error:` line each and the documented exit code.
    Anything else is a bug and keeps its traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        """Usage errors (a bad --date, an unknown option) as one `error:` line, exit 2, as cron
        logs read them; the rest as click has it."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.Abort:
            typer.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except typer.TyperException as error:  # click's ClickException, vendored by typer
            # NoArgsIsHelpError (`digest` alone) is the help itself, shown as before
            if error.exit_code != EXIT_USAGE or type(error).__name__ == "NoArgsIsHelpError":
                error.show()
                sys.exit(error.exit_code)
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else "digest"
            message = " ".join(error.format_message().split())
            typer.echo(f"error: {message} (see {command} --help)", err=True)
            sys.exit(EXIT_USAGE)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DigestError as error:
            fail(error)
        finally:
            stamped.set(False)

    # no pydantic at start-up (digest/coercion.py): the options' coercion of the group and of
    # the command run, --help included
    def get_params(self, ctx):
        params = super().get_params(ctx)
        plain_coercion(params)
        return params

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            plain_coercion(command.get_params(ctx))
        return command


# A send writing to a log rather than a terminal (cron) stamps every line with the time.
stamped: ContextVar[bool] = ContextVar("stamped", default=False)


def stamped_line(text: str) -> str:
    if not stamped.get():
        return text
    return f"{datetime.now().astimezone().isoformat(timespec='seconds')} {text}"


def log(text: str) -> None:
    typer.echo(stamped_line(text), err=True)


def warn(problem: Problem | str) -> None:
    log(f"warning: {problem}")


def fail(error: DigestError) -> NoReturn:
    for problem in error.problems:
        warn(problem)
    for line in str(error).splitlines():
        log(f"error: {line}")
    raise typer.Exit(error.exit_code)
