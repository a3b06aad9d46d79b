"""Client CPU of `digest send` to 100,000 readers: all in recipients.csv, or half signed up.

    python bench/bench_send_readers.py [--readers 100000] [--signed-up 50000] [--runs 5]
                                       [--not-built]

Two cases, each sending to the same number of readers through the SendGrid backend against the
test suite's loopback SendGrid server (tests/fake_sendgrid.py, schema validation on):

- csv: every reader in recipients.csv;
- signed-up: `--readers - --signed-up` of them in recipients.csv, and the other `--signed-up` as
  confirmed sign-ups in the state database, put there by `digest readers import FILE` (a CSV
  with an `email,name` header; imported readers are confirmed at once).

Each round is a fresh folder and a fresh server, so that the send goes to everyone: `digest
build` first (unless --not-built: the send then finds the articles' sentence vectors and loads no
model), then in the second case the import, then the timed `digest send`. Only the send is
measured: its client CPU is the user + system time of that process alone (os.wait4, as in
bench_send.py), which the fake server running in this process on the same cores does not count
in. The cases alternate (csv, signed-up, csv, ...), so that a change in the shared machine's load
falls on both. Every round checks that the server received each reader exactly once.

Prints each case's median client CPU [range], wall time and peak memory, and the difference.
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

from bench_send import API_KEY, FakeSendGrid, newsletter, run_send  # noqa: E402


def import_signed_up(root: Path, count: int) -> float:
    """`count` confirmed sign-ups, by `digest readers import`: its wall time."""
    path = root / "signed-up.csv"
    with path.open("w") as handle:
        handle.write("email,name\n")
        for i in range(count):
            handle.write(f"inscrit{i:07d}@inscrits.example,Inscrit {i}\n")
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "digest", "readers", "import", str(path)],
                          cwd=root, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - began
    assert done.stdout.startswith(f"{count} readers added"), done.stdout
    return seconds


def send_round(readers: int, signed_up: int, built: bool) -> dict:
    """One send from a fresh folder to a fresh server; `signed_up` of the readers imported."""
    server = FakeSendGrid(api_key=API_KEY).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            newsletter(root, readers - signed_up,
                       f'[delivery.sendgrid]\napi_url = "{server.url}"\n')
            if built:
                subprocess.run([sys.executable, "-m", "digest", "build", "--date", "2025-04-22"],
                               cwd=root, check=True, capture_output=True)
            imported = import_signed_up(root, signed_up) if signed_up else 0.0
            load = os.getloadavg()[0]
            seconds, peak, _, cpu = run_send(root, "sendgrid")
            got = server.recipients()
            assert len(got) == readers == len(set(got)), \
                f"every reader exactly once: {len(got)} received, {len(set(got))} distinct"
            assert sum(a.endswith("@inscrits.example") for a in got) == signed_up
            return {"cpu": cpu, "seconds": seconds, "peak": peak, "import": imported,
                    "load": load}
    finally:
        server.stop()


def summary(rows: list[dict]) -> str:
    cpus = [r["cpu"] for r in rows]
    return (f"client CPU {statistics.median(cpus):.2f} s [{min(cpus):.2f}–{max(cpus):.2f}], "
            f"wall {statistics.median(r['seconds'] for r in rows):.1f} s, "
            f"peak {max(r['peak'] for r in rows)} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--signed-up", type=int, default=50_000,
                        help="readers of the second case imported as sign-ups")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--not-built", action="store_true",
                        help="no `digest build` before the send (it then loads the model)")
    options = parser.parse_args()
    built = not options.not_built
    cases = {"csv": 0, "signed-up": options.signed_up}
    rows: dict[str, list[dict]] = {name: [] for name in cases}
    for run in range(options.runs):
        for name, signed_up in cases.items():
            row = send_round(options.readers, signed_up, built)
            rows[name].append(row)
            extra = f", import {row['import']:.1f} s" if signed_up else ""
            print(f"  run {run + 1} {name:>9}: client CPU {row['cpu']:.2f} s, wall "
                  f"{row['seconds']:.1f} s, peak {row['peak']} MB{extra}, "
                  f"load {row['load']:.1f}", flush=True)

    first = ", built first" if built else ", not built first"
    print(f"\n{options.readers} readers to the loopback SendGrid{first}, median of "
          f"{options.runs}:")
    print(f"  {'all in recipients.csv':<40} {summary(rows['csv'])}")
    label = f"{options.readers - options.signed_up:,} csv + {options.signed_up:,} signed up"
    print(f"  {label:<40} {summary(rows['signed-up'])}")
    a = statistics.median(r["cpu"] for r in rows["csv"])
    b = statistics.median(r["cpu"] for r in rows["signed-up"])
    pairs = [y["cpu"] - x["cpu"] for x, y in zip(rows["csv"], rows["signed-up"], strict=True)]
    print(f"  difference (signed-up − csv): {b - a:+.2f} s ({100 * (b - a) / a:+.0f} %), "
          f"{1e6 * (b - a) / max(options.signed_up, 1):+.1f} µs per signed-up reader; "
          f"round by round {statistics.median(pairs):+.2f} s "
          f"[{min(pairs):+.2f} to {max(pairs):+.2f}]")


if __name__ == "__main__":
    main()
