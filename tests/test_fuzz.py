"""Fuzzing the readers: whatever front matter, Markdown, JSON Feed or RSS they are given, gather →
rank → render gives an edition or reported skips, never an exception.

A fixed seed and a bounded number of examples keep it well under a minute; the cases it found are
regular tests in test_hostile.py.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import yaml
from conftest import MINIMAL_TOML
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.config import load_config
from digest.errors import DigestError, NoArticlesError
from digest.message import to_message
from digest.newsletter import Newsletter
from digest.records import edition_record

DAY = date(2025, 4, 22)
ON_THE_DAY = "2025-04-22T08:00:00+02:00"
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=80,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# what breaks a line, a header, a parser or an encoder
ODD = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x00", "\x0b", "\x0c", "\r", "\n",
       "\t", "\u200b", "\u202e", "\ufeff", "\ufffd", "\U0001f600", "é", "«", "»", ":", "#", "{",
       "}", "*", "&", "<", ">", '"', "'", "\\", "---", "- ", "[", "]", "!", "|", "`", " ",
       "\ud800", "\udfff"]
# RFC 2047 encoded words that decode to line breaks, headers, or another encoded word
ENCODED = ["=?utf-8?q?=0D=0AReply-To:_x@evil.example=0D=0A=0D=0A<b>x</b>?=",
           "=?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?=", "=?x-unknown?q?a=0Ab?=",
           "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc:x=3F=3D?=", "=?utf-8?q?=FF=FE?=", "=??="]
# addresses that no parser agrees on
URLS = ["http://[oops/x", "http://0177.0.0.1/x", "http://\uff11\uff12\uff17.0.0.1/x",
        "https://a.example:99999/", "https://[::1", "http://%zz/", "https://exa mple.org/",
        "javascript:alert(1)", "http://0x7f.1/", "https://a.example:-1/", "//a.example/x"]
ODD += ENCODED
MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[a](javascript:x)",
          "# Titre", "> cité", "* liste", "```\ncode\n```", "| a | b |\n|---|---|", "&#xD800;",
          "<p>", "</div>", "<!--", "]]>", "<![CDATA[", "\n\n", "**gras**"]
DATES = ["2025-04-22", "2025-04-22 08:30", ON_THE_DAY, "2025-02-30", "2025-04-22T25:00:00",
         "2025-04-22T08:00:00+25:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
         "1899-12-31", "9998-12-31T23:59:59+00:00", "demain", "", "2025-04-22T08:00:00Z"]

odd_text = st.lists(st.one_of(st.sampled_from(ODD), st.text(max_size=12)), max_size=12).map("".join)
markdown = st.lists(st.one_of(st.sampled_from(MARKUP + ODD), st.text(max_size=30)),
                    max_size=30).map(" ".join)
scalar = st.one_of(odd_text, st.integers(), st.integers(min_value=-10**40, max_value=10**40),
                   st.floats(), st.booleans(), st.none(), st.sampled_from(DATES),
                   st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(
                       hours=14)), timezone(timedelta(hours=-12))])), st.dates())
scalar = st.one_of(scalar, st.sampled_from(URLS))
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(odd_text, inner, max_size=3)),
                     max_leaves=6)
FIELDS = ["title", "date", "category", "author", "url", "image", "image_alt", "summary", "lead",
          "priority", "tags", "same_story"]


@st.composite
def front_matter(draw) -> str:
    """YAML as a person or a program may write it: dumped from values, or raw text."""
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), value, max_size=6))
    fields.setdefault("title", draw(odd_text))
    if draw(st.integers(0, 3)):
        fields["date"] = ON_THE_DAY
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(st.one_of(st.sampled_from(ODD + DATES), odd_text),
                             max_size=20).map("".join))
    try:
        return yaml.safe_dump(fields, allow_unicode=draw(st.booleans()))
    except (yaml.YAMLError, ValueError):
        return repr(fields)


article = st.tuples(front_matter(), markdown)


def built(root: Path) -> None:
    """The property: an edition whose every part can be written out and sent, or a skip."""
    config = load_config(root / "digest.toml")
    with Newsletter(config) as newsletter:
        try:
            result = newsletter.build(DAY)
        except NoArticlesError:
            return
        except DigestError as error:  # a user error is fine, as long as it is one line each
            assert str(error).strip(), error
            return
        email = result.email
        for part in (email.html, email.text, email.subject, email.preheader):
            part.encode("utf-8")
        assert "\n" not in email.subject and "\u2028" not in email.subject
        head = to_message(email).as_bytes().split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        names = {line.split(":", 1)[0] for line in head.splitlines() if line[:1] not in " \t"}
        assert names <= OUR_HEADERS, head  # a title never writes a header line of its own
        json.dumps(edition_record(result, config), ensure_ascii=False).encode("utf-8")
        for problem in result.problems:
            assert "\n" not in str(problem), problem


OUR_HEADERS = {"Subject", "From", "Date", "Message-ID", "MIME-Version", "Content-Type"}


def folder(tmp: str, feeds: list[tuple[str, bytes]] = ()) -> Path:
    root = Path(tmp) / "lettre"
    (root / "articles").mkdir(parents=True)
    config = MINIMAL_TOML
    for name, body in feeds:
        (root / name).write_bytes(body)
        config += f'\n[[sources.feeds]]\nurl = "{name}"\nundated = "first_seen"\n'
    (root / "digest.toml").write_text(config, encoding="utf-8")
    return root


# an article that reads, whatever its title and body hold: the edition gets rendered
def _utf8(text: str) -> bool:
    return "\ud800" not in text and "\udfff" not in text


readable = st.tuples(st.builds(lambda title: yaml.safe_dump(
    {"title": f"T{title}", "date": ON_THE_DAY}, allow_unicode=True), odd_text.filter(_utf8)),
    markdown.filter(_utf8))


@FUZZ
@given(st.lists(article, min_size=1, max_size=3), readable)
def test_any_articles_give_an_edition_or_skips(articles, good):
    with tempfile.TemporaryDirectory() as tmp:
        root = folder(tmp)
        for number, (front, body) in enumerate([*articles, good]):
            (root / "articles" / f"a{number}.md").write_bytes(
                encoded(f"---\n{front}\n---\n{body}\n"))
        built(root)


json_value = st.recursive(st.one_of(odd_text, st.integers(), st.floats(allow_nan=False),
                                    st.booleans(), st.none(), st.sampled_from(DATES)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(odd_text, inner, max_size=3)),
                          max_leaves=5)
JSON_KEYS = ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
             "image", "banner_image", "date_published", "date_modified", "authors", "author",
             "tags"]


@st.composite
def json_item(draw) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    item = draw(st.dictionaries(st.sampled_from(JSON_KEYS), json_value, max_size=8))
    address = draw(st.one_of(st.integers(0, 99).map("https://fil.example/{}".format),
                             st.sampled_from(URLS)))
    for key, usual in (("date_published", ON_THE_DAY), ("title", draw(odd_text)),
                       ("url", address)):
        if draw(st.integers(0, 3)):  # mostly there, as in a real feed
            item[key] = usual
    return item


@st.composite
def rss_entry(draw) -> str:
    def element(name: str, text: str) -> str:
        return f"<{name}>{escape(text) if draw(st.booleans()) else text}</{name}>"

    parts = [element("title", draw(st.one_of(odd_text, markdown)))]
    if draw(st.integers(0, 3)):
        parts.append(element("link", draw(st.one_of(st.just("https://rss.example/1"), odd_text,
                                                    st.sampled_from(URLS)))))
    if draw(st.integers(0, 3)):
        parts.append(element("pubDate", draw(st.one_of(
            st.just("Tue, 22 Apr 2025 07:30:00 +0200"), odd_text,
            st.sampled_from(["Mon, 01 Jan 0001 00:00:00 +1400", "Fri, 31 Dec 9999 23:59:59 -1400",
                             "Tue, 22 Apr 2025 25:30:00 +2500"]), st.sampled_from(DATES)))))
    for name in ("description", "guid", "category", "author"):
        if draw(st.booleans()):
            parts.append(element(name, draw(st.one_of(odd_text, markdown))))
    return "<item>" + "".join(parts) + "</item>"


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate, as a broken feed holds one


@FUZZ
@given(st.lists(json_item(), max_size=4), st.lists(rss_entry(), max_size=4), odd_text,
       st.tuples(odd_text, markdown))
def test_any_feed_entries_give_an_edition_or_skips(items, entries, title, readable):
    # one entry of each feed reads, whatever its title and text hold: the edition gets rendered
    text, html = readable
    items = [*items, {"id": "lisible", "url": "https://fil.example/lisible", "title": text,
                      "content_html": html, "date_published": ON_THE_DAY}]
    entries = [*entries, f"<item><title>{escape(text)}</title><link>https://rss.example/lisible"
                         f"</link><pubDate>Tue, 22 Apr 2025 07:30:00 +0200</pubDate>"
                         f"<description>{escape(html)}</description></item>"]
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": title, "items": items}
    rss = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>'
           f"{escape(title)}</title>" + "".join(entries) + "</channel></rss>")
    with tempfile.TemporaryDirectory() as tmp:
        root = folder(tmp, [("fil.json", encoded(json.dumps(feed, default=str))),
                            ("fil.xml", encoded(rss))])
        built(root)


@FUZZ
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.sampled_from(["Europe/Paris", "Pacific/Kiritimati", "Etc/GMT+12", "UTC"]))
def test_any_date_gives_an_edition_or_a_skip(moment, zone):
    with tempfile.TemporaryDirectory() as tmp:
        root = folder(tmp)
        config = (root / "digest.toml").read_text().replace("Europe/Paris", zone)
        (root / "digest.toml").write_text(config)
        (root / "articles" / "a.md").write_text(
            f"---\ntitle: Un jour\ndate: {moment.isoformat()}+14:00\n---\nTexte.\n")
        (root / "articles" / "b.md").write_text(f"---\ntitle: Ce jour\ndate: {ON_THE_DAY}\n---\n")
        built(root)


# what a provider may send where a time is due: JSON gives NaN, Infinity and huge numbers too
provider_value = st.one_of(st.floats(), st.integers(min_value=-10**30, max_value=10**400),
                           st.booleans(), st.none(), odd_text, st.sampled_from(DATES),
                           st.lists(st.integers(), max_size=2))


@FUZZ
@given(st.lists(provider_value, min_size=1, max_size=6))
def test_any_provider_time_is_stored_so_that_every_later_use_works(moments):
    """Signed webhook events whatever their `timestamp`: stored, listed, written to the
    suppressions' CSV and read back, never an overflow."""
    import base64
    import time

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from digest.audience.recipients import read_suppressions
    from digest.dates import utc_text
    from digest.deliver.webhooks import EventVerifier
    from digest.state import State

    private = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    events = [{"email": f"lecteur{n}@lecteurs.example", "event": "bounce", "timestamp": moment}
              for n, moment in enumerate(moments)]
    body = json.dumps(events).encode()
    now = str(int(time.time()))
    signature = base64.b64encode(private.sign(now.encode() + body,
                                              ec.ECDSA(hashes.SHA256()))).decode()
    batch = EventVerifier(public).verified(body, signature, now, time.time())
    assert len(batch.suppressions) == len(moments)
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Path(tmp) / "unsubscribed.csv"
        state = State(Path(tmp) / "state.db", mirror)
        try:
            state.suppressions.add(batch.suppressions)
            for entry in state.suppressions.entries():
                assert utc_text(entry.at) != "?"
                assert 946_684_800 <= entry.at <= time.time() + 86_400
        finally:
            state.close()
        assert len(read_suppressions(mirror)) == len(moments)
