"""`digest send` over SMTP to aiosmtpd on 127.0.0.1: STARTTLS, AUTH, drops, refusals."""

import asyncio
import email
import socket
import sqlite3
import ssl
from collections import Counter
from email import policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD = "mot-de-passe-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps what it receives and misbehaves on request."""

    def __init__(self):
        self.messages = []
        self.connections = 0
        self.refuse = set()  # addresses answered 550
        self.busy_once = set()  # addresses answered 451 the first time
        self.drop_at = None  # drop the connection at RCPT TO of this message number
        self.mail_reply = None  # the answer to every MAIL FROM instead of 250
        self.rcpt_reply = None  # the answer to every RCPT TO instead of 250
        self.data_reply = None  # the answer to every message's content instead of 250
        self.hold = {}  # address: seconds to wait before the 250, its message already queued
        self.drop_after_queue = set()  # addresses whose message is queued, then the line cut
        self.envelopes: dict[str, str] = {}  # reader: MAIL FROM of his message

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.drop_at is not None and len(self.messages) + 1 == self.drop_at:
            self.drop_at = None
            server.transport.close()
            return "421 closing"
        if self.rcpt_reply:
            return self.rcpt_reply
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        if address in self.busy_once:
            self.busy_once.discard(address)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        self.envelopes[address] = envelope.mail_from  # the return path each reader's went with
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.rcpt_tos[:], envelope.content))
        (address,) = envelope.rcpt_tos
        if address in self.drop_after_queue:
            server.transport.close()
            return "421 closing"
        await asyncio.sleep(self.hold.get(address, 0))
        return "250 Message accepted"

    def recipients(self):
        return [to for tos, _ in self.messages for to in tos]

    def message_to(self, address):
        (raw,) = [raw for tos, raw in self.messages if address in tos]
        return email.message_from_string(raw.decode("utf-8"), policy=policy.default)  # SMTPUTF8


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"redaction"
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return folder / "ca.pem", context


def start(inbox, **options):
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


@pytest.fixture
def letter(newsletter):
    newsletter.article("une", "Le texte de la une. " * 20, title="La une", lead=True)
    newsletter.article("deux", title="La deux")
    return newsletter


def configure(letter, port, security="none", username="", ca_file="", timeout=5):
    letter.add_config(f"""\
        [delivery.smtp]
        host = "127.0.0.1"
        port = {port}
        security = "{security}"
        username = "{username}"
        ca_file = "{ca_file}"
        timeout = {timeout}
        """)


def send(letter, *args, env=None):
    return letter.run("send", "--date", "2025-04-22", "--backend", "smtp", *args, env=env)


def test_one_message_per_reader_over_one_connection(letter):
    inbox = Inbox()
    controller = start(inbox)
    try:
        configure(letter, controller.port)
        addresses = letter.recipients(25)
        result = send(letter)
        assert result.returncode == 0, result.stderr
        assert "sent 25, skipped 0, failed 0, unknown 0 (smtp" in result.stdout
        assert sorted(inbox.recipients()) == addresses
        assert all(len(tos) == 1 for tos, _ in inbox.messages)
        assert inbox.connections == 1
        tos, raw = inbox.messages[0]
        message = email.message_from_bytes(raw, policy=policy.default)
        assert message["To"].addresses[0].addr_spec == tos[0]
        assert message["Subject"] == "La une"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = f"https://gazette.example/desabonnement?email={tos[0].replace('@', '%40')}"
        # folded onto its own line (76 columns): unfolding leaves the folding space in front
        assert message["List-Unsubscribe"].strip() == f"<{link}>"
        html = message.get_body(("html",)).get_content()
        assert link in html and "%unsubscribe_url%" not in html
        assert send(letter).returncode == 0
        assert len(inbox.messages) == 25  # the second run sent nothing
    finally:
        controller.stop()


def test_starttls_with_auth(letter, certificates):
    ca_file, context = certificates
    inbox = Inbox()
    controller = start(inbox, tls_context=context, require_starttls=True,
                       authenticator=authenticate, auth_require_tls=True)
    try:
        configure(letter, controller.port, "starttls", "redaction", str(ca_file))
        letter.recipients(3)
        result = send(letter, env={"DIGEST_SMTP_PASSWORD": PASSWORD})
        assert result.returncode == 0, result.stderr
        assert len(inbox.messages) == 3
        assert PASSWORD not in result.stdout + result.stderr
    finally:
        controller.stop()


def test_wrong_password_is_one_clear_line(letter, certificates):
    ca_file, context = certificates
    controller = start(Inbox(), tls_context=context, require_starttls=True,
                       authenticator=authenticate, auth_require_tls=True)
    try:
        configure(letter, controller.port, "starttls", "redaction", str(ca_file))
        letter.recipients(2)
        result = send(letter, env={"DIGEST_SMTP_PASSWORD": "faux"})
        assert result.returncode == 1
        assert "refused the login of 'redaction'" in result.stderr
        assert "faux" not in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        controller.stop()


def test_untrusted_certificate_is_refused(letter, certificates):
    _, context = certificates
    controller = start(Inbox(), tls_context=context, require_starttls=True)
    try:
        configure(letter, controller.port, "starttls")  # no ca_file: the self-signed CA is unknown
        letter.recipients(2)
        result = send(letter)
        assert result.returncode == 1
        assert "TLS failed" in result.stderr and "ca_file" in result.stderr
    finally:
        controller.stop()


def test_implicit_tls(letter, certificates):
    ca_file, context = certificates
    inbox = Inbox()
    controller = start(inbox, ssl_context=context)
    try:
        configure(letter, controller.port, "tls", ca_file=str(ca_file))
        letter.recipients(2)
        result = send(letter)
        assert result.returncode == 0, result.stderr
        assert len(inbox.messages) == 2
    finally:
        controller.stop()


def test_dropped_connection_is_reopened_and_nobody_is_lost_or_doubled(letter):
    inbox = Inbox()
    inbox.drop_at = 4  # before the content left: safe to send again
    controller = start(inbox)
    try:
        configure(letter, controller.port)
        addresses = letter.recipients(10)
        result = send(letter)
        assert result.returncode == 0, result.stderr
        assert sorted(inbox.recipients()) == addresses
        assert inbox.connections == 2
        assert "sent 10, skipped 0, failed 0, unknown 0" in result.stdout
    finally:
        controller.stop()


def test_a_refused_reader_is_recorded_and_the_others_go_on(letter):
    inbox = Inbox()
    controller = start(inbox)
    try:
        configure(letter, controller.port)
        addresses = letter.recipients(5)
        inbox.refuse.add(addresses[2])
        inbox.busy_once.add(addresses[3])  # a transient 451 is retried
        result = send(letter)
        assert result.returncode == 4
        assert "sent 4, skipped 0, failed 0, refused 1, unknown 0" in result.stdout
        assert sorted(inbox.recipients()) == sorted(set(addresses) - {addresses[2]})
        status = letter.run("status", "--date", "2025-04-22")
        assert "sent 4, failed 0, refused 1, unknown 0, remaining 0" in status.stdout
        again = send(letter)  # a refused address is not tried again
        assert again.returncode == 0 and "nothing to do" in again.stdout
    finally:
        controller.stop()


def test_server_down_is_a_temporary_failure(letter):
    configure(letter, free_port())
    letter.recipients(2)
    result = send(letter)
    assert result.returncode == 75
    assert "cannot connect to SMTP server 127.0.0.1" in result.stderr


@pytest.mark.parametrize("misbehaviour", ["holds the 250", "drops the line after queueing"])
def test_no_answer_once_the_message_left_leaves_the_reader_unknown(letter, misbehaviour):
    inbox = Inbox()
    controller = start(inbox)
    try:
        configure(letter, controller.port, timeout=1)
        addresses = letter.recipients(5)
        if misbehaviour == "holds the 250":
            inbox.hold[addresses[2]] = 3  # past delivery.smtp.timeout
        else:
            inbox.drop_after_queue.add(addresses[2])
        result = send(letter)
        assert result.returncode == 75
        assert "sent 2, skipped 0, failed 0, unknown 1" in result.stdout
        assert f"no answer to the message for {addresses[2]}" in result.stderr
        assert "--resend-unknown" in result.stderr and "Traceback" not in result.stderr
        status = letter.run("status", "--date", "2025-04-22")
        assert "sent 2, failed 0, refused 0, unknown 1, remaining 2" in status.stdout
        again = send(letter)  # the unknown reader is not sent to again, the others are
        assert again.returncode == 0, again.stderr
        assert "sent 2, skipped 2, failed 0, unknown 1" in again.stdout
        assert Counter(inbox.recipients()) == Counter(addresses)  # each exactly once
    finally:
        controller.stop()


@pytest.mark.parametrize("where, reply", [
    ("mail_reply", "530 5.7.0 Authentication required"),
    ("data_reply", "552 5.3.4 Message too big for system"),
    ("mail_reply", "451 4.3.0 Try again later"),  # still, after delivery.smtp.max_attempts
    ("rcpt_reply", "530 5.7.0 Authentication required"),  # never about the reader
])
def test_a_refused_message_stops_the_send_and_refuses_nobody(letter, where, reply):
    inbox = Inbox()
    controller = start(inbox)
    try:
        configure(letter, controller.port)
        addresses = letter.recipients(4)
        setattr(inbox, where, reply)
        result = send(letter)
        assert result.returncode == 75, result.stderr
        assert reply in result.stderr and "Traceback" not in result.stderr
        assert "sent 0, skipped 0, failed 1, unknown 0" in result.stdout
        assert inbox.messages == []
        status = letter.run("status", "--date", "2025-04-22")
        assert "sent 0, failed 1, refused 0, unknown 0, remaining 4" in status.stdout
        setattr(inbox, where, None)  # the server is fixed
        again = send(letter)
        assert again.returncode == 0, again.stderr
        assert "sent 4, skipped 0, failed 0, unknown 0" in again.stdout
        assert Counter(inbox.recipients()) == Counter(addresses)  # each exactly once
    finally:
        controller.stop()


@pytest.mark.parametrize("smtputf8", [True, False])
def test_a_non_ascii_address_needs_smtputf8(letter, smtputf8):
    inbox = Inbox()
    controller = start(inbox, enable_SMTPUTF8=smtputf8)
    try:
        configure(letter, controller.port)
        addresses = letter.recipients(2, extra="élodie@exemple.fr,Élodie\njean@exémple.fr,Jean\n")
        addresses.append("jean@xn--exmple-cva.fr")  # a non-ASCII domain alone goes as punycode
        result = send(letter)
        if smtputf8:
            assert result.returncode == 0, result.stderr
            assert "sent 4, skipped 0, failed 0, unknown 0" in result.stdout
            addresses.append("élodie@exemple.fr")
            to = inbox.message_to("élodie@exemple.fr")["To"].addresses[0]
            assert (to.display_name, to.addr_spec) == ("Élodie", "élodie@exemple.fr")
        else:
            assert result.returncode == 4, result.stderr
            assert "sent 3, skipped 0, failed 0, refused 1, unknown 0" in result.stdout
            db = sqlite3.connect(letter.root / ".digest" / "state.db")
            (error,) = db.execute("SELECT error FROM deliveries WHERE email = ?",
                                  ("élodie@exemple.fr",)).fetchone()
            db.close()
            assert error == "the server does not offer SMTPUTF8, needed for this address"
        assert Counter(inbox.recipients()) == Counter(addresses)
        to = inbox.message_to("jean@xn--exmple-cva.fr")["To"].addresses[0]
        assert to.addr_spec == "jean@xn--exmple-cva.fr"
    finally:
        controller.stop()


def test_file_backend_gives_each_reader_a_file_of_his_own(newsletter):
    newsletter.article("une", title="La une")
    (newsletter.root / "recipients.csv").write_text(
        "email,name\nélodie@exemple.fr,É\nèlodie@exemple.fr,È\nplain@exemple.fr,P\n",
        encoding="utf-8")
    result = newsletter.run("send", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (newsletter.root / "out" / "2025-04-22" / "outbox").iterdir())
    assert len(files) == 3 and "plain@exemple.fr.eml" in files
