"""`digest bounces import`: delivery status notifications from a Maildir or an mbox. The samples in
tests/data/bounces are modelled on what Postfix, Exim, Gmail and Exchange Online send, with a
reader's reply and an out-of-office that are no bounces at all."""

import csv
import mailbox
from pathlib import Path

import pytest
from conftest import REPO, log_lines

SAMPLES = REPO / "tests" / "data" / "bounces"
HARD = {  # sample: the address that bounced for good (5.x.x)
    "postfix-user-unknown.eml": "jean.dupont@orange.example",
    "exim-mailbox-unavailable.eml": "m.leroy@laposte.example",
    "gmail-no-such-user.eml": "sophie.martin.1987@gmail.example",
    "exchange-recipient-not-found.eml": "paul.girard@mairie-valsorel.example",
}
SOFT = {"postfix-delayed.eml", "postfix-expired.eml"}  # 4.4.1: delayed, then given up
OTHERS = {"reader-reply.eml", "out-of-office.eml"}
SAMPLE_EDITION = b"2025-04-22-a373b9c711"
DAY = "2025-04-22"


@pytest.fixture
def letter(newsletter):
    newsletter.article("une", "Un article. " * 30, title="La une", lead=True)
    newsletter.article("suite", "Le lendemain. " * 30, title="Le lendemain", lead=True,
                       date="2025-04-23T08:00:00+02:00")
    readers = sorted(HARD.values()) + ["claire.petit@mairie-sorel.example",
                                       "camille.ferrand@example.org", "hugo.bellanger@example.org"]
    (newsletter.root / "recipients.csv").write_text(
        "email,name\n" + "".join(f"{a},\n" for a in readers), encoding="utf-8")
    newsletter.readers = readers
    return newsletter


def samples(edition: str) -> dict[str, bytes]:
    """The samples, their returned headers naming `edition` (the test's) instead of the sample's."""
    return {path.name: path.read_bytes().replace(SAMPLE_EDITION, edition.encode())
            for path in sorted(SAMPLES.glob("*.eml"))}


def maildir(folder: Path, messages: dict[str, bytes]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for index, data in enumerate(messages.values()):
        message = mailbox.MaildirMessage(data)
        if index % 2:  # some read already (cur/, with flags), some not (new/)
            message.set_subdir("cur")
            message.add_flag("S")
        box.add(message)
    box.close()
    return folder


def suppressed(letter) -> dict[str, dict]:
    with (letter.root / "unsubscribed.csv").open(newline="", encoding="utf-8") as handle:
        return {row["email"]: row for row in csv.DictReader(handle)}


def test_a_maildir_of_reports_suppresses_exactly_the_hard_bounces(letter, tmp_path):
    sent = letter.run("send", "--date", DAY)
    assert sent.returncode == 0, sent.stderr
    edition = log_lines(sent.stdout)[-1].split(":", 1)[0]
    folder = maildir(tmp_path / "Maildir", samples(edition))
    assert len(list((folder / "new").iterdir())) == 4 and len(list((folder / "cur").iterdir())) == 4

    result = letter.run("bounces", "import", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(
        "8 messages, 6 delivery reports: 4 hard bounces suppressed (4 new), 2 soft (counted, not "
        "suppressed); 2 other messages left alone")
    rows = suppressed(letter)
    assert set(rows) == set(HARD.values())
    assert all(r["kind"] == "bounced" and r["source"] == "bounces" and r["edition"] == edition
               for r in rows.values())
    assert rows["paul.girard@mairie-valsorel.example"]["reason"].startswith(
        "5.1.10 smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound")
    assert "bounced 4, complained 0, unsubscribed 0" in letter.run("status", "--date", DAY).stdout

    nxt = letter.run("send", "--date", "2025-04-23")
    assert nxt.returncode == 0, nxt.stderr
    outbox = {p.name.removesuffix(".eml")
              for p in (letter.root / "out" / "2025-04-23" / "outbox").glob("*.eml")}
    assert outbox == set(letter.readers) - set(HARD.values())  # the soft one still gets it

    again = letter.run("bounces", "import", str(folder))
    assert "4 hard bounces suppressed (0 new)" in again.stdout


def test_an_mbox_or_one_message_works_the_same(letter, tmp_path):
    sent = letter.run("send", "--date", DAY)
    edition = log_lines(sent.stdout)[-1].split(":", 1)[0]
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    for data in samples(edition).values():
        box.add(data)
    box.close()
    result = letter.run("bounces", "import", str(tmp_path / "bounces.mbox"))
    assert result.returncode == 0, result.stderr
    assert "4 hard bounces suppressed (4 new)" in result.stdout
    assert set(suppressed(letter)) == set(HARD.values())
    assert all(r["edition"] == edition for r in suppressed(letter).values())

    single = letter.run("bounces", "import", str(SAMPLES / "out-of-office.eml"))
    assert single.returncode == 0
    assert "1 message, 0 delivery reports: 0 hard bounces suppressed (0 new)" in single.stdout


def test_what_is_no_mailbox_is_one_error_line(letter, tmp_path):
    missing = letter.run("bounces", "import", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ") and "no such mailbox" in missing.stderr
    (tmp_path / "folder").mkdir()
    folder = letter.run("bounces", "import", str(tmp_path / "folder"))
    assert folder.returncode == 1 and "not a Maildir" in folder.stderr
    assert "Traceback" not in missing.stderr + folder.stderr
    assert not (letter.root / "unsubscribed.csv").exists()


@pytest.mark.parametrize("name", sorted(HARD) + sorted(SOFT) + sorted(OTHERS))
def test_each_sample_alone(name):
    import email

    from digest.audience.bounces import dsn_failures

    failures = dsn_failures(email.message_from_bytes((SAMPLES / name).read_bytes()))
    if name in OTHERS:
        assert failures is None
    elif name in SOFT:
        assert [f.permanent for f in failures] == [False]
    else:
        assert [(f.key, f.permanent) for f in failures] == [(HARD[name], True)]


def forged(address: str, returned: str = "", to: str = "bounces@gazette.example") -> bytes:
    """A hand-made delivery report, as anyone can mail to the bounce address."""
    return (f"From: MAILER-DAEMON@ailleurs.example\nTo: {to}\nSubject: Undelivered\n"
            "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
            "boundary=b\n\n--b\nContent-Type: text/plain\n\nNope.\n--b\n"
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns; ailleurs.example\n\n"
            f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: 5.1.1\n\n"
            + (f"--b\nContent-Type: text/rfc822-headers\n\n{returned}\n" if returned else "")
            + "--b--\n").encode()


def test_a_forged_report_unsubscribes_nobody(letter, tmp_path):
    sent = letter.run("send", "--date", DAY)
    edition = log_lines(sent.stdout)[-1].split(":", 1)[0]
    readers = letter.readers
    box = mailbox.mbox(tmp_path / "forged.mbox", create=True)
    box.add(forged(readers[4]))  # a reader, but nothing ties the report to our message
    box.add(forged(readers[5], returned="X-Digest-Edition: 2025-01-01-0123456789"))  # not sent
    box.add(forged("jamais@ailleurs.example", returned=f"X-Digest-Edition: {edition}"))
    box.close()
    result = letter.run("bounces", "import", str(tmp_path / "forged.mbox"))
    assert result.returncode == 0, result.stderr
    assert ("3 delivery reports: 0 hard bounces suppressed (0 new), 0 soft (counted, not "
            "suppressed); 3 unmatched") in result.stdout
    assert result.stderr.count("matches no message this newsletter sent") == 3
    assert not (letter.root / "unsubscribed.csv").exists() or suppressed(letter) == {}
    assert "already sent to all 7 readers" in letter.run("send", "--date", DAY).stdout  # none left


def test_a_report_to_a_readers_own_return_path_names_him(letter, tmp_path):
    """delivery.bounce_address (VERP): the report came back to the address made for one reader,
    even when its Final-Recipient is another (a forward) and it returns no headers."""
    from test_send_smtp import Inbox, configure, start

    letter.config.write_text(letter.config.read_text().replace(
        "[delivery]\n", '[delivery]\nbounce_address = "bounces+{token}@gazette.example"\n', 1))
    inbox = Inbox()
    controller = start(inbox)
    try:
        configure(letter, controller.port)
        sent = letter.run("send", "--date", DAY, "--backend", "smtp")
        assert sent.returncode == 0, sent.stderr
    finally:
        controller.stop()
    senders = {address: inbox.envelopes[address] for address in letter.readers}
    assert all(s.startswith("bounces+") and s.endswith("@gazette.example")
               for s in senders.values())
    assert len(set(senders.values())) == len(letter.readers)  # one per reader
    reader = letter.readers[6]
    box = mailbox.mbox(tmp_path / "verp.mbox", create=True)
    box.add(forged("transfert@ailleurs.example", to=senders[reader]))
    box.add(forged(letter.readers[5], to="bounces+AAAAAAAAAAAAAAAA@gazette.example"))
    box.close()
    result = letter.run("bounces", "import", str(tmp_path / "verp.mbox"))
    assert "1 hard bounce suppressed (1 new)" in result.stdout and "1 unmatched" in result.stdout
    assert set(suppressed(letter)) == {reader}
