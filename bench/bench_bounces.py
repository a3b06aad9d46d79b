"""Reading bounce reports: what the standard library parser finds in the DSN samples of
tests/data/bounces (and what flufl.bounce finds, when it is installed), then the time to import a
Maildir of many reports.

    python bench/bench_bounces.py [--messages 10000] [--runs 3]

The Maildir holds the samples over and over, each copy's addresses made unique, so every hard
bounce is a new suppression.
"""

from __future__ import annotations

import argparse
import email
import mailbox
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "data" / "bounces"
sys.path.insert(0, str(REPO))

from digest.audience.bounces import dsn_failures  # noqa: E402


def classify() -> None:
    try:
        from flufl.bounce import all_failures
    except ImportError:
        all_failures = None
    print(f"{'sample':34} {'digest (stdlib email)':38} flufl.bounce")
    for path in sorted(SAMPLES.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        failures = dsn_failures(message)
        ours = "not a DSN" if failures is None else ", ".join(
            f"{'hard' if f.permanent else 'soft'} {f.reason.split()[0]}" for f in failures)
        theirs = "-"
        if all_failures is not None:
            temporary, permanent = all_failures(message)
            theirs = f"{len(permanent)} permanent, {len(temporary)} temporary"
        print(f"{path.name:34} {ours:38} {theirs}")


def maildir(folder: Path, count: int) -> int:
    samples = [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]
    permanent = [sum(f.permanent for f in dsn_failures(email.message_from_bytes(data)) or [])
                 for data in samples]
    box = mailbox.Maildir(folder, create=True)
    hard = 0
    for index in range(count):
        data = samples[index % len(samples)]
        # a distinct domain per copy: every copy's bounce is a different address
        box.add(data.replace(b".example", f".n{index}.example".encode()))
        hard += permanent[index % len(samples)]
    box.close()
    return hard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    classify()
    times = []
    for _ in range(options.runs):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "digest.toml").write_text('[newsletter]\nname = "Banc"\n')
            hard = maildir(root / "Maildir", options.messages)
            began = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "digest", "bounces", "import",
                                     "Maildir"], cwd=root, capture_output=True, text=True,
                                    check=True)
            times.append(time.perf_counter() - began)
            assert f"{hard} hard bounces suppressed ({hard} new)" in result.stdout, result.stdout
    seconds = statistics.median(times)
    print(f"{options.messages} messages ({hard} hard bounces): digest bounces import in "
          f"{seconds:.1f} s (median of {options.runs}), {options.messages / seconds:.0f} "
          "messages/s")


if __name__ == "__main__":
    main()
