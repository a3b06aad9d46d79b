"""`digest readers`: the readers who signed up, an import, and a person's access and erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from digest.cli_base import ConfigOption, open_newsletter, warn

readers_app = typer.Typer(help="Readers who signed up: list or import them; export or erase "
                          "everything held about one address.", no_args_is_help=True)
AddressArgument = Annotated[str, typer.Argument(help="The reader's address.", metavar="EMAIL")]


@readers_app.command("list")
def readers_list_command(config_path: ConfigOption = None) -> None:
    """Every reader who signed up (status, source, when), and the counts by status and source."""
    from digest.audience.register import roster  # lazy: see digest/cli.py

    with open_newsletter(config_path) as newsletter:
        found = roster(newsletter)
    for line in found.lines():
        typer.echo(line)
    typer.echo(found.summary(), err=True)


@readers_app.command("import")
def readers_import_command(
    path: Annotated[Path, typer.Argument(help="A CSV: email, optional name and sections.",
                                         dir_okay=False)],
    confirm: Annotated[bool, typer.Option("--confirm", help="Send each new reader a "
                       "confirmation email; only those who confirm are sent editions.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Add the readers of a CSV, marked as imported: confirmed at once (you vouch for their
    consent), or pending until they confirm (--confirm)."""
    from digest.audience.register import import_readers  # lazy: see digest/cli.py

    with open_newsletter(config_path) as newsletter:
        typer.echo(str(import_readers(newsletter, path, confirm=confirm, report=warn)))


@readers_app.command("export")
def readers_export_command(address: AddressArgument, config_path: ConfigOption = None) -> None:
    """Everything held about an address, as JSON (GDPR article 15): sign-up and consent,
    recipients.csv lines, editions sent, suppression, files written to it."""
    from digest.audience.privacy import export  # lazy: see digest/cli.py

    with open_newsletter(config_path) as newsletter:
        held = export(newsletter, address)
    if held.empty:
        typer.echo("nothing is held about this address", err=True)
        return
    typer.echo(json.dumps(held.as_dict(), ensure_ascii=False, indent=2))


@readers_app.command("erase")
def readers_erase_command(address: AddressArgument, config_path: ConfigOption = None) -> None:
    """Erase an address (GDPR article 17): from the state database, recipients.csv and the
    written messages; the ledger and suppressions keep only its keyed hash, so no edition
    reaches it again."""
    from digest.audience.privacy import erase  # lazy: see digest/cli.py

    with open_newsletter(config_path) as newsletter:
        typer.echo(str(erase(newsletter, address)))
