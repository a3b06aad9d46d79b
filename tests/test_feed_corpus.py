"""The feedparser test corpus (../shared/corpus, read in place) through the whole pipeline."""

import re
from pathlib import Path

import pytest
from conftest import REPO, build
from feed_server import FeedServer, Route

from digest.config import load_config
from digest.dates import today
from digest.errors import NoArticlesError

CORPUS = REPO.parent / "shared" / "corpus" / "feedparser" / "tests"
SANITIZE = CORPUS / "wellformed" / "sanitize"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")

# What must never come out of a feed into an email.
DANGEROUS = [
    (re.compile(r"<script", re.IGNORECASE), "script"),
    (re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE), "on* attribute"),
    (re.compile(r"(href|src|action|background|dynsrc|lowsrc)\s*=\s*[\"']?\s*"
                r"(javascript|vbscript|data:text/html)", re.IGNORECASE), "script URL"),
    (re.compile(r"<(iframe|object|embed|form|applet|frame|frameset)\b", re.IGNORECASE),
     "embedding element"),
    (re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?refresh", re.IGNORECASE), "meta refresh"),
    (re.compile(r"<(base|link)\b[^>]*href", re.IGNORECASE), "base or link"),
]


def documents(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix in (".xml", ".rdf", ".rss", ".atom", ".json", ".txt"))


@pytest.fixture(scope="module")
def served():
    """Every corpus document served over HTTP on 127.0.0.1, read in place from ../shared."""
    server = FeedServer()
    for index, path in enumerate(documents(CORPUS)):
        server.add(f"/{index}.xml", Route(body=path.read_bytes(), content_type="application/xml"))
    yield server, {path: f"{server.url}/{index}.xml"
                   for index, path in enumerate(documents(CORPUS))}
    server.stop()


def run_pipeline(root: Path, url: str, web: bool) -> tuple[str, str] | None:
    """gather → rank → render for the edition of the day the document's entries belong to: the
    email's HTML and (with `web`) the archive's page; None when the document gave no article.
    Every document has the same newsletter folder (one state database, templates compiled once),
    a newsletter of its one feed."""
    from digest.rendering.render import web_page

    (root / "articles").mkdir(parents=True, exist_ok=True)
    (root / "digest.toml").write_text(
        '[newsletter]\nname = "Corpus"\n[ranking]\nblurbs = 50\n'
        '[sources]\nallow_private = true  # the corpus is served on 127.0.0.1\n'
        f'[[sources.feeds]]\nurl = "{url}"\nundated = "first_seen"\n', encoding="utf-8")
    config = load_config(root / "digest.toml")
    try:
        result = build(config, today(config.tz))  # the newsletter's day, as first_seen dates
    except NoArticlesError as error:
        if not error.dates:
            return None
        result = build(config, max(error.dates))
    return result.email.html, web_page(result.edition, config) if web else ""


@pytest.fixture(scope="module")
def pipeline(served, tmp_path_factory) -> dict[Path, tuple[str, str] | None]:
    """One pipeline run per corpus document, shared by the tests below."""
    _, urls = served
    root = tmp_path_factory.mktemp("corpus") / "lettre"
    return {path: run_pipeline(root, url, web=SANITIZE in path.parents)
            for path, url in urls.items()}  # a traceback fails the tests


def test_every_document_goes_through_the_pipeline(pipeline):
    assert len(pipeline) > 1500
    rendered = [html for html, _ in filter(None, pipeline.values())]
    assert all(html.startswith("<!doctype html>") for html in rendered)
    # the documents that carry an entry (many test feed-level fields only)
    assert len(rendered) > 400


def test_sanitizer_attacks_never_reach_the_email(pipeline):
    paths = documents(SANITIZE)
    assert len(paths) > 700
    rendered, failures = 0, []
    for path in paths:
        if pipeline[path] is None:
            continue
        rendered += 1
        for html in pipeline[path]:
            for pattern, what in DANGEROUS:
                match = pattern.search(html)
                if match:
                    failures.append(f"{path.name}: {what}: "
                                    f"{html[max(0, match.start() - 40):match.end() + 40]!r}")
    assert rendered > 150, rendered  # the others sanitize to an empty entry, which is skipped
    assert not failures, "\n".join(failures[:20])


def test_every_attack_payload_is_cleaned_even_when_its_entry_is_skipped():
    """The sanitizer on its own, on every entry body and title of the attack documents."""
    from digest.sanitize import clean_html
    from digest.sources.feed_formats import parse_feed

    checked, failures = 0, []
    for path in documents(SANITIZE):
        _, entries = parse_feed(path.read_bytes(), "application/xml")
        for entry in entries:
            for html in (clean_html(entry.html), clean_html(entry.title),
                         clean_html(entry.summary_html)):
                checked += 1
                for pattern, what in DANGEROUS:
                    if pattern.search(html):
                        failures.append(f"{path.name}: {what}: {html[:120]!r}")
    assert checked > 1500
    assert not failures, "\n".join(failures[:20])
