"""Readers leave with one click: signed links, `digest serve` in a real process on 127.0.0.1,
and the next send that skips them."""

import base64
import csv
import email
import hashlib
import hmac
import shutil
import subprocess
import threading
from email import policy
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from conftest import TOKEN_LINK
from web_server import SECRET

from digest.audience.signing import Signer
from digest.state import State

DAY, NEXT = "2025-04-22", "2025-04-23"
NEWSLETTER = "https://gazette.example"  # newsletter.url of the test folder
LINK = TOKEN_LINK


@pytest.fixture
def letter(newsletter):
    newsletter.sign_links()
    newsletter.article("une", "Un article pour les lecteurs. " * 30, title="La une", lead=True)
    newsletter.article("suite", "Le lendemain. " * 30, title="Le lendemain", lead=True,
                       date="2025-04-23T08:00:00+02:00")
    newsletter.readers = newsletter.recipients(3)
    return newsletter


@pytest.fixture
def serve(letter, serve_newsletter):
    return serve_newsletter


def send(letter, day=DAY, secret=SECRET, **env):
    result = letter.run("send", "--date", day, env={"DIGEST_SECRET": secret, **env})
    assert result.returncode == 0, result.stderr
    return result


def outbox(letter, day=DAY) -> dict[str, email.message.EmailMessage]:
    folder = letter.root / "out" / day / "outbox"
    return {path.name.removesuffix(".eml"): email.message_from_bytes(path.read_bytes(),
                                                                     policy=policy.default)
            for path in folder.glob("*.eml")}


def link_path(message) -> str:
    """The path and query of the List-Unsubscribe link, as a mail client would POST it."""
    header = str(message["List-Unsubscribe"])
    url = header.split("<", 1)[1].split(">", 1)[0]
    parts = urlsplit(url)
    assert parts.netloc == "lettre.gazette.example"
    return f"{parts.path}?{parts.query}"


def suppressed_rows(letter) -> list[dict]:
    path = letter.root / "unsubscribed.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_one_click_post_suppresses_the_reader_and_the_next_send_skips_him(letter, serve):
    send(letter)
    first, second, third = letter.readers
    message = outbox(letter)[first]
    path = link_path(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first not in path and "%40" not in path  # no address in clear in the link
    assert path in message.get_body(("html",)).get_content()  # the footer's link, the same

    server = serve()
    status, page = server.one_click(path)
    assert status == 200
    assert "vous ne recevrez plus La Gazette de Test" in page and first not in page
    rows = suppressed_rows(letter)
    assert [(r["email"], r["kind"], r["source"], r["reason"]) for r in rows] == [
        (first, "unsubscribed", "link", "one-click")]
    assert rows[0]["edition"].startswith(f"{DAY}-")

    again, _ = server.one_click(path)
    assert again == 200  # already unsubscribed: the same answer
    assert len(suppressed_rows(letter)) == 1

    send(letter, NEXT)
    assert sorted(outbox(letter, NEXT)) == [second, third]
    status_line = letter.run("status", "--date", DAY).stdout
    assert "unsubscribed 1" in status_line and "bounced 0, complained 0" in status_line
    log = server.stop()
    assert "reader " in log and "suppressed" in log
    assert not any(address in log for address in letter.readers)


def test_the_page_s_button_unsubscribes_but_a_get_alone_does_not(letter, serve):
    send(letter)
    first = letter.readers[0]
    path = link_path(outbox(letter)[first])
    server = serve()
    for _ in range(3):  # scanners and previews follow links, sometimes more than once
        status, page = server.request("GET", path)
        assert status == 200
    assert '<html lang="fr">' in page and "Ne plus recevoir La Gazette de Test" in page
    assert '<form method="post" action="?t=' in page and "Me désabonner</button>" in page
    assert first not in page
    assert suppressed_rows(letter) == []
    assert "0 suppressed addresses" in letter.run("suppressions", "list").stderr

    token = path.split("?t=", 1)[1]
    status, page = server.request("POST", "/unsubscribe", f"t={token}".encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert [(r["email"], r["reason"]) for r in suppressed_rows(letter)] == [
        (first, "unsubscribe page")]


def hand_out(letter, tokens: dict[str, str]) -> None:
    """Keep tokens in the state database as a send does: {token: address}."""
    state = State(letter.root / ".digest" / "state.db")
    state.tokens.add(tokens.items())
    state.close()


def address_token(address: str, secret: str = SECRET, newsletter: str = NEWSLETTER) -> str:
    """A token as earlier releases made them: the address in base64url, a dot, the whole MAC."""
    def encode(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    mac = hmac.new(secret.encode(), b"digest unsubscribe\0" + newsletter.encode() + b"\0"
                   + address.encode(), hashlib.sha256).digest()
    return f"{encode(address.encode())}.{encode(mac)}"


def one_character_changed(token: str, name: str) -> dict[str, str]:
    return {f"{name}, character {index} changed": token[:index] + ("B" if c == "A" else "A")
            + token[index + 1:] for index, c in enumerate(token) if c != "."}


def forged_tokens(letter, address: str, other: str) -> dict[str, str]:
    valid = Signer(NEWSLETTER, [SECRET]).token(address)
    another_secret = Signer(NEWSLETTER, ["another-secret-of-32-characters"]).token(address)
    another_newsletter = Signer("https://autre.example", [SECRET]).token(address)
    # kept as if handed out: the signature is checked all the same
    hand_out(letter, {valid: address, another_secret: address, another_newsletter: address})
    earlier = address_token(address)
    payload, signature = earlier.split(".")
    return {
        "signed with another secret": another_secret,
        "signed for another newsletter": another_newsletter,
        "never handed out": Signer(NEWSLETTER, [SECRET]).token(other),
        "empty": "",
        "not base64": "<script>alert(1)</script>",
        **one_character_changed(valid, "a token"),
        "an earlier link, another address's signature":
            f"{address_token(other).split('.')[0]}.{signature}",
        "an earlier link, another secret": address_token(address, "another-secret-of-32-chars"),
        "an earlier link, no signature": payload,
        "an earlier link, not base64": "<script>alert(1)</script>." + signature,
        **one_character_changed(earlier, "an earlier link"),
    }


def test_forged_tokens_get_400_and_change_nothing(letter, serve):
    first, second, _ = letter.readers
    server = serve()
    for name, token in forged_tokens(letter, first, second).items():
        for method in ("GET", "POST"):
            status, page = server.one_click(f"/unsubscribe?t={token}") if method == "POST" \
                else server.request("GET", f"/unsubscribe?t={token}")
            assert status == 400, (name, method)
            assert "lien de désabonnement n’est pas valable" in page or \
                "lien de désabonnement n'est pas valable" in page, name
            assert first not in page and second not in page and "<form" not in page
    assert suppressed_rows(letter) == []
    assert not (letter.root / "unsubscribed.csv").exists()
    log = server.stop()
    assert "refused a bad token" in log and first not in log


def test_links_of_earlier_releases_still_unsubscribe(letter, serve):
    """Their token carries the address and needs no database."""
    first = letter.readers[0]
    server = serve()
    assert server.one_click(f"/unsubscribe?t={address_token(first)}")[0] == 200
    assert [r["email"] for r in suppressed_rows(letter)] == [first]


def test_a_token_is_short_and_the_same_for_a_reader_in_every_edition(letter):
    send(letter)
    send(letter, NEXT)
    first = letter.readers[0]
    links = [link_path(outbox(letter, day)[first]) for day in (DAY, NEXT)]
    assert links[0] == links[1]
    token = links[0].split("?t=", 1)[1]
    assert len(token) == 16 and token.replace("-", "").replace("_", "").isalnum()
    for message in outbox(letter).values():  # the header fits the line RFC 5322 asks for
        assert all(len(line) <= 78 for line in message.as_bytes().split(b"\n"))


def test_after_a_rotation_both_secrets_work_then_only_the_new_one(letter, serve):
    old, new = SECRET, "the-new-secret-0123456789-abcdefgh"
    send(letter, secret=old)
    first, second, third = letter.readers
    old_links = {address: link_path(message) for address, message in outbox(letter).items()}

    rotating = serve(DIGEST_SECRET=new, DIGEST_SECRET_PREVIOUS=old)
    assert rotating.one_click(old_links[first])[0] == 200
    send(letter, NEXT, secret=new)
    new_link = link_path(outbox(letter, NEXT)[second])
    assert new_link != old_links[second]
    assert rotating.one_click(new_link)[0] == 200
    rotating.stop()

    rotated = serve(DIGEST_SECRET=new)
    assert rotated.one_click(old_links[third])[0] == 400
    assert {r["email"] for r in suppressed_rows(letter)} == {first, second}


def test_requests_for_another_host_method_or_size_are_refused(letter, serve):
    first = letter.readers[0]
    token = Signer(NEWSLETTER, [SECRET]).token(first)
    hand_out(letter, {token: first})
    path = f"/unsubscribe?t={token}"
    server = serve()
    assert server.request("GET", path, host="lettre.gazette.example")[0] == 200
    assert server.request("GET", path, host="LETTRE.gazette.example:443")[0] == 200
    assert server.request("GET", path, host="localhost:8080")[0] == 200
    for host in ("evil.example", "lettre.gazette.example.evil.example", "127.0.0.1:80:80", ""):
        assert server.request("GET", path, host=host)[0] == 400, host
        assert server.one_click(path, host=host)[0] == 400, host
    assert server.request("PUT", path)[0] == 405
    assert server.request("GET", "/sendgrid/events")[0] == 405
    for listing in ("/", "/unsubscribed.csv", "/recipients.csv", "/suppressions",
                    "/../digest.toml"):
        assert server.request("GET", listing)[0] == 404, listing
    status, _ = server.request("POST", path, b"List-Unsubscribe=One-Click&x=" + b"y" * 100_000,
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    assert suppressed_rows(letter) == []  # none of these unsubscribed anyone
    log = server.stop()
    assert "refused a request for host 'evil.example'" in log


def test_500_one_click_posts_from_8_clients_lose_none(letter, serve):
    readers = letter.recipients(500)
    signer = Signer(NEWSLETTER, [SECRET])
    tokens = {signer.token(address): address for address in readers}
    hand_out(letter, tokens)
    paths = [f"/unsubscribe?t={token}" for token in tokens]
    server = serve()
    statuses: list[int] = []
    lock = threading.Lock()

    def client(share: list[str]) -> None:
        connection = HTTPConnection("127.0.0.1", server.port, timeout=60)  # kept alive
        for path in share:
            connection.request("POST", path, body=b"List-Unsubscribe=One-Click", headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        connection.close()

    threads = [threading.Thread(target=client, args=(paths[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 500
    rows = suppressed_rows(letter)  # csv parses it: one row per reader, header included
    assert sorted(r["email"] for r in rows) == sorted(readers)
    assert all(r["kind"] == "unsubscribed" for r in rows)
    listed = letter.run("suppressions", "list")
    assert "500 suppressed addresses" in listed.stderr
    assert not list(letter.root.glob(".unsubscribed.csv.*"))  # no temporary file left behind


# -- configuration and the command line ---------------------------------------------------------

def test_a_link_with_a_token_needs_the_secret_before_anything_is_built(letter):
    result = letter.run("send", "--date", DAY, env={"DIGEST_SECRET": ""})
    assert result.returncode == 78
    assert "DIGEST_SECRET is not set" in result.stderr and "Traceback" not in result.stderr
    assert not (letter.root / "out").exists()
    short = letter.run("send", "--date", DAY, env={"DIGEST_SECRET": "short"})
    assert short.returncode == 78 and "too short" in short.stderr and "short" in short.stderr
    served = letter.run("serve", "--port", "0", env={"DIGEST_SECRET": ""})
    assert served.returncode == 78 and "DIGEST_SECRET is not set" in served.stderr


def test_check_warns_about_an_address_in_clear_in_the_link(newsletter):
    newsletter.article("une", "Un article. " * 30, title="La une", lead=True,
                       summary="Un résumé assez long pour que l'aperçu des boîtes de réception "
                               "ne soit pas complété par le texte du corps.")
    lines = newsletter.run("check").stdout.splitlines()
    assert any(line.startswith("digest.toml:16: delivery.unsubscribe_url: {email} lets anyone "
                               "unsubscribe anyone") for line in lines), lines
    newsletter.sign_links()
    assert not any("unsubscribe_url" in line
                   for line in newsletter.run("check").stdout.splitlines())


def test_sendgrid_s_own_page_needs_sendgrid_and_a_group(letter):
    letter.set_config(letter.config.read_text().replace(LINK, "{asm_unsubscribe_url}"))
    result = letter.run("send", "--date", DAY)
    assert result.returncode == 78
    assert "{asm_unsubscribe_url} is SendGrid's page" in result.stderr


@pytest.mark.skipif(shutil.which("spamassassin") is None, reason="Debian's spamassassin")
def test_a_reader_s_copy_scores_no_custom_html_uri_in_spamassassin(letter):
    send(letter)
    signed = next(iter((letter.root / "out" / DAY / "outbox").glob("*.eml"))).read_bytes()

    def rules(message: bytes) -> str:
        result = subprocess.run(["spamassassin", "-L", "-t"], input=message, capture_output=True,
                                timeout=120, check=False)
        assert b"Content analysis details" in result.stdout, result.stderr[-500:]
        return result.stdout.decode("utf-8", "replace").split("Content analysis details", 1)[1]

    assert "GB_CUSTOM_HTM_URI" not in rules(signed)
    # the same email with the address in clear, as before: the rule does fire, so the test can fail
    letter.set_config(letter.config.read_text().replace(
        LINK, "https://lettre.gazette.example/desabonnement?email={email}"))
    shutil.rmtree(letter.root / "out")
    send(letter, "2025-04-23")
    clear = next(iter((letter.root / "out" / NEXT / "outbox").glob("*.eml"))).read_bytes()
    assert "GB_CUSTOM_HTM_URI" in rules(clear)


def test_init_tells_how_to_set_the_secret(tmp_path):
    from conftest import run_digest

    result = run_digest("init", "lettre", cwd=tmp_path)
    assert "DIGEST_SECRET" in result.stdout and "secrets.token_urlsafe(32)" in result.stdout
    config = (tmp_path / "lettre" / "digest.toml").read_text()
    assert "?t={unsubscribe_token}" in config and "DIGEST_SECRET" in config
