"""`digest send` through SendGrid: a real HTTP server on 127.0.0.1 speaking SendGrid's API."""

import sqlite3

import pytest
from fake_sendgrid import API_KEY
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture
def letter(newsletter, sendgrid):
    newsletter.article("une", "Un article pour les lecteurs. " * 30, title="La une du jour",
                       lead=True)
    newsletter.article("deux", title="Deuxième nouvelle")
    newsletter.add_config(f"""\
        [delivery.sendgrid]
        api_url = "{sendgrid.url}"
        categories = ["quotidien"]
        timeout = 5
        """)
    return newsletter


def send(letter, *args, key=API_KEY):
    env = {"SENDGRID_API_KEY": key} if key is not None else {"SENDGRID_API_KEY": ""}
    return letter.run("send", "--date", "2025-04-22", "--backend", "sendgrid", *args, env=env)


def assert_no_secret(letter, *results):
    for result in results:
        assert API_KEY not in result.stdout and API_KEY not in result.stderr
    for path in letter.root.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


def test_each_reader_gets_one_personalization_in_batches_of_at_most_1000(letter, sendgrid):
    addresses = letter.recipients(2500)
    result = send(letter)
    assert result.returncode == 0, result.stderr
    assert [len(b["personalizations"]) for b in sendgrid.accepted] == [1000, 1000, 500]
    assert sorted(sendgrid.recipients()) == addresses
    for body in sendgrid.accepted:
        assert all(len(p["to"]) == 1 for p in body["personalizations"])
    assert sendgrid.rejected == []
    assert "sent 2500, skipped 0, failed 0, unknown 0 (sendgrid" in result.stdout
    assert_no_secret(letter, result)
    # the batches share one connection: no new handshake per batch
    assert len(sendgrid.connections) == 3 and len(set(sendgrid.connections)) == 1


def test_request_carries_what_sendgrid_needs(letter, sendgrid):
    letter.recipients(0, extra='nadia@lecteurs.example,"Chérif, Nadia"\n')
    assert send(letter).returncode == 0
    (body,) = sendgrid.accepted
    (person,) = body["personalizations"]
    assert person["to"] == [{"email": "nadia@lecteurs.example", "name": '"Chérif, Nadia"'}]
    link = "https://gazette.example/desabonnement?email=nadia%40lecteurs.example"
    assert person["headers"] == {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert person["substitutions"] == {"%unsubscribe_url%": link}
    assert body["from"] == {"email": "redaction@gazette.example", "name": "La rédaction"}
    assert body["subject"] == "La une du jour"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "%unsubscribe_url%" in body["content"][1]["value"]  # SendGrid substitutes it per reader
    assert body["categories"] == ["quotidien", "digest"]
    assert set(body["custom_args"]) == {"edition", "newsletter"}
    assert all(isinstance(v, str) for v in body["custom_args"].values())
    assert body["custom_args"]["edition"].startswith("2025-04-22-")


def test_second_run_sends_nothing_and_says_so(letter, sendgrid):
    letter.recipients(30)
    first = send(letter)
    second = send(letter)
    assert first.returncode == second.returncode == 0
    assert len(sendgrid.recipients()) == 30
    assert "already sent to all 30 readers; nothing to do" in second.stdout


def test_force_sends_a_new_copy_to_everyone(letter, sendgrid):
    letter.recipients(5)
    send(letter)
    result = send(letter, "--force")
    assert result.returncode == 0
    assert len(sendgrid.recipients()) == 10
    assert "sent 5" in result.stdout


def test_changed_content_after_a_send_is_not_sent_again_without_force(letter, sendgrid):
    letter.recipients(5)
    send(letter)
    letter.article("trois", title="Ajout tardif")
    result = send(letter)
    assert result.returncode == 1
    assert "already sent to 5 readers with other content" in result.stderr
    assert len(sendgrid.recipients()) == 5


def test_invalid_duplicate_and_suppressed_readers(letter, sendgrid):
    letter.recipients(3, extra="pas-une-adresse,X\nLECTEUR000001@lecteurs.example,Doublon\n"
                               "parti@lecteurs.example,Parti\n")
    (letter.root / "unsubscribed.csv").write_text("email\nParti@lecteurs.example\n")
    result = send(letter)
    assert result.returncode == 0
    assert sorted(sendgrid.recipients()) == [f"lecteur{i:06d}@lecteurs.example" for i in range(3)]
    assert 'warning: recipients.csv:5: invalid address "pas-une-adresse"' in result.stderr
    assert ("warning: recipients.csv:6: LECTEUR000001@lecteurs.example is already on line 3; "
            "sent once" in result.stderr)


def test_to_sends_one_test_copy_and_records_nothing(letter, sendgrid):
    letter.recipients(10)
    result = send(letter, "--to", "redac@gazette.example")
    assert result.returncode == 0, result.stderr
    assert sendgrid.recipients() == ["redac@gazette.example"]
    assert "test copy to redac@gazette.example" in result.stdout
    assert send(letter).returncode == 0
    assert len(sendgrid.recipients()) == 11  # the test copy did not count as a send


def test_dry_run_calls_nothing(letter, sendgrid):
    letter.recipients(2100)
    result = send(letter, "--dry-run")
    assert result.returncode == 0
    assert sendgrid.requests == 0
    assert "would send to 2100 readers in 3 batches (sendgrid)" in result.stdout
    assert "subject: La une du jour" in result.stdout


def test_missing_api_key_is_a_configuration_error(letter, sendgrid):
    letter.recipients(3)
    result = send(letter, key=None)
    assert result.returncode == 78
    assert "SENDGRID_API_KEY is not set" in result.stderr
    assert sendgrid.requests == 0


def test_rate_limit_is_retried_after_retry_after(letter, sendgrid):
    letter.recipients(5)
    sendgrid.answer(429, {"Retry-After": "1"}, {"errors": [{"message": "too many requests"}]})
    result = send(letter)
    assert result.returncode == 0, result.stderr
    assert sendgrid.requests == 2
    assert len(sendgrid.recipients()) == 5
    # a retry does not use the connection again: the server may be closing it
    first, retried = sendgrid.connections
    assert first != retried


def test_server_errors_are_retried_then_given_up_with_exit_75(letter, sendgrid):
    letter.add_config("")  # keep defaults: 5 attempts
    letter.recipients(5)
    for _ in range(2):
        sendgrid.answer(500, {"Retry-After": "0"})
    assert send(letter).returncode == 0
    assert sendgrid.requests == 3

    letter.article("trois", title="Autre jour", date="2025-04-23T08:00:00+02:00")
    for _ in range(5):
        sendgrid.answer(503, {"Retry-After": "0"})
    result = letter.run("send", "--date", "2025-04-23", "--backend", "sendgrid",
                        env={"SENDGRID_API_KEY": API_KEY})
    assert result.returncode == 75
    assert "SendGrid failed a batch of 5 5 times (last: HTTP 503); run again later" in result.stderr
    # the readers are marked failed, so the next run sends to them
    again = letter.run("send", "--date", "2025-04-23", "--backend", "sendgrid",
                       env={"SENDGRID_API_KEY": API_KEY})
    assert again.returncode == 0 and "sent 5" in again.stdout


def test_bad_request_stops_with_sendgrid_own_words(letter, sendgrid):
    letter.recipients(5)
    sendgrid.answer(400, body={"errors": [{
        "message": "The from address does not match a verified Sender Identity.",
        "field": "from"}]})
    result = send(letter)
    assert result.returncode == 1
    assert ('SendGrid refused a batch of 5 (HTTP 400): "from: The from address does not match '
            'a verified Sender Identity."' in result.stderr)
    assert sendgrid.requests == 1
    assert "failed 5" in result.stdout
    fixed = send(letter)
    assert fixed.returncode == 0 and "sent 5" in fixed.stdout


def test_wrong_api_key_is_reported_without_printing_it(letter, sendgrid):
    letter.recipients(2)
    result = send(letter, key="SG.wrong")
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr and "SG.wrong" not in result.stderr + result.stdout


def test_a_hanging_server_leaves_the_batch_unknown(letter, sendgrid):
    letter.add_config("")
    letter.set_config(letter.config.read_text().replace("timeout = 5", "timeout = 1"))
    letter.recipients(4)
    sendgrid.hang_seconds = 3
    result = send(letter)
    assert result.returncode == 75
    assert "may have been accepted" in result.stderr
    assert "unknown 4" in result.stdout
    sendgrid.hang_seconds = 0
    again = send(letter)
    assert again.returncode == 0
    assert "4 unknown (use --resend-unknown)" in again.stdout
    assert sendgrid.recipients() == []
    status = letter.run("status", "--date", "2025-04-22")
    assert "sent 0, failed 0, refused 0, unknown 4, remaining 0" in status.stdout
    resent = send(letter, "--resend-unknown")
    assert resent.returncode == 0 and "sent 4" in resent.stdout
    assert len(sendgrid.recipients()) == 4


def test_ledger_records_message_ids(letter, sendgrid):
    letter.recipients(3)
    send(letter)
    db = sqlite3.connect(letter.root / ".digest" / "state.db")
    rows = db.execute("SELECT status, provider_id FROM deliveries").fetchall()
    assert len(rows) == 3 and all(s == "sent" and len(p) == 22 for s, p in rows)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_scheduled_send_can_be_cancelled(letter, sendgrid):
    letter.set_config(letter.config.read_text().replace(
        'categories = ["quotidien"]', 'categories = ["quotidien"]\nsend_at = "23:59"'))
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Paris"))
    letter.article("aujourdhui", title="Du jour", date=today.replace(hour=0, minute=5).isoformat())
    letter.recipients(3)
    env = {"SENDGRID_API_KEY": API_KEY}
    if today.hour == 23 and today.minute >= 58:
        pytest.skip("too close to midnight for a send_at later today")
    result = letter.run("send", "--backend", "sendgrid", env=env)
    assert result.returncode == 0, result.stderr
    (body,) = sendgrid.accepted
    assert body["batch_id"] == sendgrid.batches[0]
    assert body["send_at"] > datetime.now().timestamp()
    assert "scheduled for" in result.stdout
    cancel = letter.run("cancel", env=env)
    assert cancel.returncode == 0, cancel.stderr
    assert sendgrid.cancelled == [{"batch_id": sendgrid.batches[0], "status": "cancel"}]


def test_min_articles_skips_the_send_with_exit_3(letter, sendgrid):
    letter.set_config(letter.config.read_text().replace(
        'backend = "file"', 'backend = "file"\nmin_articles = 5'))
    letter.recipients(3)
    result = send(letter)
    assert result.returncode == 3
    assert "below delivery.min_articles = 5; nothing sent" in result.stderr
    assert sendgrid.requests == 0


def test_unsubscribe_link_is_required_to_send(letter, sendgrid):
    letter.set_config(letter.config.read_text().replace(
        'unsubscribe_url = "https://gazette.example/desabonnement?email={email}"', ""))
    letter.recipients(3)
    result = send(letter)
    assert result.returncode == 78
    assert "delivery.unsubscribe_url is required" in result.stderr


def test_each_readers_link_is_made_once_for_the_body_and_the_headers():
    from digest.audience.recipients import Recipient
    from digest.config import SendGridConfig
    from digest.deliver import Outgoing
    from digest.deliver.sendgrid import payload
    from digest.models import Email

    made: list[str] = []

    class Counted(Outgoing):
        def unsubscribe_for(self, recipient):
            made.append(recipient.email)
            return super().unsubscribe_for(recipient)

    outgoing = Counted(Email("Sujet", "<p>%unsubscribe_url%</p>", "%unsubscribe_url%", "",
                             "a@b.example"),
                       "2025-04-22-abc", "Gazette", "https://g.example/d?email={email}",
                       "desabonnement@g.example")
    readers = [Recipient(f"l{i}+x@lecteurs.example") for i in range(3)]
    body = payload(outgoing, readers, SendGridConfig())
    assert made == [r.email for r in readers]
    for person, reader in zip(body["personalizations"], readers, strict=True):
        link = f"https://g.example/d?email={reader.email.replace('+', '%2B').replace('@', '%40')}"
        assert person["substitutions"] == {"%unsubscribe_url%": link}
        assert person["headers"]["List-Unsubscribe"] == (
            f"<{link}>, <mailto:desabonnement@g.example?subject=unsubscribe>")
        assert person["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    made.clear()
    message = outgoing.message_for(readers[0])
    assert made == [readers[0].email] and b"l0%2Bx%40lecteurs.example" in message


@given(st.text(max_size=40) | st.emails())
def test_a_readers_address_is_quoted_as_urllib_quotes_it(text):
    from urllib.parse import quote

    from digest.deliver import quoted

    assert quoted(text) == quote(text, safe="")


@given(st.lists(st.tuples(st.emails(), st.text(max_size=20)), min_size=1, max_size=5),
       st.sampled_from(["https://g.example/d?email={email}", "https://g.example/u/fixed",
                        "{asm_unsubscribe_url}", ""]),
       st.sampled_from(["", "desabonnement@g.example"]), st.booleans())
def test_the_request_body_is_the_json_of_one_personalization_per_reader(
        readers, url, mailto, scheduled):
    """The body is written piece by piece: it must be exactly what json.dumps writes (as
    httpx did) of the request as data."""
    import json

    from digest.audience.recipients import Recipient
    from digest.config import SendGridConfig
    from digest.deliver import Outgoing
    from digest.deliver.sendgrid import request_body
    from digest.models import Email

    outgoing = Outgoing(Email("Sujet « é »", '<p>"%unsubscribe_url%"</p>', "%unsubscribe_url%",
                              "", "Gazette <a@b.example>", "Réponses <r@b.example>"),
                        "2025-04-22-abc", "Gazette", url, mailto)
    recipients = [Recipient(address, name) for address, name in readers]
    config = SendGridConfig(asm_group_id=7 if "asm" in url else 0, categories=("quotidien",))
    schedule = (1745301600, "lot") if scheduled else None
    expected_people = []
    for reader in recipients:
        to = {"email": reader.email}
        if reader.name:
            to["name"] = f'"{reader.name}"' if ("," in reader.name or ";" in reader.name) \
                else reader.name
        person: dict = {"to": [to]}
        if outgoing.provider_link:
            link, headers = "", outgoing.list_unsubscribe("")
        else:
            link, headers = outgoing.links(reader)
        if link:
            person["substitutions"] = {"%unsubscribe_url%": link}
        if headers:
            person["headers"] = headers
        expected_people.append(person)
    html, text = outgoing.email.html, outgoing.email.text
    if outgoing.provider_link:
        html = html.replace("%unsubscribe_url%", "<%asm_group_unsubscribe_raw_url%>")
        text = text.replace("%unsubscribe_url%", "<%asm_group_unsubscribe_raw_url%>")
    expected = {
        "personalizations": expected_people,
        "from": {"email": "a@b.example", "name": "Gazette"},
        "subject": "Sujet « é »",
        "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}],
        "categories": ["quotidien", "digest"],
        "custom_args": {"edition": "2025-04-22-abc", "newsletter": "Gazette"},
        "reply_to": {"email": "r@b.example", "name": "Réponses"},
    }
    if config.asm_group_id:
        expected["asm"] = {"group_id": 7}
    if schedule:
        expected["send_at"], expected["batch_id"] = schedule
    assert request_body(outgoing, recipients, config, schedule) == json.dumps(
        expected, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def test_a_send_stopped_early_or_a_bad_list_prints_no_traceback(letter, sendgrid):
    """The recipients file is left unread when the first batch fails for good, or when its header
    is wrong: one line of error, nothing else (a real process, where Python prints what its
    generators raise when they are cleaned up)."""
    letter.recipients(1001)  # a reader left unread after the first batch
    for _ in range(5):
        sendgrid.answer(503, {"Retry-After": "0"})
    env = {"SENDGRID_API_KEY": API_KEY}
    stopped = letter.run("send", "--date", "2025-04-22", "--backend", "sendgrid", env=env,
                         process=True)
    assert stopped.returncode == 75, stopped.stderr
    assert "failed a batch of 1000 5 times" in stopped.stderr
    assert "Traceback" not in stopped.stderr and "Exception ignored" not in stopped.stderr

    (letter.root / "recipients.csv").write_text("nom,adresse\nA,a@lecteurs.example\n")
    bad = letter.run("send", "--date", "2025-04-22", "--backend", "sendgrid", env=env,
                     process=True)
    assert bad.returncode == 78, bad.stderr
    (line,) = bad.stderr.strip().splitlines()  # a cron log's line: time, then the error
    assert line.endswith(" error: recipients.csv:1: no 'email' column; the first line must name"
                         " the columns, e.g. email,name (columns separated by commas or by "
                         "semicolons)")
