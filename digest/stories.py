"""Group articles that tell the same story. Pure functions over text: no I/O.

Each article becomes a set of normalized terms from its title and first words: accents and case
removed, French and English stop words dropped, words cut to a short stem so that "élections" and
"election", "pneumonie" and "pneumonia" meet. Two articles are compared by the weighted Jaccard
similarity of their terms (rarer terms weigh more, title terms more than body terms). Shared proper
names alone never make a story: a pair also needs enough shared ordinary words. Only pairs that
share rare terms are compared at all (an inverted index), so the cost grows with the number of
articles, not with its square.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

STEM_LENGTH = 6
TITLE_WEIGHT = 1.5
BODY_WORDS = 45  # the first words of the text that describe the story
CANDIDATE_TERMS = 12  # each article is indexed under its rarest terms only
MAX_POSTING = 400  # a term carried by more articles than this says nothing about a story

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

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_SUFFIXES = ("ements", "ement", "ations", "ation", "euses", "euse", "ions", "ion", "ing", "ies",
             "es", "ed", "s", "e")


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:STEM_LENGTH]


def terms(text: str) -> tuple[set[str], set[str]]:
    """(terms, the terms that came from proper names) of a piece of text."""
    found: set[str] = set()
    names: set[str] = set()
    sentence_start = True
    for match in _WORD.finditer(text):
        raw = match.group()
        # l'élevage, d'État: the article before the apostrophe is a stop word
        raw = re.split(r"['’]", raw)[-1] if re.match(r"^\w{1,2}['’]", raw) else raw
        is_name = raw[:1].isupper() and not sentence_start
        sentence_start = text[match.end():match.end() + 2].lstrip(" ")[:1] in (".", "!", "?")
        word = _fold(raw).replace("-", "").replace("'", "").replace("’", "")
        if word.isdigit():
            if len(word) >= 2 and word.strip("0"):
                found.add(word)
            continue
        if len(word) < 3 or word in STOP_WORDS:
            continue
        term = stem(word)
        found.add(term)
        if is_name:
            names.add(term)
    return found, names


@dataclass(frozen=True)
class Document:
    """What grouping knows of one article."""

    title_terms: frozenset[str]
    body_terms: frozenset[str]
    names: frozenset[str]

    @property
    def all_terms(self) -> frozenset[str]:
        return self.title_terms | self.body_terms


def document(title: str, text: str) -> Document:
    title_terms, title_names = terms(title)
    body_terms, body_names = terms(" ".join(text.split()[:BODY_WORDS]))
    # a word capitalized in the title only because titles are capitalized is not a name
    names = (title_names & body_names) | (body_names - title_terms) | (title_names - body_terms)
    names -= {t for t in title_terms & body_terms if t not in body_names}
    return Document(frozenset(title_terms), frozenset(body_terms), frozenset(names))


def _weights(documents: list[Document]) -> dict[str, float]:
    frequency = Counter(t for d in documents for t in d.all_terms)
    total = len(documents)
    return {t: math.log((total + 1) / (df + 1)) + 1.0 for t, df in frequency.items()}


def similarity(a: Document, b: Document, idf: dict[str, float]) -> tuple[float, float]:
    """(weighted Jaccard similarity, share of the common weight carried by ordinary words)."""
    def weight(term: str, doc_a: Document, doc_b: Document) -> float:
        in_title = term in doc_a.title_terms or term in doc_b.title_terms
        return idf.get(term, 1.0) * (TITLE_WEIGHT if in_title else 1.0)

    terms_a, terms_b = a.all_terms, b.all_terms
    shared = terms_a & terms_b
    if not shared:
        return 0.0, 0.0
    shared_weight = sum(weight(t, a, b) for t in shared)
    union_weight = sum(weight(t, a, b) for t in terms_a | terms_b)
    names = a.names | b.names
    ordinary = sum(weight(t, a, b) for t in shared if t not in names)
    return shared_weight / union_weight, ordinary / shared_weight


@dataclass(frozen=True)
class GroupingSettings:
    threshold: float = 0.2  # weighted Jaccard above which two articles are the same story
    min_ordinary_share: float = 0.3  # of the shared weight, at least this much from common words
    min_shared_terms: int = 3


def candidate_pairs(documents: list[Document], idf: dict[str, float]):
    """Pairs that share at least two of their rarest terms: the only ones worth comparing."""
    postings: dict[str, list[int]] = defaultdict(list)
    unique = max(idf.values(), default=0.0)  # the weight of a term only one article has
    for index, doc in enumerate(documents):
        shared = [t for t in doc.all_terms if idf[t] < unique]  # a unique term matches nothing
        rarest = sorted(shared, key=lambda t: (-idf[t], t))[:CANDIDATE_TERMS]
        for term in rarest:
            postings[term].append(index)
    counts: Counter = Counter()
    for members in postings.values():
        if len(members) > MAX_POSTING:
            continue
        for i, left in enumerate(members):
            for right in members[i + 1:]:
                counts[(left, right)] += 1
    return [pair for pair, shared in counts.items() if shared >= 2]


def group(documents: list[Document], settings: GroupingSettings = GroupingSettings()) -> list[int]:
    """A group number for each document; documents of the same story share it."""
    idf = _weights(documents)
    parent = list(range(len(documents)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for left, right in candidate_pairs(documents, idf):
        a, b = documents[left], documents[right]
        if len(a.all_terms & b.all_terms) < settings.min_shared_terms:
            continue
        score, ordinary = similarity(a, b, idf)
        if score >= settings.threshold and ordinary >= settings.min_ordinary_share:
            root_a, root_b = find(left), find(right)
            if root_a != root_b:
                parent[max(root_a, root_b)] = min(root_a, root_b)
    return [find(i) for i in range(len(documents))]


def fingerprint(articles) -> tuple[list[str], list[str]]:
    """What identifies a story later: its articles' addresses and its terms."""
    from digest.sources import normalize_url

    urls = sorted({normalize_url(a.url) for a in articles})
    found = set()
    for article in articles:
        found |= document(article.title, article.text).all_terms
    return urls, sorted(found)
