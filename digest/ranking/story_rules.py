"""When two articles are one story: the rules, written once, over one pair's values (`Pairwise`,
which also explains its verdict) or over arrays of many pairs at once (`PairTable`, without a
Python loop over a dense day's hundred thousand candidates). A test checks that the two give the
same verdicts.

Precision comes first: a wrong merge hides a story from readers, a missed one only shows it
twice. Two articles are one story only when they were published less than `group_hours` apart,
their combined evidence reaches the threshold (the meaning of their titles and first words, the
rare words they share, the names and numbers they agree on, less those they disagree on), and
the meaning alone is not all they have. The editors overrule all of it (see stories.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from digest.ranking.story_features import NAME_KEY, Features, Item
from digest.ranking.terms import fold


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
class PairValues:
    """What the rules look at, for one pair (numbers, booleans) or for many (numpy arrays)."""

    alone: Any  # one of the two is kept alone by the editors
    hours: Any  # hours between their publications
    placed: Any  # both placed by the editors (lead or priority)
    shared: Any  # a rare word, name or number in common
    meaning: Any  # the cosine of their sentence vectors
    score: Any  # the combined evidence


def evidence_score(s: GroupingSettings, meaning, words, names, conflicts):
    """The combined evidence of a pair, or of arrays of pairs: the meaning, the shared rare
    words (weighted Jaccard), each agreeing name or number (up to 3), less each name or number
    only one has (up to 3)."""
    import numpy as np

    return (s.meaning * meaning + s.words * words + s.names * np.minimum(names, 3)
            - s.conflict * np.minimum(conflicts, 3))


# The refusals, in the order an explanation names the first: (whether the pair is refused,
# why). Each test works on one pair's values and on arrays alike. "Only names and numbers in
# common" needs the words themselves: `Pairwise` asks it between these two (ONLY_NAMES).
RULES: list[tuple[Callable[[PairValues, GroupingSettings], Any],
                  Callable[[PairValues, GroupingSettings], str]]] = [
    (lambda v, s: v.alone, lambda v, s: "kept alone by the editors (group: false)"),
    (lambda v, s: v.hours > s.hours,
     lambda v, s: f"published {v.hours:.0f} h apart, over ranking.group_hours = {s.hours:g}"),
    (lambda v, s: v.placed,
     lambda v, s: "both placed by the editors (lead or priority): never one under the other"),
    (lambda v, s: _negated(v.shared), lambda v, s: "no rare word, name or number in common"),
    (lambda v, s: v.meaning < s.min_meaning,
     lambda v, s: f"meanings too far apart ({v.meaning:.2f} < {s.min_meaning:g})"),
]
ONLY_NAMES = 5  # RULES' place of the names-only rule, between the meaning and the threshold
THRESHOLD = (lambda v, s: v.score < s.threshold,
             lambda v, s: f"below the threshold {s.threshold:g}")


def _negated(value):
    import numpy as np

    return np.logical_not(value)


class Pairwise:
    """The evidence between two articles, computed on demand and kept."""

    def __init__(self, items: Sequence[Item], features: list[Features],
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
        score = float(evidence_score(s, meaning, words, len(names), len(conflicts)))
        values = PairValues(ia.alone or ib.alone, abs((ia.date - ib.date).total_seconds()) / 3600,
                            ia.placed and ib.placed, bool(shared or names), meaning, score)
        strong = sorted(shared, key=lambda t: (-min(wa[t], wb[t]), t))

        def ordinary() -> list[str]:
            """Shared words that are not names: what the two say happened, not only who or
            where (asked only when the meanings are far enough apart for it to matter)."""
            name_words = {fold(w)[:NAME_KEY] for w in names}
            return [t for t in shared if fa.words[t][:NAME_KEY] not in fa.names | name_words]

        names_only = (lambda v, s: v.meaning < s.names_only_meaning and not ordinary(),
                      lambda v, s: f"only names and numbers in common, and the meanings differ "
                                   f"({v.meaning:.2f} < {s.names_only_meaning:g})")
        why = next((says(values, s) for refuses, says in
                    (*RULES[:ONLY_NAMES], names_only, *RULES[ONLY_NAMES:], THRESHOLD)
                    if refuses(values, s)), "")
        return Evidence(a, b, meaning, tuple(fa.words[t] for t in strong),
                        tuple(sorted(names)), tuple(sorted(conflicts)), score, not why,
                        why or "same story")


class PairTable:
    """The evidence of many pairs at once, as arrays: the rules of `RULES` on arrays. Shared
    words, names and numbers are counted from each one's list of articles."""

    def __init__(self, items: Sequence[Item], features: list[Features],
                 weights: list[dict[str, float]], settings: GroupingSettings) -> None:
        self.items, self.features, self.weights = items, features, weights
        self.settings = settings

    def verdicts(self, first, second, meaning, pairwise: Pairwise):
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
        conflicts = np.zeros_like(overlap)
        if s.conflict:
            name_count = np.asarray([len(f.names) for f in self.features], dtype=np.float64)
            number_count = np.asarray([len(f.numbers) for f in self.features],
                                      dtype=np.float64)
            for per_item, shared in ((number_count, shared_numbers), (name_count, shared_names)):
                apart = (per_item[first] > 0) & (per_item[second] > 0) & (shared == 0)
                conflicts += np.where(apart, per_item[first] + per_item[second], 0.0)
        score = evidence_score(s, meaning, words, names, conflicts)

        start = items[0].date
        seconds = np.asarray([(item.date - start).total_seconds() for item in items])
        alone = np.asarray([item.alone for item in items])
        placed = np.asarray([item.placed for item in items])
        values = PairValues(alone[first] | alone[second],
                            np.abs(seconds[first] - seconds[second]) / 3600,
                            placed[first] & placed[second], (overlap > 0) | (names > 0),
                            meaning, score)
        refused = np.zeros(len(first), dtype=bool)
        for refuses, _ in (*RULES, THRESHOLD):
            refused |= refuses(values, s)
        grouped = ~refused
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




def two_placed(items: Sequence[Item], indexes: list[int]) -> Evidence | None:
    placed = [i for i in indexes if items[i].placed]
    if len(placed) < 2:
        return None
    return Evidence(placed[0], placed[1], 0.0, (), (), (), 0.0, False,
                    "both placed by the editors (lead or priority): never one under the other")
