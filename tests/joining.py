"""What the sign-up tests share: a newsletter that takes sign-ups, its `digest serve`, and the
confirmation emails and sends that follow."""

from __future__ import annotations

import email
import re
import sqlite3
from contextlib import contextmanager
from email import policy
from urllib.parse import urlencode, urlsplit

from conftest import wait_until
from web_server import SECRET, Served

from digest.deliver import message_file_name as file_name

DAY, NEXT, THIRD = "2025-04-22", "2025-04-23", "2025-04-24"
NEWSLETTER = "https://gazette.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def joinable(newsletter):
    """The test newsletter with signed links, sign-ups on, three days of articles, two readers."""
    newsletter.sign_links()
    newsletter.add_config("""
        [signup]
        enabled = true
        consent_version = "v2"
        per_client_per_hour = 1000
        """)
    for day in (DAY, NEXT, THIRD):
        newsletter.article(f"une-{day}", f"Les nouvelles du {day}. " * 30, title=f"La une {day}",
                           lead=True, date=f"{day}T08:00:00+02:00")
    newsletter.recipients(2)
    return newsletter


def sign_up(server: Served, address: str, name: str = "", **extra) -> tuple[int, str]:
    fields = {"email": address, "name": name, "consent": "yes", **extra}
    return server.request("POST", "/subscribe", urlencode(fields, doseq=True).encode(), FORM)


def db(letter) -> sqlite3.Connection:
    return sqlite3.connect(letter.root / ".digest" / "state.db")


def queue_empty(letter) -> bool:
    with db(letter) as connection:
        return connection.execute("SELECT COUNT(*) FROM signup_requests").fetchone()[0] == 0


def reader_row(letter, key: str) -> tuple | None:
    """(status, source, name, consent version, IP hash, confirmed at) of an address."""
    with db(letter) as connection:
        found = connection.execute("SELECT 'confirmed', source, name, consent_version, ip_hash,"
                                   " confirmed_at FROM readers WHERE email = ?",
                                   (key,)).fetchone()
        return found or connection.execute(
            "SELECT 'pending', source, name, consent_version, ip_hash, NULL FROM pending_signups"
            " WHERE email = ? ORDER BY signed_up_at DESC", (key,)).fetchone()


def notice(letter, kind: str, address: str) -> email.message.EmailMessage:
    path = letter.root / "out" / "signups" / kind / file_name(address)
    wait_until(path.is_file, 30, f"the {kind} email to {address}")
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def confirmation_path(letter, address: str) -> str:
    """The path and query of the confirmation link the email carries."""
    body = notice(letter, "confirm", address).get_body(("plain",)).get_content()
    url = re.search(r"<(https://\S+/subscribe/confirm\?t=[^>\s]+)>", body).group(1)
    assert urlsplit(url).netloc == "lettre.gazette.example"  # beside the unsubscribe link
    return f"{urlsplit(url).path}?{urlsplit(url).query}"


def send(letter, day: str, *options: str):
    result = letter.run("send", "--date", day, *options, env={"DIGEST_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    return result


def outbox(letter, day: str) -> dict[str, email.message.EmailMessage]:
    folder = letter.root / "out" / day / "outbox"
    return {path.name: email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in folder.glob("*.eml")}


def confirmed(letter, server: Served, address: str) -> None:
    assert sign_up(server, address)[0] == 200
    status, _ = server.request("POST", confirmation_path(letter, address), b"", FORM)
    assert status == 200


def one_click(server: Served, message) -> int:
    url = str(message["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
    parts = urlsplit(url)
    return server.one_click(f"{parts.path}?{parts.query}")[0]


def preferences_path(message) -> str:
    """The path and query of the preferences link of an edition's plain text."""
    url = re.search(r"Gérer mon abonnement <(\S+)>",
                    message.get_body(("plain",)).get_content()).group(1)
    return f"{urlsplit(url).path}?{urlsplit(url).query}"


@contextmanager
def relay(letter, inbox):
    """The newsletter sending through an aiosmtpd relay on 127.0.0.1 that hands its messages to
    `inbox` (tests/test_send_smtp.py's Inbox)."""
    from test_send_smtp import configure, start

    controller = start(inbox)
    try:
        letter.set_config(letter.config.read_text().replace('backend = "file"',
                                                            'backend = "smtp"'))
        configure(letter, controller.port)
        yield controller
    finally:
        controller.stop()
