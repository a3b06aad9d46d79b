"""Times `digest rank` as a whole process on a generated day of 10,000 articles, piped.

    python bench/bench_rank_command.py [--articles 10000] [--runs 3] [--short]
    python bench/bench_rank_command.py --pair-with /path/to/other/tree [--runs 5]

The articles are bench_build.py's (80 to 900 words of Markdown each, every one a story of its
own; with --short, one paragraph of 60 words), all on the edition's day. stdout goes to a pipe
that is read to the end, as `| less` or a log does: the table is the plain one. Prints the first
run (empty state database: the model embeds every text, every file is parsed), then the median
wall time, CPU time and peak memory of --runs runs, and the same with --json and with --limit 20.

With --pair-with, the other tree (a checkout or `git archive` of another commit, run with
`PYTHONPATH` pointing at it) ranks its own copy of the same day, each run of it right after one
of this tree: on a shared machine the load changes less within a pair than between two series.
Prints both trees' medians and the median of the pairs' ratios (this tree / the other), piped
`digest rank` only.
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


def once(root: Path, *extra: str, tree: Path | None = None) -> tuple[float, float, int, float]:
    """(wall seconds, CPU seconds of the digest process, lines printed, its peak memory in
    MB); `tree`: run that tree's digest instead of the installed one."""
    command = [sys.executable, "-m", "digest", "rank", "--date", DAY.isoformat(), *extra]
    env = dict(os.environ, PYTHONPATH=str(tree)) if tree is not None else None
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env)
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
    parser.add_argument("--pair-with", type=Path, metavar="TREE",
                        help="another tree of digest, run in turn with this one")
    args = parser.parse_args()
    if args.pair_with is not None:
        paired(args)
        return

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


def paired(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "ours", Path(tmp) / "theirs"
        for root in (ours, theirs):
            generate(root, args.articles, words=(60, 60) if args.short else (80, 900))
        for name, root, tree in (("this tree", ours, None), ("other", theirs, args.pair_with)):
            wall, cpu, _, peak = once(root, "--limit", "1", tree=tree)
            print(f"First run, {name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:,.0f} MB peak.")
        pairs = []
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            pairs.append((once(ours), once(theirs, tree=args.pair_with), load))
        print(f"\n`digest rank`, {args.articles:,} articles, piped, {args.runs} pairs "
              f"(load average {min(p[2] for p in pairs):.1f}–{max(p[2] for p in pairs):.1f}):\n")
        print("| tree | wall | CPU | peak |")
        print("|---|---:|---:|---:|")
        for name, side in (("this tree", 0), (str(args.pair_with), 1)):
            walls = [p[side][0] for p in pairs]
            print(f"| {name} | {statistics.median(walls):.1f} s [{min(walls):.1f}–"
                  f"{max(walls):.1f}] | {statistics.median(p[side][1] for p in pairs):.1f} s | "
                  f"{max(p[side][3] for p in pairs):,.0f} MB |")
        ratios = [p[0][0] / p[1][0] for p in pairs]
        print(f"\nWall time ratio, pair by pair: {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}–{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
