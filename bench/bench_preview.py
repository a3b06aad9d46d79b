"""Times the preview from a saved file to the new email served, as the page sees it.

    python bench/bench_preview.py [--articles 30] [--saves 11] [--edit template|article]

A real `digest preview` process serves a generated day (bench_build.py's). For each save, a
template override is written with a new marker (--edit article: a word is added to an article's
last paragraph instead); the clock runs from the write until the page's two
requests (/api/state, which must be of the new version, then /email.html, which must hold the
marker) are answered, the way the page does it: told by server-sent events. It also counts \
the events each save brings (one is
the aim) and the ones that come while nothing changes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import DAY, generate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUERY = f"?date={DAY.isoformat()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    body = connection.getresponse().read()
    connection.close()
    return body


def listen(port: int, events: queue.Queue) -> None:
    """The page's EventSource: every `data:` line, with the time it arrived."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", "/events")
    response = connection.getresponse()
    while True:
        line = response.fp.readline()
        if not line:
            return
        if line.startswith(b"data:"):
            events.put((time.perf_counter(), int(line[5:])))


def cpu_ms(pid: int) -> float:
    """User + system CPU time the process has used so far (ms): on this shared machine, the
    figure that other people's work does not change."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def footer(marker: str) -> str:
    builtin = (REPO / "templates" / "footer.mjml.j2").read_text(encoding="utf-8")
    return builtin.replace("{{ labels.footer_reason }}", marker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--saves", type=int, default=11)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of quiet watched")
    parser.add_argument("--edit", choices=["template", "article"], default="template",
                        help="what each save changes: a template override (rendered again "
                             "only), or an article's last paragraph (read, ranked, rendered)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "day"
        generate(root, args.articles)
        (root / "templates").mkdir()
        override = root / "templates" / "footer.mjml.j2"
        override.write_text(footer("version 0"), encoding="utf-8")
        article = sorted((root / "articles").glob("*.md"))[0]
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "preview", "--no-open", "--port", str(port),
             "--date", DAY.isoformat()],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
        try:
            assert "Preview on" in process.stdout.readline()
            get(port, "/api/state" + QUERY)  # the first build, and the page's first load
            get(port, "/email.html" + QUERY)
            events: queue.Queue = queue.Queue()
            threading.Thread(target=listen, args=(port, events), daemon=True).start()
            events.get(timeout=10)  # the version on connection
            served, told, cpu, extra = [], [], [], 0
            for save in range(1, args.saves + 1):
                time.sleep(0.6)
                marker = f"version {save} of the footer"
                used = cpu_ms(process.pid)
                start = time.perf_counter()
                if args.edit == "template":
                    override.write_text(footer(marker), encoding="utf-8")
                else:
                    with article.open("a", encoding="utf-8") as handle:
                        handle.write(f" Mot {save}.")
                at, version = events.get(timeout=10)
                state = get(port, "/api/state" + QUERY)
                html = get(port, "/email.html" + QUERY)
                served.append((time.perf_counter() - start) * 1000)
                cpu.append(cpu_ms(process.pid) - used)
                told.append((at - start) * 1000)
                assert json.loads(state)["version"] == version, "the new build is served"
                assert args.edit == "article" or marker.encode() in html, "the new email"
                time.sleep(0.6)
                extra += events.qsize()  # more than one event for this save
                while not events.empty():
                    events.get()
            time.sleep(args.idle)
            idle = events.qsize()
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:  # SIGINT ignored: started in the background
                process.kill()
                process.communicate()

    print(f"{args.articles}-article day, {args.saves} saves of {args.edit}s:")
    print(f"- save → new HTML served: median {statistics.median(served):.0f} ms "
          f"[{min(served):.0f}–{max(served):.0f}]")
    print(f"- save → page told (SSE): median {statistics.median(told):.0f} ms "
          f"[{min(told):.0f}–{max(told):.0f}]")
    print(f"- the preview's CPU per save (build and both answers): median "
          f"{statistics.median(cpu):.0f} ms [{min(cpu):.0f}–{max(cpu):.0f}]")
    print(f"- extra refreshes: {extra} over {args.saves} saves; "
          f"{idle} while idle for {args.idle:g} s")


if __name__ == "__main__":
    main()
