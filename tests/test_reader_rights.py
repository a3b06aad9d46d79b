"""Readers' rights and the editors' register: a reader who left and comes back, the preferences
page, `digest readers import`, and `export` and `erase` (GDPR articles 15 and 17)."""

from __future__ import annotations

import csv
import email
import json
import re
from email import policy
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import wait_until
from joining import (
    DAY,
    FORM,
    NEXT,
    SECRET,
    THIRD,
    confirmation_path,
    confirmed,
    db,
    file_name,
    joinable,
    notice,
    one_click,
    outbox,
    preferences_path,
    reader_row,
    send,
    sign_up,
)


@pytest.fixture
def letter(newsletter):
    return joinable(newsletter)


@pytest.fixture
def serve(letter, serve_newsletter):
    return serve_newsletter


def test_a_reader_who_left_and_signs_up_again_is_suppressed_until_he_confirms(letter, serve):
    server = serve()
    address = "lecteur000001@lecteurs.example"
    send(letter, DAY)
    assert one_click(server, outbox(letter, DAY)[file_name(address)]) == 200
    assert sign_up(server, address, "De retour")[0] == 200
    path = confirmation_path(letter, address)
    send(letter, NEXT)
    assert file_name(address) not in outbox(letter, NEXT)
    assert server.request("POST", path, b"", FORM)[0] == 200
    rows = list(csv.DictReader((letter.root / "unsubscribed.csv").open(encoding="utf-8")))
    assert address not in {row["email"] for row in rows}
    send(letter, THIRD)
    assert str(outbox(letter, THIRD)[file_name(address)]["To"]).startswith("De retour")


def test_each_edition_links_to_the_readers_preferences(letter, serve):
    server = serve()
    address = "lecteur000000@lecteurs.example"
    send(letter, DAY)
    message = outbox(letter, DAY)[file_name(address)]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    url = re.search(r"Gérer mon abonnement <(\S+)>", text).group(1)
    assert url in html and "%preferences_url%" not in html + text
    parts = urlsplit(url)
    assert parts.netloc == "lettre.gazette.example" and parts.path == "/preferences"
    path = f"{parts.path}?{parts.query}"
    status, page = server.request("GET", path)
    assert status == 200 and 'name="language"' in page and "Me désabonner" in page
    assert address not in page
    choice = urlencode({"name": "Lectrice Zéro", "language": "en"}).encode()
    assert server.request("POST", path, choice, FORM)[0] == 200
    assert server.request("POST", path.replace("t=", "t=x"), choice, FORM)[0] == 400
    assert "Lectrice Zéro" in server.request("GET", path)[1]
    send(letter, NEXT)
    assert str(outbox(letter, NEXT)[file_name(address)]["To"]) == f"Lectrice Zéro <{address}>"
    # his unsubscribe button on the page
    status, _ = server.request("POST", path.replace("/preferences", "/unsubscribe"), b"", FORM)
    assert status == 200
    send(letter, THIRD)
    assert file_name(address) not in outbox(letter, THIRD)


def test_import_marks_the_source_and_confirms_only_when_asked(letter, tmp_path):
    vouched = tmp_path / "vouched.csv"
    vouched.write_text("email,name\nun@importe.example,Un\ndeux@importe.example,Deux\n",
                       encoding="utf-8")
    asked = tmp_path / "asked.csv"
    asked.write_text("email,name\ntrois@importe.example,Trois\nnot-an-address,X\n",
                     encoding="utf-8")
    result = letter.run("readers", "import", str(vouched))
    assert result.returncode == 0 and "2 readers added" in result.stdout
    result = letter.run("readers", "import", str(asked), "--confirm",
                        env={"DIGEST_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    assert "asked.csv:3" in result.stderr and "1 confirmation emails sent" in result.stdout
    notice(letter, "confirm", "trois@importe.example")
    listing = letter.run("readers", "list")
    assert "1 pending (1 import), 2 confirmed (2 import), 0 left" in listing.stderr
    assert "un@importe.example  confirmed  import" in listing.stdout
    send(letter, DAY)
    names = set(outbox(letter, DAY))
    assert {file_name("un@importe.example"), file_name("deux@importe.example")} <= names
    assert file_name("trois@importe.example") not in names
    assert letter.run("suppressions", "add", "deux@importe.example").returncode == 0
    status = letter.run("status").stdout
    assert "signed up: 1 pending (1 import), 1 confirmed (1 import), 1 left (1 import); " \
        "recipients.csv: 2; joined in the last 7 days: 1" in status


def test_export_then_erase_leaves_nothing_and_no_edition_reaches_the_address(letter, serve):
    """GDPR articles 15 and 17, for a reader of the list who also signed up on the form, got two
    editions and left."""
    server = serve()
    address = "lecteur000001@lecteurs.example"
    recipients = letter.root / "recipients.csv"
    recipients.write_bytes(recipients.read_bytes() + b"autre@lecteurs.example,\"Autre, A\"\r\n")
    before = recipients.read_bytes()
    confirmed(letter, server, address)
    send(letter, DAY)
    send(letter, NEXT)
    assert one_click(server, outbox(letter, NEXT)[file_name(address)]) == 200

    result = letter.run("readers", "export", address)
    assert result.returncode == 0, result.stderr
    held = json.loads(result.stdout)
    assert held["sign_up"]["source"] == "form" and held["sign_up"]["consent_version"] == "v2"
    assert [e["day"] for e in held["editions"]] == [DAY, NEXT]
    assert held["suppression"]["kind"] == "unsubscribed"
    assert held["recipients_csv"][0]["line"] == 3
    assert any(f.startswith("out/signups/confirm/") for f in held["files"])

    result = letter.run("readers", "erase", address.upper())
    assert result.returncode == 0, result.stderr
    result = letter.run("readers", "export", address)
    assert result.returncode == 0 and result.stdout == ""
    after = recipients.read_bytes()
    assert after.replace(b"", b"") == before.replace(f"{address},Lecteur 1\n".encode(), b"")
    assert before.count(b"\n") - after.count(b"\n") == 1
    with db(letter) as connection:
        dump = "\n".join(connection.iterdump())
    assert address not in dump
    assert address not in (letter.root / "unsubscribed.csv").read_text(encoding="utf-8")
    assert not list((letter.root / "out").rglob(file_name(address)))

    recipients.write_bytes(after + f"{address.capitalize()},Revenu\n".encode())  # back by mistake
    send(letter, NEXT, "--force")
    assert file_name(address) not in outbox(letter, NEXT)
    assert file_name(address.capitalize()) not in outbox(letter, NEXT)
    assert file_name("autre@lecteurs.example") in outbox(letter, NEXT)


def test_preferences_never_make_a_reader_of_someone_the_list_does_not_have(letter, serve):
    server = serve()
    stranger = "essai@redaction.example"
    assert letter.run("send", "--date", DAY, "--to", stranger,
                      env={"DIGEST_SECRET": SECRET}).returncode == 0
    copy = email.message_from_bytes(
        (letter.root / "out" / DAY / "outbox" / file_name(stranger)).read_bytes(),
        policy=policy.default)
    path = preferences_path(copy)
    assert server.request("POST", path, urlencode({"name": "Essai"}).encode(), FORM)[0] == 200
    listed = "lecteur000000@lecteurs.example"
    send(letter, DAY)
    message = outbox(letter, DAY)[file_name(listed)]
    mine = preferences_path(message)
    assert server.request("POST", mine, urlencode({"name": "Zéro"}).encode(), FORM)[0] == 200
    letter.recipients(0)  # the editors take everyone off the list
    result = letter.run("send", "--date", NEXT, env={"DIGEST_SECRET": SECRET})
    assert file_name(stranger) not in outbox(letter, NEXT)
    assert file_name(listed) not in outbox(letter, NEXT), result.stderr


def test_a_reader_of_the_list_with_preferences_can_still_join_by_the_form(letter, serve):
    server = serve()
    address = "lecteur000000@lecteurs.example"
    send(letter, DAY)
    path = preferences_path(outbox(letter, DAY)[file_name(address)])
    assert server.request("POST", path, urlencode({"name": "Hugo"}).encode(), FORM)[0] == 200
    letter.recipients(0)  # off the list
    confirmed(letter, server, address)
    send(letter, NEXT)
    assert file_name(address) in outbox(letter, NEXT)


def test_import_confirms_a_sign_up_still_waiting(letter, serve, tmp_path):
    server = serve()
    address = "hesitant@lecteurs.example"
    assert sign_up(server, address)[0] == 200
    wait_until(lambda: reader_row(letter, address) is not None, 30, "the sign-up recorded")
    vouched = tmp_path / "vouched.csv"
    vouched.write_text(f"email\n{address}\n", encoding="utf-8")
    assert "1 readers added" in letter.run("readers", "import", str(vouched)).stdout
    assert reader_row(letter, address)[:2] == ("confirmed", "import")
    missing = letter.run("readers", "import", str(tmp_path / "absent.csv"))
    assert missing.returncode != 0 and "absent.csv: no such file" in missing.stderr


def test_export_and_erase_find_every_spelling_and_the_hand_written_suppressions(letter, serve):
    server = serve()
    (letter.root / "unsubscribed.csv").write_text("parti@lecteurs.example\n", encoding="utf-8")
    held = json.loads(letter.run("readers", "export", "Parti@Lecteurs.example").stdout)
    assert held["suppression"]["kind"] == "added"
    assert sign_up(server, "Rene@Bücher.example")[0] == 200
    notice(letter, "confirm", "Rene@bücher.example")  # as the address is normalised
    assert sign_up(server, "rene@xn--bcher-kva.example")[0] == 200
    notice(letter, "confirm", "rene@bücher.example")
    held = json.loads(letter.run("readers", "export", "rene@bücher.example").stdout)
    assert len(held["files"]) == 2 and len(held["pending_sign_ups"]) == 2
    server.stop()
    result = letter.run("readers", "erase", "RENE@xn--bcher-kva.example")
    assert result.returncode == 0 and "files deleted: 2" in result.stdout, result.stdout
    for path in (letter.root / ".digest").glob("state.db*"):
        data = path.read_bytes().lower()
        assert b"rene@" not in data and "bücher".encode() not in data, path


def test_import_with_confirmation_refuses_links_no_one_answers(letter, tmp_path):
    letter.set_config(letter.config.read_text().replace("enabled = true", "enabled = false"))
    asked = tmp_path / "asked.csv"
    asked.write_text("email\ntrois@importe.example\n", encoding="utf-8")
    result = letter.run("readers", "import", str(asked), "--confirm",
                        env={"DIGEST_SECRET": SECRET})
    assert result.returncode != 0
    assert "signup.enabled is false" in result.stderr and "Traceback" not in result.stderr
    assert not (letter.root / "out" / "signups").exists()


def test_a_send_refuses_to_forget_who_was_erased(letter):
    """Without the key of the erased addresses' hashes, an erased address back in the list
    could not be recognised: the send stops rather than mail it."""
    address = "lecteur000001@lecteurs.example"
    assert letter.run("readers", "erase", address).returncode == 0
    with db(letter) as connection:
        connection.execute("DELETE FROM suppression_marks WHERE name = 'erasure-key'")
    letter.recipients(2)  # the address back in the list
    result = letter.run("send", "--date", DAY, env={"DIGEST_SECRET": SECRET})
    assert result.returncode != 0
    assert "the key of the erased addresses' hashes is missing" in result.stderr
    assert not (letter.root / "out" / DAY / "outbox").exists()


def test_the_welcome_links_the_last_edition_and_the_readers_own_preferences(letter, serve):
    letter.set_config(letter.config.read_text().replace(
        'name = "La Gazette de Test"',
        'name = "La Gazette de Test"\narchive_url = "https://gazette.example/lettre"'))
    server = serve()
    send(letter, DAY)
    address = "bienvenu@lecteurs.example"
    confirmed(letter, server, address)
    welcome = notice(letter, "welcome", address)
    text = welcome.get_body(("plain",)).get_content()
    assert f"<https://gazette.example/lettre/{DAY}.html>" in text
    url = re.search(r"<(https://lettre\.gazette\.example/preferences\?t=[^>]+)>", text).group(1)
    status, page = server.request("GET", f"{urlsplit(url).path}?{urlsplit(url).query}")
    assert status == 200 and 'name="language"' in page
