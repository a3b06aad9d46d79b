"""Clicks per story through `digest serve`, with nothing recorded about the reader: the send's
copies link each story to a signed short path; a GET counts one click and redirects; an altered
path redirects nowhere; SendGrid's click and open events add to the same counters."""

from __future__ import annotations

import email
import json
import re
import sqlite3
from email import policy
from urllib.parse import urlsplit

import pytest
from test_sendgrid_events import key_pair, signed
from web_server import SECRET, Served

from digest.deliver import message_file_name

DAY = "2025-04-22"
HOST = "lettre.gazette.example"
STORIES = {  # name: (category, priority, words of its text)
    "une": ("Ville", 9, "Le conseil municipal a voté le budget des écoles et des berges."),
    "sport": ("Sport", 0, "Le club de handball remporte la finale régionale face à Lyon."),
    "culture": ("Culture", 0, "La médiathèque ouvre une exposition de gravures anciennes."),
}
CLICK_LINK = re.compile(r'href="(https://lettre\.gazette\.example/c/[^"]+)"')


@pytest.fixture
def keys():
    return key_pair()


@pytest.fixture
def letter(newsletter, keys):
    return clickable(newsletter, keys[1])


def clickable(newsletter, public_key: str):
    """Three stories of three categories, three readers, signed links and click links."""
    for name, (category, priority, words) in STORIES.items():
        newsletter.article(name, f"{words} " * 30,
                           title=f"Titre {name}", category=category, priority=priority,
                           url=f"https://gazette.example/{name}?ref=rss")
    newsletter.readers = newsletter.recipients(3)
    newsletter.sign_links()
    newsletter.add_config(f"""\
        [tracking]
        clicks = true

        [links]
        utm_source = "lettre"
        utm_campaign = "{{date}}"

        [delivery.sendgrid]
        webhook_public_key = "{public_key}"
        """)
    return newsletter


@pytest.fixture
def server(letter):
    served = Served(letter.root)
    yield served
    served.stop()


def send(letter) -> dict[str, str]:
    """Send the day's edition; the click links of the first reader's copy, by story name."""
    sent = letter.run("send", "--date", DAY, env={"DIGEST_SECRET": SECRET})
    assert sent.returncode == 0, sent.stderr
    links = {}
    for reader in letter.readers:
        message = email.message_from_bytes(
            (letter.root / "out" / DAY / "outbox" / message_file_name(reader)).read_bytes(),
            policy=policy.default)
        found = sorted(set(CLICK_LINK.findall(message.get_body(("html",)).get_content())))
        text = message.get_body(("plain",)).get_content()
        assert all(link in text for link in found), "the plain-text part has the same links"
        links[reader] = found
    first, *others = links.values()
    assert all(other == first for other in others), "every copy has the same links: no reader"
    return {name: link for link in first for name in STORIES if destination(letter, link)
            and f"/{name}?" in destination(letter, link)}


def destination(letter, link: str) -> str | None:
    day, story = urlsplit(link).path.split("/")[2:4]
    with sqlite3.connect(letter.root / ".digest" / "state.db") as db:
        row = db.execute("SELECT url FROM story_clicks WHERE day = ? AND story = ?",
                         (f"{day[:4]}-{day[4:6]}-{day[6:]}", story)).fetchone()
    return row[0] if row else None


def clicks(letter) -> dict[str, int]:
    shown = letter.run("status", "--date", DAY, "--json")
    assert shown.returncode == 0, shown.stderr
    [day] = json.loads(shown.stdout)["clicks"]
    assert day["day"] == DAY and day["readers"] == 3
    return {story["title"].removeprefix("Titre "): story["clicks"] for story in day["stories"]}


def dump(letter) -> list[str]:
    with sqlite3.connect(letter.root / ".digest" / "state.db") as db:
        return list(db.iterdump())


def test_a_click_counts_one_for_its_story_and_redirects_to_it(letter, server):
    links = send(letter)
    assert sorted(links) == sorted(STORIES)
    before = dump(letter)
    status, headers, _ = server.exchange("GET", urlsplit(links["sport"]).path, host=HOST)
    assert status == 302
    assert headers["Location"] == (f"https://gazette.example/sport?ref=rss&utm_source=lettre"
                                   f"&utm_campaign={DAY}")
    assert clicks(letter) == {"une": 0, "sport": 1, "culture": 0}
    assert server.exchange("HEAD", urlsplit(links["sport"]).path, host=HOST)[0] == 302
    assert clicks(letter)["sport"] == 1, "a HEAD (a link checker) counts nothing"

    # what changed in the whole database: the story's counter, and nothing about anyone
    after = dump(letter)
    changed = sorted(set(after) - set(before))
    assert len(changed) == 1 and changed[0].startswith('INSERT INTO "story_clicks"'), changed
    for row in (line for line in after if "story_clicks" in line or "edition_opens" in line):
        assert "@" not in row and "lecteur" not in row
        with sqlite3.connect(letter.root / ".digest" / "state.db") as db:
            tokens = [token for (token,) in db.execute("SELECT token FROM reader_tokens")]
        assert tokens and not any(token in row for token in tokens)

    shown = letter.run("status", "--date", DAY)
    assert "clicks 1 for 3 readers (33.3%)" in shown.stdout
    assert re.search(r"^\s+1\s+Titre sport\s+\[Sport\]$", shown.stdout, re.MULTILINE)


def test_a_client_counts_once_a_day_for_a_story_and_a_locked_database_still_redirects(
        letter, server):
    links = send(letter)
    path = urlsplit(links["sport"]).path
    for client in ("203.0.113.5", "203.0.113.5", "203.0.113.5", "198.51.100.7"):
        status, _, _ = server.exchange("GET", path, host=HOST,
                                       headers={"X-Forwarded-For": client})
        assert status == 302
    assert clicks(letter)["sport"] == 2, "a reader clicking again, or a loop, counts once"

    # another process holds the state database's write lock: the reader still gets his story
    with sqlite3.connect(letter.root / ".digest" / "state.db", isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")
        status, headers, _ = server.exchange("GET", urlsplit(links["culture"]).path, host=HOST,
                                             headers={"X-Forwarded-For": "192.0.2.9"})
        db.execute("ROLLBACK")
    assert status == 302 and headers["Location"].startswith("https://gazette.example/culture")
    assert "not counted" in server.stop()


def test_an_altered_link_answers_404_and_counts_nothing(letter, server):
    links = send(letter)
    path = urlsplit(links["culture"]).path
    day, story, mac = path.split("/")[2:]
    swap = {"a": "b", "b": "a"}
    altered = [
        f"/c/{day}/{story}/{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # the signature
        f"/c/{day}/{story[:-1]}{'a' if story[-1] != 'a' else 'b'}/{mac}",  # the story
        f"/c/{int(day) + 1}/{story}/{mac}",  # the day
        f"/c/{day}/{story}/{mac}/extra",
        f"/c/{day}/{story}/{''.join(swap.get(c, c) for c in mac)}" if set(mac) & {"a", "b"}
        else f"/c/{day}/{story}/{mac[::-1]}",
        f"/c/{day}/{story}/{mac}?next=https://evil.example/",
    ]
    for wrong in altered[:-1]:
        status, headers, _ = server.exchange("GET", wrong, host=HOST)
        assert status == 404 and "Location" not in headers, wrong
    # a query string changes nothing: the destination is the recorded one
    status, headers, _ = server.exchange("GET", altered[-1], host=HOST)
    assert status == 302 and "evil" not in headers["Location"]
    assert clicks(letter) == {"une": 0, "sport": 0, "culture": 1}
    status, _, _ = server.exchange("GET", path, host="evil.example")
    assert status == 400, "another Host is refused"
    assert clicks(letter)["culture"] == 1


def test_sendgrid_click_and_open_events_add_to_the_counts(letter, keys):
    """Without our click links, SendGrid's own click tracking reports the stories' addresses:
    the send records the stories for the webhook's events all the same."""
    letter.set_config(letter.config.read_text().replace("clicks = true", "clicks = false"))
    sent = letter.run("send", "--date", DAY, env={"DIGEST_SECRET": SECRET})
    assert sent.returncode == 0, sent.stderr
    assert "/c/" not in (letter.root / "out" / DAY / "digest.html").read_text()
    server = Served(letter.root)
    try:
        sendgrid_events(letter, server, keys)
    finally:
        server.stop()


def sendgrid_events(letter, server, keys):
    with sqlite3.connect(letter.root / ".digest" / "state.db") as db:
        [sport] = [s for (s,) in db.execute("SELECT story FROM story_clicks WHERE url LIKE ?",
                                            ("%/sport?%",))]
    ours = f"https://{HOST}/c/{DAY.replace('-', '')}/{sport}/AAAAAAAAAAA"
    sent = letter.run("status", "--date", DAY, "--json")
    edition = json.loads(sent.stdout)["editions"][0]["edition_id"]
    common = {"timestamp": 1745300000, "edition": edition, "newsletter": "La Gazette de Test"}
    events = [
        {**common, "email": letter.readers[0], "event": "click",
         "url": f"https://gazette.example/une?ref=rss&utm_source=lettre&utm_campaign={DAY}"},
        {**common, "email": letter.readers[1], "event": "click",
         "url": "https://gazette.example/une?ref=rss"},  # the same story, as another link
        # a click on our own link: digest serve counts it when the reader gets there
        {**common, "email": letter.readers[2], "event": "click", "url": ours},
        {**common, "email": letter.readers[2], "event": "click",
         "url": "https://gazette.example/not-a-story"},
        {**common, "email": letter.readers[0], "event": "open"},
        {**common, "email": letter.readers[1], "event": "open"},
        {**common, "email": letter.readers[1], "event": "click", "url": 42},
        {**common, "email": letter.readers[1], "event": "click", "url": "http://[oops/x"},
        # another newsletter of the same account, a day no send linked, a forged day
        {**common, "newsletter": "Une autre lettre", "event": "click",
         "url": f"https://gazette.example/une?ref=rss&utm_source=lettre&utm_campaign={DAY}"},
        {**common, "newsletter": "Une autre lettre", "event": "open"},
        {**common, "edition": "2025-04-01-0000000000", "event": "open"},
        {**common, "edition": "9999-99-99-forged", "event": "open"},
        {**common, "edition": "٢٠٢٥-٠٤-٢٢-x", "event": "open"},
    ]
    body = json.dumps(events).encode()
    status, _ = server.request("POST", "/sendgrid/events", body, signed(keys[0], body))
    assert status == 200
    assert clicks(letter) == {"une": 2, "sport": 0, "culture": 0}
    shown = json.loads(letter.run("status", "--date", DAY, "--json").stdout)
    assert shown["clicks"][0]["opens"] == 2
    with sqlite3.connect(letter.root / ".digest" / "state.db") as db:
        assert db.execute("SELECT day, opens FROM edition_opens").fetchall() == [(DAY, 2)]
    # a batch nested deeper than any SendGrid sends is refused, not a server error
    deep = ("[" * 100_000).encode()
    status, _ = server.request("POST", "/sendgrid/events", deep, signed(keys[0], deep))
    assert status == 403
    # the same batch unsigned changes nothing
    status, _ = server.request("POST", "/sendgrid/events", body,
                               {**signed(keys[0], body), "X-Twilio-Email-Event-Webhook-Timestamp":
                                "1"})
    assert status == 403 and clicks(letter)["une"] == 2


def test_the_archive_and_a_build_without_a_secret_link_straight_to_the_stories(letter):
    sent = letter.run("send", "--date", DAY, env={"DIGEST_SECRET": SECRET})
    assert sent.returncode == 0, sent.stderr
    archive = (letter.root / "out" / "archive" / f"{DAY}.html").read_text()
    assert "/c/" not in archive and "https://gazette.example/sport?ref=rss" in archive

    letter.set_config(letter.config.read_text().replace(
        "[tracking]", '[tracking]\nurl = "https://lettre.gazette.example"').replace(
        "https://lettre.gazette.example/unsubscribe?t={unsubscribe_token}",
        "https://gazette.example/desabonnement?email={email}"))
    built = letter.run("build", "--date", DAY, env={"DIGEST_SECRET": ""})
    assert built.returncode == 0, built.stderr
    assert "tracking.clicks: DIGEST_SECRET is not set" in built.stdout + built.stderr
    assert "/c/" not in (letter.root / "out" / DAY / "digest.html").read_text()
    checked = letter.run("check", env={"DIGEST_SECRET": ""})
    assert "digest.toml: tracking.clicks: DIGEST_SECRET is not set" in checked.stdout
    refused = letter.run("send", "--date", "2025-04-23", env={"DIGEST_SECRET": ""})
    assert refused.returncode != 0
    assert "tracking.clicks: DIGEST_SECRET is not set" in refused.stderr
    assert "Traceback" not in refused.stderr
