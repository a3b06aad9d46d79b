"""What grouping reads of each article: the rare words, names and numbers of its title and first
words, and their weights for the day (rarer today and in general language weighs more). Kept
between runs by the caller (`Signals.kept`): reading the words of thousands of articles is most
of grouping."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from digest.ranking.terms import BODY_WORDS, STOP_WORDS, TOKEN, fold, idf, stem

NAME_KEY = 5  # names are compared on their first letters: Finland/Finlande, Croatia/Croatie


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


_FRENCH = frozenset("le la les des du une est et dans pour sur au aux qui que avec par".split())  # noqa: SIM905
_ENGLISH = frozenset("the of and to in is for on with at by from as that has was".split())  # noqa: SIM905


def language(text: str) -> str:
    counts = Counter(text.lower().split())
    french = sum(counts[w] for w in _FRENCH)
    english = sum(counts[w] for w in _ENGLISH)
    return "fr" if french > english else "en"


@dataclass
class Features:
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


def first_words(text: str) -> list[str]:
    """The first BODY_WORDS words of `text` (without splitting all of a long text)."""
    return text.split(maxsplit=BODY_WORDS)[:BODY_WORDS]


def read_features(title: str, text: str) -> Features:
    lang = language(f"{title} {text}")
    found = Features({}, set(), set(), lang)
    for part in (title, " ".join(first_words(text))):
        sentence_start = True
        for raw in TOKEN.findall(part):
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


def day_features(items: Sequence[Item], kept: KeptFeatures | None,
                  commonness: Callable[[list[tuple[str, str]]], list[float]]) -> list[Features]:
    """Each item's features: those `kept` from an earlier run, the others read (and kept, with
    their words' `commonness`)."""
    if kept is None:
        return [read_features(item.title, item.text) for item in items]
    keys = [f"{len(item.title)}:{item.title}{item.text}" for item in items]
    known = kept.get(keys)
    features: list[Features] = []
    fresh: dict[str, Features] = {}
    for key, item in zip(keys, items, strict=True):
        found = load_features(known[key]) if key in known else None
        if found is None:
            found = fresh[key] = read_features(item.title, item.text)
        features.append(found)
    if fresh:
        # every word's commonness, kept with the article's features (whether the day makes
        # it rare or not changes from day to day)
        wanted = sorted({(word, f.lang) for f in fresh.values() for word in f.words.values()})
        looked = dict(zip(wanted, commonness(wanted), strict=True))
        for f in fresh.values():
            f.common = {term: looked[(word, f.lang)] for term, word in f.words.items()}
        kept.put({key: dump_features(f) for key, f in fresh.items()})
    return features


def dump_features(features: Features) -> bytes:
    # the words in their order (weights are summed in it), their folded forms and commonness
    # as lists of their own (10,000 articles' lists of triples took twice as long to read
    # back), names and numbers sorted
    assert features.common is not None
    return json.dumps([list(features.words), list(features.words.values()),
                       list(features.common.values()), sorted(features.names),
                       sorted(features.numbers), features.lang], ensure_ascii=False).encode()


def load_features(data: bytes) -> Features | None:
    """The features of `_dump_features`, or None for a value that is not that."""
    try:
        terms, words, common, names, numbers, lang = json.loads(data)
        found = Features(dict(zip(terms, words, strict=True)), set(names), set(numbers),
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


def word_weights(features: list[Features], signals: Signals) -> list[dict[str, float]]:
    """Each article's words, weighted by how rare they are today and in general language.
    A word in more than a fifth of the day's articles is the day's vocabulary and weighs
    nothing."""
    frequency = Counter(term for f in features for term in f.words)
    # each term's weight today (the day's vocabulary weighs 0: left out), computed once
    today = {term: weight for term, weight in idf(frequency, len(features)).items() if weight}
    # the commonness of the rare words of features that do not carry it, asked at once
    wanted = sorted({(word, f.lang) for f in features if f.common is None
                     for term, word in f.words.items() if term in today})
    looked = dict(zip(wanted, signals.commonness(wanted), strict=True))
    # and each commonness's rarity, computed once
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
