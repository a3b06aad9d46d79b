"""Feeds beside articles/: fetched from a real HTTP server on 127.0.0.1, never derailing a build."""

import json
import sqlite3
import time
from datetime import UTC, date

from conftest import build, gather, load
from feed_server import Route, rss

from digest.dates import today
from digest.sources import deduplicate
from digest.urls import normalize_url

DAY = date(2025, 4, 22)
MORNING = "Tue, 22 Apr 2025 07:30:00 +0200"



def story(n, **extra):
    return {"title": f"Dépêche {n}", "link": f"https://fil.example/depeche-{n}",
            "date": MORNING, "description": f"<p>Le texte de la dépêche {n}. " * 20 + "</p>",
            **extra}


def add_feeds(newsletter, *urls_and_options, allow_private=True):
    """[[sources.feeds]] tables; the feed server is on 127.0.0.1, which digest refuses to read
    unless sources.allow_private is on."""
    if allow_private:
        newsletter.set_config(newsletter.config.read_text().replace(
            "[sources]", "[sources]\nallow_private = true", 1))
    blocks = []
    for url, options in urls_and_options:
        lines = [f'url = "{url}"'] + [f"{k} = {json.dumps(v)}" for k, v in options.items()]
        blocks.append("[[sources.feeds]]\n" + "\n".join(lines))
    newsletter.add_config("\n\n".join(blocks) + "\n")


def test_articles_and_two_feeds_make_one_digest(newsletter, server):
    newsletter.article("locale", "Un article de la rédaction. " * 40, title="Notre article",
                       lead=True)
    one = server.add("/un.xml", body=rss([story(1, category="Monde"), story(2)], title="Agence Un"))
    two = server.add("/deux.xml", body=rss([story(3, image="https://img.example/3.jpg")],
                                           title="Agence Deux"))
    add_feeds(newsletter, (one, {"category": "Fil", "priority": 1}), (two, {"name": "Partenaire"}))
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "4 articles" in result.stdout
    edition = json.loads((newsletter.root / "out" / "2025-04-22" / "edition.json").read_text())
    by_title = {a["title"]: a for a in edition["articles_considered"]}
    assert by_title["Dépêche 1"]["category"] == "Monde"  # the entry's own category
    assert by_title["Dépêche 2"]["category"] == "Fil"  # else the feed's
    assert by_title["Dépêche 1"]["source"] == "Agence Un"
    assert by_title["Dépêche 3"]["source"] == "Partenaire"
    assert by_title["Dépêche 1"]["components"]["priority"] == 10.0  # priority added by the feed
    assert edition["lead"]["title"] == "Notre article"
    html = (newsletter.root / "out" / "2025-04-22" / "digest.html").read_text()
    assert "https://fil.example/depeche-3" in html
    assert all("digest/" in hit["user-agent"] for hit in server.routes["/un.xml"].hits)


def test_etag_round_trip_and_304_reuses_the_cache(newsletter, server):
    url = server.add("/etag.xml", body=rss([story(1)]), etag='"v1"')
    add_feeds(newsletter, (url, {}))
    first = gather(load(newsletter), DAY)
    second = gather(load(newsletter), DAY)
    hits = server.routes["/etag.xml"].hits
    assert "If-None-Match" not in hits[0] and hits[1]["If-None-Match"] == '"v1"'
    assert ([r.status for r in first.feeds] == ["ok"]
            and [r.status for r in second.feeds] == ["not modified"])
    assert [a.title for a in second.articles] == ["Dépêche 1"]


def test_a_feed_read_moments_ago_is_not_fetched_again_within_refetch_after(newsletter, server):
    url = server.add("/recent.xml", body=rss([story(1)]), etag='"r1"')
    add_feeds(newsletter, (url, {}))
    newsletter.set_config(newsletter.config.read_text().replace(
        "[sources]", "[sources]\nrefetch_after = 60"))
    first = gather(load(newsletter), DAY)
    second = gather(load(newsletter), DAY)
    assert len(server.routes["/recent.xml"].hits) == 1
    assert [r.status for r in second.feeds] == ["reused"]
    assert [a.title for a in second.articles] == [a.title for a in first.articles] == ["Dépêche 1"]
    assert "reused" in newsletter.run("sources", "--date", "2025-04-22").stdout


def test_gzip_and_redirects_are_followed(newsletter, server):
    target = server.add("/final.xml", body=rss([story(1)]), gzip=True)
    server.add("/moved.xml", redirect=target)
    add_feeds(newsletter, (server.url + "/moved.xml", {}))
    result = gather(load(newsletter), DAY)
    assert [a.title for a in result.articles] == ["Dépêche 1"]
    assert "gzip" in server.routes["/final.xml"].hits[0]["Accept-Encoding"]


BAD = {
    "/500.xml": (Route(body=b"oops", status=500, content_type="text/plain"), "HTTP 500"),
    "/loop.xml": (Route(redirect="/loop.xml"), "more than 5 redirects"),
    "/big.xml": (Route(body=b"<rss>" + b"x" * 20_000 + b"</rss>"), "too large"),
    "/page.xml": (Route(body=b"<!doctype html><html><body><h1>Accueil</h1></body></html>",
                        content_type="text/html"), "an HTML page, not a feed"),
    "/broken.xml": (Route(body=b"\x00\x01 not xml at all {{{"), "not a readable feed"),
    "/missing.xml": (None, "HTTP 404"),
}


def test_each_bad_feed_is_one_line_and_the_edition_still_builds(newsletter, server):
    good = server.add("/bon.xml", body=rss([story(1)]))
    feeds = [(good, {})]
    for path, (route, _) in BAD.items():
        if route is not None:
            server.add(path, route)
        feeds.append((server.url + path, {}))
    feeds.append(("ftp://fil.example/feed.xml", {}))
    feeds.append(("introuvable.xml", {}))
    add_feeds(newsletter, *feeds)
    newsletter.add_config("")
    newsletter.set_config(newsletter.config.read_text().replace(
        "[sources]", "[sources]\nmax_bytes = 10000\ntimeout = 2"))
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(BAD) + 2
    for path, (_, reason) in BAD.items():
        assert any(line.startswith(f"warning: feed {server.url}{path}: ") and reason in line
                   for line in lines), (path, lines)
    assert any("unsupported address scheme 'ftp'" in line for line in lines)
    assert any("introuvable.xml" in line and "cannot read" in line for line in lines)
    assert "(lead + 0 blurbs, 8 of 10 sources failed)" in result.stdout  # articles/ is a source too
    assert "Traceback" not in result.stderr

    strict = newsletter.run("build", "--date", "2025-04-22", "--strict")
    assert strict.returncode == 1


def test_slow_feed_times_out_without_holding_the_others(newsletter, server):
    slow = server.add("/lent.xml", body=rss([story(1)]), delay=3)
    fast = server.add("/rapide.xml", body=rss([story(2)]))
    add_feeds(newsletter, (slow, {}), (fast, {}))
    newsletter.set_config(newsletter.config.read_text().replace(
        "[sources]", "[sources]\ntimeout = 0.5"))
    started = time.monotonic()
    result = gather(load(newsletter), DAY)
    assert time.monotonic() - started < 2.5
    assert [a.title for a in result.articles] == ["Dépêche 2"]
    assert any("timed out" in str(p) or "no complete answer" in str(p) for p in result.problems)


def test_failed_feed_falls_back_to_its_last_copy_and_becomes_stale(newsletter, server):
    route = Route(body=rss([story(1)]))
    url = server.add("/parfois.xml", route)
    add_feeds(newsletter, (url, {}))
    newsletter.set_config(newsletter.config.read_text().replace(
        "[sources]", "[sources]\nstale_after = 2"))
    assert gather(load(newsletter), DAY).articles
    route.status, route.body = 503, b"maintenance"
    for run in range(1, 4):
        result = gather(load(newsletter), DAY)
        assert [a.title for a in result.articles] == ["Dépêche 1"]  # from the cached copy
        messages = [str(p) for p in result.problems]
        assert any("HTTP 503" in m and "using its copy from" in m for m in messages)
        assert any("stale: failed 3 runs in a row" in m for m in messages) == (run == 3)
    status = newsletter.run("sources")
    assert status.returncode == 1  # a health check: a failing or stale source is not "ok"
    assert "failing since" in status.stdout and "HTTP 503" in status.stdout
    route.status, route.body = 200, rss([story(1)])
    healthy = newsletter.run("sources")
    assert healthy.returncode == 0 and "failing since" not in healthy.stdout


def test_past_edition_rebuilds_the_same_after_the_feed_moved_on(newsletter, server):
    route = Route(body=rss([story(1), story(2)]))
    url = server.add("/fil.xml", route)
    add_feeds(newsletter, (url, {}))
    before = build(load(newsletter), DAY)
    route.body = rss([story(9, date="Wed, 23 Apr 2025 07:30:00 +0200")])  # the feed moved on
    after = build(load(newsletter), DAY)
    assert [r.article.title for r in after.edition.considered] == \
        [r.article.title for r in before.edition.considered]
    assert after.email.html == before.email.html


def test_entries_without_date_are_reported_or_dated_when_first_seen(newsletter, server):
    undated = server.add("/sans-date.xml", body=rss([story(1, date=None)]))
    add_feeds(newsletter, (undated, {}))
    # the newsletter's today (Paris), not this machine's: they differ around midnight
    config = load(newsletter)
    result = gather(config, today(config.tz))
    assert result.articles == []
    assert any("has no date; skipped" in str(p) for p in result.problems)

    newsletter.set_config(newsletter.config.read_text().replace(
        f'url = "{undated}"', f'url = "{undated}"\nundated = "first_seen"'))
    config = load(newsletter)
    result = gather(config, today(config.tz))
    assert [a.title for a in result.articles] == ["Dépêche 1"]


def test_images_come_from_media_enclosures_or_content(newsletter, server):
    entries = [
        story(1, image="https://img.example/enclosure.jpg"),
        story(2, thumbnail="https://img.example/thumb.jpg"),
        story(3, description='<p>Texte <img src="https://img.example/inline.jpg"> suite</p>'),
        story(4, image="javascript:alert(1)"),
    ]
    add_feeds(newsletter, (server.add("/images.xml", body=rss(entries)), {}))
    images = {a.title: a.image for a in gather(load(newsletter), DAY).articles}
    assert images == {"Dépêche 1": "https://img.example/enclosure.jpg",
                      "Dépêche 2": "https://img.example/thumb.jpg",
                      "Dépêche 3": "https://img.example/inline.jpg", "Dépêche 4": ""}


def test_json_feed(newsletter, server):
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Le JSON",
            "items": [{"id": "j1", "url": "https://json.example/1", "title": "Élément JSON",
                       "content_html": "<p>Du <b>contenu</b> <script>alert(1)</script></p>",
                       "date_published": "2025-04-22T09:00:00+02:00", "tags": ["Tech"],
                       "authors": [{"name": "Ada"}], "image": "https://img.example/j.jpg"},
                      {"id": "j2", "url": "https://json.example/2", "title": "Sans date"}]}
    url = server.add("/feed.json", body=json.dumps(feed).encode(),
                     content_type="application/feed+json")
    add_feeds(newsletter, (url, {}))
    result = gather(load(newsletter), DAY)
    (article,) = result.articles
    assert (article.title, article.category, article.author, article.image, article.source) == \
        ("Élément JSON", "Tech", "Ada", "https://img.example/j.jpg", "Le JSON")
    assert "<script" not in article.body_html and article.text == "Du contenu"


def test_duplicates_across_feeds_and_markdown_are_shown_once(newsletter, server):
    newsletter.article("meme", "Court.", title="Même histoire", url="https://fil.example/depeche-1/")
    rich = story(1, description="<p>" + "Version longue. " * 80 + "</p>")
    one = server.add("/un.xml", body=rss([rich]))
    tracked = dict(story(1), link="https://fil.example/depeche-1?utm_source=rss&fbclid=abc")
    two = server.add("/deux.xml", body=rss([tracked, story(2, guid="shared-id"),
                                            story(3, guid="shared-id")]))
    add_feeds(newsletter, (one, {}), (two, {}))
    articles = gather(load(newsletter), DAY).articles
    titles = sorted(a.title for a in articles)
    assert len(titles) == 2 and titles[0] == "Dépêche 1" and titles[1] in ("Dépêche 2", "Dépêche 3")
    (kept,) = [a for a in articles if a.title == "Dépêche 1"]
    assert kept.words > 100  # the richest copy


def test_normalize_url():
    assert normalize_url("http://Fil.example/a/?utm_medium=x&b=2&a=1#haut") == "https://fil.example/a?a=1&b=2"
    assert normalize_url("https://fil.example/a?gclid=1") == normalize_url("https://fil.example/a")


def test_deduplicate_keeps_unrelated_articles():
    from datetime import datetime

    from digest.models import Article

    def art(url, guid="", text="x"):
        return Article(title=url, date=datetime(2025, 4, 22, tzinfo=UTC), url=url,
                       body_html="", text=text, source="s", guid=guid)

    kept = deduplicate([art("https://a.example/1"), art("https://a.example/2"),
                        art("https://a.example/1/", text="longer text"),
                        art("https://b.example/", guid="g"),
                        art("https://c.example/", guid="g")])
    assert sorted(a.url for a in kept) == ["https://a.example/1/", "https://a.example/2", "https://b.example/"]


def test_state_database_holds_conditional_get_data(newsletter, server):
    url = server.add("/etat.xml", body=rss([story(1)]), etag='"abc"')
    add_feeds(newsletter, (url, {}))
    gather(load(newsletter), DAY)
    db = sqlite3.connect(newsletter.root / ".digest" / "state.db")
    assert db.execute("SELECT etag, failures FROM feed_cache").fetchall() == [('"abc"', 0)]


ARTICLE_PAGE = """<!doctype html><html lang="fr"><head><title>Dépêche 1</title>
<script>var tracker = 1;</script></head><body>
<nav><a href="/">Accueil</a> <a href="/monde">Monde</a> MENU DU SITE</nav>
<main><article><h1>Dépêche 1</h1>
<p>Premier paragraphe de l'article complet, qui raconte en détail ce que le fil ne faisait que
résumer en une phrase, avec des noms, des lieux et des chiffres précis pour le lecteur.</p>
<h2>Un sous-titre dans la page</h2>
<p>Deuxième paragraphe de l'article complet, avec \
<a href="https://fil.example/source">une source</a>
et encore assez de texte pour que l'extracteur le retienne comme le corps principal de la page.</p>
<p onclick="steal()">Troisième paragraphe, plus court, mais qui compte aussi \
dans le récit du jour.</p>
<script>alert("page")</script>
</article></main>
<footer>PIED DE PAGE Mentions légales</footer></body></html>"""


def test_full_text_lead_comes_from_its_page(newsletter, server):
    page = server.add("/depeche-1.html", body=ARTICLE_PAGE.encode(),
                      content_type="text/html; charset=utf-8")
    entry = story(1, description="Un résumé d'une phrase.")
    entry["link"] = page
    feed = server.add("/resumes.xml", body=rss([entry, story(2, description="Autre résumé.")]))
    add_feeds(newsletter, (feed, {"full_text": True, "priority": 1}))
    result = build(load(newsletter), DAY)
    lead = result.edition.lead.article
    assert lead.title == "Dépêche 1"
    assert "Premier paragraphe de l’article complet" in result.email.html
    assert "Un sous-titre dans la page" in result.email.html
    assert "MENU DU SITE" not in result.email.html and "PIED DE PAGE" not in result.email.html
    assert "<script" not in result.email.html and "onclick" not in result.email.html
    assert len(server.routes["/depeche-1.html"].hits) == 1  # only the lead's page is fetched
    assert not result.problems


def test_full_text_failure_keeps_the_summary_with_a_warning(newsletter, server):
    entry = story(1, description="Un résumé d'une phrase.")
    entry["link"] = server.url + "/absente.html"
    add_feeds(newsletter, (server.add("/r.xml", body=rss([entry])), {"full_text": True}))
    result = build(load(newsletter), DAY)
    assert "Un résumé d’une phrase." in result.email.html
    assert [str(p) for p in result.problems] == [
        f"full text of {server.url}/absente.html: HTTP 404 Not Found; the feed's summary is used"]
