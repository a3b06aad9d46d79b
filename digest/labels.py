"""Every word the email itself shows, and the unsubscribe pages of `digest serve`, per locale."""

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
        "previous_edition": "← Édition précédente",
        "next_edition": "Édition suivante →",
        "contact": "Nous écrire",
        "unsubscribe_title": "Désabonnement",
        "unsubscribe_question": "Ne plus recevoir {newsletter} à cette adresse ?",
        "unsubscribe_button": "Me désabonner",
        "unsubscribe_done": "C'est fait : vous ne recevrez plus {newsletter}.",
        "unsubscribe_invalid": "Ce lien de désabonnement n'est pas valable. Utilisez celui d'une "
                               "lettre récente, ou répondez à l'une d'elles pour nous écrire.",
        "unsubscribe_unavailable": "Le service est momentanément indisponible : réessayez dans "
                                   "quelques minutes.",
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
        "previous_edition": "← Previous edition",
        "next_edition": "Next edition →",
        "contact": "Contact us",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_question": "Stop receiving {newsletter} at this address?",
        "unsubscribe_button": "Unsubscribe me",
        "unsubscribe_done": "Done: you will no longer receive {newsletter}.",
        "unsubscribe_invalid": "This unsubscribe link is not valid. Use the one in a recent "
                               "issue, or reply to one to write to us.",
        "unsubscribe_unavailable": "The service is briefly unavailable: please try again in a "
                                   "few minutes.",
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
