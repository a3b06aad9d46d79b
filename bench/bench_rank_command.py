"""Times `digest rank` as a whole process on a generated day of 10,000 articles, piped.

    python bench/bench_rank_command.py [--articles 10000] [--runs 3] [--short]

The articles are bench_build.py's (80 to 900 words of Markdown each, every one a story of its
own; with --short, one paragraph of 60 words), all on the edition's day. stdout goes to a pipe
that is read to the end, as `| less` or a log does: the table is the plain one. Prints the first
run (empty state database: the model embeds every text, every file is parsed), then the median
wall time, CPU time and peak memory of --runs runs, and the same with --json and with --limit 20.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import DAY, generate  # noqa: E402


def once(root: Path, *extra: str) -> tuple[float, float, int, float]:
    """(wall seconds, CPU seconds of the digest process, lines printed, its peak memory in
    MB)."""
    command = [sys.executable, "-m", "digest", "rank", "--date", DAY.isoformat(), *extra]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    lines = sum(1 for _ in process.stdout)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, "digest rank failed"
    process.returncode = 0
    return wall, usage.ru_utime + usage.ru_stime, lines, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--short", action="store_true", help="60-word articles")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "day"
        generate(root, args.articles, words=(60, 60) if args.short else (80, 900))
        # the first run: .pyc files, the file cache, and the state database filled (the model
        # embeds every text, every file is parsed and kept)
        wall, cpu, _, peak = once(root, "--limit", "1")
        kind = "60-word" if args.short else "80- to 900-word"
        print(f"First run (empty state database): {wall:.1f} s wall, {cpu:.1f} s CPU, "
              f"{peak:,.0f} MB peak.\n")
        print(f"`digest rank`, {args.articles:,} {kind} articles, piped, median of {args.runs} "
              "runs:\n")
        print("| command | wall | CPU | lines | peak |")
        print("|---|---:|---:|---:|---:|")
        for extra in ((), ("--json",), ("--limit", "20")):
            runs = [once(root, *extra) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"| digest rank {' '.join(extra)} | {wall:.1f} s "
                  f"[{min(r[0] for r in runs):.1f}–{max(r[0] for r in runs):.1f}] | "
                  f"{cpu:.1f} s | {runs[0][2]:,} | {max(r[3] for r in runs):,.0f} MB |")


if __name__ == "__main__":
    main()
