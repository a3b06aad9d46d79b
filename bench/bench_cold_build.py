"""A cold `digest build` as cron runs it, against the floor of any such command, in one run.

    python bench/bench_cold_build.py [--articles 30] [--runs 11] [--variants]

Each run is a pair of fresh processes, back to back, timed by the CPU time they use: the floor
(`python -c "import typer, jinja2, mjml, premailer"`: Python and the libraries the build cannot
do without) and `python -m digest build` of a generated day (bench_build.py's articles). \
The ratio is taken pair by pair, so that a
busy moment of this shared machine weighs on both sides; the medians of --runs pairs are printed.

--variants also times the build with one of its savings undone, to show what each is worth:
typer's own coercion (pydantic), premailer's network stack imported, cssutils validating style
attributes, no compiled templates kept in .digest/jinja/, premailer's memo of the theme's CSS
empty (the user's cache), every article file read again (not as kept in the state database);
and, to show story grouping's share (numpy, the sentence vectors), the same day with every
article marked `group: false`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import DAY, generate  # noqa: E402

# compiled modules kept, as an installed digest has them (a shell may say not to write them),
# in a folder of this run's own: the worktree is left as it is
PYCACHE = tempfile.mkdtemp(prefix="digest-bench-pycache-")
# the user's cache too (the model's weights, premailer's memo of the theme's CSS)
USER_CACHE = Path(tempfile.mkdtemp(prefix="digest-bench-cache-"))
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPYCACHEPREFIX": PYCACHE, "DIGEST_CACHE_DIR": str(USER_CACHE)}
FLOOR = "import typer, jinja2, mjml, premailer"
RUN_CLI = "from digest.cli import main\nsys.argv[0] = 'digest'\nmain()\n"
VARIANTS = {
    "typer's coercion (pydantic)": "import sys, digest.coercion as c\nc.KNOWN_TYPER = False\n",
    "requests imported": "import sys, requests\n",
    "cssutils validating": (
        "import sys, cssutils\nfrom digest.rendering.inliner import premailer_class\n"
        "premailer_class()\n"
        "cssutils.parseStyle = cssutils.parseStyle.__wrapped__\n"),
    "no template cache": "import sys\n",
    "premailer's memo empty": "import sys\n",
    "every article read again": "import sys\n",
}


def seconds(command: list[str], cwd: Path) -> float:
    """The CPU time (user + system) of a fresh process running `command`: on this shared
    machine, wall time also measures the other engineers' work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pairs(build: list[str], root: Path, runs: int, before=None) -> tuple[list[float], list[float]]:
    """(floor seconds, build seconds) of `runs` back-to-back pairs."""
    floors, builds = [], []
    for _ in range(runs):
        if before:
            before()
        floors.append(seconds([sys.executable, "-c", FLOOR], root))
        builds.append(seconds(build, root))
    return floors, builds


def report(name: str, floors: list[float], builds: list[float]) -> None:
    ratios = [b / f for f, b in zip(floors, builds, strict=True)]
    print(f"| {name} | {1000 * statistics.median(builds):.0f} "
          f"[{1000 * min(builds):.0f}–{1000 * max(builds):.0f}] | "
          f"{1000 * statistics.median(floors):.0f} | {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}] |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--variants", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "day"
        generate(root, args.articles)
        tail = ["build", "--date", DAY.isoformat(), "--out", str(root / "out")]
        build = [sys.executable, "-m", "digest", *tail]
        seconds(build, root)  # .pyc files, the file cache, .digest/jinja: as on any morning
        seconds([sys.executable, "-c", FLOOR], root)
        print(f"`digest build`, {args.articles} articles, fresh processes, median of {args.runs} "
              "pairs (CPU ms, user + system; ratio: build / floor, pair by pair):\n")
        print("| build | whole process | floor | ratio |")
        print("|---|---:|---:|---:|")
        report("as it is", *pairs(build, root, args.runs))
        if args.variants:
            undo = {  # what each variant takes away before each of its runs
                "no template cache": lambda: shutil.rmtree(root / ".digest" / "jinja",
                                                           ignore_errors=True),
                "premailer's memo empty": lambda: shutil.rmtree(USER_CACHE / "premailer",
                                                                ignore_errors=True),
                "every article read again": lambda: [  # a new change time: not as kept
                    os.utime(path) for path in (root / "articles").iterdir()],
            }
            for name, code in VARIANTS.items():
                command = [sys.executable, "-c", code + RUN_CLI, *tail]
                report(name, *pairs(command, root, args.runs, undo.get(name)))
            apart = Path(tmp) / "apart"
            shutil.copytree(root, apart, ignore=shutil.ignore_patterns(".digest", "out"))
            for article in (apart / "articles").iterdir():
                text = article.read_text(encoding="utf-8")
                article.write_text(text.replace("\npriority:", "\ngroup: false\npriority:", 1),
                                   encoding="utf-8")
            command = [sys.executable, "-m", "digest", "build", "--date", DAY.isoformat(),
                       "--out", str(apart / "out")]
            seconds(command, apart)
            report("every article `group: false`", *pairs(command, apart, args.runs))


if __name__ == "__main__":
    main()
