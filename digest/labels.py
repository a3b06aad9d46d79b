"""Every word the email itself shows, per locale."""

from __future__ import annotations

import string

from digest.text import typography

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "read_more": "Lire la suite →",
        "reading_time": "Temps de lecture : {minutes} min de lecture",
        "also_read": "À lire aussi",
        "more_stories": "Les autres titres du jour",
        "follow_up": "Suite",
        "view_in_browser": "Voir dans le navigateur",
        "unsubscribe": "Se désabonner",
        "edition_of": "Édition du {date}",
        "by": "Par {author}",
        "footer_reason": "Vous recevez cette lettre car vous y êtes abonné.",
        "archive_title": "Toutes les éditions",
    },
    "en": {
        "read_more": "Read more →",
        "reading_time": "Reading time: {minutes} min read",
        "also_read": "Also read",
        "more_stories": "More stories today",
        "follow_up": "Follow-up",
        "view_in_browser": "View in your browser",
        "unsubscribe": "Unsubscribe",
        "edition_of": "Edition of {date}",
        "by": "By {author}",
        "footer_reason": "You receive this newsletter because you subscribed to it.",
        "archive_title": "All editions",
    },
}


def labels_for(locale: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The locale's labels with the newsletter's overrides, in the locale's typography."""
    merged = {**LABELS[locale], **(overrides or {})}
    return {key: typography(value, locale) for key, value in merged.items()}


def placeholders(text: str) -> set[str]:
    """The {fields} a label fills in, as written ("{author}" → "author", "{0:>9}" → "0:>9");
    raises ValueError for a lone brace."""
    return {name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            for _, name, spec, conversion in string.Formatter().parse(text) if name is not None}
