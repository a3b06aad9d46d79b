"""One-line summaries that commands print when they are done."""

from __future__ import annotations

from pathlib import Path

from digest.build import Build


def build_summary(result: Build, folder: Path) -> str:
    edition = result.edition
    considered = len(edition.considered)
    left_out = considered - len(edition.blurbs) - 1
    skipped = sum(1 for p in result.problems if p.message.endswith("skipped"))
    parts = [
        f"{edition.date}: {considered} article{'s' if considered != 1 else ''}",
        f"lead + {len(edition.blurbs)} blurbs" + (f", {left_out} left out" if left_out else ""),
    ]
    if skipped:
        parts.append(f"{skipped} skipped")
    return (
        f"{parts[0]} ({', '.join(parts[1:])}); lead: {edition.lead.article.title}; "
        f"{result.email.html_bytes / 1024:.1f} KB; written to {_shown(folder)}/"
    )


def _shown(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(folder)
