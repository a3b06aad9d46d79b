"""The `digest` command: thin Typer commands over the library. No business logic here.

A command imports the modules it uses when it runs (the imports marked "lazy"): `digest --version`
and `--help` load typer alone, and `digest build` nothing it does not use (tests/test_imports.py).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digest.cli_base import (
    Commands,
    ConfigOption,
    log,
    open_newsletter,
    stamped,
    stamped_line,
    warn,
)
from digest.cli_readers import readers_app
from digest.errors import EXIT_ERROR

if TYPE_CHECKING:
    from digest.audience.leavers import EditorChange


app = typer.Typer(
    cls=Commands,
    help="Build the day's news digest email from Markdown articles and feeds, preview it, send it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain one-line usage errors, readable in cron logs
)



def _parse_date(value: str | None) -> date | str | None:
    """A date, or "today" / "yesterday", which the newsletter's time zone turns into one."""
    if value is None or value in ("today", "yesterday"):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, today or "
                                 "yesterday") from None


DateOption = Annotated[
    date | None,
    typer.Option("--date", "-d", help="Edition date: YYYY-MM-DD, today or yesterday (default: "
                 "today in the newsletter's time zone).", parser=_parse_date,
                 metavar="YYYY-MM-DD"),
]


def _show_version(value: bool) -> None:
    if value:
        from digest import __version__

        typer.echo(f"digest {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version,
                       is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """digest: the day's articles, ranked into one email."""


class Locale(StrEnum):
    fr = "fr"
    en = "en"


class BackendName(StrEnum):
    file = "file"
    sendgrid = "sendgrid"
    smtp = "smtp"


@app.command("build")
def build_command(
    day: DateOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder "
                   "(default: out/ beside digest.toml).", file_okay=False)] = None,
    config_path: ConfigOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on any bad article "
                      "instead of skipping it.")] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the HTML in a "
                            "browser.")] = False,
) -> None:
    """Build the day's digest: digest.html, digest.txt, digest.eml and edition.json."""
    from digest.summary import build_summary  # lazy: see the top of the file

    with open_newsletter(config_path) as newsletter:
        result = newsletter.build(newsletter.day(day), strict=strict)
        for problem in result.problems:
            warn(problem)
        folder = newsletter.write(result, out)
    typer.echo(build_summary(result, folder, newsletter.config))
    if open_browser:
        import webbrowser

        webbrowser.open((folder / "digest.html").resolve().as_uri())


@app.command("rank")
def rank_command(
    day: DateOption = None,
    explain: Annotated[bool, typer.Option("--explain", help="Say why each article has its "
                       "place, not only why some were left out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", metavar="N", min=1, help="Show the "
                     "first N articles of the table only (--json lists every one).")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Show how the day's articles were ranked and grouped, and why."""
    with open_newsletter(config_path) as newsletter:
        edition, gathered = newsletter.edition(newsletter.day(day))
    for problem in gathered.problems:
        warn(problem)
    if as_json:
        import json

        from digest.records import ranking_record  # lazy: for --json only

        typer.echo(json.dumps(ranking_record(edition, newsletter.config), ensure_ascii=False,
                              indent=2))
        return
    if not sys.stdout.isatty():  # piped, redirected, in a log: plain columns, one line each
        from digest.ranking.explain import ranking_text  # lazy: see the top of the file

        typer.echo("\n".join(ranking_text(edition, explain, limit)))
    else:
        # lazy: rich, for a terminal only
        from rich.console import Console

        from digest.ranking.explain import ranking_table

        Console().print(ranking_table(edition, explain, limit))
    for title, notes in (("Grouping", edition.grouping), ("Clicks", edition.engagement)):
        if explain and notes:
            typer.echo(f"{title}:")
            for note in notes:
                typer.echo(f"  {note}")


@app.command("send")
def send_command(
    day: DateOption = None,
    config_path: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but the network "
                       "calls; print what would be sent.")] = False,
    to: Annotated[str | None, typer.Option("--to", metavar="EMAIL", help="Send one test "
                  "copy to this address only; nothing is recorded as sent.")] = None,
    backend: Annotated[BackendName | None, typer.Option("--backend", help="Default: "
                       "delivery.backend in digest.toml.")] = None,
    resend_unknown: Annotated[bool, typer.Option("--resend-unknown", help="Also send to readers "
                              "whose earlier send was interrupted before an answer.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Send a new copy to everyone, even "
                     "those who already got this edition.")] = False,
) -> None:
    """Send the day's digest to every reader, exactly once (safe to re-run)."""
    # lazy: the send machinery and its progress bars, for digest send only
    from digest.progress import send_events
    from digest.summary import send_summary

    stamped.set(not sys.stderr.isatty())
    with open_newsletter(config_path) as newsletter, \
            send_events(newsletter.config, warn, log) as events:
        report = newsletter.send(newsletter.day(day), backend=backend and backend.value,
                                 dry_run=dry_run, to=to, resend_unknown=resend_unknown,
                                 force=force, events=events)
    typer.echo(stamped_line(send_summary(report)))
    if report.error is not None:
        for line in str(report.error).splitlines():
            log(f"error: {line}")
    raise typer.Exit(report.exit_code)


@app.command("preview")
def preview_command(
    day: DateOption = None,
    port: Annotated[int, typer.Option("--port", "-p", help="Port to serve on (the next free "
                    "one if taken).")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to bind; keep a loopback "
                    "address unless you mean to share your drafts.")] = "127.0.0.1",
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Serve a live preview of the digest that refreshes when you save a file."""
    from digest.preview import serve  # lazy: Jinja2 and an HTTP server, for digest preview

    if isinstance(day, str):  # today or yesterday, in the newsletter's time zone
        day = open_newsletter(config_path).day(day)
    serve(config_path, day, host, port, not no_open, say=typer.echo, warn=warn)


@app.command("sources")
def sources_command(
    day: DateOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Read every source now and show its status, entries, time taken and health; exit 1 when
    one failed or went stale."""
    from digest.summary import sources_table  # lazy: see the top of the file

    with open_newsletter(config_path) as newsletter:
        gathered = newsletter.gather(newsletter.day(day))
    for line in sources_table(newsletter.config, gathered):
        typer.echo(line)
    if gathered.failed_sources:  # so that it can serve as a health check
        raise typer.Exit(EXIT_ERROR)


@app.command("status")
def status_command(
    day: DateOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON, for scripts.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Show, per edition, how many readers got it, failed, are unknown or remain; what they
    clicked (with [tracking] clicks); and the readers who signed up."""
    from digest.status import status_document  # lazy: sqlite3, for digest status

    with open_newsletter(config_path) as newsletter:
        wanted = newsletter.day(day) if day else None
        rows, days = newsletter.status(wanted), newsletter.clicks(wanted)
        readers = newsletter.audience()
    if as_json:
        typer.echo(json.dumps(status_document(rows, days, readers), ensure_ascii=False,
                              indent=2))
        return
    if not rows:
        typer.echo(f"nothing sent for {newsletter.day(day)}" if day else "nothing sent yet")
    for row in rows:
        typer.echo(str(row))
    for clicked in days:
        typer.echo("\n".join(clicked.lines()))
    if readers:
        typer.echo(readers)


@app.command("report")
def report_command(
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="How many days, up to "
                                      "--date, the report covers.")] = 30,
    day: DateOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False, help="Where "
                                                "to write it (default: out/report.html).")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Write an HTML page of what readers clicked: each edition's click rate, clicks per story,
    per category and per section, as charts."""
    from digest.engagement.report import write_report  # lazy: pygal, for this command

    with open_newsletter(config_path) as newsletter:
        path = write_report(newsletter, newsletter.day(day), days, output)
    typer.echo(f"wrote {path}")


@app.command("cancel")
def cancel_command(
    day: DateOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Cancel a scheduled SendGrid send (delivery.sendgrid.send_at) before it goes out."""
    with open_newsletter(config_path) as newsletter:
        for line in newsletter.cancel(newsletter.day(day)):
            typer.echo(line)


templates_app = typer.Typer(help="List the email's templates, or copy one to change it.",
                            no_args_is_help=True)
app.add_typer(templates_app, name="templates")


@templates_app.command("list")
def templates_list_command(config_path: ConfigOption = None) -> None:
    """Show each template and whether it is built-in or overridden in templates/."""
    from digest.rendering.theme import templates  # lazy: Jinja2 and the templates, for this command

    config = open_newsletter(config_path).config
    rows = templates(config)
    width = max(len(row.name) for row in rows)
    for row in rows:
        shown = "" if row.status == "built-in" else f"  ({config.newsletter.templates}/{row.name})"
        typer.echo(f"{row.name:<{width}}  {row.status}{shown}")


@templates_app.command("copy")
def templates_copy_command(
    name: Annotated[str, typer.Argument(help="A template name, e.g. lead.mjml.j2.")],
    config_path: ConfigOption = None,
) -> None:
    """Copy a built-in template into templates/ to edit it; the others stay built-in."""
    from digest.rendering.theme import copy_template  # lazy: as for templates list

    target = copy_template(open_newsletter(config_path).config, name)
    typer.echo(f"copied to {target}; edit it and run digest preview to see the change")


@app.command("init")
def init_command(
    folder: Annotated[Path, typer.Argument(help="Folder to create (default: here).",
                                           file_okay=False)] = Path("."),
    locale: Annotated[Locale, typer.Option("--locale", help="Language of the email.")] = Locale.fr,
) -> None:
    """Create a new newsletter folder that builds and previews at once."""
    # lazy: digest init's modules, see the top of the file
    from zoneinfo import ZoneInfo

    from digest.dates import today
    from digest.scaffold import init_newsletter

    zone = ZoneInfo("Europe/Paris" if locale == "fr" else "Europe/London")
    written = init_newsletter(folder, Locale(locale).value, today(zone))
    for path in written:
        typer.echo(f"created {path}")
    here = "" if folder == Path(".") else f"cd {folder} && "
    typer.echo(f"next: {here}digest build && digest preview")
    from digest.audience.signing import SECRET_ADVICE  # lazy: as above

    typer.echo(f"before sending: {SECRET_ADVICE}; it signs the unsubscribe links")


@app.command("check")
def check_command(config_path: ConfigOption = None) -> None:
    """Check the configuration, templates, articles, recipients and the email itself."""
    from digest.newsletter import Newsletter  # lazy: as in _open

    problems: list[str] = []  # digest.toml's keys that cannot be used: the rest is checked too
    with Newsletter.open(config_path, problems=problems) as newsletter:
        problems += newsletter.check()
    for line in problems:
        typer.echo(line)
    count = len(problems)
    summary = f"{count} problem{'s' if count != 1 else ''} found" if count else "no problems found"
    typer.echo(summary, err=True)
    raise typer.Exit(EXIT_ERROR if problems else 0)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; keep a loopback "
                    "address behind a reverse proxy.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on (0: any free "
                    "one).")] = 8080,
    threads: Annotated[int, typer.Option("--threads", min=1, max=64, help="Requests handled "
                       "at once.")] = 8,
    config_path: ConfigOption = None,
) -> None:
    """Serve the one-click unsubscribe page and SendGrid's event webhook (waitress)."""
    from digest.web import serve  # lazy: werkzeug and waitress, for digest serve only

    serve(config_path, host, port, threads, say=typer.echo, warn=warn)


suppressions_app = typer.Typer(help="Addresses never sent to again: list, add, remove, or sync "
                               "them from SendGrid.", no_args_is_help=True)
app.add_typer(suppressions_app, name="suppressions")
AddressesArgument = Annotated[list[str], typer.Argument(help="Addresses (or Name <address>).",
                                                        metavar="EMAIL...")]


@suppressions_app.command("list")
def suppressions_list_command(config_path: ConfigOption = None) -> None:
    """Every suppressed address: when, why (unsubscribed, bounced, complained, added), from
    where, and the edition it followed."""
    from digest.dates import utc_text  # lazy: see the top of the file

    with open_newsletter(config_path) as newsletter:
        entries = newsletter.suppressions()
    for entry in entries:
        moment = utc_text(entry.at, "%Y-%m-%d %H:%M")
        edition = f"  after {entry.edition_id}" if entry.edition_id else ""
        reason = f": {entry.reason}" if entry.reason else ""
        typer.echo(f"{entry.key}  {moment}  {entry.kind} ({entry.source}{reason}){edition}")
    typer.echo(f"{len(entries)} suppressed address{'es' if len(entries) != 1 else ''}", err=True)


def _show_change(change: EditorChange, done: str, unchanged: str) -> None:
    for key in change.done:
        typer.echo(f"{key}: {done}")
    for key in change.unchanged:
        typer.echo(f"{key}: {unchanged}")
    for address in change.invalid:
        warn(f"{address!r} is not an address; skipped")


@suppressions_app.command("add")
def suppressions_add_command(
    addresses: AddressesArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")] = "",
    config_path: ConfigOption = None,
) -> None:
    """Never send to these addresses again."""
    with open_newsletter(config_path) as newsletter:
        change = newsletter.suppress(addresses, reason)
    _show_change(change, "suppressed", "already suppressed")
    raise typer.Exit(EXIT_ERROR if change.invalid else 0)


@suppressions_app.command("remove")
def suppressions_remove_command(addresses: AddressesArgument,
                                config_path: ConfigOption = None) -> None:
    """Send to these addresses again (only if they asked to come back)."""
    with open_newsletter(config_path) as newsletter:
        change = newsletter.unsuppress(addresses)
    _show_change(change, "removed", "was not suppressed")
    raise typer.Exit(EXIT_ERROR if change.invalid else 0)


@suppressions_app.command("sync")
def suppressions_sync_command(config_path: ConfigOption = None) -> None:
    """Read SendGrid's unsubscribes, bounces, blocks, spam reports and invalid addresses since
    the last sync into the suppressions."""
    with open_newsletter(config_path) as newsletter:
        typer.echo(str(newsletter.sync_suppressions("sendgrid")))


bounces_app = typer.Typer(help="Bounce reports received by an SMTP sender.", no_args_is_help=True)
app.add_typer(bounces_app, name="bounces")


@bounces_app.command("import")
def bounces_import_command(
    path: Annotated[Path, typer.Argument(help="An mbox file or a Maildir folder of bounces.")],
    config_path: ConfigOption = None,
) -> None:
    """Suppress the hard bounces (5.x.x) of the delivery reports in a mailbox; count the soft
    ones."""
    with open_newsletter(config_path) as newsletter:
        typer.echo(str(newsletter.import_bounces(path, warn)))


state_app = typer.Typer(help="The state database (.digest/state.db): check it, or recover a "
                        "damaged one.", no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("check")
def state_check_command(config_path: ConfigOption = None) -> None:
    """SQLite's integrity check of .digest/state.db, its schema version and rows per table; exit
    1 when it is damaged."""
    with open_newsletter(config_path) as newsletter:
        report = newsletter.state_check()
    typer.echo(str(report))
    raise typer.Exit(0 if report.healthy else EXIT_ERROR)


@state_app.command("recover")
def state_recover_command(config_path: ConfigOption = None) -> None:
    """Rebuild a damaged .digest/state.db from what can be read (the send ledger, the unsubscribe
    tokens...), keeping the damaged file beside it; never while a send runs."""
    with open_newsletter(config_path) as newsletter:
        typer.echo(str(newsletter.state_recover()))


app.add_typer(readers_app, name="readers")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
