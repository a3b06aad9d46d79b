"""Times gathering feeds from a local server that delays every answer, and a big feed's memory.

    python bench/bench_feeds.py [--feeds 50] [--entries 50] [--delay 0.2] [--runs 3]

Each run starts from an empty state folder (every feed answers 200), then gathers again with the
ETags it kept (every feed answers 304). Memory: a `digest sources` process reading one feed just
under the 5 MB cap, against the same process reading a small feed (VmHWM, peak resident set).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from feed_server import FeedServer, Route, rss  # noqa: E402  needs tests/ on sys.path

DAY = date(2025, 4, 22)


def entries(feed: int, count: int, words: int = 60) -> list[dict]:
    return [{"title": f"Flux {feed}, dépêche {i}", "link": f"https://f{feed}.example/{i}",
             "guid": f"f{feed}-{i}", "date": "Tue, 22 Apr 2025 07:30:00 +0200",
             "description": "<p>" + "Texte de la dépêche. " * (words // 4) + "</p>"}
            for i in range(count)]


def newsletter(root: Path, urls: list[str], concurrency: int = 8) -> Path:
    (root / "articles").mkdir(parents=True, exist_ok=True)
    feeds = "".join(f'[[sources.feeds]]\nurl = "{u}"\n' for u in urls)
    (root / "digest.toml").write_text(
        f'[newsletter]\nname = "Banc"\n[sources]\nconcurrency = {concurrency}\n'
        f'allow_private = true\n{feeds}')  # the feeds are served on 127.0.0.1
    return root / "digest.toml"


def bench_gather(feeds: int, count: int, delay: float, runs: int) -> None:
    from digest.config import load_config
    from digest.sources import gather

    server = FeedServer()
    urls = [server.add(f"/{i}.xml", Route(body=rss(entries(i, count)), etag=f'"{i}"', delay=delay))
            for i in range(feeds)]
    first, second = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config(newsletter(Path(tmp), urls))
            start = time.perf_counter()
            result = gather(config, DAY)
            first.append(time.perf_counter() - start)
            assert len(result.articles) == feeds * count, len(result.articles)
            start = time.perf_counter()
            again = gather(config, DAY)
            second.append(time.perf_counter() - start)
            assert {r.status for r in again.feeds} == {"not modified"}
    server.stop()
    serial = feeds * delay
    print(f"{feeds} feeds x {count} entries, {delay * 1000:.0f} ms delay per answer, "
          f"8 at a time (median of {runs}):")
    print(f"- first run (200s): {statistics.median(first):.2f} s "
          f"(one delay per slot: {feeds / 8 * delay:.2f} s; one after the other: {serial:.1f} s)")
    print(f"- second run (304s): {statistics.median(second):.2f} s")


def peak_kb(config: Path) -> int:
    """VmHWM of a `digest sources` process, read just before it exits."""
    code = (
        "import sys; from digest.cli import main; sys.argv = ['digest', 'sources', '--date', "
        f"'2025-04-22', '--config', {str(config)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def bench_memory() -> None:
    server = FeedServer()
    big = rss(entries(0, 1, 10))
    count = 1
    while len(big) < 4_900_000:
        count *= 2
        big = rss(entries(0, count, 200))
    while len(big) > 5_000_000:
        count = int(count * 0.95)
        big = rss(entries(0, count, 200))
    big_url = server.add("/big.xml", Route(body=big))
    small_url = server.add("/small.xml", Route(body=rss(entries(1, 5))))
    with tempfile.TemporaryDirectory() as tmp:
        small = peak_kb(newsletter(Path(tmp) / "small", [small_url]))
        shutil.rmtree(Path(tmp) / "small")
        large = peak_kb(newsletter(Path(tmp) / "big", [big_url]))
    server.stop()
    print(f"One {len(big) / 1e6:.1f} MB feed ({count} entries): peak {large / 1024:.0f} MB "
          f"against {small / 1024:.0f} MB for a small feed (+{(large - small) / 1024:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bench_gather(args.feeds, args.entries, args.delay, args.runs)
    bench_memory()


if __name__ == "__main__":
    main()
