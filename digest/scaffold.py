"""`digest init`: a new newsletter folder that builds and previews at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from digest.errors import DigestError

CONFIG = {
    "fr": '''\
# La configuration de la lettre. Chaque clé est décrite dans docs/configuration.md de digest.

[newsletter]
name = "{name}"                          # le nom, en tête et en pied de la lettre
url = "https://www.example.org"          # votre site ; les articles sans url y renvoient
locale = "fr"                            # fr ou en : libellés, dates, typographie
timezone = "Europe/Paris"                # le jour d'une édition se compte dans ce fuseau
sender = "{name} <redaction@example.org>"        # le nom que voient les lecteurs
# subject = "{{{{ lead.title }}}}"         # l'objet : une expression Jinja
# archive_url = "https://www.example.org/lettre"   # « Voir dans le navigateur »
publisher = "{name}"                     # l'éditeur, en pied de lettre
address = ""                             # son adresse postale, en pied de lettre (obligatoire)

[lead]
paragraphs = 3                           # N : les N premiers paragraphes de l'article principal ; 0 : en entier

[sources]
articles = "articles"                    # un fichier Markdown par article

[ranking]
blurbs = 6                               # nombre de brèves après l'article principal
excerpt_chars = 200                      # longueur des extraits

[delivery]
backend = "file"                         # file, sendgrid ou smtp
recipients = "recipients.csv"
suppressions = "unsubscribed.csv"
# Le lien de désabonnement de chaque lecteur, signé : `digest serve` (ou digest.web:app derrière
# votre serveur web) y répond. La clé de signature vient de l'environnement, jamais d'un fichier :
#   export DIGEST_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
unsubscribe_url = "https://lettre.example.org/unsubscribe?t={{unsubscribe_token}}"

[signup]                                 # les lecteurs s'inscrivent eux-mêmes (docs/joining.md)
enabled = true                           # `digest serve` répond à /subscribe : double confirmation
consent_version = "1"                    # gardée avec chaque inscription : changez-la avec le texte
# consent = "J'accepte de recevoir cette lettre…"   # le texte d'accord (vide : celui de la langue)
# confirmations_per_day = 3              # courriels de confirmation par adresse et par jour
# per_client_per_hour = 20               # inscriptions par adresse IP et par heure
# pending_days = 30                      # une inscription non confirmée est effacée après

# [labels]                               # changer un libellé de l'email
# read_more = "Lire l'article →"

# [links]                                # paramètres de suivi des liens d'articles
# utm_source = "lettre"
# utm_medium = "email"
# utm_campaign = "{{date}}"
''',
    "en": '''\
# The newsletter's configuration. Every key is described in digest's docs/configuration.md.

[newsletter]
name = "{name}"                          # shown in the masthead and footer
url = "https://www.example.org"          # your site; articles without a url link there
locale = "en"                            # fr or en: labels, dates, typography
timezone = "Europe/London"               # an edition's day is counted in this time zone
sender = "{name} <newsroom@example.org>"         # the name readers see in their inbox
# subject = "{{{{ lead.title }}}}"         # the subject: a Jinja expression
# archive_url = "https://www.example.org/newsletter"   # "View in your browser"
publisher = "{name}"                     # the publisher, in the footer
address = ""                             # its postal address, in the footer (required)

[lead]
paragraphs = 3                           # N: the lead story's first N paragraphs; 0: all of it

[sources]
articles = "articles"                    # one Markdown file per article

[ranking]
blurbs = 6                               # how many stories follow the lead
excerpt_chars = 200                      # length of the excerpts

[delivery]
backend = "file"                         # file, sendgrid or smtp
recipients = "recipients.csv"
suppressions = "unsubscribed.csv"
# Each reader's signed unsubscribe link, answered by `digest serve` (or digest.web:app behind
# your web server). The signing secret comes from the environment, never from a file:
#   export DIGEST_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
unsubscribe_url = "https://newsletter.example.org/unsubscribe?t={{unsubscribe_token}}"

[signup]                                 # readers sign up themselves (docs/joining.md)
enabled = true                           # `digest serve` answers /subscribe: double opt-in
consent_version = "1"                    # kept with each sign-up: change it with the text
# consent = "I agree to receive this newsletter…"   # the consent text (empty: the language's)
# confirmations_per_day = 3              # confirmation emails per address and day
# per_client_per_hour = 20               # sign-ups per IP address and hour
# pending_days = 30                      # an unconfirmed sign-up is deleted after

# [labels]                               # change one of the email's words
# read_more = "Continue reading →"

# [links]                                # tracking parameters on article links
# utm_source = "newsletter"
# utm_medium = "email"
# utm_campaign = "{{date}}"
''',
}

ARTICLES = {
    "fr": [
        ("bienvenue", '''\
---
title: "Bienvenue dans votre nouvelle lettre"
date: {day}T07:00:00
category: La rédaction
author: La rédaction
lead: true
summary: "Votre lettre est prête : voici comment écrire les articles du jour et changer son apparence."
---

Chaque article est un fichier Markdown dans le dossier `articles/`, avec un en-tête entre deux
lignes `---` : un titre, une date, et si vous le souhaitez une rubrique, un auteur, une image.

## Écrire l'édition du jour

Les articles datés d'aujourd'hui forment l'édition du jour. Celui qui porte `lead: true` est mis à
la une ; les autres suivent, classés par priorité puis par heure de publication.

## Changer l'apparence

Lancez `digest templates list` pour voir les gabarits, puis `digest templates copy footer.mjml.j2`
pour modifier le pied de page. `digest preview` affiche le résultat à chaque enregistrement.
'''),
        ("deuxieme-article", '''\
---
title: "Un deuxième article pour la liste « À lire aussi »"
date: {day}T09:30:00
category: Exemple
group: false  # jamais regroupé avec un autre article, même s'il parle du même sujet
---

Les articles qui ne sont pas à la une apparaissent sous forme de brèves : un titre, les premiers
mots de l'article et un lien « Lire la suite ». Supprimez ces deux fichiers quand vous écrivez les
vôtres.
'''),
    ],
    "en": [
        ("welcome", '''\
---
title: "Welcome to your new newsletter"
date: {day}T07:00:00
category: Newsroom
author: The newsroom
lead: true
summary: "Your newsletter is ready: here is how to write today's stories, rank them and change the way the email looks."
---

Each story is a Markdown file in the `articles/` folder, with a header between two `---` lines:
a title, a date, and if you like a category, an author, an image.

## Writing today's edition

Stories dated today make today's edition. The one marked `lead: true` is the lead; the others
follow, ranked by priority and then by time of publication.

## Changing the look

Run `digest templates list` to see the templates, then `digest templates copy footer.mjml.j2` to
change the footer. `digest preview` shows the result every time you save.
'''),
        ("second-story", '''\
---
title: "A second story for the list below the lead"
date: {day}T09:30:00
category: Example
group: false  # never grouped with another story, even one on the same subject
---

Stories that are not the lead appear as short items: a headline, the first words of the story and
a "Read more" link. Delete these two files when you write your own.
'''),
    ],
}

RECIPIENTS = "email,name\nreader@example.org,A Reader\n"
GITIGNORE = "out/\n.digest/\n"


def init_newsletter(folder: Path, locale: str, day: date) -> list[Path]:
    """Create the newsletter's files; refuse if any of them already exists."""
    name = folder.resolve().name.replace("-", " ").replace("_", " ").strip().title() or "La Lettre"
    files = {
        Path("digest.toml"): CONFIG[locale].format(name=name),
        Path("recipients.csv"): RECIPIENTS,
        Path(".gitignore"): GITIGNORE,
    }
    for slug, text in ARTICLES[locale]:
        files[Path("articles") / f"{day.isoformat()}-{slug}.md"] = text.format(day=day.isoformat())
    existing = [str(path) for path in files if (folder / path).exists()]
    if existing:
        raise DigestError(f"{folder}: {', '.join(existing)} already exist; nothing was written. "
                          "Choose an empty folder")
    written = []
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
