"""Times checking readers' addresses: `check_address` alone, and `read_recipients` on a file.

    python bench/bench_recipients.py [--readers 100000] [--runs 7]

The addresses are spread over 2,000 domains (one in 20 internationalized, half of those written in
punycode), with dots, plus tags and capitals in local parts and one in 100 local parts not ASCII.
Prints the median of --runs runs; caches are emptied before each run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.audience import recipients  # noqa: E402
from digest.audience.addresses import check_address  # noqa: E402


def addresses(count: int, seed: int = 17) -> list[str]:
    rng = random.Random(seed)
    domains = []
    for i in range(2000):
        if i % 20 == 0:
            domains.append(f"bücher{i}.example" if i % 40 else f"xn--bcher{i}-kva.example")
        else:
            domains.append(f"{rng.choice(['mail', 'post', 'lettres'])}{i}.example")
    domains = [d for d in domains if check_address(f"a@{d}")[0]]
    firsts = ["camille", "hugo", "Lea", "nadia", "jean.pierre", "MARIE", "zoé", "françois"]
    found = []
    for i in range(count):
        local = rng.choice(firsts[:6] if i % 100 else firsts[6:])
        local += rng.choice(["", ".", "_", "+news"]) + str(i)
        found.append(f"{local}@{rng.choice(domains)}")
    return found


def clear_caches() -> None:
    for value in vars(recipients).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def median_seconds(work, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds: on a shared machine the CPU time varies less."""
    wall, cpu = [], []
    for _ in range(runs):
        clear_caches()
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    found = addresses(args.readers)

    def check_all() -> None:
        for address in found:
            check_address(address)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipients.csv"
        path.write_text("email,name\n" + "".join(f"{a},Lecteur {i}\n" for i, a in enumerate(found)),
                        encoding="utf-8")

        def read_all() -> None:
            for _ in recipients.read_recipients(path, "recipients.csv", set(), print):
                pass

        check = median_seconds(check_all, args.runs)
        read = median_seconds(read_all, args.runs)
    print(f"{args.readers} addresses, median of {args.runs} runs (wall, CPU):")
    for name, (wall, cpu) in (("check_address", check), ("read_recipients", read)):
        each = wall / args.readers * 1e6
        print(f"  {name:<16} {wall:6.2f} s  {cpu:6.2f} s  ({each:.1f} µs each)")


if __name__ == "__main__":
    main()
