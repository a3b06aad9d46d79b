"""Group articles that tell the same story. Pure functions over text, dates and vectors: the
sentence vectors and the general-language word frequencies come in from outside (`Signals`), so
nothing here reads a file or loads a model.

A story is a group in which *every* pair is the same story by the rules of story_rules.py
(complete linkage), so one shared person never chains different events together. Editors
overrule all of it: `group: false` keeps an article alone, `same_story:` joins two articles
whatever they say, and two articles the editors placed (pinned as lead, or given a priority)
never fall under one another. The pairs worth a verdict are each article's closest in meaning
(cosines.py); what each article says is read once (story_features.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from digest.ranking.cosines import Similarity, candidates
from digest.ranking.story_features import Item, Signals, day_features, first_words, word_weights
from digest.ranking.story_rules import (
    Evidence,
    GroupingSettings,
    PairTable,
    Pairwise,
    two_placed,
)

DEFAULT_SETTINGS = GroupingSettings()
MEANING_FLOOR = 0.35  # below this cosine, two short news texts are never worth comparing
# the closest articles in meaning each one is compared with: a story told by more articles in
# one day stays in groups of about this size; it bounds the candidate pairs (and the memory) of
# a day where every text looks alike to n × NEIGHBOURS instead of n²
NEIGHBOURS = 64


@dataclass
class Grouping:
    labels: list[int]  # a story number per item; items of one story share it
    pairs: list[Evidence] = field(default_factory=list)  # every pair that was grouped
    closest_miss: Evidence | None = None  # the closest pair that was not, and why



def group(items: Sequence[Item], signals: Signals | None,
          settings: GroupingSettings = DEFAULT_SETTINGS) -> Grouping:
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
    texts = [f"{items[i].title}. {' '.join(first_words(items[i].text))}" for i in needed]
    vectors_later = signals.start(texts)  # the model may work while the words are counted
    import numpy as np  # after the embedder's start, which sets numpy's threads as it loads
    features = day_features(items, signals.kept, signals.commonness)
    weights = word_weights(features, signals)
    embedded = np.asarray(vectors_later(), dtype=np.float32)

    # candidates: pairs close enough in meaning (and comparable in time), from the product of
    # the vectors by blocks of rows
    floor = max(MEANING_FLOOR, settings.min_meaning)  # pairs below it never group
    rows, cols, meaning = candidates(embedded, floor, NEIGHBOURS)
    position = [-1] * len(items)
    for row, i in enumerate(needed):
        position[i] = row
    similarity = Similarity(embedded, rows, cols, meaning)
    pairwise = Pairwise(items, features, similarity, position, weights, settings)
    index = np.asarray(needed, dtype=np.int64)
    first, second = index[rows], index[cols]
    score, grouped = PairTable(items, features, weights, settings).verdicts(
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


def _link(items: Sequence[Item], first, second, ranks, miss_rank: int,
          pairwise: Pairwise, grouping: Grouping) -> list[int]:
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
            grouping.closest_miss = replace(
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
              pairwise: Pairwise) -> Evidence:
    """Why two groups cannot be one story: their first pair that is not, or two placed
    articles (`one`, `other`: the groups' members, numbered as `same` is by `ids`)."""
    import numpy as np

    cross = same[np.ix_(one, other)]
    if not cross.all():
        x, y = np.argwhere(~cross)[0].tolist()
        return pairwise(int(ids[one[x]]), int(ids[other[y]]))
    blocking = two_placed(items, ids[one + other].tolist())
    assert blocking is not None
    return blocking
