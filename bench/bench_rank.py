"""Times grouping and ranking 1,000 / 10,000 / 50,000 candidate articles, with peak memory.

    python bench/bench_rank.py [--sizes 1000 10000 50000] [--runs 3]

Articles are generated as stories: each story has its own handful of rare words, and each of its
1 to 5 articles mixes some of them with common words, as several outlets covering one event do.
Each size runs in a fresh process, so its peak memory (VmHWM) is its own.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAY = date(2025, 4, 22)
SYLLABLES = [consonant + vowel for consonant in "bdfglmnprstvz" for vowel in "aeiou"]


def words(rng: random.Random, count: int) -> list[str]:
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4))) for _ in range(count)]


def articles(size: int, seed: int = 1):
    from zoneinfo import ZoneInfo

    from digest.models import Article

    rng = random.Random(seed)
    common = words(rng, 3000)
    tz = ZoneInfo("Europe/Paris")
    start = datetime(2025, 4, 22, tzinfo=tz)
    made = []
    story = 0
    while len(made) < size:
        story += 1
        topic = words(rng, 12)
        for copy in range(rng.randint(1, 5)):
            title = " ".join(rng.sample(topic, 4) + rng.sample(common, 3)).capitalize()
            text = " ".join(rng.sample(topic, 8) + rng.sample(common, 40))
            made.append(Article(
                title=title, date=start + timedelta(seconds=rng.randint(0, 86_399)),
                url=f"https://s{copy}.example/{story}", body_html="", text=text,
                source=f"Fil {copy}", category=rng.choice(["A", "B", "C", "D"]),
                priority=rng.choice([0, 0, 0, 1])))
            if len(made) == size:
                break
    return made, story


def measure(size: int, runs: int) -> dict:
    from zoneinfo import ZoneInfo

    from digest.config import RankingConfig
    from digest.ranking.rank import rank

    candidates, stories = articles(size)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        edition = rank(candidates, DAY, ZoneInfo("Europe/Paris"), RankingConfig())
        samples.append(time.perf_counter() - start)
    groups = len({r.group for r in edition.considered})
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    return {"size": size, "seconds": statistics.median(samples), "peak_mb": peak / 1024,
            "groups": groups, "stories": stories}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.runs)))
        return
    print("| articles | stories generated | groups found | time (median) | per article "
          "| peak memory |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--runs", str(args.runs)],
            capture_output=True, text=True, check=True, cwd=REPO)
        row = json.loads(out.stdout)
        print(f"| {size:,} | {row['stories']:,} | {row['groups']:,} | {row['seconds']:.2f} s | "
              f"{row['seconds'] / size * 1e6:.0f} µs | {row['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
