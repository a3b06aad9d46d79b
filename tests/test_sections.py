"""Sections each reader chooses: the day's lead for everyone, and the blurbs of the reader's own
sections, through `digest send` of the sample newsletter with the file backend; one render per
distinct set of sections."""

from __future__ import annotations

import email
from email import policy

from conftest import copy_sample, run_digest

from digest.deliver import message_file_name

DAY = "2025-04-22"
LEAD = "Berges de la Sorelle"
STORIES = {  # the day's stories besides the lead, and their categories
    "Orages": "Météo",
    "Ligne 4": "Transports",
    "Hôpital de Val-Sorel": "Santé",
    "Au lycée Jean-Brémond": "Éducation",
    "FC Val-Sorel arrache": "Sport",
    "Le marché du samedi": "Val-Sorel",
    "La médiathèque Hélène-Darras": "Culture",
}
EDITION = ["Orages", "Ligne 4", "Hôpital de Val-Sorel",
           "Au lycée Jean-Brémond", "FC Val-Sorel arrache", "Le marché du samedi"]
READERS = {  # address: (sections column, the blurbs expected, in the day's order)
    "sportif@lecteurs.example": ("sport", ["FC Val-Sorel arrache"]),
    "local@lecteurs.example": ("vie-locale", ["Le marché du samedi",
                                              "La médiathèque Hélène-Darras"]),
    "les-deux@lecteurs.example": ("sport;vie-locale", ["FC Val-Sorel arrache",
                                                       "Le marché du samedi",
                                                       "La médiathèque Hélène-Darras"]),
    "tout@lecteurs.example": ("", EDITION),
    "marin@lecteurs.example": ("mer", EDITION),  # nothing today: the day's blurbs, a note
    "agence@lecteurs.example": ("agence", ["Hôpital de Val-Sorel"]),  # a feed's stories
}


def folder(tmp_path):
    root = copy_sample(tmp_path / "sample")
    with (root / "digest.toml").open("a", encoding="utf-8") as config:
        config.write('\n[sections.sport]\nlabel = "Sport"\ncategories = ["Sport"]\n'
                     '\n[sections.vie-locale]\nlabel = "Vie locale"\n'
                     'categories = ["Val-Sorel", "Culture"]\n'
                     '\n[sections.mer]\nlabel = "La mer"\ncategories = ["Mer"]\n'
                     '\n[sections.agence]\nfeeds = ["Agence Sorelle Info"]\n')
    lines = ["email,name,sections"] + [f"{a},{a.split('@')[0]},{s}"
                                       for a, (s, _) in READERS.items()]
    (root / "recipients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def blurbs_of(message) -> list[str]:
    text = message.get_body(("plain",)).get_content()
    shown = text.split("LES AUTRES TITRES DU JOUR", 1)[1]
    return sorted((title for title in STORIES if title in shown), key=shown.index)


def test_each_reader_gets_the_lead_and_exactly_the_blurbs_of_his_sections(tmp_path):
    root = folder(tmp_path)
    dry = run_digest("send", "--date", DAY, "--dry-run", cwd=root)
    assert dry.returncode == 0, dry.stderr
    assert "6 editions by sections:" in dry.stdout + dry.stderr
    result = run_digest("send", "--date", DAY, cwd=root)
    assert result.returncode == 0, result.stderr
    outbox = root / "out" / DAY / "outbox"
    for address, (_, expected) in READERS.items():
        message = email.message_from_bytes((outbox / message_file_name(address)).read_bytes(),
                                           policy=policy.default)
        text = message.get_body(("plain",)).get_content()
        assert LEAD in text, address
        assert blurbs_of(message) == expected, address
        nothing = "Rien aujourd’hui dans vos rubriques" in text
        assert nothing == (address == "marin@lecteurs.example"), address
    kept = sorted(path.name for path in (root / "out" / DAY / "sections").iterdir())
    assert kept == ["agence.html", "agence.txt", "mer.html", "mer.txt", "sport+vie-locale.html",
                    "sport+vie-locale.txt", "sport.html", "sport.txt", "vie-locale.html",
                    "vie-locale.txt"]
    again = run_digest("send", "--date", DAY, cwd=root)
    assert "already sent to all 6 readers" in again.stdout  # exactly once, sections or not


def test_the_preferences_page_starts_from_the_sections_the_list_gives(tmp_path):
    """A reader of the list sees his own sections checked, and saving his name keeps them."""
    import re
    from urllib.parse import urlencode, urlsplit

    from web_server import SECRET, Served

    root = folder(tmp_path)
    env = {"DIGEST_SECRET": SECRET}
    assert run_digest("send", "--date", "2025-04-21", cwd=root, env=env).returncode == 0
    address = "sportif@lecteurs.example"
    first = email.message_from_bytes(
        (root / "out" / "2025-04-21" / "outbox" / message_file_name(address)).read_bytes(),
        policy=policy.default)
    url = re.search(r"Gérer mon abonnement <(\S+)>",
                    first.get_body(("plain",)).get_content()).group(1)
    path = f"{urlsplit(url).path}?{urlsplit(url).query}"
    server = Served(root)
    try:
        status, page = server.request("GET", path)
        assert status == 200
        assert re.search(r'value="sport" checked', page)
        assert not re.search(r'value="vie-locale" checked', page)
        body = urlencode({"name": "Le Sportif", "sections": "sport", "language": "fr"}).encode()
        assert server.request("POST", path, body,
                              {"Content-Type": "application/x-www-form-urlencoded"})[0] == 200
    finally:
        server.stop()
    assert run_digest("send", "--date", DAY, cwd=root, env=env).returncode == 0
    message = email.message_from_bytes(
        (root / "out" / DAY / "outbox" / message_file_name(address)).read_bytes(),
        policy=policy.default)
    assert str(message["To"]) == f"Le Sportif <{address}>"
    assert blurbs_of(message) == READERS[address][1]
