"""What comes from outside never changes or stops what readers get (round two): encoded words
in titles and names, a relay that refuses everyone, malformed addresses, one reader's failure,
provider values out of range."""

import email
import re
from email import policy

import pytest
from test_send_smtp import Inbox, configure, start

DAY = "2025-04-22"
INJECTED = "=?utf-8?q?=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0A<b>pwned</b>?="
NAME = "=?utf-8?q?Bob=0D=0ABcc:_spy@evil.example?="
NESTED = "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc:_spy@evil.example=3F=3D?="


def headers_of(raw: bytes) -> list[str]:
    """The header lines of a message as it travels (folded lines joined)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return re.sub(r"\r?\n[ \t]", " ", head).splitlines()


def assert_only_our_headers(raw: bytes, reader: str) -> email.message.EmailMessage:
    names = [line.split(":", 1)[0].lower() for line in headers_of(raw)]
    assert "reply-to" not in names and "bcc" not in names, headers_of(raw)
    assert names.count("subject") == 1 and names.count("to") == 1 and "from" in names
    message = email.message_from_bytes(raw, policy=policy.default)
    assert "pwned" not in message.get_body(("plain",)).get_content().split("\n", 1)[0]
    assert message["To"].addresses[0].addr_spec == reader
    assert message["List-Unsubscribe"]  # not pushed into the body
    return message


@pytest.mark.parametrize("title", [f"Breaking {INJECTED} news", f"Alerte {NESTED} ici"])
def test_an_encoded_line_break_in_a_title_or_a_name_never_makes_a_header_over_smtp(newsletter,
                                                                                   title):
    newsletter.article("une", "Le texte de la une. " * 20, title=title, lead=True)
    (newsletter.root / "recipients.csv").write_text(
        f"email,name\nbob@lecteurs.example,{NAME}\nanne@lecteurs.example,{NESTED}\n")
    inbox = Inbox()
    controller = start(inbox)
    try:
        configure(newsletter, controller.port)
        result = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert result.returncode == 0, result.stderr
        for reader in ("bob@lecteurs.example", "anne@lecteurs.example"):
            (raw,) = [raw for tos, raw in inbox.messages if tos == [reader]]
            message = assert_only_our_headers(raw, reader)
            assert message["Subject"].startswith(("Breaking", "Alerte"))
            assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    finally:
        controller.stop()
    # the file backend's copies, the same
    newsletter.run("send", "--date", DAY, "--backend", "file", "--force")
    for path in (newsletter.root / "out" / DAY / "outbox").glob("*.eml"):
        assert_only_our_headers(path.read_bytes(), path.name.removesuffix(".eml"))


def test_a_non_ascii_domain_is_punycode_in_the_files_to_never_encoded_words(newsletter):
    newsletter.article("une", title="La une")
    (newsletter.root / "recipients.csv").write_text("email,name\na6@exämple.org,Ä\n")
    assert newsletter.run("send", "--date", DAY).returncode == 0
    (path,) = (newsletter.root / "out" / DAY / "outbox").glob("*.eml")
    to = next(line for line in headers_of(path.read_bytes()) if line.startswith("To:"))
    assert "<a6@xn--exmple-cua.org>" in to and "=?" not in to.split("<", 1)[1]


# -- a relay that refuses everyone loses nobody's edition ---------------------------------------


@pytest.mark.parametrize("reply", [
    "554 5.7.1 <{}>: Relay access denied",  # Postfix, when the relay's login expired
    "550 Requested action not taken: mailbox unavailable",  # no enhanced code, for everyone
])
def test_a_relay_refusing_everyone_stops_with_every_reader_still_to_do(newsletter, reply):
    newsletter.article("une", title="La une")
    addresses = newsletter.recipients(6)

    class Refusing(Inbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return reply.format(address)

    controller = start(Refusing())
    try:
        configure(newsletter, controller.port)
        result = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert result.returncode == 75, result.stderr
        assert "no reader was marked refused" in result.stderr
        assert "refused 0" in result.stdout or "refused" not in result.stdout
    finally:
        controller.stop()
    status = newsletter.run("status", "--date", DAY).stdout
    assert "refused 0" in status and "remaining 6" in status
    inbox = Inbox()  # the relay fixed: the next run reaches everyone
    controller = start(inbox)
    try:
        newsletter.config.write_text(re.sub(r"(?m)^port = \d+$", f"port = {controller.port}",
                                            newsletter.config.read_text()))
        again = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert again.returncode == 0, again.stderr
        assert sorted(inbox.recipients()) == addresses
    finally:
        controller.stop()


def test_a_quota_reached_midway_stops_and_leaves_the_rest_to_do(newsletter):
    """A server that takes two readers, then answers every other one the same, without saying
    whose fault it is: the send stops with the rest still to do, nobody refused."""
    newsletter.article("une", title="La une")
    addresses = newsletter.recipients(6)

    class Quota(Inbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if len(self.messages) >= 2:
                return "550 Daily sending quota exceeded"
            return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    controller = start(Quota())
    try:
        configure(newsletter, controller.port)
        result = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert result.returncode == 75, result.stderr
        assert "sent 2, skipped 0, failed 3" in result.stdout  # 3 unsure: the third stops
    finally:
        controller.stop()
    status = newsletter.run("status", "--date", DAY).stdout
    assert "sent 2, failed 3, refused 0" in status and "remaining 4" in status
    inbox = Inbox()
    controller = start(inbox)
    try:
        newsletter.config.write_text(re.sub(r"(?m)^port = \d+$", f"port = {controller.port}",
                                            newsletter.config.read_text()))
        again = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert again.returncode == 0 and sorted(inbox.recipients()) == addresses[2:]
    finally:
        controller.stop()


def test_dead_mailboxes_first_in_the_list_are_refused_and_never_stop_the_send(newsletter):
    """5.1.1 names the address: the first three readers' mailboxes do not exist, which stops
    nothing, however alike the replies."""
    newsletter.article("une", title="La une")
    addresses = newsletter.recipients(6)
    inbox = Inbox()
    inbox.refuse = set(addresses[:3])  # 550 5.1.1 No such user here
    controller = start(inbox)
    try:
        configure(newsletter, controller.port)
        first = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert first.returncode == 4, first.stderr
        assert "sent 3, skipped 0, failed 0, refused 3" in first.stdout
        again = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert again.returncode == 0 and "already sent to all" in again.stdout
    finally:
        controller.stop()
    assert "remaining 0; complete" in newsletter.run("status", "--date", DAY).stdout


def test_one_unknown_mailbox_is_refused_and_the_others_get_the_edition(newsletter):
    newsletter.article("une", title="La une")
    addresses = newsletter.recipients(5)
    inbox = Inbox()
    inbox.refuse = {addresses[3]}  # 550 5.1.1, after the server took others
    controller = start(inbox)
    try:
        configure(newsletter, controller.port)
        result = newsletter.run("send", "--date", DAY, "--backend", "smtp", process=True)
        assert result.returncode == 4
        assert "sent 4, skipped 0, failed 0, refused 1" in result.stdout
    finally:
        controller.stop()


# -- a malformed address is one warning, and never stays --------------------------------------


def test_a_malformed_link_from_a_feed_or_an_article_is_one_warning(newsletter, server):
    from feed_server import rss
    from test_feeds import add_feeds, story

    bad = [story(1, link="http://[oops/x"), story(2, link="http://0177.0.0.1/x"),
           story(3, link="http://\uff11\uff12\uff17.0.0.1/x"), story(4)]
    feed = server.add("/fil.xml", body=rss(bad))
    add_feeds(newsletter, (feed, {"full_text": True}))
    newsletter.article("une", "Texte. " * 40, title="La une", url="http://[oops/une",
                       same_story="http://[oops/autre", lead=True)
    for command in ("build", "rank", "check"):
        result = newsletter.run(command, *(() if command == "check" else ("--date", DAY)))
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (0, 1) if command == "check" else result.returncode == 0
    built = newsletter.run("build", "--date", DAY)
    warnings = [line for line in built.stderr.splitlines() if "no usable link" in line]
    assert len(warnings) == 3, built.stderr  # the three entries, one line each
    assert "articles/une.md:" in built.stderr and "url: 'http://[oops/une'" in built.stderr
    assert "4 articles" not in built.stdout and "2 articles" in built.stdout
    # the feed drops them: what the state database kept of it builds as well
    server.routes["/fil.xml"].body = rss([story(4)])
    again = newsletter.run("build", "--date", DAY)
    assert again.returncode == 0 and "Traceback" not in again.stderr


def test_the_guarded_client_refuses_an_address_httpx_cannot_parse(newsletter):
    import asyncio

    from conftest import load

    from digest.sources.network import FetchError, fetch_page

    config = load(newsletter)
    for url in ("http://0177.0.0.1/x", "http://\uff11\uff12\uff17.0.0.1/x"):
        with pytest.raises(FetchError, match="^invalid address: "):
            asyncio.run(fetch_page(url, config))
    with pytest.raises(FetchError):  # httpx reads "[oops" as a host name, which resolves to none
        asyncio.run(fetch_page("http://[oops/x", config))


# -- one reader's failure is that reader's outcome -------------------------------------------


def test_a_file_that_cannot_be_written_fails_one_reader_and_a_long_address_still_gets_its(
        newsletter):
    newsletter.article("une", title="La une")
    longest = f"{'l' * 64}@{'d' * 63}.{'e' * 63}.{'f' * 53}.example"  # 254 characters, valid
    assert len(longest) == 254
    addresses = newsletter.recipients(150, extra=f"{longest},Long\n")
    outbox = newsletter.root / "out" / DAY / "outbox"
    (outbox / f"{addresses[7]}.eml").mkdir(parents=True)  # its file cannot be written
    first = newsletter.run("send", "--date", DAY)
    assert first.returncode == 4, first.stderr
    assert "sent 150, skipped 0, failed 1" in first.stdout
    written = {path.name for path in outbox.glob("*.eml") if path.is_file()}
    assert len(written) == 150 and all(len(name.encode()) <= 255 for name in written)
    assert any(name.startswith("l" * 64) for name in written)
    (outbox / f"{addresses[7]}.eml").rmdir()
    second = newsletter.run("send", "--date", DAY)
    assert second.returncode == 0 and "sent 1, skipped 150" in second.stdout
    assert "remaining 0; complete" in newsletter.run("status", "--date", DAY).stdout


def test_an_outbox_that_cannot_be_made_stops_with_every_reader_still_to_do(newsletter):
    newsletter.article("une", title="La une")
    newsletter.recipients(120)
    day = newsletter.root / "out" / DAY
    day.mkdir(parents=True)
    (day / "outbox").write_text("a file where the folder goes")
    stopped = newsletter.run("send", "--date", DAY)
    assert stopped.returncode == 75, stopped.stderr
    assert "Traceback" not in stopped.stderr
    status = newsletter.run("status", "--date", DAY).stdout
    assert "sent 0, failed 100, refused 0, unknown 0, remaining 120" in status, status
    (day / "outbox").unlink()
    again = newsletter.run("send", "--date", DAY)
    assert again.returncode == 0 and "sent 120," in again.stdout  # nobody was left "unknown"


def test_a_time_an_older_release_stored_unchecked_breaks_no_rewrite(newsletter):
    import sqlite3

    newsletter.recipients(1)
    assert newsletter.run("suppressions", "add", "a@lecteurs.example").returncode == 0
    with sqlite3.connect(newsletter.root / ".digest" / "state.db") as db:
        db.execute("UPDATE suppressions SET created_at = 1e300")
    added = newsletter.run("suppressions", "add", "b@lecteurs.example")
    assert added.returncode == 0, added.stderr
    rows = (newsletter.root / "unsubscribed.csv").read_text().splitlines()
    assert rows[1].startswith("a@lecteurs.example,?,") and rows[2].startswith("b@lecteurs")
    listed = newsletter.run("suppressions", "list")
    assert listed.returncode == 0 and "a@lecteurs.example  ?  " in listed.stdout


def test_same_story_naming_a_file_whose_feed_copy_was_kept_does_not_hold(newsletter, server):
    from feed_server import rss
    from test_feeds import add_feeds, story

    longer = story(1, link="https://gazette.example/depeche")  # the file's own address
    feed = server.add("/fil.xml", body=rss([longer]))
    add_feeds(newsletter, (feed, {}))
    newsletter.article("depeche", "Court.", title="Dépêche 1", url="https://gazette.example/depeche")
    newsletter.article("suite", "La suite. " * 20, title="La suite", same_story="depeche.md")
    newsletter.recipients(1)
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert "same_story" not in result.stderr
