"""Every word the email itself shows, and the unsubscribe pages of `digest serve`, per locale."""

from __future__ import annotations

import string

from digest.text import typography

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "read_more": "Lire la suite →",
        "view_on_site": "Voir sur le site",
        "reading_time": "Temps de lecture : {minutes}\u00a0min de lecture",
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
        "sections_nothing_today": "Rien aujourd'hui dans vos rubriques : voici les autres "
                                  "titres du jour.",
        "preferences": "Gérer mon abonnement",
        "subscribe_title": "Inscription",
        "subscribe_intro": "Recevez {newsletter} chaque matin dans votre boîte aux lettres.",
        "subscribe_email": "Adresse électronique",
        "subscribe_name": "Nom (facultatif)",
        "subscribe_sections": "Rubriques",
        "subscribe_consent": "J'accepte de recevoir {newsletter} à cette adresse. Je peux me "
                             "désabonner à tout moment, par le lien de chaque lettre.",
        "subscribe_button": "M'inscrire",
        "subscribe_done": "Merci ! Si cette adresse peut recevoir {newsletter}, un courriel de "
                          "confirmation vient d'y partir : ouvrez son lien pour confirmer.",
        "subscribe_consent_needed": "Cochez la case d'accord pour vous inscrire.",
        "subscribe_invalid": "Cette adresse électronique n'est pas valable : vérifiez-la et "
                             "réessayez.",
        "subscribe_limited": "Trop d'inscriptions depuis votre connexion : réessayez dans une "
                             "heure.",
        "confirm_subject": "{newsletter} : confirmez votre inscription",
        "confirm_intro": "Vous (ou quelqu'un avec votre adresse) avez demandé à recevoir "
                         "{newsletter}. Confirmez votre inscription :",
        "confirm_button": "Confirmer mon inscription",
        "confirm_ignore": "Ce lien vaut {days} jours. Vous n'avez rien demandé ? Ignorez ce "
                          "courriel : vous ne recevrez rien.",
        "confirm_question": "Confirmer votre inscription à la lettre {newsletter} ?",
        "confirm_done": "C'est confirmé : vous recevrez {newsletter} dès la prochaine édition.",
        "confirm_invalid": "Ce lien de confirmation n'est pas valable ou a expiré. Inscrivez-vous "
                           "de nouveau pour en recevoir un autre.",
        "welcome_subject": "{newsletter} : bienvenue",
        "welcome_intro": "Bienvenue ! Vous recevrez {newsletter} chaque matin.",
        "welcome_last_edition": "Lire la dernière édition",
        "preferences_title": "Votre abonnement",
        "preferences_language": "Langue",
        "preferences_save": "Enregistrer",
        "preferences_saved": "C'est enregistré.",
        "preferences_invalid": "Ce lien n'est pas valable. Utilisez celui d'une lettre récente.",
        "preferences_leave": "Ne plus recevoir {newsletter} :",
    },
    "en": {
        "read_more": "Read more →",
        "view_on_site": "View on the website",
        "reading_time": "Reading time: {minutes}\u00a0min read",
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
        "sections_nothing_today": "Nothing in your sections today: here are the day's other "
                                  "stories.",
        "preferences": "Manage my subscription",
        "subscribe_title": "Sign up",
        "subscribe_intro": "Get {newsletter} in your inbox every morning.",
        "subscribe_email": "Email address",
        "subscribe_name": "Name (optional)",
        "subscribe_sections": "Sections",
        "subscribe_consent": "I agree to receive {newsletter} at this address. I can unsubscribe "
                             "at any time with the link in every issue.",
        "subscribe_button": "Sign me up",
        "subscribe_done": "Thank you! If this address can receive {newsletter}, a confirmation "
                          "email is on its way: open its link to confirm.",
        "subscribe_consent_needed": "Tick the consent box to sign up.",
        "subscribe_invalid": "This email address is not valid: check it and try again.",
        "subscribe_limited": "Too many sign-ups from your connection: please try again in an "
                             "hour.",
        "confirm_subject": "Confirm your subscription to {newsletter}",
        "confirm_intro": "You (or someone with your address) asked to receive {newsletter}. "
                         "Confirm your subscription:",
        "confirm_button": "Confirm my subscription",
        "confirm_ignore": "This link works for {days} days. Did not ask for anything? Ignore "
                          "this email: you will receive nothing.",
        "confirm_question": "Confirm your subscription to {newsletter}?",
        "confirm_done": "Confirmed: you will receive {newsletter} from the next issue on.",
        "confirm_invalid": "This confirmation link is not valid or has expired. Sign up again "
                           "to get a new one.",
        "welcome_subject": "Welcome to {newsletter}",
        "welcome_intro": "Welcome! You will receive {newsletter} every morning.",
        "welcome_last_edition": "Read the latest issue",
        "preferences_title": "Your subscription",
        "preferences_language": "Language",
        "preferences_save": "Save",
        "preferences_saved": "Saved.",
        "preferences_invalid": "This link is not valid. Use the one in a recent issue.",
        "preferences_leave": "Stop receiving {newsletter}:",
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
