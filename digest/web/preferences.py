"""The reader's preferences page on `digest serve`, reached by his unsubscribe token: his name,
sections and language (`GET` shows them, `POST` saves them for the next send), and his
unsubscribe button."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from digest.audience.signups import SignUps, clean_choices, configured_sections
from digest.config import LOCALES
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
        reader = self.signups.readers.get(key)
        name, chosen = (reader.name, reader.sections) if reader else ("", ())
        language = reader.language if reader and reader.language else \
            self.config.newsletter.locale
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
                                         many(fields.get("sections")),
                                         one(fields.get("language")))
        reader = self.signups.readers.get(key)
        self.signups.readers.save_preferences(key, reader.address if reader else key,
                                              choices.name, choices.sections, choices.language,
                                              time.time())
        log.info("preferences of reader %s saved", self.signups.signer.reference(key))
        return self.page(200, self.labels["preferences_saved"],
                         title=self.labels["preferences_title"])
