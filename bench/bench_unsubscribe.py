"""Times one-click unsubscribes against `digest serve` on 127.0.0.1.

    python bench/bench_unsubscribe.py [--posts 10000] [--clients 8] [--threads 8] [--runs 3]

`digest serve` runs as a real process (waitress); each client is a thread with one kept-alive
HTTP connection sending RFC 8058 POSTs (`List-Unsubscribe=One-Click`) for its share of the readers,
each with the reader's own signed token. After each run the script checks that every reader was
suppressed, in the state database and in unsubscribed.csv (which must parse), and that nothing
else was.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.audience.signing import Signer  # noqa: E402
from digest.state import State  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijkl"
NEWSLETTER = "https://banc.example"


def newsletter(root: Path, readers: int) -> list[str]:
    (root / "articles").mkdir(parents=True)
    (root / "digest.toml").write_text(
        f'[newsletter]\nname = "Banc"\nurl = "{NEWSLETTER}"\n[delivery]\n'
        'unsubscribe_url = "https://lettre.banc.example/unsubscribe?t={unsubscribe_token}"\n')
    addresses = [f"lecteur{i:07d}@lecteurs.example" for i in range(readers)]
    (root / "recipients.csv").write_text("email\n" + "\n".join(addresses) + "\n")
    return addresses


def start(root: Path, threads: int) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--port", "0", "--threads", str(threads)],
        cwd=root, env={**os.environ, "DIGEST_SECRET": SECRET, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    found = re.search(r":(\d+)/", line)
    if not found:
        process.kill()
        raise SystemExit(f"digest serve did not start: {line!r}")
    return process, int(found.group(1))


def run_once(posts: int, clients: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        readers = newsletter(root, posts)
        signer = Signer(NEWSLETTER, [SECRET])
        tokens = {signer.token(a): a for a in readers}
        state = State(root / ".digest" / "state.db")
        state.tokens.add(tokens.items())  # as digest send keeps them before the messages leave
        state.close()
        paths = [f"/unsubscribe?t={token}" for token in tokens]
        process, port = start(root, threads)
        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client(share: list[str]) -> None:
            connection = HTTPConnection("127.0.0.1", port, timeout=120)
            mine, codes = [], []
            for path in share:
                began = time.perf_counter()
                connection.request("POST", path, body=b"List-Unsubscribe=One-Click", headers={
                    "Content-Type": "application/x-www-form-urlencoded"})
                response = connection.getresponse()
                response.read()
                mine.append(time.perf_counter() - began)
                codes.append(response.status)
            connection.close()
            with lock:
                latencies.extend(mine)
                statuses.extend(codes)

        workers = [threading.Thread(target=client, args=(paths[i::clients],))
                   for i in range(clients)]
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        process.terminate()
        process.wait(timeout=30)

        assert statuses == [200] * posts, f"{sum(s != 200 for s in statuses)} not 200"
        with (root / "unsubscribed.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(r["email"] for r in rows) == readers, "a suppression is missing"
        listed = subprocess.run([sys.executable, "-m", "digest", "suppressions", "list"],
                                cwd=root, capture_output=True, text=True, check=True)
        assert f"{posts} suppressed addresses" in listed.stderr, listed.stderr
        latencies.sort()
        return {"seconds": elapsed, "p50": latencies[len(latencies) // 2] * 1000,
                "p99": latencies[int(len(latencies) * 0.99)] * 1000,
                "csv_bytes": (root / "unsubscribed.csv").stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="digest serve --threads")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    results = [run_once(options.posts, options.clients, options.threads)
               for _ in range(options.runs)]
    for result in results:
        print(f"  run: {result['seconds']:.1f} s, p50 {result['p50']:.1f} ms, "
              f"p99 {result['p99']:.1f} ms", flush=True)
    seconds = statistics.median(r["seconds"] for r in results)
    print(f"{options.posts} one-click POSTs from {options.clients} clients "
          f"(digest serve --threads {options.threads}): median {seconds:.1f} s, "
          f"{options.posts / seconds:.0f} POSTs/s; p50 "
          f"{statistics.median(r['p50'] for r in results):.1f} ms, p99 "
          f"{statistics.median(r['p99'] for r in results):.1f} ms per request; all "
          f"{options.posts} suppressed, unsubscribed.csv parses "
          f"({results[-1]['csv_bytes'] / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
