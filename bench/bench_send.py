"""Times `digest send` through loopback peers: SendGrid (100,000 readers) and SMTP (2,000).

    python bench/bench_send.py [--sendgrid 100000] [--smtp 2000] [--runs 3] [--built]
    python bench/bench_send.py --pair-with /path/to/other/tree [--runs 5] [--built]

The peers are the test suite's: tests/fake_sendgrid.py (schema validation on) and aiosmtpd.
`digest send` runs as a real subprocess; its peak memory is its VmHWM (peak resident set size),
its client CPU the user + system time of that process alone (wait4), which the peer running on
the same 2 cores does not count in. With --built, `digest build` runs first in the folder, as
an editor's check of the edition does: the send then finds the articles' sentence vectors in the
state database and loads no model, so that its CPU is what the readers cost.

With --pair-with, the other tree (a checkout or `git archive` of another commit, run with
`PYTHONPATH` pointing at it) sends the same list right after each send of this tree, each to a
server of its own: on a shared machine the load changes less within a pair than between two
series. Prints both trees' median client CPU and the median of the pairs' ratios (SendGrid only).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fake_sendgrid import FakeSendGrid  # noqa: E402  needs tests/ on sys.path

API_KEY = "SG.bench"


def newsletter(root: Path, readers: int, extra_config: str) -> None:
    (root / "articles").mkdir(parents=True)
    (root / "articles" / "une.md").write_text(
        "---\ntitle: La une\ndate: 2025-04-22T08:00:00+02:00\n---\n\n" + "Un texte. " * 300
    )
    (root / "articles" / "deux.md").write_text(
        "---\ntitle: La deux\ndate: 2025-04-22T09:00:00+02:00\n---\n\nUn autre texte.\n"
    )
    (root / "digest.toml").write_text(
        '[newsletter]\nname = "Banc"\nurl = "https://banc.example"\n'
        'sender = "Banc <banc@banc.example>"\n[delivery]\n'
        'unsubscribe_url = "https://banc.example/desabonnement?email={email}"\n' + extra_config
    )
    with (root / "recipients.csv").open("w") as handle:
        handle.write("email,name\n")
        for i in range(readers):
            handle.write(f"lecteur{i:07d}@lecteurs.example,Lecteur {i}\n")


def high_water_mark(pid: int) -> int:
    """Peak resident memory (kB) of a running process since its exec.

    Not getrusage's ru_maxrss: that one also counts the pages the child shared with this
    process between fork and exec, and this process holds the fake server's records.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_send(root: Path, backend: str, tree: Path | None = None) -> tuple[float, int, str, float]:
    """(seconds, peak RSS in MB of the digest process, its summary line, its CPU seconds);
    `tree`: that tree's digest instead of the installed one."""
    command = [sys.executable, "-m", "digest", "send", "--date", "2025-04-22", "--backend", backend]
    env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "NO_PROXY": "127.0.0.1",
           **({"PYTHONPATH": str(tree)} if tree is not None else {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=err, text=True)
        peak = 0
        while True:
            pid, wait_status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, high_water_mark(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"digest send failed: {err.read()}")
        return seconds, peak // 1024, out.read().strip(), usage.ru_utime + usage.ru_stime


def send_once(readers: int, built: bool, tree: Path | None = None) -> tuple[float, int, int, float]:
    """One send of `readers` to a fresh server from a fresh folder: (seconds, peak MB, requests,
    client CPU seconds)."""
    server = FakeSendGrid(api_key=API_KEY).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            newsletter(root, readers, f'[delivery.sendgrid]\napi_url = "{server.url}"\n')
            if built:
                env = dict(os.environ, PYTHONPATH=str(tree)) if tree is not None else None
                subprocess.run([sys.executable, "-m", "digest", "build", "--date", "2025-04-22"],
                               cwd=root, check=True, capture_output=True, env=env)
            seconds, peak, _, cpu = run_send(root, "sendgrid", tree)
            got = server.recipients()
            assert len(got) == readers == len(set(got)), "every reader exactly once"
            return seconds, peak, server.requests, cpu
    finally:
        server.stop()


def bench_pairs(readers: int, runs: int, built: bool, other: Path) -> None:
    mine, theirs = [], []
    for run in range(runs):  # each tree goes first in every other pair
        for tree in (None, other) if run % 2 == 0 else (other, None):
            (mine if tree is None else theirs).append(send_once(readers, built, tree)[3])
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    first = ", built first" if built else ""
    print(f"SendGrid, {readers} readers{first}, {runs} pairs, client CPU: this tree "
          f"{statistics.median(mine):.2f} s [{min(mine):.2f}–{max(mine):.2f}], {other} "
          f"{statistics.median(theirs):.2f} s [{min(theirs):.2f}–{max(theirs):.2f}]; "
          f"ratio {statistics.median(ratios):.3f} [{min(ratios):.3f}–{max(ratios):.3f}]")


def bench_sendgrid(readers: int, runs: int, built: bool = False) -> None:
    rows = [send_once(readers, built) for _ in range(runs)]
    with tempfile.TemporaryDirectory() as tmp:
        ledger = ledger_cost(Path(tmp), readers)
    seconds = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[3] for r in rows)
    first = ", built first" if built else ""
    print(f"SendGrid, {readers} readers{first}, median of {runs}: {seconds:.1f} s, "
          f"{readers / seconds:,.0f} readers/s, {rows[0][2] / seconds:.1f} requests/s, "
          f"{rows[0][2]} requests, peak RSS {max(r[1] for r in rows)} MB; "
          f"client CPU {cpu:.2f} s [{min(r[3] for r in rows):.2f}–{max(r[3] for r in rows):.2f}] "
          f"({1e6 * cpu / readers:.0f} µs a reader); "
          f"ledger writes {ledger:.2f} s in all ({1e6 * ledger / readers:.1f} µs a reader)")


def ledger_cost(root: Path, readers: int) -> float:
    """The ledger's own cost: the same writes (pending, then sent) for every reader, timed alone."""
    from digest.models import Outcome, Status
    from digest.state import State

    state = State(root / ".digest" / "bench.db")
    ledger = state.ledger
    keys = [f"lecteur{i:07d}@lecteurs.example" for i in range(readers)]
    start = time.perf_counter()
    for offset in range(0, readers, 1000):
        chunk = keys[offset:offset + 1000]
        batch, _ = ledger.start_batch("bench", 1, "sendgrid", chunk)
        ledger.record("bench", 1, [Outcome(k, Status.SENT, "id") for k in chunk])
        ledger.finish_batch(batch, "done")
    cost = time.perf_counter() - start
    state.close()
    return cost


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_smtp(readers: int, runs: int) -> None:
    from aiosmtpd.controller import Controller

    class Count:
        received = 0

        async def handle_DATA(self, server, session, envelope):
            Count.received += 1
            return "250 OK"

    times = []
    for _ in range(runs):
        Count.received = 0
        controller = Controller(Count(), hostname="127.0.0.1", port=free_port())
        controller.start()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            newsletter(root, readers, f'[delivery.smtp]\nhost = "127.0.0.1"\n'
                                      f'port = {controller.port}\nsecurity = "none"\n')
            seconds, peak, _, _ = run_send(root, "smtp")
            assert Count.received == readers
            times.append(seconds)
        controller.stop()
    seconds = statistics.median(times)
    print(f"SMTP, {readers} readers, median of {runs}: {seconds:.1f} s, "
          f"{readers / seconds:,.0f} messages/s, peak RSS {peak} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sendgrid", type=int, default=100_000)
    parser.add_argument("--smtp", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--built", action="store_true", help="digest build before each send")
    parser.add_argument("--pair-with", type=Path, metavar="TREE",
                        help="another tree of digest, run in turn with this one")
    args = parser.parse_args()
    if args.pair_with is not None:
        bench_pairs(args.sendgrid, args.runs, args.built, args.pair_with)
        return
    bench_sendgrid(args.sendgrid, args.runs, args.built)
    bench_smtp(args.smtp, args.runs)


if __name__ == "__main__":
    main()
