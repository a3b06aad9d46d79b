"""Excerpts, reading time, French typography and HTML to text."""

import math

from hypothesis import given
from hypothesis import strategies as st

from digest.text import (
    ELLIPSIS,
    NNBSP,
    excerpt,
    french_typography,
    html_to_text,
    html_typography,
    reading_minutes,
    spreadsheet_cell,
    spreadsheet_value,
    squash,
)

words = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1,
                max_size=15)
texts = st.lists(words, min_size=1, max_size=80).map(" ".join)


@given(texts, st.integers(min_value=20, max_value=300))
def test_excerpt_is_a_prefix_that_never_cuts_a_word(text, limit):
    result = excerpt(text, limit)
    flat = squash(text)
    if result == flat:
        assert len(flat) <= limit
        return
    assert result.endswith(ELLIPSIS)
    head = result[: -len(ELLIPSIS)]
    assert flat.startswith(head)
    # the cut falls where a word ends: at the end of the text or before a space
    assert len(head) == len(flat) or flat[len(head)] == " " or flat[len(head)] in " ,;:.-–—"
    whole_words = flat.split(" ")
    assert head.split(" ")[-1] in [w.rstrip(" ,;:.-–—") for w in whole_words] + whole_words
    # within the limit, unless the first word alone is longer than it
    assert len(head) <= limit or " " not in head


def test_excerpt_examples():
    text = "Les élus ont adopté lundi soir le projet qui doit rendre la rivière aux habitants."
    assert excerpt(text, 30) == "Les élus ont adopté lundi soir ..."
    assert excerpt(text, 200) == text
    assert excerpt("Un, deux, trois, quatre", 9) == "Un, deux ..."
    assert excerpt("Anticonstitutionnellement dit-il", 10) == "Anticonstitutionnellement ..."


def test_reading_time_is_words_over_230_rounded_up():
    assert reading_minutes("mot " * 230) == 1
    assert reading_minutes("mot " * 231) == 2
    assert reading_minutes("mot " * 1500) == math.ceil(1500 / 230) == 7
    assert reading_minutes("") == 1


def test_french_typography_puts_narrow_spaces_where_they_belong():
    assert french_typography("Vraiment ? Oui !") == f"Vraiment{NNBSP}? Oui{NNBSP}!"
    assert (french_typography("Enfin! Voilà: oui; non")
            == f"Enfin{NNBSP}! Voilà{NNBSP}: oui{NNBSP}; non")
    assert french_typography("« Bonjour »") == f"«{NNBSP}Bonjour{NNBSP}»"
    assert french_typography("«Bonjour»") == f"«{NNBSP}Bonjour{NNBSP}»"
    assert french_typography("Il dit\u00a0: non") == f"Il dit{NNBSP}: non"


def test_french_typography_leaves_urls_and_times_alone():
    text = "Rendez-vous à 12:30 sur https://example.org/a?b=c&d=e#f : entrée libre"
    fixed = french_typography(text)
    assert "12:30" in fixed
    assert "https://example.org/a?b=c&d=e#f" in fixed
    assert fixed.endswith(f"#f{NNBSP}: entrée libre")
    assert (french_typography("écrire à redaction@example.org ?")
            == f"écrire à redaction@example.org{NNBSP}?")


def test_typography_is_idempotent():
    once = french_typography("« Quoi ? » dit-il : « Rien ! »")
    assert french_typography(once) == once


def test_html_typography_touches_text_not_markup():
    html = ('<p title="a : b">Il dit : « oui » &amp; part ?</p>'
            '<a href="https://x.org/?a=1">lien !</a>')
    fixed = html_typography(html, "fr")
    assert 'title="a : b"' in fixed
    assert 'href="https://x.org/?a=1"' in fixed
    assert f"Il dit{NNBSP}: «{NNBSP}oui{NNBSP}» &amp; part{NNBSP}?" in fixed
    assert f"lien{NNBSP}!" in fixed
    assert html_typography(html, "en") == html


def test_html_to_text_keeps_paragraphs_and_drops_scripts():
    html = ("<h2>Titre</h2><p>Un <b>deux</b>\n trois</p><script>alert(1)</script>"
            "<ul><li>quatre</li></ul>")
    assert html_to_text(html) == "Titre\nUn deux trois\nquatre"
    assert html_to_text("<p>A &amp; B&nbsp;C</p>") == "A & B\u00a0C"


# -- typography in both languages ------------------------------------------------------------

from digest.text import typography, wrap  # noqa: E402

NBSP = "\u00a0"


def test_apostrophes_and_quotes():
    assert typography("l'âge d'État", "fr") == "l’âge d’État"
    assert typography('Il dit "oui" et part', "fr") == f"Il dit «{NNBSP}oui{NNBSP}» et part"
    assert typography("the readers' choice, it's", "en") == "the readers’ choice, it’s"
    assert typography('He said "yes" and \'no\'', "en") == "He said “yes” and ‘no’"


def test_no_break_spaces_in_numbers_and_before_percent_and_euro():
    assert typography("6 000 mètres et 1 462 000 habitants", "fr") == \
        f"6{NNBSP}000 mètres et 1{NNBSP}462{NNBSP}000 habitants"
    assert typography("12 % et 40 €, 15%", "fr") == f"12{NNBSP}% et 40{NNBSP}€, 15{NNBSP}%"
    assert typography("en 2028 300 personnes", "fr") == "en 2028 300 personnes"  # a year first
    assert typography("6 000 people, 12 % and 40 €; 15%", "en") == \
        f"6{NNBSP}000 people, 12{NBSP}% and 40{NBSP}€; 15%"


def test_french_ordinals():
    assert typography("la 93e minute, le 1er mai, la 1re fois, le 2ème, les 3es", "fr") == \
        "la 93ᵉ minute, le 1ᵉʳ mai, la 1ʳᵉ fois, le 2ᵉ, les 3ᵉˢ"
    assert typography("1rem, 3e5, 2er", "fr") == "1rem, 3e5, 2er"  # not ordinals
    assert typography("the 93e", "en") == "the 93e"


def test_urls_addresses_and_times_are_left_alone():
    for locale in ("fr", "en"):
        text = "Voir https://x.example/a?b='c'&d=\"e\" à 12:30, 50 % sur www.x.example/'a'"
        fixed = typography(text, locale)
        assert "https://x.example/a?b='c'&d=\"e\"" in fixed and "www.x.example/'a'" in fixed
        assert "12:30" in fixed


def test_code_pre_and_attributes_are_left_alone_in_html():
    html = ('<p title="l\'a : 12 %">Tapez <code>lead : true</code> puis '
            '<kbd>"q"</kbd> l\'âge.</p><pre>x : "y" 6 000</pre><p>"<em>Oui</em>"</p>')
    for locale, quote in (("fr", f"«{NNBSP}<em>Oui</em>{NNBSP}»"), ("en", "“<em>Oui</em>”")):
        fixed = html_typography(html, locale)
        assert 'title="l\'a : 12 %"' in fixed
        assert "<code>lead : true</code>" in fixed and '<kbd>"q"</kbd>' in fixed
        assert '<pre>x : "y" 6 000</pre>' in fixed
        assert "l’âge" in fixed and quote in fixed


def test_wrap_at_76_never_inside_a_hyphenated_word_or_a_url():
    text = ("Les habitants de Marie-Thérèse-sur-Sorelle, de Saint-Jean-de-Luz et de Val-Sorel "
            "liront https://www.example.org/un/tres/long/chemin/qui/depasse/la/largeur/permise "
            "avant 12 %.")
    wrapped = wrap(text)
    lines = wrapped.split("\n")
    assert all(len(line) <= 76 or " " not in line for line in lines)
    assert "Marie-Thérèse-sur-Sorelle," in wrapped and "Saint-Jean-de-Luz" in wrapped
    assert any(line == "https://www.example.org/un/tres/long/chemin/qui/depasse/la/largeur/permise"
               or "https://www.example.org/un/tres/long" in line for line in lines)
    assert " ".join(lines) == text


@given(st.text(alphabet=st.sampled_from(list("ab  \t\n\r\x00\x1f\x7f\x85\x9f"
                                             "\u00a0\u2028\u2029\u3000\ud800é")),
               max_size=30) | st.text(max_size=30))
def test_squash_is_its_definition(text):
    # the fast path (nothing to squash) gives what the substitution gives
    from digest.text import _BREAKS, encodable, squash

    assert squash(text) == encodable(_BREAKS.sub(" ", text).strip())


def _whole_excerpt(text, limit):
    """excerpt() as defined: on the whole text squashed."""
    from digest.text import ELLIPSIS, squash

    flat = squash(text)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1]
    head = cut[:-1] if cut[-1] == " " else cut[: max(cut.rfind(" "), 0)]
    head = head.rstrip(" ,;:.-–—")
    return (head or flat.split(" ", 1)[0]) + ELLIPSIS


@given(st.lists(st.sampled_from(list("ab ,.\n\t\u00a0\u2028") + ["mot", "  \n\n  ", " " * 300]),
                max_size=400).map("".join) | st.text(max_size=300),
       st.integers(min_value=1, max_value=60))
def test_excerpt_squashes_only_what_it_shows(text, limit):
    from digest.text import excerpt

    assert excerpt(text, limit) == _whole_excerpt(text, limit)


def test_french_typography_leaves_character_references_alone():
    for text in ("AT&xxe; suite", "un &eacute; seul", "&#123; puis &#x1F; puis &#x1f;"):
        assert french_typography(text) == text
    assert french_typography("Fin; puis &amp;! oui") == f"Fin{NNBSP}; puis &amp;{NNBSP}! oui"
    html = "<p>Écrire &amp;xxe; ou &amp;#x1F; ou &amp;#123; : fin!</p>"
    assert (html_typography(html, "fr")
            == f"<p>Écrire &amp;xxe; ou &amp;#x1F; ou &amp;#123;{NNBSP}: fin{NNBSP}!</p>")


def test_spreadsheet_cells_never_run_and_read_back():
    for value in ("=1+1", "+33 6", "-2", "@SUM(A1)", "\tx", "\rx", "'=x", "'a", "a=b", ""):
        cell = spreadsheet_cell(value)
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert spreadsheet_value(cell) == value
    assert spreadsheet_cell("=x@example.org") == "'=x@example.org"
    assert spreadsheet_cell("lecteur@example.org") == "lecteur@example.org"
