"""Ranking: priority first, then recency, length and image; lead pinning; determinism."""

import random
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from digest.config import RankingConfig as _RankingConfig
from digest.models import Article
from digest.ranking.rank import rank

PARIS = ZoneInfo("Europe/Paris")
# These tests are about scores: any article may lead, whatever its length.
RankingConfig = partial(_RankingConfig, lead_min_words=0)
DAY = date(2025, 4, 22)


def article(title, hour=8, words=100, image="", priority=0, lead=False, minute=0):
    return Article(
        title=title,
        date=datetime(2025, 4, 22, hour, minute, tzinfo=PARIS),
        url=f"https://x.example/{title}",
        body_html="",
        text="mot " * words,
        source=f"articles/{title}.md",
        image=image,
        priority=priority,
        lead=lead,
    )


def titles(ranked):
    return [r.article.title for r in ranked]


def test_priority_dominates_every_other_component():
    weak = article("faible", hour=0, words=1, priority=1)
    strong = article("fort", hour=23, words=5000, image="https://i.example/a.jpg", priority=0)
    edition = rank([strong, weak], DAY, PARIS, RankingConfig())
    assert edition.lead.article.title == "faible"


def test_within_a_priority_recency_length_and_image_decide():
    old = article("ancien", hour=6)
    new = article("recent", hour=18)
    long = article("long", hour=6, words=600)
    pictured = article("illustre", hour=6, image="https://i.example/a.jpg")
    edition = rank([old, new, long, pictured], DAY, PARIS, RankingConfig())
    by_score = sorted(edition.considered, key=lambda r: -r.score)
    assert titles(by_score) == ["long", "recent", "illustre", "ancien"]
    assert edition.lead.article.title == "illustre"  # the lead prefers a picture at equal priority


def test_components_add_up_to_the_score_and_are_explained():
    a = article("a", hour=12, words=300, image="https://i.example/a.jpg", priority=1)
    (ranked,) = rank([a], DAY, PARIS, RankingConfig()).considered
    assert ranked.components == {"priority": 10.0, "recency": 1.5, "length": 1.0, "image": 1.0,
                                 "coverage": 0.0}
    assert ranked.score == 13.5
    assert ranked.role == "lead" and ranked.reason.startswith("best score")


def test_ties_go_to_the_newer_then_to_the_title():
    from digest.config import RankingWeights

    no_recency = RankingConfig(blurbs=5, weights=RankingWeights(recency=0.0))
    b, a = article("b", hour=9), article("a", hour=9)
    newer = article("z-newer", hour=11)
    edition = rank([b, a, newer], DAY, PARIS, no_recency)
    assert {r.score for r in edition.considered} == {edition.lead.score}
    assert titles(edition.considered) == ["z-newer", "a", "b"]


def test_pinned_lead_wins_and_the_newest_pin_among_several():
    top = article("top", priority=5)
    pin_old = article("pin-ancien", hour=7, lead=True)
    pin_new = article("pin-recent", hour=9, lead=True)
    edition = rank([top, pin_old, pin_new], DAY, PARIS, RankingConfig())
    assert edition.lead.article.title == "pin-recent"
    assert "newest of 2 pinned" in edition.lead.reason
    assert titles(edition.blurbs) == ["top", "pin-ancien"]


def test_blurbs_are_the_next_n_by_score_and_the_rest_left_out():
    articles = [article(f"a{i:02d}", hour=i) for i in range(10)]
    edition = rank(articles, DAY, PARIS, RankingConfig(blurbs=3))
    assert edition.lead.article.title == "a09"
    assert titles(edition.blurbs) == ["a08", "a07", "a06"]
    left_out = [r for r in edition.considered if r.role == "left out"]
    assert len(left_out) == 6
    assert [r.position for r in edition.considered] == list(range(1, 11))
    assert left_out[0].reason == "beyond ranking.blurbs = 3"


def test_order_of_input_never_changes_the_edition():
    base = datetime(2025, 4, 22, 6, tzinfo=PARIS)
    articles = [
        Article(title=f"t{i % 7}", date=base + timedelta(minutes=37 * (i % 5)), url=f"https://x/{i}",
                body_html="", text="mot " * (50 * (i % 4)), source=str(i), priority=i % 3)
        for i in range(40)
    ]
    expected = titles(rank(articles, DAY, PARIS, RankingConfig()).considered)
    urls = [r.article.url for r in rank(articles, DAY, PARIS, RankingConfig()).considered]
    for seed in range(5):
        shuffled = articles[:]
        random.Random(seed).shuffle(shuffled)
        edition = rank(shuffled, DAY, PARIS, RankingConfig())
        assert titles(edition.considered) == expected
        assert [r.article.url for r in edition.considered] == urls


def test_weights_are_configurable():
    from digest.config import RankingWeights

    pictured = article("illustre", hour=6, image="https://i.example/a.jpg")
    recent = article("recent", hour=20)
    weights = RankingWeights(image=5.0)
    edition = rank([recent, pictured], DAY, PARIS, RankingConfig(weights=weights))
    assert edition.lead.article.title == "illustre"


def test_rank_piped_is_plain_aligned_columns_and_limit_cuts_the_table(sample):
    import json

    from conftest import run_digest

    full = json.loads(run_digest("rank", "--date", "2025-04-22", "--json", cwd=sample).stdout)
    result = run_digest("rank", "--date", "2025-04-22", cwd=sample)  # stdout is not a terminal
    assert result.returncode == 0, result.stderr
    title, header, *rows = result.stdout.splitlines()
    assert title == "Edition of 2025-04-22"
    assert not any(c in result.stdout for c in "┃│━╇\x1b")  # no box drawing, no colours
    # one article a line, nothing wrapped, each column where its header is
    assert len(rows) == len(full["articles"]) == 11
    at = {name: header.index(name) for name in ("category", "source", "title")}
    for row, article in zip(rows, full["articles"], strict=True):
        assert row[:header.index("priority")].split() == [
            str(article["position"]), *article["role"].split(), f"{article['score']:.3f}"]
        for name, start in at.items():
            assert row[start:].startswith(article[name]), (name, row)
    assert rows[-1].endswith("beyond ranking.blurbs = 6")

    limited = run_digest("rank", "--date", "2025-04-22", "--limit", "3", cwd=sample).stdout
    lines = limited.splitlines()
    assert len(lines) == 6 and [line.split()[0] for line in lines[2:5]] == ["1", "2", "3"]
    assert lines[-1] == "(3 of 11 articles; --limit)"
    for bad, says in (("0", "0 is out of range: at least 1"), ("trois", "'trois' is not a whole")):
        refused = run_digest("rank", "--date", "2025-04-22", "--limit", bad, cwd=sample)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

    # --json is the same with or without --limit: every article
    cut = json.loads(run_digest("rank", "--date", "2025-04-22", "--json", "--limit", "3",
                                cwd=sample).stdout)
    assert cut == full
