"""The reader's preferences page on `digest serve`, reached by his unsubscribe token: his name,
sections and language (`GET` shows them, `POST` saves them for the next send), and his
unsubscribe button."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from digest.audience.recipients import listed_reader
from digest.audience.signups import SignUps, clean_choices, configured_sections
from digest.config import LOCALES
from digest.sections import reader_sections
from digest.web.forms import many, one, posted_fields
from digest.web.pages import button_form, preferences_form, text

log = logging.getLogger("digest.web")

LANGUAGES = {"fr": "Français", "en": "English"}


class PreferencesPage:
    def __init__(self, signups: SignUps, labels: dict[str, str],
                 page: Callable[..., Response]) -> None:
        self.signups = signups
        self.config = signups.config
        self.labels = labels
        self.page = page

    def show(self, key: str, token: str) -> Response:
        """His choices as a send reads them: his own record's, else his line of the list's."""
        reader = self.signups.readers.get(key)
        if reader is not None:
            name, chosen, language = reader.name, reader.sections, reader.language
        elif (listed := listed_reader(self.config, key)) is not None:
            name, chosen, language = listed.name, tuple(sorted(reader_sections(
                listed.fields, frozenset(self.config.sections)))), ""
        else:
            name, chosen, language = "", (), ""
        language = language or self.config.newsletter.locale
        form = preferences_form(f"preferences?t={token}", self.labels, name,
                                configured_sections(self.config), chosen, language,
                                {code: LANGUAGES[code] for code in LOCALES})
        leave = button_form(f"unsubscribe?t={token}", self.labels["unsubscribe_button"],
                            css_class="quiet")
        leaving = self.labels["preferences_leave"].replace("{newsletter}",
                                                           self.config.newsletter.name)
        return self.page(200, self.labels["preferences_title"],
                         form=f'{form}<p class="quiet">{text(leaving)}</p>{leave}',
                         title=self.labels["preferences_title"])

    def save(self, request: Request, key: str) -> Response:
        fields = posted_fields(request)
        choices = clean_choices(self.config, one(fields.get("name")),
                                many(fields.get("sections")), one(fields.get("language")))
        reader = self.signups.readers.get(key)
        self.signups.readers.save_preferences(key, reader.address if reader else key,
                                              choices.name, choices.sections, choices.language,
                                              time.time())
        log.info("preferences of reader %s saved", self.signups.signer.reference(key))
        return self.page(200, self.labels["preferences_saved"],
                         title=self.labels["preferences_title"])
