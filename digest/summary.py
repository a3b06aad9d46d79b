"""One-line summaries that commands print when they are done."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from digest.config import Config
from digest.errors import ProblemKind
from digest.pipeline import Build
from digest.sources import Gathered
from digest.sources.feed_fetch import FetchStatus

if TYPE_CHECKING:  # the send machinery is not imported to summarise a build
    from digest.send import SendReport


def build_summary(result: Build, folder: Path, config: Config) -> str:
    edition = result.edition
    considered, stories, left_out = len(edition.considered), edition.stories, edition.left_out
    skipped = sum(1 for p in result.problems if p.kind == ProblemKind.ARTICLE_SKIPPED)
    head = f"{edition.date}: {_count(considered, 'article')}"
    if stories != considered:
        head += f" in {_count(stories, 'story')}"
    parts = [f"lead + {_count(len(edition.blurbs), 'blurb')}"
             + (f", {left_out} left out" if left_out else "")]
    if skipped:
        parts.append(f"{skipped} skipped")
    held = sum(1 for problem in result.problems if problem.ours)
    if held and config.delivery.on_article_error == "hold":
        parts.append(f"digest send would hold: {_count(held, 'problem')} in the newsroom's own "
                     "files")
    if result.failed_sources:
        parts.append(f"{result.failed_sources} of {result.sources} sources failed")
    return (
        f"{head} ({', '.join(parts)}); lead: {edition.lead.article.title}; "
        f"{result.email.html_bytes / 1024:.1f} KB; written to {_shown(folder)}/"
    )


def _count(number: int, noun: str) -> str:
    plural = (noun[:-1] + "ies" if noun.endswith("y")
              else noun + ("es" if noun.endswith("ch") else "s"))
    return f"{number} {noun if number == 1 else plural}"


def _shown(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def send_summary(report: SendReport) -> str:
    seconds = f"{report.duration:.1f} s"
    if report.test_to:
        verb = "would send" if report.dry_run else "sent"
        return (f"{report.edition_id}: {verb} a test copy to {report.test_to} "
                f"({report.backend}); nothing recorded")
    if report.dry_run:
        editions = (f"; {_count(len(report.editions), 'edition')} by sections: "
                    + ", ".join(f"{name} {count}" for name, count in report.editions.items())
                    if report.editions else "")
        return (f"{report.edition_id}: dry run, would send to {report.sent} readers in "
                f"{_count(report.batches, 'batch')} ({report.backend}); "
                f"already sent {report.already}, unknown {report.unknown}{editions}; "
                f"subject: {report.subject}")
    if report.interrupted:
        resend = (f"; the {report.unknown} unknown (a batch under way) only with "
                  "--resend-unknown" if report.unknown else "")
        return (f"{report.edition_id}: interrupted: sent {report.sent}, unknown "
                f"{report.unknown}, left {report.left}; run digest send again to send to the "
                f"{report.left} left{resend}")
    if not report.batches and not report.error:
        tail = f"; {report.unknown} unknown (use --resend-unknown)" if report.unknown else ""
        return (f"{report.edition_id}: already sent to all {report.already} readers; "
                f"nothing to do{tail}")
    parts = [f"sent {report.sent}", f"skipped {report.already}", f"failed {report.failed}"]
    if report.refused:
        parts.append(f"refused {report.refused}")
    parts.append(f"unknown {report.unknown}")
    line = f"{report.edition_id}: {', '.join(parts)} ({report.backend}, {seconds})"
    if report.finishing:
        line += ("; finished the version this round started with (the articles changed since: "
                 "--force sends the new version to everyone)")
    if report.resent_unknown:
        line += f"; {report.resent_unknown} unknown from an interrupted run were sent again"
    if report.scheduled_at:
        from datetime import datetime

        when = datetime.fromtimestamp(report.scheduled_at, UTC).isoformat()
        line += f"; scheduled for {when} (digest cancel to stop it)"
    if report.unknown:
        line += "; unknown readers may have got it: --resend-unknown sends to them again"
    return line


def sources_table(config: Config, gathered: Gathered) -> list[str]:
    """One line per source: name, status (ok / not modified / failed: reason), entries, time."""
    from datetime import datetime

    local = sum(1 for a in gathered.articles if a.source.startswith(config.sources.articles))
    rows = [(config.sources.articles + "/", "ok", f"{local} articles that day", "")]
    for report in gathered.feeds:
        status = str(report.status) if report.status.worked else (
            f"failed: {report.reason}"
            + ("; last good copy used" if report.status == FetchStatus.CACHED else ""))
        health = ""
        if report.failing_since:
            since = datetime.fromtimestamp(report.failing_since, UTC).astimezone(config.tz)
            health = f"failing since {since:%Y-%m-%d %H:%M} ({report.failures} runs)"
        rows.append((report.label, status,
                     f"{report.entries} entries, {report.seconds:.2f} s", health))
    width = max(len(row[0]) for row in rows)
    return [f"{name:<{width}}  {status}  ({counts})" + (f"  {health}" if health else "")
            for name, status, counts, health in rows]
