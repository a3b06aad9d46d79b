"""Readers join: the sign-up form of a real `digest serve` process, its confirmation email as the
file backend writes it, the signed confirmation link, and the abuse it withstands. Preferences,
import, export and erase: test_reader_rights.py."""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from browser import chromium
from conftest import REPO, copy_sample, run_digest, wait_until
from joining import (
    DAY,
    FORM,
    NEWSLETTER,
    NEXT,
    SECRET,
    confirmation_path,
    confirmed,
    db,
    file_name,
    joinable,
    notice,
    outbox,
    queue_empty,
    reader_row,
    relay,
    send,
    sign_up,
)
from web_server import Served

from digest.audience.signing import Signer


@pytest.fixture
def letter(newsletter):
    return joinable(newsletter)


@pytest.fixture
def serve(letter, serve_newsletter):
    return serve_newsletter


def test_a_reader_signs_up_in_chromium_and_the_next_send_reaches_him_once(letter, serve):
    server = serve()
    base = f"http://127.0.0.1:{server.port}"
    address = "zoe.martin@lecteurs.example"
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/subscribe")
        page.fill("input[name=email]", address)
        page.fill("input[name=name]", "Zoé Martin")
        page.check("input[name=consent]")
        page.click("button[type=submit]")
        page.wait_for_selector("text=un courriel de confirmation vient d’y partir")
        confirm = confirmation_path(letter, address)
        assert reader_row(letter, address)[0] == "pending"
        send(letter, DAY)  # not confirmed yet: nothing for him
        assert file_name(address) not in outbox(letter, DAY)

        page.goto(f"{base}{confirm}")  # what a link scanner would fetch too
        page.wait_for_selector("button[type=submit]")
        assert reader_row(letter, address)[0] == "pending", "a GET confirmed"
        page.click("button[type=submit]")
        page.wait_for_selector("text=C’est confirmé")
    status, source, name, version, ip_hash, confirmed_at = reader_row(letter, address)
    assert (status, source, name, version) == ("confirmed", "form", "Zoé Martin", "v2")
    assert re.fullmatch(r"[0-9a-f]{16}", ip_hash) and "127.0.0.1" not in ip_hash
    assert confirmed_at is not None
    welcome = notice(letter, "welcome", address)
    assert str(welcome["Subject"]).endswith("bienvenue")

    result = send(letter, NEXT)
    assert file_name(address) in outbox(letter, NEXT)
    assert "sent 3" in result.stderr  # the two of the list and him
    assert str(outbox(letter, NEXT)[file_name(address)]["To"]) == f"Zoé Martin <{address}>"

    # signing up again: no second confirmation, no second copy of the edition
    before = (letter.root / "out/signups/confirm" / file_name(address)).stat().st_mtime_ns
    assert sign_up(server, address, "Quelqu'un d'autre")[0] == 200
    wait_until(lambda: queue_empty(letter), 30, "the sign-up handled")
    assert (letter.root / "out/signups/confirm" / file_name(address)).stat().st_mtime_ns == before
    assert reader_row(letter, address)[2] == "Zoé Martin", "a sign-up changed a confirmed reader"
    again = send(letter, NEXT)
    assert "already sent to all 3 readers" in again.stdout


def test_the_sample_newsletter_takes_sign_ups(tmp_path):
    root = copy_sample(tmp_path / "sample")
    server = Served(root)
    try:
        status, body = server.request("GET", "/subscribe")
        assert status == 200
        assert 'name="email"' in body and 'name="consent"' in body and "M’inscrire" in body
        assert 'lang="fr"' in body
    finally:
        server.stop()


def forgeries(token: str) -> list[str]:
    """Every character changed, cut, extended, and a token of another secret."""
    alphabet = "AbZz09_-."
    changed = [token[:i] + next(c for c in alphabet if c != token[i]) + token[i + 1:]
               for i in range(len(token))]
    nonce, expires, mac = token.split(".")
    return [*changed, token[:-1], token + "A", f"{nonce}.{expires}", f"{nonce}..{mac}",
            f"{nonce}.{int(expires) + 86400}.{mac}", f"{nonce}.0{expires}.{mac}", "",
            Signer(NEWSLETTER, ["another-secret-0123456789"]).confirmation_token(nonce,
                                                                                time.time()),
            Signer("https://other.example", [SECRET]).confirmation_token(nonce, time.time()),
            token.replace(".", "-"), "%20" + token, token * 2]


def test_forged_expired_or_altered_confirmation_links_confirm_no_one(letter, serve):
    server = serve()
    address = "prudence@lecteurs.example"
    assert sign_up(server, address)[0] == 200
    path = confirmation_path(letter, address)
    token = path.split("t=", 1)[1]
    nonce = token.split(".")[0]
    expired = Signer(NEWSLETTER, [SECRET]).confirmation_token(nonce, time.time() - 8 * 86400)
    tried = [*forgeries(token), expired]
    assert len(tried) > 60
    for forged in tried:
        for method in ("GET", "POST"):
            status, body = server.request(method, f"/subscribe/confirm?t={forged}", b"", FORM)
            assert status == 400, (forged, method)
            assert "pas valable" in body and address not in body
    assert reader_row(letter, address)[0] == "pending"
    for _ in range(3):  # as many GETs as a scanner likes
        assert server.request("GET", path)[0] == 200
    assert reader_row(letter, address)[0] == "pending"
    assert server.request("POST", path, b"", FORM)[0] == 200
    assert reader_row(letter, address)[0] == "confirmed"
    log = server.stop()
    assert address not in log


def test_the_answer_to_a_sign_up_says_nothing_of_the_address(letter, serve):
    """New, pending, confirmed and suppressed addresses: the same status, headers and body (and
    for JSON too), in about the same time."""
    server = serve()
    pending, confirmed_address = "attente@lecteurs.example", "fidele@lecteurs.example"
    suppressed = "lecteur000000@lecteurs.example"  # on the list, then left
    assert sign_up(server, pending)[0] == 200
    confirmed(letter, server, confirmed_address)
    assert letter.run("suppressions", "add", suppressed).returncode == 0
    wait_until(lambda: queue_empty(letter), 30, "the sign-ups handled")

    def answer(address: str, accept: str = "text/html") -> tuple:
        connection_headers = {**FORM, "Accept": accept}
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        body = urlencode({"email": address, "consent": "yes"}).encode()
        connection.request("POST", "/subscribe", body,
                           {"Host": f"127.0.0.1:{server.port}", **connection_headers})
        response = connection.getresponse()
        headers = sorted((k, v) for k, v in response.getheaders() if k.lower() != "date")
        result = (response.status, headers, response.read())
        connection.close()
        return result

    states = {"new": "nouveau@lecteurs.example", "pending": pending,
              "confirmed": confirmed_address, "suppressed": suppressed}
    for accept in ("text/html", "application/json"):
        answers = {state: answer(address, accept) for state, address in states.items()}
        assert answers["new"][0] == 200
        assert len({repr(a) for a in answers.values()}) == 1, answers

    times: dict[str, list[float]] = {state: [] for state in states}
    for round in range(15):
        for state, address in states.items():
            started = time.perf_counter()
            answer(address if state != "new" else f"nouveau{round}@lecteurs.example")
            times[state].append(time.perf_counter() - started)
    medians = {state: statistics.median(values) for state, values in times.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest - fastest < max(0.010, fastest), medians


def test_three_confirmations_per_address_a_day_and_a_rate_per_client(letter, serve):
    letter.set_config(letter.config.read_text().replace("per_client_per_hour = 1000",
                                                        "per_client_per_hour = 6"))
    server = serve()
    address = "insistant@lecteurs.example"
    for _ in range(5):
        assert sign_up(server, address)[0] == 200
    wait_until(lambda: queue_empty(letter), 30, "the sign-ups handled")
    with db(letter) as connection:
        sent = connection.execute("SELECT COUNT(*) FROM confirmations_sent WHERE email = ?",
                                  (address,)).fetchone()[0]
    assert sent == 3
    assert sign_up(server, "sixieme@lecteurs.example")[0] == 200
    status, body = sign_up(server, "septieme@lecteurs.example")
    assert status == 429 and "Trop d’inscriptions" in body
    # behind a reverse proxy on this machine, each reader is his own client
    body = urlencode({"email": "proxy@lecteurs.example", "consent": "yes"}).encode()
    assert server.request("POST", "/subscribe", body,
                          {**FORM, "X-Forwarded-For": "203.0.113.9"})[0] == 200
    log = server.stop()
    assert log.count("daily limit of confirmation emails reached") == 2
    assert address not in log


def test_robots_bad_input_and_strange_hosts_are_turned_away(letter, serve):
    server = serve()
    status, honest = sign_up(server, "humain@lecteurs.example")
    status_trap, trapped = sign_up(server, "robot@lecteurs.example", website="http://spam")
    assert (status_trap, trapped) == (status, honest) == (200, honest)
    no_consent = urlencode({"email": "presse@lecteurs.example"}).encode()
    assert server.request("POST", "/subscribe", no_consent, FORM)[0] == 400
    assert sign_up(server, "pas-une-adresse")[0] == 400
    assert sign_up(server, "x" * 400 + "@lecteurs.example")[0] == 400
    huge = urlencode({"email": "gros@lecteurs.example", "consent": "yes",
                      "name": "x" * 40_000}).encode()
    assert server.request("POST", "/subscribe", huge, FORM)[0] == 413
    assert server.request("GET", "/subscribe", host="evil.example")[0] == 400
    assert sign_up(server, "sur@lecteurs.example")[0] == 200
    wait_until(lambda: queue_empty(letter), 30, "the sign-ups handled")
    with db(letter) as connection:
        keys = {key for (key,) in connection.execute("SELECT email FROM pending_signups")}
    assert keys == {"humain@lecteurs.example", "sur@lecteurs.example"}


def test_sign_ups_never_confirmed_go_after_thirty_days(letter, serve):
    server = serve()
    assert sign_up(server, "oublieux@lecteurs.example")[0] == 200
    assert sign_up(server, "recent@lecteurs.example")[0] == 200
    wait_until(lambda: queue_empty(letter), 30, "the sign-ups handled")
    server.stop()
    with db(letter) as connection:
        connection.execute("UPDATE pending_signups SET signed_up_at = signed_up_at - 31 * 86400"
                           " WHERE email = 'oublieux@lecteurs.example'")
    serve()  # the worker deletes them when it starts, then every hour
    wait_until(lambda: reader_row(letter, "oublieux@lecteurs.example") is None, 30,
               "the old sign-up deleted")
    assert reader_row(letter, "recent@lecteurs.example")[0] == "pending"


def test_json_sign_up_from_the_newsrooms_own_site(letter, serve):
    server = serve()
    site = {"Origin": NEWSLETTER, "Accept": "application/json"}
    status, _ = server.request("OPTIONS", "/subscribe", headers={
        **site, "Access-Control-Request-Method": "POST"})
    assert status == 204
    body = json.dumps({"email": "site@lecteurs.example", "consent": True,
                       "name": "Depuis le site"}).encode()
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", "/subscribe", body, {
        "Host": f"127.0.0.1:{server.port}", "Content-Type": "application/json", **site})
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200 and answer["status"] == "ok"
    assert response.getheader("Access-Control-Allow-Origin") == NEWSLETTER
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", "/subscribe", body, {
        "Host": f"127.0.0.1:{server.port}", "Content-Type": "application/json",
        "Origin": "https://evil.example", "Accept": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.getheader("Access-Control-Allow-Origin") is None
    connection.close()
    notice(letter, "confirm", "site@lecteurs.example")


def test_init_writes_the_sign_up_keys(tmp_path):
    result = run_digest("init", str(tmp_path / "lettre"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "lettre" / "digest.toml").read_text(encoding="utf-8")
    assert "[signup]" in config and "enabled = true" in config
    assert "per_client_per_hour" in config
    assert (REPO / "templates" / "confirm.html.j2").is_file()
    assert Path(REPO / "templates" / "welcome.txt.j2").is_file()


def test_readers_choose_among_the_configured_sections(letter, serve):
    letter.add_config("""
        [sections.ville]
        label = "La ville"
        categories = ["Ville"]

        [sections.sport]
        categories = ["Sport"]
        """)
    server = serve()
    form = server.request("GET", "/subscribe")[1]
    assert 'value="ville"' in form and "La ville" in form and 'value="sport"' in form
    address = "sportif@lecteurs.example"
    assert sign_up(server, address, sections=["sport", "inconnue", "sport"])[0] == 200
    wait_until(lambda: reader_row(letter, address) is not None, 30, "the sign-up recorded")
    with db(letter) as connection:
        (sections,) = connection.execute("SELECT sections FROM pending_signups WHERE email = ?",
                                         (address,)).fetchone()
    assert sections == "sport"


def test_a_section_name_must_be_one_a_list_can_hold(letter):
    letter.add_config("""
        [sections."la ville"]
        label = "La ville"
        """)
    result = letter.run("check")
    assert result.returncode != 0
    assert "digest.toml:" in result.stdout
    assert "sections: section name 'la ville': use letters, digits" in result.stdout


def test_sign_ups_wait_while_the_relay_is_down_and_each_gets_one_email(letter, serve):
    from test_send_smtp import Inbox

    inbox = Inbox()
    with relay(letter, inbox):
        inbox.rcpt_reply = "451 4.3.0 Try again later"  # the relay turns everyone away
        server = serve()
        assert sign_up(server, "patient@lecteurs.example")[0] == 200
        wait_until(lambda: "tried again later" in server.log_path.read_text(), 30,
                   "the refused confirmation logged")
        assert not queue_empty(letter), "a sign-up the relay did not take was dropped"
        inbox.rcpt_reply = None
        with db(letter) as connection:  # as if its wait were over
            connection.execute("UPDATE signup_requests SET retry_at = 0")
        assert sign_up(server, "suivant@lecteurs.example")[0] == 200
        wait_until(lambda: len(inbox.messages) >= 2 and queue_empty(letter), 30,
                   "both confirmations delivered")
        assert sorted(inbox.recipients()) == ["patient@lecteurs.example",
                                              "suivant@lecteurs.example"]
        confirmation = inbox.message_to("patient@lecteurs.example")
        assert "/subscribe/confirm?t=" in confirmation.get_body(("plain",)).get_content()


def test_check_reports_a_sign_up_without_an_address_and_a_broken_confirmation(letter):
    letter.set_config(letter.config.read_text().replace(
        'unsubscribe_url = "https://lettre.gazette.example/unsubscribe?t={unsubscribe_token}"',
        ""))
    templates = letter.root / "templates"
    templates.mkdir()
    (templates / "confirm.txt.j2").write_text("{{ labels.confirm_intro.format(\n",
                                              encoding="utf-8")
    result = letter.run("check")
    assert result.returncode != 0
    assert "signup.url: the confirmation links need the public address" in result.stdout
    assert "templates/confirm.txt.j2:" in result.stdout
    with pytest.raises(AssertionError, match="error: digest.toml: signup.url: the confirmation"):
        Served(letter.root)


def test_an_address_the_relay_keeps_deferring_holds_up_no_one(letter, serve):
    """A greylisted or odd address waits longer and longer; the others' confirmations go, and
    no log line holds an address, not even in the relay's own words."""
    from test_send_smtp import Inbox

    class Deferring(Inbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("lent"):
                return f"450 <{address}>: greylisted, try again later"
            return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    inbox = Deferring()
    with relay(letter, inbox):
        server = serve()
        for address in ("lent@lecteurs.example", "un@lecteurs.example", "deux@lecteurs.example"):
            assert sign_up(server, address)[0] == 200
        wait_until(lambda: sorted(inbox.recipients()) == ["deux@lecteurs.example",
                                                          "un@lecteurs.example"], 30,
                   "the others' confirmations delivered")
        with db(letter) as connection:
            attempts, retry_at = connection.execute(
                "SELECT attempts, retry_at FROM signup_requests").fetchone()
        assert attempts == 1 and retry_at > time.time() + 30
        log = server.stop()
        assert "greylisted" in log and "@" not in log.replace("<address>", "")


def test_the_link_a_reader_clicks_records_his_own_choices(letter, serve):
    """Someone posting the reader's address again, with other choices, changes nothing of what
    the reader's own link records."""
    letter.add_config("""
        [sections.ville]
        label = "La ville"

        [sections.sport]
        label = "Sport"
        """)
    server = serve()
    address = "victime@lecteurs.example"
    assert sign_up(server, address, "Alice", sections=["ville"])[0] == 200
    own = confirmation_path(letter, address)
    assert sign_up(server, address.upper(), "Quelqu'un d'autre", sections=["sport"])[0] == 200
    notice(letter, "confirm", "VICTIME@lecteurs.example")  # the domain normalised
    assert server.request("POST", own, b"", FORM)[0] == 200
    with db(letter) as connection:
        row = connection.execute("SELECT address, name, sections FROM readers").fetchone()
        waiting = connection.execute("SELECT COUNT(*) FROM pending_signups"
                                     " WHERE confirmed_at IS NULL").fetchone()[0]
    assert row == (address, "Alice", "ville") and waiting == 0
    assert server.request("POST", own, b"", FORM)[0] == 200  # clicked twice: the same


def test_nested_json_is_a_bad_request_not_a_crash(letter, serve):
    server = serve()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    for path in ("/subscribe", "/subscribe/confirm?t=x", "/preferences?t=x"):
        status, _ = server.request("POST", path, b"[" * 5000, headers)
        assert status in (400, 200) and status != 500, path
    assert "Traceback" not in server.stop()


def test_a_server_stopped_with_sign_ups_waiting_leaves_them_to_the_next_one(letter, serve):
    """SIGTERM in the middle of a backlog: the server stops at once, the sign-ups it had not
    handled are left unclaimed, and the next server sends each of them exactly one email."""
    from test_send_smtp import Inbox

    inbox = Inbox()
    with relay(letter, inbox):
        server = serve()
        addresses = [f"file{i:03d}@lecteurs.example" for i in range(300)]
        for address in addresses:
            assert sign_up(server, address)[0] == 200
        wait_until(lambda: len(inbox.messages) >= 10, 30, "the first confirmations")
        started = time.monotonic()
        log = server.stop()
        assert time.monotonic() - started < 10
        assert "damaged" not in log and "Traceback" not in log
        with db(letter) as connection:
            claimed = connection.execute("SELECT COUNT(*) FROM signup_requests"
                                         " WHERE claimed_at IS NOT NULL").fetchone()[0]
        assert claimed == 0
        assert not queue_empty(letter), "no backlog left when the server stopped"
        serve()
        wait_until(lambda: queue_empty(letter) and len(inbox.messages) >= len(addresses), 60,
                   "every confirmation delivered")
        assert sorted(inbox.recipients()) == addresses
