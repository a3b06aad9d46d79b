"""Sign-ups through `digest serve` under load, with one-click unsubscribes alongside.

    python bench/bench_signups.py [--signups 10000] [--clients 50] [--threads 16] [--runs 3]
                                  [--timeout 900] [--quiet-tail]

In a temporary newsletter folder (`[signup] enabled`, the SMTP backend pointed at an aiosmtpd
server this script runs on 127.0.0.1), `digest serve --threads 16` runs as a real process.
50 client threads, each with one kept-alive connection, post 10,000 sign-ups
(`POST /subscribe`, form-encoded `email`, `name`, `consent=yes`; every address distinct), while
one more thread keeps posting RFC 8058 one-click unsubscribes (`POST /unsubscribe?t=TOKEN`) with
valid tokens of other readers (kept in the state database as `digest send` keeps them), from the
first sign-up until the last confirmation email has arrived (with --quiet-tail, until the last
sign-up is answered).

Then it polls (no fixed waits) until the SMTP server has received a message for every sign-up and
the server's queue (`signup_requests`) is empty, or the timeout passes, and counts the messages by
RCPT TO: every address must have exactly one confirmation email. It reports, median over the
runs: sign-up throughput (POSTs a second over the 10,000), p50 / p99 latency of those POSTs, the
time from the first sign-up until the last confirmation arrived, and the unsubscribes' count and
p50 / p99 latency during the run (and during the sign-ups alone), and the server's CPU (user +
system, from /proc). It counts the server log's lines by kind and shows any besides the expected
one per sign-up and per unsubscribe.

Exit status 1 if an address got no confirmation or more than one, if a sign-up or an unsubscribe
was not answered 200, or if the confirmations did not all arrive before the timeout.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.audience.addresses import address_key  # noqa: E402
from digest.audience.signing import Signer  # noqa: E402
from digest.state import State  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijkl"
NEWSLETTER = "https://banc.example"
LEAVERS = 20_000  # readers with a token for the unsubscribe thread (cycled if it needs more)
PER_CLIENT_PER_HOUR = 100_000  # the highest `signup.per_client_per_hour` digest.toml accepts
# the serve log's lines for each sign-up and unsubscribe, and at start and stop; the others are
# counted by kind (timestamps and numbers taken out) and shown
EXPECTED = re.compile(r"digest\.signups: sign-up of reader \S+: confirmation (sent|to send)$"
                      r"|digest\.web: unsubscribe: reader \S+ (was already )?suppressed$"
                      r"|^serving |^stopped$"
                      r"|^warning: delivery\.sendgrid\.webhook_public_key is not set")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


class Inbox:
    """aiosmtpd handler: counts each message by RCPT TO and keeps when it arrived."""

    def __init__(self) -> None:
        self.by_address: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self.without_link = 0  # messages with no confirmation link in them
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        linked = b"subscribe/confirm?t=" in envelope.content.replace(b"=\r\n", b"")
        with self.lock:
            for address in envelope.rcpt_tos:
                self.by_address[address.lower()] += 1
            self.arrivals.append(time.perf_counter())
            self.without_link += not linked
        return "250 Message accepted"

    def received(self) -> int:
        with self.lock:
            return len(self.arrivals)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def newsletter(root: Path, smtp_port: int) -> list[str]:
    """The folder; the unsubscribe tokens of LEAVERS readers, kept in its state database."""
    (root / "articles").mkdir(parents=True)
    (root / "digest.toml").write_text(
        f'[newsletter]\nname = "Banc"\nurl = "{NEWSLETTER}"\n'
        'sender = "Banc <banc@banc.example>"\n'
        '[delivery]\nbackend = "smtp"\n'
        'unsubscribe_url = "https://lettre.example/unsubscribe?t={unsubscribe_token}"\n'
        f'[delivery.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        f"[signup]\nenabled = true\nper_client_per_hour = {PER_CLIENT_PER_HOUR}\n")
    leavers = [f"partant{i:06d}@lecteurs.example" for i in range(LEAVERS)]
    (root / "recipients.csv").write_text("email\n" + "\n".join(leavers) + "\n")
    signer = Signer(NEWSLETTER, [SECRET])
    pairs = [(signer.token(address_key(a)), address_key(a)) for a in leavers]
    state = State(root / ".digest" / "state.db")
    state.tokens.add(pairs)
    state.close()
    return [token for token, _ in pairs]


def start_server(root: Path, threads: int, log: Path) -> tuple[subprocess.Popen, int]:
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", "0", "--threads", str(threads)],
            cwd=root, env={**os.environ, "DIGEST_SECRET": SECRET, "PYTHONWARNINGS": "ignore"},
            stdout=subprocess.PIPE, stderr=err, text=True)
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", process.stdout.readline())
    if not found:
        process.kill()
        raise SystemExit(f"digest serve did not start:\n{log.read_text()}")
    return process, int(found.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def queued(database: Path) -> int:
    """Sign-ups the server has not handled yet (read-only, beside the server's own writes)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT COUNT(*) FROM signup_requests").fetchone()[0]


@dataclass
class Requests:
    """Latencies (s), statuses and when each request started, of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # exceptions instead of an answer

    def post(self, connection: HTTPConnection, path: str, body: bytes) -> HTTPConnection:
        began = time.perf_counter()
        try:
            connection.request("POST", path, body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            response.read()
        except OSError as error:  # counted as a failure; a new connection for the next one
            self.errors.append(repr(error))
            connection.close()
            return HTTPConnection(connection.host, connection.port, timeout=connection.timeout)
        self.latencies.append(time.perf_counter() - began)
        self.statuses.append(response.status)
        self.started.append(began)
        if response.will_close:
            connection.close()
            return HTTPConnection(connection.host, connection.port, timeout=connection.timeout)
        return connection

    def extend(self, other: Requests) -> None:
        self.latencies += other.latencies
        self.statuses += other.statuses
        self.started += other.started
        self.errors += other.errors


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def run_once(number: int, signups: int, clients: int, threads: int, timeout: float,
             quiet_tail: bool = False) -> dict:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tokens = newsletter(root, smtp.port)
        log = root / "serve.log"
        process, port = start_server(root, threads, log)
        addresses = [f"abonne{i:06d}@lecteurs.example" for i in range(signups)]
        signed, lock = Requests(), threading.Lock()
        leaving = Requests()
        delivered = threading.Event()  # the unsubscribe thread stops then

        def client(share: list[str]) -> None:
            connection, mine = HTTPConnection("127.0.0.1", port, timeout=120), Requests()
            for i, address in enumerate(share):
                body = urlencode({"email": address, "name": f"Abonné {i}", "consent": "yes"})
                connection = mine.post(connection, "/subscribe", body.encode())
            connection.close()
            with lock:
                signed.extend(mine)

        def unsubscriber() -> None:
            connection, i = HTTPConnection("127.0.0.1", port, timeout=120), 0
            while not delivered.is_set():
                path = f"/unsubscribe?t={tokens[i % len(tokens)]}"
                connection = leaving.post(connection, path, b"List-Unsubscribe=One-Click")
                i += 1
            connection.close()

        workers = [threading.Thread(target=client, args=(addresses[i::clients],))
                   for i in range(clients)]
        leaver = threading.Thread(target=unsubscriber)
        server_cpu, bench_cpu = cpu_seconds(process.pid), own_cpu()
        began = time.perf_counter()
        leaver.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        posted = time.perf_counter()
        server_cpu_posting = cpu_seconds(process.pid) - server_cpu
        bench_cpu_posting = own_cpu() - bench_cpu
        if quiet_tail:
            delivered.set()

        database = root / ".digest" / "state.db"
        deadline = began + timeout
        while time.perf_counter() < deadline:  # poll: every message in, the queue empty
            if inbox.received() >= signups and queued(database) == 0:
                break
            time.sleep(0.1)
        left_in_queue = queued(database)
        delivered.set()
        leaver.join()
        server_cpu = cpu_seconds(process.pid) - server_cpu
        process.terminate()
        process.wait(timeout=60)
        smtp.stop()
        serve_log = log.read_text(errors="replace")

    counts = inbox.by_address
    last = max(inbox.arrivals) if inbox.arrivals else float("nan")
    during = [lat for lat, at in zip(leaving.latencies, leaving.started, strict=True)
              if at < posted]
    result = {
        "seconds": posted - began,
        "throughput": signups / (posted - began),
        "p50": percentile(signed.latencies, 0.50) * 1000,
        "p99": percentile(signed.latencies, 0.99) * 1000,
        "delivered_after": last - began,
        "tail": last - posted,  # the confirmations still going out after the last sign-up
        "received": inbox.received(),
        "server_cpu_posting": server_cpu_posting,  # its worker's confirmations of then included
        "bench_cpu_posting": bench_cpu_posting,  # the clients, the SMTP server
        "server_cpu": server_cpu,
        "missing": sum(1 for a in addresses if counts[a] == 0),
        "doubled": sum(1 for a in addresses if counts[a] > 1),
        "strangers": sum(n for a, n in counts.items() if not a.startswith("abonne")),
        "without_link": inbox.without_link,
        "left_in_queue": left_in_queue,
        "signup_not_200": sum(s != 200 for s in signed.statuses) + len(signed.errors),
        "unsubscribes": len(leaving.statuses) + len(leaving.errors),
        "unsubscribes_during": len(during),
        "unsub_not_200": sum(s != 200 for s in leaving.statuses) + len(leaving.errors),
        "unsub_p50": percentile(leaving.latencies, 0.50) * 1000,
        "unsub_p99": percentile(leaving.latencies, 0.99) * 1000,
        "unsub_during_p50": percentile(during, 0.50) * 1000,
        "unsub_during_p99": percentile(during, 0.99) * 1000,
        "log_other": Counter(re.sub(r"\d+", "N", TIMESTAMP.sub("", line))
                             for line in serve_log.splitlines() if not EXPECTED.search(line)),
        "errors": (signed.errors + leaving.errors)[:5],
    }
    print(f"  run {number}: {result['seconds']:.1f} s of sign-ups "
          f"({result['throughput']:.0f}/s, p50 {result['p50']:.0f} ms, p99 {result['p99']:.0f} ms)"
          f", last confirmation at {result['delivered_after']:.1f} s "
          f"(+{result['tail']:.1f} s after the last sign-up), {result['received']} received, "
          f"{result['missing']} missing, {result['doubled']} doubled; "
          f"{result['unsubscribes']} unsubscribes ({result['unsubscribes_during']} during the "
          f"sign-ups), p50 {result['unsub_p50']:.0f} ms, p99 {result['unsub_p99']:.0f} ms, "
          f"{result['unsub_not_200']} not 200; "
          f"{result['log_other'].total()} other lines in the log; CPU while posting: server "
          f"{result['server_cpu_posting']:.1f} s, this process {result['bench_cpu_posting']:.1f}"
          f" s; server in all {result['server_cpu']:.1f} s",
          flush=True)
    for line, count in result["log_other"].most_common(5):
        print(f"    log, {count} times: {line[:200]}")
    for error in result["errors"]:
        print(f"    client: {error}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--threads", type=int, default=16, help="digest serve --threads")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds from the first sign-up to wait for every confirmation")
    parser.add_argument("--quiet-tail", action="store_true",
                        help="stop the unsubscribes with the last sign-up, not the last "
                        "confirmation: the confirmations' tail without them")
    options = parser.parse_args()
    print(f"{options.signups} sign-ups from {options.clients} clients, digest serve --threads "
          f"{options.threads}, one thread of one-click unsubscribes alongside; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    runs = [run_once(n + 1, options.signups, options.clients, options.threads, options.timeout,
                     options.quiet_tail) for n in range(options.runs)]

    signups = options.signups

    def median(name: str) -> float:
        return statistics.median(r[name] for r in runs)

    rows = [
        ("sign-ups posted", f"{median('seconds'):.1f} s"),
        ("sign-up throughput", f"{median('throughput'):.0f} POSTs/s"),
        ("sign-up latency p50 / p99", f"{median('p50'):.1f} / {median('p99'):.1f} ms"),
        ("last confirmation delivered", f"{median('delivered_after'):.1f} s after the first "
                                        f"sign-up (+{median('tail'):.1f} s after the last)"),
        ("confirmations per address", f"{sum(r['missing'] for r in runs)} with none, "
                                      f"{sum(r['doubled'] for r in runs)} with 2+"),
        ("unsubscribes (whole run)", f"{median('unsubscribes'):.0f}, "
                                     f"p50 / p99 {median('unsub_p50'):.1f} / "
                                     f"{median('unsub_p99'):.1f} ms"),
        ("unsubscribes during sign-ups", f"{median('unsubscribes_during'):.0f}, "
                                         f"p50 / p99 {median('unsub_during_p50'):.1f} / "
                                         f"{median('unsub_during_p99'):.1f} ms"),
        ("CPU while the sign-ups were posted", f"server {median('server_cpu_posting'):.1f} s, "
                                               f"clients and SMTP server "
                                               f"{median('bench_cpu_posting'):.1f} s"),
        ("server CPU, whole run", f"{median('server_cpu'):.1f} s "
                                  f"({1000 * median('server_cpu') / signups:.1f} ms a sign-up "
                                  "with its confirmation and the unsubscribes alongside)"),
        ("answers not 200", f"sign-ups {sum(r['signup_not_200'] for r in runs)}, "
                            f"unsubscribes {sum(r['unsub_not_200'] for r in runs)}"),
        ("other lines in serve's log", "; ".join(
            f"{n} × {line[:70]}" for line, n in sum((r["log_other"] for r in runs),
                                                     Counter()).most_common(3)) or "none"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\nmedian of {len(runs)} runs (load average now {os.getloadavg()[0]:.1f})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")

    failed = [r for r in runs if r["missing"] or r["doubled"] or r["unsub_not_200"]
              or r["signup_not_200"] or r["left_in_queue"] or r["strangers"]
              or r["without_link"]]
    if failed:
        print(f"FAILED: {len(failed)} of {len(runs)} runs lost or doubled a confirmation, left "
              "sign-ups queued, or had an answer other than 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
