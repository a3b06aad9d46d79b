"""A reader's message made from the edition's template (digest.deliver.template) reads as the
email package's own, header by header and part by part after decoding, for random readers,
names (IDN, quotes, commas, encoded words) and link lengths; and its lines keep within the
limits of RFC 5322 and RFC 2045."""

from __future__ import annotations

import email
import re
from email import policy
from email.headerregistry import Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.audience.recipients import Recipient
from digest.audience.signing import PREFERENCES_PLACEHOLDER, Signer
from digest.deliver import Outgoing
from digest.headers import header_text
from digest.message import to_message
from digest.models import Email

PLACEHOLDER = "%unsubscribe_url%"
TEXT = ("Le Courrier — mardi 22 avril 2025\nBerges de la Sorelle : 14 millions d’euros\n\n"
        + "Après deux ans de concertation, les élus ont adopté le projet. " * 6 + "\n \t\n"
        + f"Se désabonner <{PLACEHOLDER}>\nGérer mon abonnement <{PREFERENCES_PLACEHOLDER}>\n")
HTML = ("<!doctype html>\n<html lang=\"fr\"><body><h1 style=\"color:#1d1d1b\">Berges ☀ é</h1>"
        + "<p>" + "Un texte assez long pour plier les lignes à soixante-seize colonnes. " * 8
        + f'</p><a href="{PLACEHOLDER}">Se désabonner</a> '
        f'<a href="{PREFERENCES_PLACEHOLDER}">Préférences</a>\n</body></html>\n')

names = st.one_of(
    st.just(""),
    st.sampled_from(["Dupont, Jean", '"Le" Lecteur', "Zoë Müller", "=?utf-8?q?Ren=C3=A9?=",
                     "O'Brien; Ltd", "李小龍", "A" * 120, "tab\there", "line\nbreak"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
)
locals_ = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,30}", fullmatch=True)
domains = st.sampled_from(["lecteurs.example", "exämple.fr", "xn--exmple-cua.fr",
                           "a" * 50 + ".example", "sous.domaine.lecteurs.example"])


def outgoing(link_base: str, tail: str = "") -> Outgoing:
    return Outgoing(
        email=Email(subject="Berges de la Sorelle\u202f: un plan de 14 millions d’euros voté",
                    html=HTML + tail, text=TEXT + tail, preheader="",
                    sender="Le Courrier <r@courrier.example>",
                    reply_to="courrier@courrier.example"),
        edition_id="2025-04-22-0123456789", newsletter="Le Courrier",
        unsubscribe_url=f"{link_base}/unsubscribe?t={{unsubscribe_token}}",
        unsubscribe_mailto="desabonnement@courrier.example",
        signer=Signer("https://courrier.example", ["a-secret-for-the-tests-only-0123456789"]),
        preferences_url=f"{link_base}/preferences?t={{unsubscribe_token}}",
        list_id="<le-courrier.courrier.example>")


def reference(out: Outgoing, reader: Recipient) -> bytes:
    """The message as the email package wrote it before the template (to_message)."""
    link, unsubscribe = out.links(reader)
    preferences = out.preferences_for(reader)
    personal = Email(subject=out.email.subject, preheader="", sender=out.email.sender,
                     reply_to=out.email.reply_to,
                     html=out.email.html.replace(PLACEHOLDER, link).replace(
                         PREFERENCES_PLACEHOLDER, preferences),
                     text=out.email.text.replace(PLACEHOLDER, link).replace(
                         PREFERENCES_PLACEHOLDER, preferences))
    username, _, domain = reader.email.rpartition("@")
    to = Address(display_name=header_text(reader.name), username=username, domain=domain)
    return to_message(personal, to=to, extra_headers={**unsubscribe, **out.shared_headers()}
                      ).as_bytes()


tails = st.one_of(st.just(""), st.sampled_from(["\n\n", "fin  \n", "=3D\n.\n", "\t\n\n ",
                                                "a" * 200, f"{PLACEHOLDER} " * 5]),
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                          max_size=120))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, local=locals_, domain=domains, path=st.integers(0, 300), tail=tails)
def test_a_readers_message_reads_as_the_email_packages(name, local, domain, path, tail):
    out = outgoing("https://lettre.courrier.example/" + "x" * path, tail)
    reader = Recipient(f"{local}@{domain}", name)
    made = out.message_for(reader)
    theirs = email.message_from_bytes(reference(out, reader), policy=policy.default)
    mine = email.message_from_bytes(made, policy=policy.default)
    assert not mine.defects
    for header in mine:  # none the email package's own message has not (an IDN in To)
        assert len(mine[header].defects) <= len(theirs[header].defects), header
    assert sorted(mine.keys()) == sorted(theirs.keys())
    for header in mine:
        if header in ("Message-ID", "Date", "Content-Type"):  # made anew each time
            continue
        assert str(mine[header]) == str(theirs[header]), header
    assert mine.get_content_type() == theirs.get_content_type() == "multipart/alternative"
    assert re.fullmatch(r"<[^<>@\s]+@courrier\.example>", str(mine["Message-ID"]))
    for kind in ("plain", "html"):
        mine_part, their_part = mine.get_body((kind,)), theirs.get_body((kind,))
        assert mine_part.get_content() == their_part.get_content(), kind
        assert mine_part.get_content_type() == their_part.get_content_type()
        assert mine_part.get_content_charset() == their_part.get_content_charset()
    body = made.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), "quoted-printable lines"
    head = made.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 998 for line in head)
    assert b"\n" not in made.replace(b"\r\n", b"")  # every line ends in CRLF
