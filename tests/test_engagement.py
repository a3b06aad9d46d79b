"""`ranking.engagement`: the categories' click rates of past editions as a score component,
smoothed so that one lucky story does not swing it, never above a pinned lead or an editor's
priority, and explained by `digest rank --explain`."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlsplit

import pytest
from test_clicks import HOST, clickable, send
from test_sendgrid_events import key_pair
from web_server import SECRET, Served

from digest.engagement.rates import category_interest
from digest.models import LinkedStory

READERS = 1000


@pytest.fixture
def letter(newsletter):
    return clickable(newsletter, key_pair()[1])


def stories(category: str, rates: list[float], day: str = "2025-04-01") -> list[LinkedStory]:
    return [LinkedStory(day, f"{category}{i}", "https://x.example", "t", category, "f.md", i,
                        True, round(rate * READERS)) for i, rate in enumerate(rates)]


def test_one_lucky_story_moves_its_category_less_than_a_steady_liking():
    plain = stories("Ville", [0.02] * 20)
    lucky = category_interest(plain + stories("Sport", [0.30]), {"2025-04-01": READERS})
    steady = category_interest(plain + stories("Culture", [0.05] * 10),
                               {"2025-04-01": READERS})
    assert lucky is not None and steady is not None
    # fifteen times the others' rate once, against two and a half times, ten stories long
    assert steady.lift("Culture") > 0.4, steady.rates["Culture"]
    assert 0 < lucky.lift("Sport") < min(0.5, steady.lift("Culture") / 1.5), lucky.rates["Sport"]
    assert steady.lift("Ville") < 0 and steady.lift("Inconnue") == 0
    # stories only some sections' readers saw, or a day nobody was sent, measure nothing
    unseen = [LinkedStory("2025-04-01", "s", "u", "t", "Sport", "f", 9, False, 500)]
    assert category_interest(plain + unseen, {"2025-04-01": READERS}).lift("Sport") == 0
    assert category_interest(plain, {}) is None


def test_with_sections_only_the_lead_is_measured_as_shown_to_every_reader(tmp_path):
    """A reader of some sections gets his sections' blurbs only: a blurb's clicks over every
    reader would read as disinterest in the others."""
    from conftest import build, copy_sample

    from digest.config import load_config
    from digest.engagement.links import linked_stories

    root = copy_sample(tmp_path / "sample")
    plain = load_config(root / "digest.toml")
    edition = build(plain, date(2025, 4, 22)).edition
    assert sum(s.shown for s in linked_stories(edition, plain)) == 1 + len(edition.blurbs)
    with (root / "digest.toml").open("a", encoding="utf-8") as config:
        config.write('\n[sections.sport]\ncategories = ["Sport"]\n')
    sectioned = load_config(root / "digest.toml")
    shown = [s for s in linked_stories(edition, sectioned) if s.shown]
    assert [s.position for s in shown] == [0]


def test_clicks_of_past_editions_move_a_category_up_below_pins_and_priorities(letter):
    """Day one is sent and its culture story clicked; on day two the culture story climbs
    above a better-scored one of another category, but not above the pinned lead nor a story
    the editors gave a priority."""
    links = send(letter)  # test_clicks' three stories of 2025-04-22, sent as day one
    served = Served(letter.root)
    try:
        for n in range(3):  # three readers
            status, _, _ = served.exchange("GET", urlsplit(links["culture"]).path, host=HOST,
                                           headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
            assert status == 302
    finally:
        served.stop()
    # day two: the same categories, the day after
    for article in letter.articles.iterdir():
        article.unlink()
    day_two = {  # title: (category, priority, pinned, hour, words)
        "Une du jour": ("Ville", 0, True, 6, "Le maire présente le plan de circulation."),
        "Conseil municipal": ("Ville", 0, False, 18, "Les élus votent la cantine gratuite."),
        "Priorité rédaction": ("Sport", 1, False, 7, "Le stade rouvre après les travaux."),
        "Exposition": ("Culture", 0, False, 8, "Le musée prête ses estampes au lycée."),
    }
    for title, (category, priority, pinned, hour, words) in day_two.items():
        letter.article(title.lower().replace(" ", "-"), f"{words} " * 40, title=title,
                       category=category, priority=priority, lead=pinned,
                       date=f"2025-04-23T{hour:02d}:00:00+02:00",
                       url=f"https://gazette.example/{hour}")

    def order(weight: float) -> list[str]:
        shown = letter.run("rank", "--date", "2025-04-23", "--json",
                           env={"DIGEST_SECRET": SECRET})
        assert shown.returncode == 0, shown.stderr
        return [a["title"] for a in json.loads(shown.stdout)["articles"]]

    set_engagement(letter, 0)
    plain = order(0)
    assert plain[0] == "Une du jour"
    assert plain.index("Conseil municipal") < plain.index("Exposition")
    set_engagement(letter, 3)
    listened = order(3)
    assert listened[0] == "Une du jour", "a pinned lead stays the lead"
    assert listened.index("Priorité rédaction") < listened.index("Exposition"), \
        "an editor's priority stays above"
    assert listened.index("Exposition") < listened.index("Conseil municipal")

    explained = letter.run("rank", "--date", "2025-04-23", "--explain")
    assert explained.returncode == 0, explained.stderr
    assert "clicks" in explained.stdout.splitlines()[1]
    assert "Clicks:" in explained.stdout
    assert "Culture: 3 clicks for 3 deliveries" in explained.stdout


def set_engagement(newsletter, weight: float) -> None:
    lines = [line for line in newsletter.config.read_text().splitlines()
             if not line.startswith("engagement = ")]
    text = "\n".join(lines) + "\n"
    newsletter.set_config(text.replace("[ranking]\n", f"[ranking]\nengagement = {weight}\n", 1))
