"""Grouping speed as `digest rank` processes: N articles in feeds, empty vector cache (cold) then
warm; median of several runs, peak memory of the process.

    .venv/bin/python bench/bench_grouping_speed.py [--articles 150 2500] [--runs 3]

Articles are the real headlines of tests/data/grouping repeated with a number, spread over the
day in 50 JSON feeds (50 entries each for 2,500), kept as local files.
"""

from __future__ import annotations

import argparse
import json
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
        rows += [r["title"] + ". " + r.get("text", "") for r in json.loads(path.read_text())["items"]]
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


def run(root: Path) -> tuple[float, float]:
    start = time.perf_counter()
    code = ("import resource, sys; from digest.cli import main; "
            "sys.argv = ['digest', 'rank', '--date', '2025-04-22']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, check=True)
    seconds = time.perf_counter() - start
    peak_mb = int(result.stderr.strip().splitlines()[-1]) / 1024
    return seconds, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, nargs="*", default=[150, 2500])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}")
    for count in args.articles:
        root = make_folder(count)
        cold, warm, peaks = [], [], []
        for _ in range(args.runs):
            shutil.rmtree(root / ".digest", ignore_errors=True)
            seconds, peak = run(root)
            cold.append(seconds)
            peaks.append(peak)
            seconds, peak = run(root)
            warm.append(seconds)
            peaks.append(peak)
        print(f"{count} articles: cold {statistics.median(cold):.2f} s, warm "
              f"{statistics.median(warm):.2f} s (medians of {args.runs}), peak "
              f"{max(peaks):.0f} MB")
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
