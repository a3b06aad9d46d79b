"""`digest report`: the sample sent with click links, a few stories clicked through `digest
serve`, then the report page opened in Chromium, directly and from the preview's link."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from browser import chromium
from conftest import copy_sample, run_digest
from test_preview import Preview, wait_for
from web_server import SECRET, Served

from digest.deliver import message_file_name

DAY = "2025-04-22"
HOST = "lettre.courrier-valsorel.example"
MEASURES = ["edition", "story", "category", "section"]
CLICKS = {"FC Val-Sorel arrache": 3, "Orages": 1}  # a headline's start: its clicks


@pytest.fixture(scope="module")
def clicked(tmp_path_factory):
    """The sample with two sections and click links, sent, and CLICKS clicked."""
    root = copy_sample(tmp_path_factory.mktemp("report") / "sample")
    with (root / "digest.toml").open("a", encoding="utf-8") as config:
        config.write('\n[tracking]\nclicks = true\n'
                     '\n[sections.sport]\nlabel = "Sport"\ncategories = ["Sport"]\n'
                     '\n[sections.vie-locale]\nlabel = "Vie locale"\n'
                     'categories = ["Val-Sorel", "Culture"]\n')
    sent = run_digest("send", "--date", DAY, cwd=root, env={"DIGEST_SECRET": SECRET})
    assert sent.returncode == 0, sent.stderr
    reader = (root / "recipients.csv").read_text().splitlines()[1].split(",")[0]
    served = Served(root)
    try:
        shown = json.loads(run_digest("status", "--date", DAY, "--json", cwd=root).stdout)
        stories = shown["clicks"][0]["stories"]
        for start, count in CLICKS.items():
            [story] = [s for s in stories if start in s["title"]]
            path = f"/c/{DAY.replace('-', '')}/{story['story']}/"
            link = next(link for link in click_links(root, reader) if path in link)
            for n in range(count):  # each click its own reader: one counts once a day
                assert served.exchange("GET", urlsplit(link).path, host=HOST, headers={
                    "X-Forwarded-For": f"203.0.113.{n + 1}"})[0] == 302
    finally:
        served.stop()
    return root


def click_links(root, reader) -> list[str]:
    import email
    from email import policy

    message = email.message_from_bytes(
        (root / "out" / DAY / "outbox" / message_file_name(reader)).read_bytes(),
        policy=policy.default)
    return re.findall(r'href="(https://' + re.escape(HOST) + r'/c/[^"]+)"',
                      message.get_body(("html",)).get_content())


def charts(page) -> dict[str, int]:
    """The bars of each chart on the page, by measure."""
    return {figure.get_attribute("data-measure"): figure.locator("svg .bar, svg rect.rect").count()
            for figure in page.locator("figure[data-measure]").all()}


def test_the_report_has_a_chart_per_measure_and_loads_nothing(clicked):
    written = run_digest("report", "--date", DAY, "--days", "30", cwd=clicked)
    assert written.returncode == 0, written.stderr
    path = clicked / "out" / "report.html"
    assert f"wrote {path}" in written.stdout
    html = path.read_text()
    assert "<script" not in html.lower()
    with chromium() as browser:
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(path.as_uri())
        found = charts(page)
        assert list(found) == MEASURES
        assert all(count > 0 for count in found.values()), found
        assert requests == [path.as_uri()], "the page loads nothing else"
        def height(measure: str, label: str) -> float:
            text = page.locator(f'figure[data-measure="{measure}"] svg text',
                                has_text=re.compile("^" + re.escape(label)))
            return text.first.bounding_box()["y"]

        assert height("story", "04-22 Football") < height("story", "04-22 Orages"), "most on top"
        assert height("category", "Sport") < height("category", "Météo")
        section_chart = page.locator('figure[data-measure="section"]').inner_text()
        assert "Sport" in section_chart and "Vie locale" in section_chart
        assert "4 clic(s) pour 4 envoi(s)" in page.locator("body").inner_text()


def test_the_preview_links_to_the_report(clicked):
    server = Preview(clicked, "--date", DAY)
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(server.url + f"/?date={DAY}")
            with page.context.expect_page() as opened:
                page.click("#report")
            report = opened.value
            report.wait_for_load_state()
            wait_for(lambda: len(charts(report)) == len(MEASURES), what="the report's charts")
            assert report.url == server.url + f"/report.html?date={DAY}"
    finally:
        server.stop()
