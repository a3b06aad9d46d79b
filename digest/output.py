"""What `digest build` writes: out/<date>/ (the email, its parts, edition.json) and the web
archive."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError
from digest.pipeline import Build
from digest.records import edition_record


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
    from digest.message import to_message

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digest.html").write_text(result.email.html, encoding="utf-8")
    (folder / "digest.txt").write_text(result.email.text, encoding="utf-8")
    (folder / "digest.eml").write_bytes(to_message(result.email).as_bytes())
    edition_json = json.dumps(edition_record(result, config), ensure_ascii=False, indent=2)
    (folder / "edition.json").write_text(edition_json + "\n", encoding="utf-8")


def write_archive(result: Build, out_root: Path, config: Config) -> None:
    """out/archive/<date>.html for this edition, and an index of every edition built so far."""
    from digest.dates import long_date
    from digest.labels import labels_for
    from digest.render import environment, render_template, web_page

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
    values = {"newsletter": config.newsletter, "lang": locale, "editions": editions,
              "labels": labels_for(locale, config.labels)}
    env = environment(config.resolve(config.newsletter.templates))
    index = render_template(env, "archive_index.html.j2", values, config)
    (archive / "index.html").write_text(index, encoding="utf-8")
