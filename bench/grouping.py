"""Grouping quality on the labelled sets of real news in tests/data/grouping/ (see its README).

    .venv/bin/python bench/grouping.py            # the table: every set, tuning and held-out parts
    .venv/bin/python bench/grouping.py --tune     # search the settings on the tuning parts only

For each part it prints pairwise precision / recall / F1 and B-cubed precision / recall / F1 for
`digest` (digest.ranking.stories.group with the shipped settings), for a plain TF-IDF cosine
baseline (single threshold, tuned on the tuning parts) and for "every article alone". The
held-out parts are never used by --tune.

The sets are real days: the English set is one day of one news aggregator, so every article is
within the time limit of every other; the French-English set spans several years, so the time
limit alone separates its events. `--one-day` (the default table shows both) puts every
French-English article on the same day, so that only what the articles say can keep, say, the
deaths of two popes apart.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.ranking import meaning  # noqa: E402
from digest.ranking.stories import group  # noqa: E402
from digest.ranking.story_features import Item, Signals  # noqa: E402
from digest.ranking.story_rules import GroupingSettings  # noqa: E402
from digest.ranking.terms import fold, stem  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "grouping"
SETS = ("en_outlets", "fr_en")


def load(name: str, part: str, one_day: bool = False) -> list[dict]:
    items = json.loads((DATA / f"{name}_{part}.json").read_text())["items"]
    if one_day:
        items = [dict(i, date="2024-01-15") for i in items]
    return items


def as_items(rows: list[dict]) -> list[Item]:
    return [Item(keys=(str(n),), title=r["title"], text=r.get("text", ""),
                 date=datetime.fromisoformat(r["date"]).replace(hour=12, tzinfo=UTC))
            for n, r in enumerate(rows)]


_VECTORS: dict[str, object] = {}


def cached_embed(texts: list[str]):
    missing = [t for t in texts if t not in _VECTORS]
    if missing:
        for text, vector in zip(missing, meaning.encode(missing), strict=True):
            _VECTORS[text] = vector
    return [_VECTORS[t] for t in texts]


SIGNALS = Signals(cached_embed, meaning.general_commonness)


def pairwise(labels: list[str], predicted: list[int]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for a, b in itertools.combinations(range(len(labels)), 2):
        same, together = labels[a] == labels[b], predicted[a] == predicted[b]
        tp += same and together
        fp += together and not same
        fn += same and not together
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, _f1(precision, recall)


def bcubed(labels: list[str], predicted: list[int]) -> tuple[float, float, float]:
    n = len(labels)
    precision = recall = 0.0
    for i in range(n):
        cluster = [j for j in range(n) if predicted[j] == predicted[i]]
        story = [j for j in range(n) if labels[j] == labels[i]]
        right = sum(labels[j] == labels[i] for j in cluster)
        precision += right / len(cluster)
        recall += right / len(story)
    return precision / n, recall / n, _f1(precision / n, recall / n)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


DEFAULT_SETTINGS = GroupingSettings()  # one instance, as the default argument it replaces was


def digest_groups(rows: list[dict], settings: GroupingSettings = DEFAULT_SETTINGS) -> list[int]:
    return group(as_items(rows), SIGNALS, settings).labels


def _tfidf_vectors(rows: list[dict]) -> list[dict[str, float]]:
    docs = [[stem(fold(w)) for w in f"{r['title']} {r.get('text', '')}".split()
             if len(w) > 2] for r in rows]
    df = Counter(t for d in docs for t in set(d))
    vectors = []
    for d in docs:
        counts = Counter(d)
        v = {t: c * math.log(len(docs) / df[t]) for t, c in counts.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({t: x / norm for t, x in v.items()})
    return vectors


def tfidf_groups(rows: list[dict], threshold: float) -> list[int]:
    """The baseline: TF-IDF cosine of title and text, one threshold, single linkage."""
    vectors = _tfidf_vectors(rows)
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in itertools.combinations(range(len(rows)), 2):
        cosine = sum(x * vectors[b].get(t, 0.0) for t, x in vectors[a].items())
        if cosine >= threshold:
            parent[find(b)] = find(a)
    return [find(i) for i in range(len(rows))]


def tune_tfidf() -> float:
    best = (-1.0, 0.0)
    for step in range(5, 95, 5):
        threshold = step / 100
        f1s = [pairwise([r["story"] for r in rows], tfidf_groups(rows, threshold))[2]
               for rows in (load(s, "tuning") for s in SETS)]
        best = max(best, (sum(f1s) / len(f1s), threshold))
    return best[1]


def tune() -> None:
    """Grid search on the tuning parts: the best mean F1 whose precision stays >= 0.97."""
    parts = [(s, load(s, "tuning", one_day)) for s in SETS for one_day in (False, True)]
    results = []
    base = GroupingSettings()
    for threshold in (0.4, 0.45, 0.5, 0.55, 0.6, 0.65):
        for words in (0.35, 0.8, 1.2, 1.6):
            for names in (0.0, 0.06, 0.12):
                for conflict in (0.0, 0.06, 0.12, 0.2):
                    settings = replace(base, threshold=threshold, words=words, names=names,
                                       conflict=conflict)
                    scores = [pairwise([r["story"] for r in rows], digest_groups(rows, settings))
                              for _, rows in parts]
                    worst_p = min(s[0] for s in scores)
                    mean_f1 = sum(s[2] for s in scores) / len(scores)
                    results.append((worst_p >= 0.97, mean_f1, worst_p, settings))
    results.sort(key=lambda r: (r[0], r[1], r[2]), reverse=True)
    for ok, f1, p, s in results[:10]:
        print(f"{'ok ' if ok else 'low'} mean F1 {f1:.3f} worst P {p:.3f}  threshold={s.threshold} "
              f"words={s.words} names={s.names} conflict={s.conflict}")


def table() -> None:
    threshold = tune_tfidf()
    print(f"TF-IDF baseline threshold (tuned on the tuning parts): {threshold}")
    print("| set | part | method | pairwise P | R | F1 | B-cubed P | R | F1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in SETS:
        for part in ("tuning", "heldout"):
            for one_day in ((False, True) if name == "fr_en" else (False,)):
                rows = load(name, part, one_day)
                labels = [r["story"] for r in rows]
                shown = f"{part}{' (one day)' if one_day else ''}, {len(rows)} items"
                for method, predicted in (
                        ("every article alone", list(range(len(rows)))),
                        ("TF-IDF cosine", tfidf_groups(rows, threshold)),
                        ("digest", digest_groups(rows))):
                    p = pairwise(labels, predicted)
                    b = bcubed(labels, predicted)
                    print(f"| {name} | {shown} | {method} | "
                          + " | ".join(f"{x:.2f}" for x in (*p, *b)) + " |")


def misses(name: str, part: str, one_day: bool = False) -> None:
    """Every wrong merge and missed pair of one part, for looking at, not for tuning."""
    rows = load(name, part, one_day)
    predicted = digest_groups(rows)
    for a, b in itertools.combinations(range(len(rows)), 2):
        same, together = rows[a]["story"] == rows[b]["story"], predicted[a] == predicted[b]
        if same != together:
            kind = "WRONG MERGE" if together else "missed"
            print(f"{kind}: {rows[a]['title'][:70]} | {rows[b]['title'][:70]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--misses", nargs=2, metavar=("SET", "PART"))
    parser.add_argument("--one-day", action="store_true")
    args = parser.parse_args()
    if args.tune:
        tune()
    elif args.misses:
        misses(*args.misses, args.one_day)
    else:
        table()
