"""`digest build` end to end on the sample newsletter, through the real command."""

import email
import json
import os
import stat
from email import policy
from pathlib import Path

from conftest import run_digest


def test_sample_builds_all_outputs(sample):
    # as cron runs it
    result = run_digest("build", "--date", "2025-04-22", cwd=sample, process=True)
    assert result.returncode == 0, result.stderr
    # a clean build prints its summary line and nothing else (no cssutils/premailer noise)
    assert result.stderr == ""
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith("2025-04-22: 11 articles in 9 stories (lead + 6 blurbs, 2 left out); "
                           "lead: Berges de la Sorelle")
    assert line.endswith("written to out/2025-04-22/")
    folder = sample / "out" / "2025-04-22"
    assert sorted(p.name for p in folder.iterdir()) == [
        "digest.eml", "digest.html", "digest.txt", "edition.json"
    ]


def test_eml_is_multipart_alternative_text_then_html(sample):
    assert run_digest("build", "--date", "2025-04-22", cwd=sample).returncode == 0
    raw = (sample / "out" / "2025-04-22" / "digest.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["MIME-Version"] == "1.0"
    assert message["Subject"] == (  # typographic apostrophe
        "Berges de la Sorelle\u202f: un plan de 14 millions d’euros voté")
    assert message["From"].addresses[0].addr_spec == "redaction@courrier-valsorel.example"
    assert message["From"].addresses[0].display_name == "Le Courrier de Val-Sorel"
    assert message["Reply-To"] == "courrier@courrier-valsorel.example"
    assert message["Date"].datetime is not None
    assert message["Message-ID"].endswith("@courrier-valsorel.example>")
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert text_part.get_content_charset() == html_part.get_content_charset() == "utf-8"
    html = html_part.get_content().replace("\r\n", "\n")
    assert html == (sample / "out" / "2025-04-22" / "digest.html").read_text(encoding="utf-8")
    text = text_part.get_content()
    assert "Temps de lecture\u202f: 7\u00a0min de lecture" in text
    assert ("Lire la suite → https://www.courrier-valsorel.example/2025-04-22-berges-de-la-sorelle"
            in text)


def test_edition_json_explains_every_score(sample):
    assert run_digest("build", "--date", "2025-04-22", cwd=sample).returncode == 0
    edition = json.loads((sample / "out" / "2025-04-22" / "edition.json").read_text())
    assert edition["date"] == "2025-04-22"
    assert len(edition["articles_considered"]) == 11
    assert edition["counts"] == {"considered": 11, "stories": 9, "blurbs": 6, "left_out": 2,
                                 "problems": 0}  # the same counts as the summary line
    # the agency's copies of two stories are grouped under the newsroom's own articles
    assert [(g["shown"][:20], len(g["articles"]), g["sources"]) for g in edition["groups"]] == [
        ("Berges de la Sorelle", 2, 2), ("Orages : le départem", 2, 2)]
    assert edition["lead"]["title"].startswith("Berges de la Sorelle")
    # reasons: a stable code, and words in the newsletter's language (French here)
    assert edition["lead"]["reason_code"] == "pinned"
    assert edition["lead"]["reason"] == "épinglé en une"
    assert edition["blurbs"][0]["reason_code"] == "score_rank"
    assert edition["blurbs"][0]["reason"] == "rang 1 au score parmi les autres"
    assert len(edition["blurbs"]) == 6
    for record in edition["articles_considered"]:
        assert set(record) >= {"title", "url", "excerpt", "score", "components", "position", "role"}
        assert abs(sum(record["components"].values()) - record["score"]) < 0.01
    scores = [b["score"] for b in edition["blurbs"]]
    assert scores == sorted(scores, reverse=True)
    assert edition["articles_considered"][-1]["role"] == "left out"
    html = (sample / "out" / "2025-04-22" / "digest.html").read_text()
    assert html.count("À lire aussi") == 2
    assert "https://www.agence-sorelle.example/2025/04/22/val-sorel-berges-renovation" in html
    assert "(Agence Sorelle Info)" in html


def test_previous_day_of_the_sample(sample):
    result = run_digest("build", "--date", "2025-04-21", cwd=sample)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2025-04-21: 3 articles (lead + 2 blurbs)")


def test_no_articles_names_the_latest_date_and_exits_3(sample):
    result = run_digest("build", "--date", "2025-05-01", cwd=sample)
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "error: no articles for 2025-05-01; the most recent date with articles is 2025-04-22 "
        "(digest build --date 2025-04-22)"
    )
    assert not (sample / "out").exists()


def test_out_and_config_options(sample, tmp_path):
    elsewhere = tmp_path / "ailleurs"
    elsewhere.mkdir()
    result = run_digest("build", "--date", "2025-04-22", "--config", str(sample / "digest.toml"),
                        "--out", str(tmp_path / "sortie"), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sortie" / "2025-04-22" / "digest.html").is_file()


def test_bad_date_is_a_usage_error(sample):
    result = run_digest("build", "--date", "22/04/2025", cwd=sample)
    assert result.returncode == 2
    assert "is not a date; use YYYY-MM-DD" in result.stderr


def test_open_hands_the_html_to_the_browser(sample, tmp_path):
    record = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {record}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    result = run_digest("build", "--date", "2025-04-22", "--open", cwd=sample, process=True,
                        env={"BROWSER": f"{browser} %s", "DISPLAY": os.environ.get("DISPLAY", "")})
    assert result.returncode == 0, result.stderr
    opened = record.read_text().strip()
    assert opened == (sample / "out" / "2025-04-22" / "digest.html").resolve().as_uri()


def test_default_date_is_today_in_the_newsletter_time_zone(newsletter):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Paris")).replace(microsecond=0)
    newsletter.article("aujourdhui", title="Aujourd'hui", date=today.isoformat())
    result = newsletter.run("build")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{today.date()}: 1 article")
    assert Path(newsletter.root / "out" / today.date().isoformat() / "digest.eml").is_file()


def test_date_today_and_yesterday_in_the_newsletter_time_zone(newsletter):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Europe/Paris")).replace(microsecond=0)
    yesterday = now - timedelta(days=1)
    newsletter.article("hier", title="Hier", date=yesterday.isoformat())
    newsletter.article("aujourdhui", title="Aujourd'hui", date=now.isoformat())
    for word, day in (("yesterday", yesterday.date()), ("today", now.date())):
        result = newsletter.run("build", "--date", word)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{day}: 1 article"), result.stdout
    refused = newsletter.run("build", "--date", "demain")
    assert refused.returncode == 2 and "use YYYY-MM-DD, today or yesterday" in refused.stderr
