"""`digest report`: one HTML page of what readers clicked over the last days, with a chart per
measure (each edition's click rate, clicks per story, per category, per section), drawn as SVG
by pygal and put inline: the page loads nothing and runs no script."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from digest.atomic import replace_file
from digest.config import Config
from digest.engagement.tally import DayClicks, day_clicks

if TYPE_CHECKING:
    from digest.folder import Folder

STORIES_SHOWN = 15  # the most clicked stories of the period
FEW_BARS = 31  # editions whose bars each get a value and a label
TITLE_CHARS = 48
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
WORDS = {
    "fr": {
        "title": "Clics des lecteurs", "period": "Du {first} au {last} : {days} édition(s), "
        "{clicks} clic(s) pour {readers} envoi(s) ({rate}).",
        "edition": "Taux de clics par édition (%)", "story": "Clics par article",
        "category": "Clics par catégorie", "section": "Clics par rubrique",
        "nothing": "Aucun clic enregistré sur cette période : activez [tracking] clicks "
        "(docs/clicks.md).",
        "day": "Jour", "readers": "Envois", "clicks": "Clics", "rate": "Taux",
        "opens": "Ouvertures", "none": "sans catégorie",
        "privacy": "Compteurs par article et par jour : aucun lecteur n'est enregistré.",
    },
    "en": {
        "title": "Readers' clicks", "period": "{first} to {last}: {days} edition(s), {clicks} "
        "click(s) for {readers} deliveries ({rate}).",
        "edition": "Click rate per edition (%)", "story": "Clicks per story",
        "category": "Clicks per category", "section": "Clicks per section",
        "nothing": "No click recorded over this period: turn on [tracking] clicks "
        "(docs/clicks.md).",
        "day": "Day", "readers": "Deliveries", "clicks": "Clicks", "rate": "Rate",
        "opens": "Opens", "none": "no category",
        "privacy": "Counters per story and per day: no reader is recorded.",
    },
}


def measures(days: list[DayClicks], config: Config,
             none: str) -> dict[str, list[tuple[str, float]]]:
    """(label, value) of each measure: the editions' click rates oldest first, then clicks per
    story ("MM-DD title"), per category and (with [sections]) per section, largest first."""
    stories = [story for day in days for story in day.stories]
    years = {day.day[:4] for day in days}
    dated = (lambda d: d[5:]) if len(years) <= 1 else (lambda d: d)  # MM-DD within one year
    by_category = Counter({story.category or none: 0 for story in stories})
    for story in stories:
        by_category[story.category or none] += story.clicks
    shown = {
        "edition": [(day.day, round(100 * day.rate, 2)) for day in reversed(days)],
        "story": [(f"{dated(story.day)} {_short(story.title)}", float(story.clicks))
                  for story in sorted(stories, key=lambda s: (-s.clicks, s.day, s.position))
                  [:STORIES_SHOWN]],
        "category": [(name, float(count)) for name, count in by_category.most_common()],
    }
    if config.sections:
        by_section = Counter({name: 0 for name in config.sections})
        for story in stories:
            for name, section in config.sections.items():
                if story.category in section.categories or story.source in section.feeds:
                    by_section[name] += story.clicks
        shown["section"] = [(config.sections[name].label or name, float(count))
                            for name, count in by_section.most_common()]
    return shown


def write_report(folder: Folder, last: date, days: int, output: Path | None = None) -> Path:
    """The report of the `days` days up to `last`, written to `output` (out/report.html)."""
    path = output or folder.out_root / "report.html"
    replace_file(path, [report_html(folder, last, days).encode("utf-8")])
    return path


def report_html(folder: Folder, last: date, days: int) -> str:
    """The report of the `days` days up to `last` (`digest report`, the preview's link)."""
    first = last - timedelta(days=days - 1)
    state = folder.existing_state()
    found = day_clicks(state, folder.config.newsletter.url, first.isoformat(),
                       last.isoformat()) if state is not None else []
    return report_page(found, folder.config, first, last)


def report_page(found: list[DayClicks], config: Config, first: date, last: date) -> str:
    """The report of the days from `first` to `last` whose clicks are `found`, as a page."""
    locale = config.newsletter.locale
    words = WORDS.get(locale, WORDS["en"])
    title = f"{words['title']} — {config.newsletter.name}"
    parts = [f"<h1>{escape(title)}</h1>"]
    if not any(day.stories for day in found):
        parts.append(f"<p>{escape(words['nothing'])}</p>")
    else:
        clicks, readers = sum(d.clicks for d in found), sum(d.readers for d in found)
        rate = f"{clicks / readers:.1%}" if readers else "—"
        parts.append("<p>" + escape(words["period"].format(
            first=first.isoformat(), last=last.isoformat(), days=len(found), clicks=clicks,
            readers=readers, rate=rate)) + "</p>")
        for measure, values in measures(found, config, words["none"]).items():
            parts.append(f'<figure data-measure="{measure}"><figcaption>'
                         f"{escape(words[measure])}</figcaption>"
                         f"{_chart(measure, values)}</figure>")
        parts.append(_table(found, words))
    parts.append(f"<p><small>{escape(words['privacy'])}</small></p>")
    return PAGE.format(lang=locale, title=escape(title), body="\n".join(parts))


def _chart(measure: str, values: list[tuple[str, float]]) -> str:
    import pygal  # lazy: for the report only
    from pygal.style import Style

    style = Style(background="white", plot_background="white", font_family="sans-serif",
                  colors=("#b3261e",), label_font_size=13, major_label_font_size=13,
                  value_font_size=12)
    horizontal = measure != "edition"
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    few = len(values) <= FEW_BARS  # a value on each bar, a label under each, while they fit
    chart = kind(style=style, js=[], disable_xml_declaration=True, show_legend=False,
                 width=800, height=max(240, 34 * len(values) + 80) if horizontal else 360,
                 print_values=few, x_label_rotation=0 if horizontal else 30,
                 truncate_label=-1, no_data_text="—", show_minor_x_labels=few or horizontal,
                 x_labels_major_every=None if few else max(1, len(values) // 12))
    if horizontal:  # pygal draws the first bar at the bottom: the largest goes on top
        values = values[::-1]
        top = int(max((value for _, value in values), default=0))
        step = max(1, -(-top // 8))  # whole clicks, about eight ticks
        chart.y_labels = list(range(0, top + step + 1, step))
    chart.x_labels = [label for label, _ in values]
    chart.add("", [value for _, value in values])
    # pygal's inline <script> holds only its tooltips' settings: without its external script
    # it does nothing, and the page runs none
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def _table(found: list[DayClicks], words: dict[str, str]) -> str:
    head = "".join(f"<th>{escape(words[k])}</th>"
                   for k in ("day", "readers", "clicks", "rate", "opens"))
    rows = "".join(
        f"<tr><td>{day.day}</td><td>{day.readers}</td><td>{day.clicks}</td>"
        f"<td>{day.rate:.1%}</td><td>{'' if day.opens is None else day.opens}</td></tr>"
        for day in found)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _short(title: str) -> str:
    return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1].rstrip() + "…"


PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 860px; margin: 2em auto;
       padding: 0 1em; color: #1d1d1f; }}
figure {{ margin: 2em 0; }} figcaption {{ font-weight: 600; margin-bottom: .5em; }}
figure svg {{ width: 100%; height: auto; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .3em .8em; text-align: right;
       border-bottom: 1px solid #ddd; }} td:first-child, th:first-child {{ text-align: left; }}
</style></head>
<body>
{body}
</body></html>
"""
