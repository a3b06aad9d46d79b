"""What `digest build` writes: out/<date>/ (the email, its parts, edition.json) and the web
archive."""

from __future__ import annotations

import json
import re
from datetime import date
from html import escape
from pathlib import Path

from digest.config import Config
from digest.dates import long_date
from digest.errors import DigestError
from digest.labels import labels_for
from digest.message import to_message
from digest.pipeline import Build
from digest.records import edition_record
from digest.rendering.render import environment_for, render_template, web_page


def write(result: Build, out_root: Path, config: Config) -> Path:
    """Write digest.html, digest.txt, digest.eml and edition.json under out_root/<date>/, and the
    edition's page in the web archive."""
    folder = out_root / result.edition.date.isoformat()
    try:
        _write_files(result, folder, config)
        write_archive(result, out_root, config)
    except OSError as error:
        where = error.filename or folder
        raise DigestError(f"{where}: cannot write the edition ({error.strerror or error}); check "
                          "the output folder (--out) and the free space") from None
    return folder


def _write_files(result: Build, folder: Path, config: Config) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digest.html").write_text(result.email.html, encoding="utf-8")
    (folder / "digest.txt").write_text(result.email.text, encoding="utf-8")
    (folder / "digest.eml").write_bytes(to_message(result.email).as_bytes())
    edition_json = json.dumps(edition_record(result, config), ensure_ascii=False, indent=2)
    (folder / "edition.json").write_text(edition_json + "\n", encoding="utf-8")
    _copy_assets(result, folder)


def _copy_assets(result: Build, folder: Path) -> None:
    """Images the shown articles carry as files, under out/<date>/assets/ (published at
    <newsletter.assets_url>/<date>/, where the email links them)."""
    import shutil

    for ranked in (result.edition.lead, *result.edition.blurbs):
        for source, name in ranked.article.assets:
            target = folder / "assets" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def write_archive(result: Build, out_root: Path, config: Config) -> None:
    """out/archive/<date>.html for this edition, and an index of every edition built so far."""
    archive = out_root / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    page = web_page(result.edition, config)
    (archive / f"{result.edition.date.isoformat()}.html").write_text(page, encoding="utf-8")
    editions = []
    for record_path in out_root.glob("????-??-??/edition.json"):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            day = date.fromisoformat(record["date"])
            title = str(record["lead"]["title"])
        except (ValueError, KeyError, TypeError, OSError, RecursionError):
            continue  # a folder that is not an edition, or a damaged edition.json
        if (archive / f"{day.isoformat()}.html").is_file():
            editions.append({
                "date": day.isoformat(),
                "date_long": long_date(day, config.newsletter.locale),
                "title": title,
                "file": f"{day.isoformat()}.html",
            })
    editions.sort(key=lambda e: e["date"], reverse=True)
    locale = config.newsletter.locale
    labels = labels_for(locale, config.labels)
    _link_neighbours(archive, [e["date"] for e in editions], result.edition.date.isoformat(),
                     labels)
    values = {"newsletter": config.newsletter, "lang": locale, "editions": editions,
              "labels": labels}
    env = environment_for(config)
    index = render_template(env, "archive_index.html.j2", values, config)
    (archive / "index.html").write_text(index, encoding="utf-8")


_NAV = re.compile(r'(<nav\b[^>]*class="archive-nav"[^>]*>).*?(</nav>)', re.DOTALL)
_NAV_LINK = 'style="color:#5f5a52; text-decoration:underline"'


def _link_neighbours(archive: Path, dates: list[str], day: str, labels: dict[str, str]) -> None:
    """The links of `day`'s page and of the pages before and after it: the index, the previous
    and the next edition. `dates` is every edition in the archive, newest first."""
    index = dates.index(day)
    for at in range(max(0, index - 1), min(len(dates), index + 2)):
        page = archive / f"{dates[at]}.html"
        html = page.read_text(encoding="utf-8")
        links = []
        if at + 1 < len(dates):
            links.append(_link(f"{dates[at + 1]}.html", labels["previous_edition"], "prev"))
        links.append(_link("index.html", labels["archive_title"], ""))
        if at > 0:
            links.append(_link(f"{dates[at - 1]}.html", labels["next_edition"], "next"))
        found = _NAV.search(html)
        if found is None:
            continue  # an overridden template without the links
        linked = html[: found.end(1)] + " · ".join(links) + html[found.start(2):]
        if linked != html:
            page.write_text(linked, encoding="utf-8")


def _link(href: str, text: str, rel: str) -> str:
    rel = f' rel="{rel}"' if rel else ""
    return f'<a href="{escape(href)}"{rel} {_NAV_LINK}>{escape(text, quote=False)}</a>'
