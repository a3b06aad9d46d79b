"""Group articles that tell the same story. Pure functions over text, dates and vectors: the
sentence vectors and the general-language word frequencies come in from outside (`Signals`), so
nothing here reads a file or loads a model.

Precision comes first: a wrong merge hides a story from readers, a missed one only shows it twice.
So two articles are one story only when
- they were published less than `group_hours` apart,
- their combined evidence reaches the threshold: the meaning of their titles and first words (a
  multilingual sentence encoder), the rare words they share, the names and numbers they agree on,
  less the names and numbers on which they disagree,
- and the meaning alone is not all they have: at least one shared rare word, name or number;
and a story is a group in which *every* pair is that close (complete linkage), so one shared
person never chains different events together. Editors overrule all of it: `group: false`
keeps an article alone, `same_story:` joins two articles whatever they say, and two articles
the editors placed (pinned as lead, or given a priority) never fall under one another.

Words are normalized the same way everywhere: accents and case removed, French and English stop
words dropped, words cut to a short stem so that "élections" and "election" meet. The memory of
sent stories keeps those terms and compares them by weighted Jaccard (`Weighted`, `compare`).
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Protocol

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

# a word (with its inner hyphens and apostrophes), or the punctuation that ends a sentence
_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*|[.!?]", re.UNICODE)
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
    for raw in _TOKEN.findall(text):
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


def term_weights(documents: list[Document]) -> dict[str, float]:
    """Inverse document frequency; a term in more than a fifth of the articles weighs nothing:
    it is the day's vocabulary, not a story's."""
    frequency = Counter(t for d in documents for t in d.all_terms)
    total = len(documents)
    common = max(5, total // 5)
    return {t: 0.0 if df > common else math.log((total + 1) / (df + 1)) + 1.0
            for t, df in frequency.items()}


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


MEANING_FLOOR = 0.35  # below this cosine, two short news texts are never worth comparing
# the closest articles in meaning each one is compared with: a story told by more articles in
# one day stays in groups of about this size; it bounds the candidate pairs (and the memory) of
# a day where every text looks alike to n × NEIGHBOURS instead of n²
NEIGHBOURS = 64
NAME_KEY = 5  # names are compared on their first letters: Finland/Finlande, Croatia/Croatie


@dataclass(frozen=True)
class GroupingSettings:
    # Tuned on the tuning parts of tests/data/grouping (bench/grouping.py --tune), never on the
    # held-out parts: the best mean F1 at full precision there. A price on disagreeing names
    # and numbers measured worse (tolls rise between two reports of one disaster), so it is 0:
    # disagreements are shown in the explanations only.
    threshold: float = 0.5  # combined evidence from which two articles are one story
    hours: float = 48.0  # articles further apart than this never group
    meaning: float = 1.0  # weight of the sentence vectors' cosine
    words: float = 0.35  # weight of the shared rare words (weighted Jaccard)
    names: float = 0.12  # for each agreeing name or number (up to 3)
    conflict: float = 0.0  # for each name or number only one has (up to 3), when both have some
    # Sharing only names and numbers groups two articles only when their meanings are this
    # close. Off (0): at 0.65 it kept "elected mayor" and "scores twice" (one man, one town)
    # apart, but cost a third of the recall on the English tuning part (entity headlines:
    # "Chiquita to acquire Fyffes" / "Fyffes and Chiquita team up").
    names_only_meaning: float = 0.0
    # However many words and names two articles share, they tell one story only if what they
    # say is this close: a town or an institution in common is not an event in common.
    min_meaning: float = 0.45


@dataclass(frozen=True)
class Item:
    """What grouping needs of one article."""

    keys: tuple[str, ...]  # what `same_story:` may point at: its address, its file name
    title: str
    text: str
    date: datetime
    alone: bool = False  # `group: false`
    same_as: tuple[str, ...] = ()  # `same_story:` addresses
    placed: bool = False  # pinned as lead or given a priority: never shown under another


class KeptFeatures(Protocol):
    def get(self, keys: list[str]) -> dict[str, bytes]: ...

    def put(self, found: dict[str, bytes]) -> None: ...


@dataclass(frozen=True)
class Signals:
    """What comes from outside: the sentence vectors (one row per text, unit length) and how
    common words are in general language, for (word, language) pairs (0 for unknown, up to
    about 8 for "the")."""

    embed: Callable[[list[str]], Sequence[Sequence[float]]]
    commonness: Callable[[list[tuple[str, str]]], list[float]] = \
        lambda words: [0.0] * len(words)
    # what each article's words gave (`get(keys)` -> {key: bytes}, `put({key: bytes})`), kept
    # between runs by the caller: reading the words of thousands of articles is most of grouping
    kept: KeptFeatures | None = None

    def start(self, texts: list[str]) -> Callable[[], Sequence[Sequence[float]]]:
        """Start embedding `texts`; the returned function waits for their vectors. An embedder
        with a `later(texts)` method of that shape works meanwhile (the model's matrix products
        run while Python counts words); any other is simply called when the vectors are due."""
        later = getattr(self.embed, "later", None)
        if later is not None:
            return later(texts)
        return lambda: self.embed(texts)


@dataclass(frozen=True)
class Evidence:
    """Why two articles were, or were not, one story."""

    first: int
    second: int
    meaning: float
    words: tuple[str, ...]
    names: tuple[str, ...]
    conflicts: tuple[str, ...]
    score: float
    grouped: bool
    why: str

    def describe(self) -> str:
        if self.why.endswith("(same_story)"):
            return self.why
        parts = [f"meaning {self.meaning:.2f}"]
        if self.words:
            parts.append("words " + ", ".join(self.words[:5]))
        if self.names:
            parts.append("names " + ", ".join(self.names[:5]))
        if self.conflicts:
            parts.append("differ on " + ", ".join(self.conflicts[:5]))
        return f"{self.why} (score {self.score:.2f}: {'; '.join(parts)})"


@dataclass
class Grouping:
    labels: list[int]  # a story number per item; items of one story share it
    pairs: list[Evidence] = field(default_factory=list)  # every pair that was grouped
    closest_miss: Evidence | None = None  # the closest pair that was not, and why


_TOKEN = re.compile(r"[^\W_]+(?:[-'’.,][^\W_]+)*|[.!?:;«»\"]", re.UNICODE)
_FRENCH = frozenset("le la les des du une est et dans pour sur au aux qui que avec par".split())  # noqa: SIM905
_ENGLISH = frozenset("the of and to in is for on with at by from as that has was".split())  # noqa: SIM905


def language(text: str) -> str:
    counts = Counter(text.lower().split())
    french = sum(counts[w] for w in _FRENCH)
    english = sum(counts[w] for w in _ENGLISH)
    return "fr" if french > english else "en"


@dataclass
class _Features:
    words: dict[str, str]  # stem -> the folded word it came from (for the frequency prior)
    names: set[str]  # name keys, from capitalized words inside sentences
    numbers: set[str]
    lang: str
    # stem -> its word's general commonness (`Signals.commonness`), when kept with the rest:
    # looking up the 80,000 words of 10,000 articles again on every run took 0.7 s
    common: dict[str, float] | None = None


def _number(raw: str) -> str | None:
    digits = raw.replace(",", "").replace(".", "").replace("\u202f", "")
    if not digits.isdigit() or not digits.strip("0"):
        return None
    return digits


@lru_cache(maxsize=1 << 18)
def _token(raw: str) -> tuple[str | None, str | None, bool, str | None, str]:
    """What one raw token gives, whatever its place: (number, name key if capitalized, all
    capitals, stem if a word, folded word). Days repeat their words: each is read once."""
    number = _number(raw)
    if number is not None:
        return number, None, False, None, ""
    head, _, tail = raw.replace("’", "'").rpartition("'")
    word = tail if head and len(head) <= 2 else raw  # l'Otan, d'État
    folded = fold(word).replace("-", "").replace("'", "").replace(".", "")
    name = folded[:NAME_KEY] if len(folded) >= 2 and word[0].isupper() else None
    term = (stem(folded) if len(folded) >= 3 and folded not in STOP_WORDS
            and not folded.isdigit() else None)
    return None, name, word.isupper(), term, folded


def _first_words(text: str) -> list[str]:
    """The first BODY_WORDS words of `text` (without splitting all of a long text)."""
    return text.split(maxsplit=BODY_WORDS)[:BODY_WORDS]


def _features(title: str, text: str) -> _Features:
    lang = language(f"{title} {text}")
    found = _Features({}, set(), set(), lang)
    for part in (title, " ".join(_first_words(text))):
        sentence_start = True
        for raw in _TOKEN.findall(part):
            if raw in ".!?:;«»\"":
                sentence_start = True
                continue
            number, name, capitals, term, folded = _token(raw)
            if number is not None:
                if len(number) >= 2:
                    found.numbers.add(number)
            else:
                if name is not None and (not sentence_start or capitals):
                    found.names.add(name)
                if term is not None:
                    found.words.setdefault(term, folded)
            sentence_start = False
    return found


def _day_features(items: Sequence[Item], kept: KeptFeatures | None,
                  commonness: Callable[[list[tuple[str, str]]], list[float]]) -> list[_Features]:
    """Each item's features: those `kept` from an earlier run, the others read (and kept, with
    their words' `commonness`)."""
    if kept is None:
        return [_features(item.title, item.text) for item in items]
    keys = [f"{len(item.title)}:{item.title}{item.text}" for item in items]
    known = kept.get(keys)
    features: list[_Features] = []
    fresh: dict[str, _Features] = {}
    for key, item in zip(keys, items, strict=True):
        found = _load_features(known[key]) if key in known else None
        if found is None:
            found = fresh[key] = _features(item.title, item.text)
        features.append(found)
    if fresh:
        # every word's commonness, kept with the article's features (whether the day makes
        # it rare or not changes from day to day)
        wanted = sorted({(word, f.lang) for f in fresh.values() for word in f.words.values()})
        looked = dict(zip(wanted, commonness(wanted), strict=True))
        for f in fresh.values():
            f.common = {term: looked[(word, f.lang)] for term, word in f.words.items()}
        kept.put({key: _dump_features(f) for key, f in fresh.items()})
    return features


def _dump_features(features: _Features) -> bytes:
    # the words in their order (weights are summed in it), their folded forms and commonness
    # as lists of their own (10,000 articles' lists of triples took twice as long to read
    # back), names and numbers sorted
    assert features.common is not None
    return json.dumps([list(features.words), list(features.words.values()),
                       list(features.common.values()), sorted(features.names),
                       sorted(features.numbers), features.lang], ensure_ascii=False).encode()


def _load_features(data: bytes) -> _Features | None:
    """The features of `_dump_features`, or None for a value that is not that."""
    try:
        terms, words, common, names, numbers, lang = json.loads(data)
        found = _Features(dict(zip(terms, words, strict=True)), set(names), set(numbers),
                          lang, dict(zip(terms, common, strict=True)))
    except (ValueError, TypeError, RecursionError):
        return None
    strings = [*terms, *words, *found.names, *found.numbers, found.lang]
    if not set(map(type, strings)) <= {str} or len(found.words) != len(terms):
        return None
    return found if set(map(type, common)) <= {float} else None


def _rarity(commonness: float) -> float:
    """How much a word says about a story, from its general-language frequency (Zipf scale):
    an unknown word or a name says the most, "people" or "gens" little."""
    return min(max((7.0 - commonness) / 4.0, 0.15), 1.25)


class _Pairwise:
    """The evidence between two articles, computed on demand and kept."""

    def __init__(self, items: Sequence[Item], features: list[_Features],
                 similarity: Callable[[int, int], float], position: list[int],
                 weights: list[dict[str, float]], settings: GroupingSettings) -> None:
        # similarity: the cosine of two embedded items, by rows; position: each item's row
        # (-1 for an item that was not embedded, which means nothing to any other)
        self.items, self.features, self.similarity = items, features, similarity
        self.position = position
        self.weights, self.settings = weights, settings
        self.totals = [sum(w.values()) for w in weights]
        self.cache: dict[tuple[int, int], Evidence] = {}

    def __call__(self, a: int, b: int) -> Evidence:
        key = (a, b) if a < b else (b, a)
        if key not in self.cache:
            self.cache[key] = self._evidence(*key)
        return self.cache[key]

    def _evidence(self, a: int, b: int) -> Evidence:
        s, fa, fb = self.settings, self.features[a], self.features[b]
        ia, ib = self.items[a], self.items[b]
        pa, pb = self.position[a], self.position[b]
        meaning = self.similarity(pa, pb) if pa >= 0 and pb >= 0 else 0.0
        wa, wb = self.weights[a], self.weights[b]
        shared = wa.keys() & wb.keys()
        overlap = sum(min(wa[t], wb[t]) for t in shared)
        union = self.totals[a] + self.totals[b] - overlap
        words = overlap / union if union else 0.0
        names = (fa.names & fb.names) | (fa.numbers & fb.numbers)
        # a name or number one side has and the other lacks, when both name or count something
        conflicts: set[str] = set()
        if fa.numbers and fb.numbers and not fa.numbers & fb.numbers:
            conflicts |= fa.numbers ^ fb.numbers
        if fa.names and fb.names and not fa.names & fb.names:
            conflicts |= fa.names ^ fb.names
        score = (s.meaning * meaning + s.words * words + s.names * min(len(names), 3)
                 - s.conflict * min(len(conflicts), 3))
        hours = abs((ia.date - ib.date).total_seconds()) / 3600
        strong = sorted(shared, key=lambda t: (-min(wa[t], wb[t]), t))

        def ordinary() -> list[str]:
            """Shared words that are not names: what the two say happened, not only who or
            where (asked only when the meanings are far enough apart for it to matter)."""
            name_words = {fold(w)[:NAME_KEY] for w in names}
            return [t for t in shared if fa.words[t][:NAME_KEY] not in fa.names | name_words]

        why = ""
        if ia.alone or ib.alone:
            why = "kept alone by the editors (group: false)"
        elif hours > s.hours:
            why = f"published {hours:.0f} h apart, over ranking.group_hours = {s.hours:g}"
        elif ia.placed and ib.placed:
            why = "both placed by the editors (lead or priority): never one under the other"
        elif not shared and not names:
            why = "no rare word, name or number in common"
        elif meaning < s.min_meaning:
            why = f"meanings too far apart ({meaning:.2f} < {s.min_meaning:g})"
        elif meaning < s.names_only_meaning and not ordinary():
            why = (f"only names and numbers in common, and the meanings differ "
                   f"({meaning:.2f} < {s.names_only_meaning:g})")
        elif score < s.threshold:
            why = f"below the threshold {s.threshold:g}"
        return Evidence(a, b, meaning, tuple(fa.words[t] for t in strong),
                        tuple(sorted(names)), tuple(sorted(conflicts)), score, not why,
                        why or "same story")


def _with(evidence: Evidence, **changes) -> Evidence:
    return replace(evidence, **changes)


def group(items: Sequence[Item], signals: Signals | None,
          settings: GroupingSettings = GroupingSettings()) -> Grouping:
    """A story number for each item, with the evidence for every grouped pair."""
    count = len(items)
    labels = list(range(count))
    grouping = Grouping(labels)
    forced = _forced_pairs(items)
    comparable = _comparable_pairs(items, settings)
    if signals is not None and comparable:
        _group_by_evidence(items, signals, settings, comparable, grouping)
    for a, b in forced:  # the editors' word, whatever the evidence says
        old, new = max(labels[a], labels[b]), min(labels[a], labels[b])
        for i in range(count):
            if labels[i] == old:
                labels[i] = new
        grouping.pairs.append(Evidence(a, b, 0.0, (), (), (), 1.0, True,
                                       "same story for the editors (same_story)"))
    # number the stories by their first article, so labels never depend on merge order
    first: dict[int, int] = {}
    grouping.labels = [first.setdefault(label, index) for index, label in enumerate(labels)]
    return grouping


def _forced_pairs(items: Sequence[Item]) -> list[tuple[int, int]]:
    where = {key: index for index, item in enumerate(items) for key in item.keys}
    pairs = []
    for index, item in enumerate(items):
        for key in item.same_as:
            other = where.get(key)
            if other is not None and other != index:
                pairs.append((min(index, other), max(index, other)))
    return sorted(set(pairs))


def _comparable_pairs(items: Sequence[Item], settings: GroupingSettings) -> list[int]:
    """The items that have at least one other within the time limit (and are not kept alone):
    only those need the sentence vectors."""
    order = sorted((i for i, item in enumerate(items) if not item.alone),
                   key=lambda i: items[i].date)
    needed: set[int] = set()
    limit = settings.hours * 3600
    for position, i in enumerate(order[:-1]):
        j = order[position + 1]
        if (items[j].date - items[i].date).total_seconds() <= limit:
            needed.update((i, j))
    return sorted(needed)


def _group_by_evidence(items: Sequence[Item], signals: Signals, settings: GroupingSettings,
                       needed: list[int], grouping: Grouping) -> None:
    texts = [f"{items[i].title}. {' '.join(_first_words(items[i].text))}" for i in needed]
    vectors_later = signals.start(texts)  # the model may work while the words are counted
    import numpy as np  # after the embedder's start, which sets numpy's threads as it loads
    features = _day_features(items, signals.kept, signals.commonness)
    weights = _word_weights(features, signals)
    embedded = np.asarray(vectors_later(), dtype=np.float32)

    # candidates: pairs close enough in meaning (and comparable in time), from the product of
    # the vectors by blocks of rows
    floor = max(MEANING_FLOOR, settings.min_meaning)  # pairs below it never group
    rows, cols, meaning = _candidates(embedded, floor, NEIGHBOURS)
    position = [-1] * len(items)
    for row, i in enumerate(needed):
        position[i] = row
    similarity = _Similarity(embedded, rows, cols, meaning)
    pairwise = _Pairwise(items, features, similarity, position, weights, settings)
    index = np.asarray(needed, dtype=np.int64)
    first, second = index[rows], index[cols]
    score, grouped = _PairTable(items, features, weights, settings).verdicts(
        first, second, meaning.astype(np.float64), pairwise)
    # best first; ties by position, so the result never depends on the order of work
    in_order = np.lexsort((second, first, -score))

    # a refused pair can never end up in one group (complete linkage), so the first refused
    # pair in the order is the closest miss, unless a merge refused before it is
    refused = in_order[~grouped[in_order]]
    miss_rank = int(np.flatnonzero(~grouped[in_order])[0]) if len(refused) else len(in_order)
    accepted = in_order[grouped[in_order]]
    owner = _link(items, first[accepted], second[accepted],
                  np.flatnonzero(grouped[in_order]), miss_rank, pairwise, grouping)
    best_miss = grouping.closest_miss
    first_list, second_list = first.tolist(), second.tolist()
    grouping.labels[:] = owner
    if best_miss is None and len(refused):
        best_miss = pairwise(first_list[refused[0]], second_list[refused[0]])
    if best_miss is None and len(needed) > 1:  # no candidate was refused: the closest pair apart
        labels = np.asarray(owner)[needed]
        apart = np.triu(embedded @ embedded.T, k=1)  # every pair grouped: a small day
        apart[(labels[:, None] == labels[None, :])
              | ~np.triu(np.ones(apart.shape, dtype=bool), k=1)] = -2.0
        r, c = np.unravel_index(int(np.argmax(apart)), apart.shape)
        if apart[r, c] > -2.0:
            best_miss = pairwise(needed[int(r)], needed[int(c)])
    grouping.closest_miss = best_miss


ROW_BLOCK = 1024  # rows of the cosines made at once: 40 MB at 10,000 articles, once a thread
BLOCK_BYTES = 64 * 2**20  # fewer rows on a larger day, so that a block stays within this
PRODUCT_THREADS = 2  # rows of cosines made side by side (numpy lets go of the interpreter lock)


def _candidates(vectors, floor: float, count: int, block: int = 128):
    """The pairs (rows, cols), row < col, in row-major order, at least `floor` close in meaning
    (the cosine of their `vectors`, row by row as `vectors @ vectors.T` gives it) where one of
    the two is among the other's `count` closest; and their cosines. The n × n cosines are
    never made: `_row_block` rows at a time, each thread into the same memory (the whole product
    at 10,000 articles was 400 MB of new pages); each row's closest are found by `block` rows
    of it (a block of 512 rows made 40 MB of indexes, new pages from the system each time).
    The blocks of rows are shared out to PRODUCT_THREADS threads, as many as the process may
    use cores, each product on one BLAS thread. A cosine's last bits may differ with the block,
    the BLAS build and the CPU (float32 products are rounded by each kernel its own way): the
    groups do not depend on them (tests/test_stories.py tries several blocks)."""
    import threading

    import numpy as np

    size = len(vectors)
    if size <= count + 1:  # a small day: every pair is among the closest
        similarity = vectors @ vectors.T
        rows, cols = np.nonzero(np.triu(similarity >= floor, k=1))
        return rows, cols, similarity[rows, cols]
    mine = threading.local()
    rows_at_once = _row_block(size)
    block = max(1, min(block, BLOCK_BYTES // (12 * size)))  # -rows and the indexes: 12 bytes

    def closest(start: int):
        """The `count` + 1 closest of each row of the block from `start` (itself among them)."""
        if not hasattr(mine, "product"):
            mine.product = np.empty((min(rows_at_once, size), size), dtype=vectors.dtype)
        cosines = _block_cosines(vectors, start, min(start + rows_at_once, size), mine.product)
        firsts, seconds, values = [], [], []
        for offset in range(0, len(cosines), block):
            rows = cosines[offset:offset + block]
            nearest = np.argpartition(-rows, count, axis=1)[:, :count + 1]
            first = start + offset
            firsts.append(np.repeat(np.arange(first, first + len(rows)), count + 1))
            seconds.append(nearest.ravel())
            values.append(np.take_along_axis(rows, nearest, axis=1).ravel())
        return firsts, seconds, values

    starts = range(0, size, rows_at_once)
    threads = min(PRODUCT_THREADS, _cores(), len(starts))
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="digest-cosines") as pool:
            found = list(pool.map(closest, starts))  # in order: the same pairs, the same order
    else:
        found = [closest(start) for start in starts]
    firsts = [part for parts, _, _ in found for part in parts]
    seconds = [part for _, parts, _ in found for part in parts]
    values = [part for _, _, parts in found for part in parts]
    ends = np.concatenate(firsts), np.concatenate(seconds)
    value = np.concatenate(values)
    low, high = np.minimum(*ends), np.maximum(*ends)
    # a pair found from either end is kept once, from the first of its rows
    keep = (low != high) & (value >= floor)
    keys = low[keep] * size + high[keep]
    order = np.argsort(keys, kind="stable")  # in row-major order, then once each
    keys, value = keys[order], value[keep][order]
    once = np.concatenate(([True], keys[1:] != keys[:-1]))
    keys, value = keys[once], value[once]
    return keys // size, keys % size, value


def _row_block(size: int) -> int:
    """Rows of cosines made at once on a day of `size` vectors (float32): ROW_BLOCK, or fewer
    when so many would pass BLOCK_BYTES (400 MB a thread at 100,000 articles); two at least."""
    return max(2, min(ROW_BLOCK, BLOCK_BYTES // (4 * max(size, 1))))


def _block_cosines(vectors, start: int, stop: int, out=None):
    """The cosines of rows `start` to `stop` with every row, as a product of two rows or more
    gives them (so, `vectors @ vectors.T`'s): numpy computes a single row's by another
    routine, whose last bits differ. `out`: memory of at least two rows for the product."""
    import numpy as np

    first = start - 1 if stop - start == 1 and start > 0 else start
    product = np.matmul(vectors[first:stop], vectors.T,
                        out=None if out is None else out[:stop - first])
    return product[start - first:]


def _cores() -> int:
    """The cores this process may run on (all of the machine's where the system cannot say)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Similarity:
    """The cosine of two embedded items (rows a < b), as `vectors @ vectors.T` gives it: the
    candidate pairs' from `_candidates`, any other from the product of a's block of rows (only
    explanations ask for those)."""

    def __init__(self, vectors, rows, cols, values) -> None:
        self.vectors, self.values = vectors, values
        self.keys = rows * len(vectors) + cols  # ascending

    def __call__(self, a: int, b: int) -> float:
        import numpy as np

        key = a * len(self.vectors) + b
        at = int(np.searchsorted(self.keys, key))
        if at < len(self.keys) and self.keys[at] == key:
            return float(self.values[at])
        rows = _row_block(len(self.vectors))
        start = a // rows * rows
        stop = min(start + rows, len(self.vectors))
        return float(_block_cosines(self.vectors, start, stop)[a - start, b])


def _link(items: Sequence[Item], first, second, ranks, miss_rank: int,
          pairwise: _Pairwise, grouping: Grouping) -> list[int]:
    """Complete linkage over the pairs that are the same story (`first`, `second`: every such
    pair, best first): each pair joins its two groups if every article of one is the same story
    as every article of the other (and no two are placed by the editors). Returns each
    article's group; the merges go to `grouping.pairs`, and the first refusal ranked before
    `miss_rank` to `closest_miss`.

    Only the articles named by those pairs can join another, so the work is on them alone
    (numbered by `ids`, in the items' order): two n × n boolean arrays for a day of 10,000
    articles were 200 MB of new pages. `fits[g]` holds, for each of them, whether it is the
    same story as every article of group g, so a merge is checked without looking at each pair
    again; and the pairs are read by windows of arrays, as most of them lie inside a group
    already or were refused for good (a group only grows, so what it refused once it refuses
    again)."""
    import numpy as np

    ids = np.unique(np.concatenate((first, second))).astype(np.int64)
    first, second = np.searchsorted(ids, first), np.searchsorted(ids, second)
    count = len(ids)
    same = np.zeros((count, count), dtype=bool)
    same[first, second] = True
    same[second, first] = True
    fits = same.copy()
    members = {i: [i] for i in range(count)}
    owner = np.arange(count)
    placed = np.asarray([items[i].placed for i in ids.tolist()], dtype=np.int64)
    position, window, total = 0, 64, len(first)
    while position < total:
        xs, ys = first[position:position + window], second[position:position + window]
        a_side, b_side = owner[xs], owner[ys]
        live = a_side != b_side
        # the pair itself first: most refusals are decided there, without the whole group
        quick = live & fits[a_side, ys] & (placed[a_side] + placed[b_side] <= 1)
        merge_at = len(xs)
        refusal = int(np.argmax(live & ~quick)) if (live & ~quick).any() else len(xs)
        for j in np.flatnonzero(quick).tolist():
            a, b = int(a_side[j]), int(b_side[j])
            if len(members[b]) == 1 or fits[a, members[b]].all():
                merge_at = j
                break
            refusal = min(refusal, j)
        if (grouping.closest_miss is None and refusal < merge_at
                and ranks[position + refusal] < miss_rank):
            x, y = int(ids[xs[refusal]]), int(ids[ys[refusal]])
            blocking = _blocking(items, same, ids, members[owner[xs[refusal]]],
                                 members[owner[ys[refusal]]], pairwise)
            grouping.closest_miss = _with(
                pairwise(x, y), grouped=False,
                why=f"would join «{items[blocking.first].title}» and "
                    f"«{items[blocking.second].title}»: {blocking.why}")
        if merge_at == len(xs):
            position += len(xs)
            window = min(window * 2, 8192)
            continue
        a, b = int(a_side[merge_at]), int(b_side[merge_at])
        keep, gone = min(a, b), max(a, b)
        owner[members[gone]] = keep
        members[keep].extend(members.pop(gone))
        fits[keep] &= fits[gone]
        placed[keep] += placed[gone]
        grouping.pairs.append(pairwise(int(ids[xs[merge_at]]), int(ids[ys[merge_at]])))
        position += merge_at + 1
        window = 64
    groups = np.arange(len(items))
    groups[ids] = ids[owner]
    return groups.tolist()


def _blocking(items: Sequence[Item], same, ids, one: list[int], other: list[int],
              pairwise: _Pairwise) -> Evidence:
    """Why two groups cannot be one story: their first pair that is not, or two placed
    articles (`one`, `other`: the groups' members, numbered as `same` is by `ids`)."""
    import numpy as np

    cross = same[np.ix_(one, other)]
    if not cross.all():
        x, y = np.argwhere(~cross)[0].tolist()
        return pairwise(int(ids[one[x]]), int(ids[other[y]]))
    blocking = _two_placed(items, ids[one + other].tolist())
    assert blocking is not None
    return blocking


class _PairTable:
    """The evidence of many pairs at once, as arrays: the same rules as `_Pairwise`, without a
    Python loop over pairs (a dense day has a hundred thousand candidates). Shared words, names
    and numbers are counted from each one's list of articles."""

    def __init__(self, items: Sequence[Item], features: list[_Features],
                 weights: list[dict[str, float]], settings: GroupingSettings) -> None:
        self.items, self.features, self.weights = items, features, weights
        self.settings = settings

    def verdicts(self, first, second, meaning, pairwise: _Pairwise):
        """(score, grouped) of each pair (first[k], second[k]), first[k] < second[k]."""
        import numpy as np

        s, items, count = self.settings, self.items, len(self.items)
        if not len(first):
            return np.zeros(0), np.zeros(0, dtype=bool)
        keys = first * count + second  # ascending, as np.nonzero gives them
        overlap = self._shared(keys, count, self.weights, self.weights)
        shared_names = self._shared(keys, count, [f.names for f in self.features])
        shared_numbers = self._shared(keys, count, [f.numbers for f in self.features])
        totals = np.asarray([sum(w.values()) for w in self.weights], dtype=np.float64)
        union = totals[first] + totals[second] - overlap
        words = np.divide(overlap, union, out=np.zeros_like(overlap), where=union != 0)
        names = shared_names + shared_numbers
        score = s.meaning * meaning + s.words * words + s.names * np.minimum(names, 3)
        if s.conflict:
            name_count = np.asarray([len(f.names) for f in self.features], dtype=np.float64)
            number_count = np.asarray([len(f.numbers) for f in self.features],
                                      dtype=np.float64)
            conflicts = np.zeros_like(score)
            for per_item, shared in ((number_count, shared_numbers), (name_count, shared_names)):
                apart = (per_item[first] > 0) & (per_item[second] > 0) & (shared == 0)
                conflicts += np.where(apart, per_item[first] + per_item[second], 0.0)
            score -= s.conflict * np.minimum(conflicts, 3)

        start = items[0].date
        seconds = np.asarray([(item.date - start).total_seconds() for item in items])
        alone = np.asarray([item.alone for item in items])
        placed = np.asarray([item.placed for item in items])
        grouped = ~(alone[first] | alone[second])
        grouped &= np.abs(seconds[first] - seconds[second]) / 3600 <= s.hours
        grouped &= ~(placed[first] & placed[second])
        grouped &= (overlap > 0) | (names > 0)
        grouped &= meaning >= s.min_meaning
        grouped &= score >= s.threshold
        # "only names and numbers in common" needs the words themselves: asked pair by pair
        for k in np.flatnonzero(grouped & (meaning < s.names_only_meaning)).tolist():
            grouped[k] = pairwise(int(first[k]), int(second[k])).grouped
        return score, grouped

    @staticmethod
    def _shared(keys, count: int, entries: Sequence[Collection[str]],
                weights: Sequence[dict[str, float]] | None = None):
        """For each pair key (first × count + second), how many of the things listed per article
        the two share, or, given their `weights`, the sum of the smaller of their two weights."""
        import numpy as np

        total = np.zeros(len(keys), dtype=np.float64)
        sizes = [len(listed) for listed in entries]
        if not sum(sizes):
            return total
        ids: dict[str, int] = {}
        thing = np.asarray([ids.setdefault(name, len(ids)) for listed in entries
                            for name in listed], dtype=np.int64)
        doc = np.repeat(np.arange(len(entries), dtype=np.int64), sizes)
        value = (np.ones(len(thing)) if weights is None else
                 np.fromiter((w for mine in weights for w in mine.values()), dtype=np.float64,
                             count=len(thing)))
        order = np.lexsort((doc, thing))
        doc, thing, value = doc[order], thing[order], value[order]
        # each entry pairs with the later entries of the same thing
        starts = np.flatnonzero(np.r_[True, thing[1:] != thing[:-1]])
        runs = np.diff(np.r_[starts, len(thing)])
        end = np.repeat(starts + runs, runs)
        later = end - np.arange(len(thing)) - 1
        position = 0
        budget = 4_000_000  # pairs made at once: bounds the memory of very common names
        while position < len(thing):
            cumulative = np.cumsum(later[position:])
            stop = position + max(1, int(np.searchsorted(cumulative, budget, side="right")))
            made = later[position:stop]
            left = np.repeat(np.arange(position, stop), made)
            if len(left):
                offsets = np.arange(len(left)) - np.repeat(np.cumsum(made) - made, made)
                right = left + 1 + offsets
                pair = doc[left] * count + doc[right]
                where = np.searchsorted(keys, pair)
                where[where == len(keys)] = 0
                hit = keys[where] == pair
                add = value[left] if weights is None else np.minimum(value[left], value[right])
                total += np.bincount(where[hit], weights=add[hit], minlength=len(keys))
            position = stop
        return total


def _two_placed(items: Sequence[Item], indexes: list[int]) -> Evidence | None:
    placed = [i for i in indexes if items[i].placed]
    if len(placed) < 2:
        return None
    return Evidence(placed[0], placed[1], 0.0, (), (), (), 0.0, False,
                    "both placed by the editors (lead or priority): never one under the other")


def _word_weights(features: list[_Features], signals: Signals) -> list[dict[str, float]]:
    """Each article's words, weighted by how rare they are today and in general language.
    A word in more than a fifth of the day's articles is the day's vocabulary and weighs
    nothing."""
    frequency = Counter(term for f in features for term in f.words)
    total = len(features)
    common = max(5, total // 5)
    # the commonness of the rare words of features that do not carry it, asked at once
    wanted = sorted({(word, f.lang) for f in features if f.common is None
                     for term, word in f.words.items() if frequency[term] <= common})
    looked = dict(zip(wanted, signals.commonness(wanted), strict=True))
    # each term's weight today, and each commonness's rarity, computed once
    today = {term: math.log((total + 1) / (df + 1)) + 1.0
             for term, df in frequency.items() if df <= common}
    rarities: dict[float, float] = {}
    weights = []
    for f in features:
        mine = {}
        for term, word in f.words.items():
            weight = today.get(term)
            if weight is None:
                continue
            value = looked[(word, f.lang)] if f.common is None else f.common[term]
            rarity = rarities.get(value)
            if rarity is None:
                rarity = rarities[value] = _rarity(value)
            mine[term] = weight * rarity
        weights.append(mine)
    return weights
