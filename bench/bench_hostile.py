"""Times `digest build` on hostile folders: wall time and peak memory of the whole process.

    python bench/bench_hostile.py [--runs 5] [--pathological]

The folder of bad articles is the one of tests/test_hostile.py (impossible and out-of-range dates,
a dangling link, an Emacs lock file, a folder and a FIFO named .md, a link to /dev/zero, a link out
of the folder, a YAML alias bomb, a 50 MB file, a title full of separators) beside three good
articles. With --pathological, a 1 MB article of each kind that costs a parser the most (the
largest an article can be under sources.max_article_bytes). Prints Markdown tables (medians) for
bench/README.md; peak memory is /usr/bin/time's maximum resident set size.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from hostile import write_bad_articles, write_good_articles  # noqa: E402

TOML = '[newsletter]\nname = "Banc"\nurl = "https://bench.example"\n'
PATHOLOGICAL = {
    "one 900 KB word": "x" * 900_000,
    "900 KB of [": "[" * 900_000,
    "900 KB of <": "<" * 900_000,
    "200,000 [a](": "[a](" * 200_000,
    "300,000 *a_": "*a_" * 300_000,
    "150,000 nested <div>": "<div>" * 150_000,
    "180,000 &amp;": "&amp;" * 180_000,
    "a 200 KB one-word title": None,
}


def measure(root: Path, runs: int) -> tuple[float, float, str]:
    """(median seconds, median peak MB, the summary line) of `digest build` in `root`."""
    seconds, megabytes, line = [], [], ""
    for _ in range(runs):
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "digest", "build", "--date",
             "2025-04-22"], cwd=root, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        elapsed, peak = done.stderr.strip().splitlines()[-1].split()
        seconds.append(float(elapsed))
        megabytes.append(int(peak) / 1024)
        line = done.stdout.strip()
    return statistics.median(seconds), statistics.median(megabytes), line


def hostile_folder(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lettre"
        root.mkdir()
        (root / "digest.toml").write_text(TOML, encoding="utf-8")
        write_bad_articles(root / "articles", Path(tmp) / "dehors")
        write_good_articles(root / "articles")
        seconds, megabytes, line = measure(root, runs)
    print("| folder | wall time (s) | peak memory (MB) |\n|---|---:|---:|")
    print(f"| 12 bad articles + 3 good ones | {seconds:.2f} | {megabytes:.0f} |")
    print(f"\n`{line}`")


def pathological(runs: int) -> None:
    print("| the lead article | wall time (s) | peak memory (MB) |\n|---|---:|---:|")
    for name, body in PATHOLOGICAL.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "digest.toml").write_text(TOML, encoding="utf-8")
            (root / "articles").mkdir()
            title = "Mot" * 70_000 if body is None else "Un titre"
            (root / "articles" / "a.md").write_text(
                f"---\ntitle: {title}\ndate: 2025-04-22T08:00:00+02:00\nlead: true\n---\n"
                f"{body or 'Un texte.'}\n", encoding="utf-8")
            seconds, megabytes, _ = measure(root, runs)
        print(f"| {name} | {seconds:.2f} | {megabytes:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pathological", action="store_true")
    options = parser.parse_args()
    hostile_folder(options.runs)
    if options.pathological:
        print()
        pathological(max(1, options.runs // 2))


if __name__ == "__main__":
    main()
