"""Hostile articles, feeds and pages, tried as an attacker would: each one is a line on stderr (or
nothing at all), never a traceback, a hang, a memory blow-up or a leak, and the edition goes on."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zlib

import pytest
from conftest import REPO
from feed_server import Route, rss
from hostile import (
    BAD_ARTICLES,
    EDITOR_FILES,
    SEPARATOR_TITLE,
    write_bad_articles,
    write_good_articles,
)

MORNING = "Tue, 22 Apr 2025 07:30:00 +0200"



def edition(newsletter) -> dict:
    return json.loads((newsletter.root / "out" / "2025-04-22" / "edition.json").read_text())


def warnings_about(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if needle in line]


# -- articles --------------------------------------------------------------------------------

def test_each_bad_article_is_named_once_and_the_good_ones_build(newsletter, tmp_path):
    write_bad_articles(newsletter.articles, tmp_path / "dehors")
    titles = write_good_articles(newsletter.articles)
    result = newsletter.run("build", "--date", "2025-04-22", process=True)  # as cron runs it
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("warning: articles/") for line in lines), lines
    assert len(lines) == len(BAD_ARTICLES)
    for name in BAD_ARTICLES:
        assert len(warnings_about(result.stderr, f"articles/{name}")) == 1, (name, lines)
        assert warnings_about(result.stderr, f"articles/{name}")[0].endswith("; skipped")
    for name in EDITOR_FILES:  # an editor's lock file is not an article: not a word about it
        assert name not in result.stderr
    built = edition(newsletter)
    assert sorted(a["title"] for a in built["articles_considered"]) == sorted(titles)
    assert f"{len(BAD_ARTICLES)} skipped" in result.stdout
    published = "".join(p.read_text() for p in (newsletter.root / "out").rglob("*.*"))
    assert "Ne doit pas être publié" not in published and "Le fichier secret" not in published


@pytest.mark.parametrize(("name", "reason"), [
    ("date-impossible.md", 'date: cannot read "2025-02-30"'),
    ("date-hour-25.md", 'date: cannot read "2025-04-22T25:00:00"'),
    ("date-offset-25.md", 'date: cannot read "2025-04-22T08:00:00+25:00"'),
    ("date-year-1.md", "date: 0001-01-01T00:00:00+14:00 is out of range"),
    ("date-year-9999.md", "is out of range; dates go from 1900-01-01 to 9998-12-31"),
    ("dangling.md", "a link to "),
    ("dossier.md", "a folder, not a file"),
    ("tube.md", "a named pipe (FIFO), not a file"),
    ("zero.md", "a link to '/dev/zero', outside the folder"),
    ("ailleurs.md", "outside the folder"),
    ("bombe.md", "front matter uses a YAML alias (*name)"),
    ("enorme.md", "over the 1,000,000 byte limit (sources.max_article_bytes)"),
])
def test_the_reason_names_what_to_fix(newsletter, tmp_path, name, reason):
    write_bad_articles(newsletter.articles, tmp_path / "dehors", only=(name,))
    write_good_articles(newsletter.articles)
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if reason in line], result.stderr
    assert result.stderr.count("warning:") == 1


def test_a_title_with_line_separators_makes_a_one_line_subject(newsletter):
    newsletter.article("a", "Un texte. " * 200, title=SEPARATOR_TITLE, lead=True)
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert edition(newsletter)["subject"] == "Titre sur deux lignes fin"
    message = (newsletter.root / "out" / "2025-04-22" / "digest.eml").read_bytes()
    assert b"Subject: Titre sur deux lignes fin\r\n" in message


def test_strange_file_names_are_shown_escaped(newsletter):
    (newsletter.articles / os.fsdecode(b"caf\xe9\nnoir.md")).write_text("---\ntitle: [\n---\n")
    newsletter.article("bon", "Texte. " * 200)
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "warning: articles/caf\\xe9 noir.md:3: invalid front matter" in result.stderr


def test_hidden_files_and_folders_are_not_articles(newsletter):
    newsletter.article("bon", "Texte. " * 200)
    (newsletter.articles / ".brouillons").mkdir()
    (newsletter.articles / ".brouillons" / "secret.md").write_text(
        "---\ntitle: Brouillon\ndate: 2025-04-22\n---\nPas encore.\n")
    (newsletter.articles / ".x.md").write_text("---\ntitle: [\n---\n")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0 and result.stderr == ""
    assert [a["title"] for a in edition(newsletter)["articles_considered"]] == ["Bon"]


def test_huge_priorities_and_nested_front_matter_are_refused_in_one_line(newsletter):
    newsletter.raw("grand.md", "---\ntitle: Grand\ndate: 2025-04-22\npriority: " + "9" * 500
                   + "\n---\nTexte.\n")
    newsletter.raw("profond.md", "---\ntitle: " + "[" * 5000 + "]" * 5000
                   + "\ndate: 2025-04-22\n---\nTexte.\n")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "articles/grand.md:4: priority: expected an integer from" in result.stderr
    assert len(warnings_about(result.stderr, "articles/profond.md")) == 1


# -- feeds -----------------------------------------------------------------------------------

def allow_private(newsletter) -> None:
    newsletter.set_config(newsletter.config.read_text().replace(
        "[sources]", "[sources]\nallow_private = true", 1))


def add_feed(newsletter, url: str, **options) -> None:
    lines = [f'url = "{url}"'] + [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    newsletter.add_config("[[sources.feeds]]\n" + "\n".join(lines) + "\n")


JSON_ITEMS = [
    ({"id": "1", "url": "https://fil.example/1", "title": "Bonne dépêche",
      "content_html": "<p>Un texte correct.</p>", "date_published": "2025-04-22T07:00:00+02:00"},
     None),
    ({"id": "2", "url": "https://fil.example/2", "title": "Contenu", "content_html": 5,
      "date_published": "2025-04-22T07:00:00+02:00"}, "content_html: expected text, got 5"),
    ({"id": "3", "url": "https://fil.example/3", "title": "Étiquettes", "tags": {},
      "date_published": "2025-04-22T07:00:00+02:00"},
     "tags: expected a list of text, got an object"),
    ({"id": "4", "url": "https://fil.example/4", "title": "Auteurs", "authors": {},
      "date_published": "2025-04-22T07:00:00+02:00"},
     "authors: expected a list of objects, got an object"),
    ({"id": "5", "url": "https://fil.example/5", "title": "An un",
      "date_published": "0001-01-01T00:00:00+14:00"}, "is out of range"),
    ({"id": "6", "url": "https://fil.example/6", "title": "Ligne\u2028séparée\u0085ici",
      "content_text": "Texte.", "date_published": "2025-04-22T07:00:00+02:00"}, None),
    (42, "expected an object, got 42"),
    ({"id": "8", "url": "javascript:alert(1)", "title": "Lien",
      "date_published": "2025-04-22T07:00:00+02:00"}, "no usable link"),
]
RSS_ENTRIES = [
    ({"title": "Dépêche RSS", "link": "https://rss.example/1", "date": MORNING,
      "description": "Un texte."}, None),
    ({"title": "Titre\u2028coupé\u2029en\u0085trois", "link": "https://rss.example/2",
      "date": MORNING, "description": "Un texte."}, None),
    ({"title": "Sans date", "link": "https://rss.example/3", "description": "Un texte."},
     "has no date"),
]


def test_each_bad_feed_entry_is_one_line_and_the_edition_builds(newsletter, server, tmp_path):
    newsletter.article("locale", "Un article de la rédaction. " * 40, title="Notre article",
                       lead=True)
    items = [item for item, _ in JSON_ITEMS]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Fil JSON",
                       "items": items}).replace('"Texte."', '"Texte \\ud800."')  # a lone surrogate
    allow_private(newsletter)
    add_feed(newsletter, server.add("/feed.json", body=body.encode(),
                                    content_type="application/feed+json"))
    add_feed(newsletter, server.add("/feed.xml", body=rss([e for e, _ in RSS_ENTRIES])))
    add_feed(newsletter, "file:///dev/zero")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    expected = [(f"feed Fil JSON entry {n}", reason) for n, (_, reason) in enumerate(JSON_ITEMS, 1)]
    expected += [(f"feed Le Fil entry {n}", reason) for n, (_, reason) in enumerate(RSS_ENTRIES, 1)]
    for where, reason in expected:
        found = [line for line in lines if f"warning: {where}: " in line]
        assert len(found) == (reason is not None), (where, lines)
        assert all(reason in line and "; skipped" in line for line in found), found
    assert warnings_about(result.stderr, "feed file:///dev/zero: /dev/zero: a device, not a "
                                         "file; skipped")
    assert len(lines) == sum(reason is not None for _, reason in JSON_ITEMS + RSS_ENTRIES) + 1
    titles = {a["title"] for a in edition(newsletter)["articles_considered"]}
    # feedparser reads a C1 control in XML as the windows-1252 character of that byte (… for 0x85)
    assert titles == {"Notre article", "Bonne dépêche", "Ligne séparée ici", "Dépêche RSS",
                      "Titre coupé en…trois"}


def test_a_local_feed_path_is_read_up_to_the_cap_only(newsletter, tmp_path):
    newsletter.article("locale", "Texte. " * 200)
    big = tmp_path / "grand.xml"
    big.write_bytes(rss([{"title": "x", "link": "https://x.example/", "date": MORNING}])
                    + b" " * 20_000)
    os.mkfifo(tmp_path / "tube.xml")
    add_feed(newsletter, str(big))
    add_feed(newsletter, str(tmp_path / "tube.xml"))
    newsletter.set_config(newsletter.config.read_text().replace("[sources]",
                                                                "[sources]\nmax_bytes = 10000"))
    result = newsletter.run("build", "--date", "2025-04-22", process=True)
    assert result.returncode == 0, result.stderr
    assert "grand.xml: over the 10,000 byte limit (sources.max_bytes); skipped" in result.stderr
    assert "tube.xml: a named pipe (FIFO), not a file; skipped" in result.stderr


def gzip_bomb(megabytes: int) -> bytes:
    """`megabytes` MB of spaces, gzipped into a few hundred KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b" " * 1_000_000
    return b"".join([packer.compress(chunk) for _ in range(megabytes)] + [packer.flush()])


def test_a_gzip_bomb_stops_at_the_cap(newsletter, server):
    newsletter.article("locale", "Texte. " * 200)
    bomb = gzip_bomb(200)
    assert len(bomb) < 300_000
    allow_private(newsletter)
    add_feed(newsletter, server.add("/bombe.xml", Route(body=bomb, content_type="text/xml",
                                                        headers={"Content-Encoding": "gzip"})))
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "too large: over the 5,000,000 byte limit (sources.max_bytes); skipped" in result.stderr


def test_entries_kept_by_an_earlier_run_are_checked_again(newsletter, server):
    route = Route(body=rss([e for e, _ in RSS_ENTRIES[:1]]))
    allow_private(newsletter)
    add_feed(newsletter, server.add("/fil.xml", route))
    assert newsletter.run("build", "--date", "2025-04-22").returncode == 0
    # rows as an earlier release wrote them: a title with separators, and one that is not JSON
    database = sqlite3.connect(newsletter.root / ".digest" / "state.db")
    (feed_url, row), = database.execute("SELECT feed_url, article FROM feed_entries").fetchall()
    article = json.loads(row)
    article.update(title="Ancien\u2028titre\x85coupé", url="https://rss.example/ancien",
                   guid="ancien")
    with database:
        database.execute("INSERT INTO feed_entries VALUES ('2025-04-22', ?, 'ancien', ?)",
                         (feed_url, json.dumps(article)))
        database.execute("INSERT INTO feed_entries VALUES ('2025-04-22', ?, 'abime', '{\"x')",
                         (feed_url,))
    database.close()
    route.status, route.body = 404, b"gone"  # the feed dropped them
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert {a["title"] for a in edition(newsletter)["articles_considered"]} == \
        {"Dépêche RSS", "Ancien titre coupé"}
    assert len(warnings_about(result.stderr, "entry 'abime': kept from an earlier run, "
                                             "cannot be read back; skipped")) == 1


# -- the guarded client ----------------------------------------------------------------------

@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"),
    ("10.1.2.3", "a private address"), ("192.168.0.1", "a private address"),
    ("172.16.0.1", "a private address"), ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"), ("fc00::1", "a private address"),
    ("fec0::1", "a site-local address"), ("feff:ffff::1", "a site-local address"),
    ("224.0.0.1", "a multicast address"), ("ff02::1", "a multicast address"),
    ("0.0.0.0", "an unspecified address"), ("::", "an unspecified address"),
    ("240.0.0.1", "a private address"), ("100.64.0.1", "not a public address"),
    ("::ffff:127.0.0.1", "a loopback address"), ("::ffff:10.0.0.1", "a private address"),
    ("2002:7f00:1::", "a loopback address"), ("64:ff9b::a9fe:a9fe", "a link-local address"),
    ("93.184.215.14", ""), ("2606:4700::1111", ""),
])
def test_refused_addresses(address, kind):
    from digest.sources.network import refusal

    assert refusal(address) == kind


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "localhost",
                                  "0x7f.1"])
def test_a_loopback_feed_is_refused_and_never_requested(newsletter, server, host):
    newsletter.article("locale", "Texte. " * 200)
    url = server.add("/feed.xml", body=rss([e for e, _ in RSS_ENTRIES[:1]]))
    port = url.split(":")[2].split("/")[0]
    add_feed(newsletter, f"http://{host}:{port}/feed.xml")
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stderr and "sources.allow_private = true" in result.stderr
    assert server.requests == 0


def own_network_namespace() -> list[str]:
    """The command prefix that runs a process in a network namespace of its own, or a skip."""
    prefix = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    usable = shutil.which("unshare") and shutil.which("ip") and subprocess.run(
        [*prefix, "ip", "link", "set", "lo", "up"], capture_output=True).returncode == 0
    if not usable:
        if os.environ.get("CI"):
            pytest.fail("unshare --net is needed to give a test host a public address")
        pytest.skip("no network namespace here (unshare --net): cannot play a public host")
    return prefix


@pytest.mark.parametrize("allow", [False, True])
def test_ssrf_through_full_text(tmp_path, allow):
    """A feed on a public host links its entry to an internal service on 127.0.0.1, directly and
    through a 302 from its own host: nothing of the internal page is published, and the internal
    service never hears of digest, unless sources.allow_private says the feeds are an intranet's
    (the control: the same run then publishes the page)."""
    command = [*own_network_namespace(), sys.executable, str(REPO / "tests" / "public_host.py"),
               str(tmp_path)] + (["allow_private"] if allow else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=180,
                          cwd=REPO / "tests", env={**os.environ, "PYTHONPATH": str(REPO / "tests")})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for scenario in ("direct", "redirect"):
        run = report[scenario]
        assert run["code"] == 0 and run["built"], run
        assert run["leaked"] is allow, run
        assert run["internal_requests"] == (1 if allow else 0), run
        if not allow:
            assert "refused: 127.0.0.1 is a loopback address" in run["stderr"], run
            assert "the feed's summary is used" in run["stderr"]
    assert report["redirect"]["public_article_requests"] == 1  # the first hop was made


# -- found by hand and by test_fuzz.py: inputs that cost quadratic time or broke a parser -----
# A timeout bounds each run (minutes before the fix, a second or two after); no timer is asserted.

def test_a_title_of_one_huge_word(newsletter):
    newsletter.article("mot", "Texte. " * 200, title="Mot" * 70_000)  # 210 KB, no space
    result = newsletter.run("build", "--date", "2025-04-22", process=True)
    assert result.returncode == 0, result.stderr
    assert edition(newsletter)["lead"]["title"] == "Mot" * 70_000


def test_html_nested_deeper_than_any_page_is_kept_as_text(newsletter):
    newsletter.article("profond", "<div>" * 150_000 + "Le texte <script>alert(1)</script>fin.",
                       title="Profond")
    result = newsletter.run("build", "--date", "2025-04-22", process=True)
    assert result.returncode == 0, result.stderr
    html = (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text()
    assert "Le texte" in html and "alert(1)" not in html


def test_a_feed_entry_of_unclosed_image_tags(newsletter, tmp_path):
    newsletter.article("locale", "Texte. " * 200)
    feed = tmp_path / "images.json"
    feed.write_text(json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "url": "https://fil.example/1", "title": "Images",
         "content_html": "<img" * 200_000, "date_published": "2025-04-22T07:00:00+02:00"}]}))
    add_feed(newsletter, str(feed))
    result = newsletter.run("build", "--date", "2025-04-22", process=True)
    assert result.returncode == 0, result.stderr
    assert "Images" in {a["title"] for a in edition(newsletter)["articles_considered"]}


def test_a_character_reference_to_a_surrogate_breaks_feedparser_not_the_edition(newsletter,
                                                                                 tmp_path):
    newsletter.article("locale", "Texte. " * 200)
    feed = tmp_path / "fil.xml"
    feed.write_bytes(rss([{"title": "Titre", "link": "https://rss.example/1", "date": MORNING}])
                     .replace(b"<title>Titre", b"<title>Titre &#xD800;"))
    add_feed(newsletter, str(feed))
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert "not a readable feed (feedparser failed: UnicodeEncodeError" in line


def test_every_fetch_goes_through_the_guarded_client():
    """Only sources/network.py speaks HTTP for the readers; SendGrid's backend, to its own API."""
    from test_state import modules

    users = {name for name, found in modules().items()
             if any(m == "httpx" or m.startswith(("httpx.", "urllib.request", "requests"))
                    for m in found)}
    assert users == {"sources/network.py", "deliver/sendgrid.py"}, users
