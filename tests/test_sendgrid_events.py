"""SendGrid's Event Webhook against `digest serve`: batches signed with a key pair made here."""

import base64
import calendar
import csv
import json
import time

import pytest
from conftest import log_lines
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from web_server import Served

DAY = "2025-04-22"
EVENTS = "/sendgrid/events"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key and its public half as SendGrid shows it (base64 of the DER public key)."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode()


def signed(private, body: bytes, timestamp: int | None = None) -> dict:
    """The headers SendGrid sends: an ECDSA signature of timestamp + body."""
    moment = str(int(time.time()) if timestamp is None else timestamp)
    signature = private.sign(moment.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: moment,
            "Content-Type": "application/json", "User-Agent": "SendGrid Event API"}


@pytest.fixture
def keys():
    return key_pair()


@pytest.fixture
def letter(newsletter, keys):
    newsletter.article("une", "Un article pour les lecteurs. " * 30, title="La une", lead=True)
    newsletter.readers = newsletter.recipients(8)
    newsletter.add_config(f"""\
        [delivery.sendgrid]
        webhook_public_key = "{keys[1]}"
        """)
    return newsletter


@pytest.fixture
def server(letter):
    served = Served(letter.root)
    yield served
    served.stop()


def rows(letter) -> list[dict]:
    path = letter.root / "unsubscribed.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def batch(readers: list[str], edition: str) -> list[dict]:
    now = int(time.time())
    common = {"timestamp": now, "edition": edition, "newsletter": "La Gazette de Test",
              "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"}
    return [
        {**common, "email": readers[0], "event": "bounce", "type": "bounce", "status": "5.1.1",
         "reason": "550 5.1.1 The email account that you tried to reach does not exist."},
        {**common, "email": readers[1], "event": "spamreport"},
        {**common, "email": readers[2], "event": "delivered", "response": "250 OK"},
        {**common, "email": readers[2], "event": "open", "useragent": "Mozilla/5.0"},
        {**common, "email": readers[3], "event": "unsubscribe"},
        {**common, "email": readers[4], "event": "group_unsubscribe", "asm_group_id": 42},
        {**common, "email": readers[5], "event": "dropped", "reason": "Bounced Address"},
        {**common, "email": readers[6], "event": "dropped", "reason": "Invalid SMTPAPI header"},
        {**common, "email": readers[7], "event": "deferred", "response": "450 try later"},
        {**common, "email": "pas-une-adresse", "event": "bounce"},
        "not an event",
    ]


def test_a_signed_batch_suppresses_its_bounces_complaints_and_unsubscribes(letter, server, keys):
    sent = letter.run("send", "--date", DAY)
    assert sent.returncode == 0, sent.stderr
    edition = log_lines(sent.stdout)[-1].split(":", 1)[0]
    body = json.dumps(batch(letter.readers, edition)).encode()
    status, _ = server.request("POST", EVENTS, body, signed(keys[0], body))
    assert status == 200
    found = {r["email"]: (r["kind"], r["source"]) for r in rows(letter)}
    readers = letter.readers
    assert found == {
        readers[0]: ("bounced", "sendgrid-events"),
        readers[1]: ("complained", "sendgrid-events"),
        readers[3]: ("unsubscribed", "sendgrid-events"),
        readers[4]: ("unsubscribed", "sendgrid-events"),
        readers[5]: ("bounced", "sendgrid-events"),
    }
    bounce = next(r for r in rows(letter) if r["email"] == readers[0])
    assert bounce["reason"].startswith("SendGrid bounce: bounce 5.1.1 550 5.1.1")
    assert bounce["edition"] == edition
    status_line = letter.run("status").stdout
    assert "after it: bounced 2, complained 1, unsubscribed 2" in status_line
    # SendGrid retries a batch it thinks failed: the same batch again changes nothing
    assert server.request("POST", EVENTS, body, signed(keys[0], body))[0] == 200
    assert len(rows(letter)) == 5
    log = server.stop()
    assert "sendgrid events: 11 events, 5 suppressions (5 new)" in log
    assert not any(address in log for address in readers)


def test_a_bad_signature_or_an_old_timestamp_gets_403_and_changes_nothing(letter, server, keys):
    body = json.dumps(batch(letter.readers, "")).encode()
    other, _ = key_pair()
    tampered = body.replace(b"spamreport", b"spamreporT")
    refused = {
        "signed by another key": (body, signed(other, body)),
        "body changed after signing": (tampered, signed(keys[0], body)),
        "timestamp changed after signing": (body, {**signed(keys[0], body),
                                                   TIMESTAMP: str(int(time.time()) - 1)}),
        "older than 5 minutes": (body, signed(keys[0], body, int(time.time()) - 301)),
        "5 minutes ahead": (body, signed(keys[0], body, int(time.time()) + 400)),
        "no signature": (body, {TIMESTAMP: str(int(time.time()))}),
        "signature not base64": (body, {**signed(keys[0], body), SIGNATURE: "%%%"}),
        "no timestamp": (body, {SIGNATURE: signed(keys[0], body)[SIGNATURE]}),
    }
    for name, (data, headers) in refused.items():
        assert server.request("POST", EVENTS, data, headers)[0] == 403, name
    assert rows(letter) == []
    assert not (letter.root / "unsubscribed.csv").exists()
    # the same batch, signed now with the right key, does go through
    assert server.request("POST", EVENTS, body, signed(keys[0], body))[0] == 200
    assert len(rows(letter)) == 5
    log = server.stop()
    assert "sendgrid events: refused (bad signature)" in log
    assert "sendgrid events: refused (timestamp" in log


def test_without_a_public_key_the_webhook_refuses_everything(newsletter, keys):
    newsletter.recipients(1)
    served = Served(newsletter.root)
    try:
        body = json.dumps([{"email": "lecteur000000@lecteurs.example", "event": "bounce"}]).encode()
        assert served.request("POST", EVENTS, body, signed(keys[0], body))[0] == 403
    finally:
        log = served.stop()
    assert "webhook_public_key is not set" in log
    assert not (newsletter.root / "unsubscribed.csv").exists()


def test_a_batch_over_the_size_limit_is_refused(letter, server, keys):
    body = b"[" + b" " * (5 * 1024 * 1024) + b"]"  # 2 bytes over the limit
    status, _ = server.request("POST", EVENTS, body, signed(keys[0], body))
    assert status == 413
    assert rows(letter) == []


def test_a_public_key_that_is_no_key_is_a_configuration_error(newsletter):
    newsletter.add_config('[delivery.sendgrid]\nwebhook_public_key = "bm90IGEga2V5"\n')
    result = newsletter.run("build", "--date", DAY)
    assert result.returncode == 78
    assert "delivery.sendgrid.webhook_public_key: not a public key" in result.stderr


def test_a_time_out_of_range_is_kept_as_received_and_breaks_no_later_unsubscribe(letter, server,
                                                                                 keys):
    sent = letter.run("send", "--date", DAY)
    edition = log_lines(sent.stdout)[-1].split(":", 1)[0]
    readers = letter.readers
    odd = [1e300, float("inf"), float("nan"), "demain", True, -5, 10**400]
    events = [{"email": reader, "event": "unsubscribe", "timestamp": moment, "edition": edition}
              for reader, moment in zip(readers, odd, strict=False)]
    body = json.dumps(events).encode()  # Infinity and NaN as JSON writers write them
    before = time.time()
    status, _ = server.request("POST", EVENTS, body, signed(keys[0], body))
    assert status == 200
    found = rows(letter)
    assert len(found) == len(odd)
    for row in found:  # the time it was received, shown as a date
        moment = calendar.timegm(time.strptime(row["suppressed_at"], "%Y-%m-%dT%H:%M:%SZ"))
        assert before - 120 <= moment <= time.time() + 120, row
    # what used to fail from then on: every rewrite of the mirror (an editor's change here, a
    # one-click unsubscribe in digest serve), and the list
    assert letter.run("suppressions", "add", "editeur@lecteurs.example").returncode == 0
    assert letter.run("suppressions", "remove", readers[0]).returncode == 0
    listed = letter.run("suppressions", "list")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(odd)
