"""The README a newcomer reads in five minutes, and docs/ beside it: a short README whose Quick
start is the two commands, and links, between them, that all lead somewhere."""

import re
from pathlib import Path

import pytest
from conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
# what docs/ must hold; configuration.md is generated from digest/config.py
GUIDES = ("configuration.md", "building.md", "articles-and-feeds.md", "ranking.md",
          "templates.md", "sending.md", "readers.md", "architecture.md", "development.md")
QUICK_START = [
    "python3 -m venv .venv && .venv/bin/pip install -c requirements.lock -e . && "
    ".venv/bin/digest build --date 2025-04-22",
    "bash tests/run.sh",
]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"(`+)[^\n]+?\1")


def pages() -> list[Path]:
    guides = {DOCS / name for name in GUIDES} | set(DOCS.glob("*.md"))
    return [README, REPO / "bench" / "README.md", *sorted(guides)]


def prose(text: str) -> str:
    """The text without its fenced code blocks (a `## ` in an example is no heading)."""
    return FENCE.sub("", text)


def headings(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as
    hyphens; a repeated heading gets -1, -2..."""
    anchors: set[str] = set()
    for line in prose(text).splitlines():
        found = re.match(r"#{1,6} +(.+?) *#* *$", line)
        if not found:
            continue
        slug = re.sub(r"[^\w\- ]", "", found.group(1).lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def relative_links(page: Path) -> list[tuple[str, str]]:
    """(file, anchor) of each link of `page` that stays in the repository."""
    links = []
    text = CODE_SPAN.sub("", prose(page.read_text(encoding="utf-8")))  # `![alt](x.jpg)`: text
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:...
            continue
        path, _, anchor = target.partition("#")
        links.append((path, anchor))
    return links


def test_the_readme_is_read_in_five_minutes():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move the details to docs/"


def test_the_quick_start_is_exactly_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert re.findall(r"^## Quick start$", text, re.MULTILINE) == ["## Quick start"]
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    commands = [block.strip() for block in FENCE.findall(section)]
    assert commands == QUICK_START


def test_docs_holds_every_guide_and_the_readme_links_each_page():
    for name in GUIDES:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
    linked = {path for path, _ in relative_links(README)}
    for page in {*GUIDES, *(p.name for p in DOCS.glob("*.md"))}:
        assert f"docs/{page}" in linked, f"README.md does not link docs/{page}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_to_a_file_that_exists(page):
    links = relative_links(page)
    for path, anchor in links:
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.relative_to(REPO)}: {path} does not exist"
        if anchor and target.suffix == ".md":
            assert anchor in headings(target.read_text(encoding="utf-8")), \
                f"{page.relative_to(REPO)}: {path}#{anchor}: no such heading"


def test_the_link_finder_finds_the_readmes_links():
    # a guard for the test above: a pattern that found nothing would check nothing
    assert len(relative_links(README)) >= len(GUIDES)
    assert ("docs/sending.md", "") in relative_links(README)
