"""Grouping speed as `digest rank` processes: N articles in feeds, with an empty `.digest/`
(cold), then the same run again (warm: vectors and word frequencies cached), then a "next day"
(the state database emptied, the model's uncompressed weights kept in the user's cache, here
.digest/user-cache/ so that a cold run empties it too: every text is new, as each morning); \
median of several runs, CPU time (user + system, less sensitive
than wall time to the other processes of a shared machine) and peak memory of the process.

    .venv/bin/python bench/bench_grouping_speed.py [--articles 150 2500] [--runs 3] [--stages]
        [--compiled]

`--compiled` runs the processes with their modules' bytecode kept (in a temporary
PYTHONPYCACHEPREFIX, filled by one run not counted), as an installed `digest` runs: `pip install`
compiles the package's bytecode, but an editable install under PYTHONDONTWRITEBYTECODE=1 compiles
digest's modules from source in every process (28 for `digest rank`, about 0.07 s).

`--stages` also prints where one cold and one warm run spend their time, in the process.
Articles are the real headlines of tests/data/grouping repeated with a number, spread over the
day in 50 JSON feeds (50 entries each for 2,500), kept as local files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "grouping"


def titles() -> list[str]:
    rows = []
    for path in sorted(DATA.glob("*.json")):
        rows += [r["title"] + ". " + r.get("text", "")
                 for r in json.loads(path.read_text())["items"]]
    return rows


def make_folder(count: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-grouping-"))
    (root / "articles").mkdir()
    feeds = min(50, max(1, count // 3))
    per_feed = -(-count // feeds)
    base = titles()
    lines = ['[newsletter]', 'timezone = "Europe/Paris"', '']
    n = 0
    for f in range(feeds):
        items = []
        for e in range(per_feed):
            if n == count:
                break
            text = base[n % len(base)]
            title, _, body = text.partition(". ")
            items.append({"id": f"{f}-{e}", "url": f"https://feed{f}.example/{e}",
                          "title": f"{title} ({n // len(base)})" if n >= len(base) else title,
                          "content_text": body or title,
                          "date_published": f"2025-04-22T{6 + (n % 14):02d}:{n % 60:02d}:00+02:00"})
            n += 1
        (root / f"feed{f}.json").write_text(json.dumps(
            {"version": "https://jsonfeed.org/version/1.1", "title": f"Feed {f}", "items": items}))
        lines += ["[[sources.feeds]]", f'url = "feed{f}.json"', f'name = "Feed {f}"', ""]
    (root / "digest.toml").write_text("\n".join(lines))
    return root


ENV: dict[str, str] | None = None  # the processes' environment (--compiled), else this one's


def run(root: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB) of one `digest rank` process."""
    start = time.perf_counter()
    code = ("import resource, sys; from digest.cli import main; "
            "sys.argv = ['digest', 'rank', '--date', '2025-04-22']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "use = resource.getrusage(resource.RUSAGE_SELF)\n"
            "print(use.ru_utime + use.ru_stime, use.ru_maxrss, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, check=True, env=ENV)
    seconds = time.perf_counter() - start
    cpu, peak_kb = result.stderr.strip().splitlines()[-1].split()
    return seconds, float(cpu), int(peak_kb) / 1024


# `--stages`: the same command, its grouping steps timed from inside the process
STAGES = """
import functools, sys, threading, time
t0 = time.perf_counter()
times = {}
def add(key, seconds):
    if threading.current_thread() is not threading.main_thread():
        key += " (model's thread)"
    times[key] = times.get(key, 0.0) + seconds
def timed(owner, name, label):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            add(label, time.perf_counter() - start)
    setattr(owner, name, wrapper)
start = time.perf_counter()
import numpy
add("import numpy", time.perf_counter() - start)
start = time.perf_counter()
from digest.cli import main
import digest.newsletter as newsletter
import digest.ranking.meaning as meaning
import digest.ranking.rank as rank
import digest.ranking.stories as stories
import digest.ranking.story_features as story_features
import digest.ranking.story_rules as story_rules
add("import digest", time.perf_counter() - start)
timed(newsletter.Newsletter, "gather", "gather (read the feeds)")
timed(rank, "group", "group (all of grouping)")
timed(meaning, "_backend", "model load")
timed(meaning, "general_commonness", "word frequencies (wordfreq)")
timed(story_features, "read_features", "features (words, names, numbers)")
timed(story_rules.PairTable, "verdicts", "pair scoring")
timed(stories, "_link", "complete linkage")
backend = meaning._backend
def encode_only(texts, folder=None):
    model = backend(folder)
    start = time.perf_counter()
    try:
        return model.encode(texts)
    finally:
        add("encoding", time.perf_counter() - start)
def encode(texts, folder=None):
    meaning.one_blas_thread()
    return encode_only(texts, folder)
meaning.encode = encode
sys.argv = ["digest", "rank", "--date", "2025-04-22"]
try:
    main()
except SystemExit:
    pass
print(f"in the process: {time.perf_counter() - t0:.2f} s", file=sys.stderr)
for key, seconds in times.items():
    print(f"  {key}: {seconds:.3f} s", file=sys.stderr)
"""


def stages(root: Path) -> str:
    result = subprocess.run([sys.executable, "-c", STAGES], cwd=root, capture_output=True,
                            text=True, check=True, env=ENV)
    return result.stderr.strip()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, nargs="*", default=[150, 2500])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stages", action="store_true")
    parser.add_argument("--compiled", action="store_true")
    args = parser.parse_args()
    global ENV
    if args.compiled:
        ENV = {key: value for key, value in os.environ.items()
               if key != "PYTHONDONTWRITEBYTECODE"}
        ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-grouping-pyc-")
    print(f"load average at start: {load_average()}")
    for count in args.articles:
        root = make_folder(count)
        cache = str(root / ".digest" / "user-cache")  # DIGEST_CACHE_DIR: emptied when cold
        os.environ["DIGEST_CACHE_DIR"] = cache
        if ENV is not None:
            ENV["DIGEST_CACHE_DIR"] = cache
        runs: dict[str, list[tuple[float, float, float]]] = {"cold": [], "warm": [],
                                                               "next day": []}
        if args.compiled:
            run(root)  # compiles the bytecode: not counted
        for _ in range(args.runs):
            shutil.rmtree(root / ".digest", ignore_errors=True)
            runs["cold"].append(run(root))
            runs["warm"].append(run(root))
            for path in (root / ".digest").glob("state.db*"):
                path.unlink()
            runs["next day"].append(run(root))
        parts = []
        for name, measured in runs.items():
            wall, cpu, _ = zip(*measured, strict=True)
            parts.append(f"{name} {statistics.median(wall):.2f} s (CPU "
                         f"{statistics.median(cpu):.2f} s)")
        peak = max(m[2] for measured in runs.values() for m in measured)
        print(f"{count} articles: {', '.join(parts)}; medians of {args.runs}, peak {peak:.0f} MB")
        if args.stages:
            shutil.rmtree(root / ".digest", ignore_errors=True)
            print(f"  cold, {stages(root)}\n  warm, {stages(root)}")
        shutil.rmtree(root)
    print(f"load average at end: {load_average()}")
    if ENV is not None:
        shutil.rmtree(ENV["PYTHONPYCACHEPREFIX"])


if __name__ == "__main__":
    main()
