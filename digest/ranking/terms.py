"""Words as grouping and the memory of sent stories read them: accents and case removed, French and
English stop words dropped, words cut to a short stem so that "élections" and "election" meet.
The memory keeps a story's terms and compares them by weighted Jaccard (`Weighted`, `compare`),
each term weighted by its inverse document frequency (`idf`, which grouping uses too)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from digest.urls import normalize_url

STEM_LENGTH = 6
TITLE_WEIGHT = 1.5
BODY_WORDS = 45  # the first words of the text that describe the story

STOP_WORDS = frozenset("""
a au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le les leur
leurs lui ma mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses
son sur ta te tes toi ton tu un une vos votre vous est sont ete etait etre avoir ont fait faire
plus moins tres tout tous toute toutes aussi comme apres avant depuis pendant sans sous entre
vers chez selon encore deja alors ainsi donc car puis lors dont oui non si ni peu bien fin deux
trois quatre cinq six sept huit neuf dix premier premiere dernier derniere lundi mardi mercredi
jeudi vendredi samedi dimanche semaine mois annee ans an jour jours hier aujourd hui demain
matin soir nuit janvier fevrier mars avril mai juin juillet aout septembre octobre novembre
decembre the of and to in for with at by from as is are was were be been has have had it its
this that these those or but not no will would can could should may might than then there their
they he she his her we our you your i my us them who whom which what when where why how all any
each more most other some such only own same so too very just also into over after before
during about against between through up down out off again further once here said says say
monday tuesday wednesday thursday friday saturday sunday week month year years day today
yesterday tomorrow morning night evening january february march april june july august
september october november december one two three four five seven eight nine ten first last new
""".split())  # noqa: SIM905 (a readable list)

# a word (with its inner hyphens, apostrophes, and the dots and commas inside "U.S." or "3,5"),
# or the punctuation that ends a sentence or a clause. One pattern for the stored terms of sent
# stories and for grouping's features: the terms stored by every release so far were made with it
TOKEN = re.compile(r"[^\W_]+(?:[-'’.,][^\W_]+)*|[.!?:;«»\"]", re.UNICODE)
_SUFFIXES = ("ements", "ement", "ations", "ation", "euses", "euse", "ions", "ion", "ing", "ies",
             "es", "ed", "s", "e")


def fold(word: str) -> str:
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:STEM_LENGTH]


@lru_cache(maxsize=1 << 18)
def _term(raw: str) -> str | None:
    """The term a word stands for, or None for a stop word, a short word or a lone number."""
    if "'" in raw or "’" in raw:  # l'élevage, d'État: the article before the apostrophe goes
        head, _, tail = raw.replace("’", "'").rpartition("'")
        raw = tail if len(head) <= 2 else raw
    word = fold(raw).replace("-", "").replace("'", "").replace("’", "")
    if word.isdigit():
        return word if len(word) >= 2 and word.strip("0") else None
    if len(word) < 3 or word in STOP_WORDS:
        return None
    return stem(word)


def terms(text: str) -> tuple[set[str], set[str]]:
    """(terms, the terms that came from proper names) of a piece of text."""
    found: set[str] = set()
    names: set[str] = set()
    sentence_start = True
    for raw in TOKEN.findall(text):
        if raw in ".!?":
            sentence_start = True
            continue
        term = _term(raw)
        if term is not None:
            found.add(term)
            # capitalized inside a sentence: a name (a person, a place, an organisation)
            if not sentence_start and raw[0].isupper() and not term.isdigit():
                names.add(term)
        sentence_start = False
    return found, names


@dataclass(frozen=True)
class Document:
    """What grouping knows of one article."""

    title_terms: frozenset[str]
    body_terms: frozenset[str]
    names: frozenset[str]
    all_terms: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_terms", self.title_terms | self.body_terms)


def document(title: str, text: str) -> Document:
    title_terms, title_names = terms(title)
    body_terms, body_names = terms(" ".join(text.split()[:BODY_WORDS]))
    # a word capitalized in the title only because titles are capitalized is not a name
    names = (title_names & body_names) | (body_names - title_terms) | (title_names - body_terms)
    names -= {t for t in title_terms & body_terms if t not in body_names}
    return Document(frozenset(title_terms), frozenset(body_terms), frozenset(names))


def idf(frequency: Mapping[str, int], total: int) -> dict[str, float]:
    """Each term's inverse document frequency among `total` articles, from how many of them
    hold it; a term in more than a fifth of them weighs nothing: it is the day's vocabulary,
    not a story's."""
    common = max(5, total // 5)
    return {t: 0.0 if df > common else math.log((total + 1) / (df + 1)) + 1.0
            for t, df in frequency.items()}


def term_weights(documents: list[Document]) -> dict[str, float]:
    """The documents' terms weighted by `idf`."""
    return idf(Counter(t for d in documents for t in d.all_terms), len(documents))


class Weighted:
    """A document's terms with their weights: rarer terms and title terms weigh more."""

    __slots__ = ("doc", "total", "weights")

    def __init__(self, doc: Document, idf: dict[str, float]) -> None:
        self.doc = doc
        self.weights = {t: idf.get(t, 1.0) * (TITLE_WEIGHT if t in doc.title_terms else 1.0)
                        for t in doc.all_terms if idf.get(t, 1.0) > 0}
        self.total = sum(self.weights.values())


def compare(a: Weighted, b: Weighted) -> tuple[float, float]:
    """(weighted Jaccard similarity, share of the common weight carried by ordinary words)."""
    shared = a.weights.keys() & b.weights.keys()
    if not shared:  # nothing in common but the day's vocabulary
        return 0.0, 0.0
    names = a.doc.names | b.doc.names
    shared_weight = ordinary = overlap = 0.0
    for term in shared:
        wa, wb = a.weights[term], b.weights[term]
        weight = max(wa, wb)
        shared_weight += weight
        overlap += min(wa, wb)
        if term not in names:
            ordinary += weight
    # union = both totals minus what they share, each shared term counted at its larger weight
    union_weight = a.total + b.total - overlap
    return shared_weight / union_weight, ordinary / shared_weight


def fingerprint(articles) -> tuple[list[str], list[str]]:
    """What identifies a story later: its articles' addresses and its terms."""

    urls = sorted({normalize_url(a.url) for a in articles})
    found: set[str] = set()
    for article in articles:
        found |= document(article.title, article.text).all_terms
    return urls, sorted(found)
