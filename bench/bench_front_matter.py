"""Times `digest build` on one article with many unknown front-matter keys (issue 24).

    python bench/bench_front_matter.py [--keys 1000 10000 60000] [--runs 3]

Each key is a warning to place on its line: the time should grow with the file's size, not with
its square (60,000 keys, 840 KB, took 193 s when each warning searched the file again). Prints a
Markdown table (medians) for bench/README.md, with the warning lines the build wrote.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOML = '[newsletter]\nname = "Banc"\nurl = "https://bench.example"\n'


def measure(keys: int, runs: int) -> tuple[float, int, int]:
    """(median seconds of `digest build`, the file's bytes, warning lines on stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "digest.toml").write_text(TOML, encoding="utf-8")
        (root / "articles").mkdir()
        unknown = "".join(f"champ{i:06d}: x\n" for i in range(keys))
        path = root / "articles" / "touffu.md"
        path.write_text(f"---\ntitle: Touffu\ndate: 2025-04-22T08:00:00+02:00\n{unknown}---\n"
                        "Un texte.\n", encoding="utf-8")
        seconds, warnings = [], 0
        for _ in range(runs):
            shutil.rmtree(root / ".digest", ignore_errors=True)  # the file read, not kept
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "digest", "build", "--date",
                                   "2025-04-22"], cwd=root, capture_output=True, text=True,
                                  timeout=900)
            seconds.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
            warnings = sum(line.startswith("warning:") for line in done.stderr.splitlines())
        return statistics.median(seconds), path.stat().st_size, warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[1_000, 10_000, 60_000])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print("| unknown keys | file (KB) | `digest build` (s) | warning lines |")
    print("|---:|---:|---:|---:|")
    for keys in options.keys:
        seconds, size, warnings = measure(keys, options.runs)
        print(f"| {keys:,} | {size // 1024:,} | {seconds:.2f} | {warnings} |", flush=True)


if __name__ == "__main__":
    main()
