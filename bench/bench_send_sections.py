"""Client CPU of `digest send` to 100,000 readers spread over 50 sets of sections, against the
same send without sections.

    python bench/bench_send_sections.py [--readers 100000] [--sets 50] [--runs 5]

The newsletter of bench_send.py (a lead and seven blurbs of seven categories) with six sections
of `[sections.<name>]`, one or two categories each; recipients.csv gets a `sections` column
spreading the readers evenly over `--sets` distinct non-empty sets of those sections, so that the
send renders `--sets` editions. `--order sorted` (the default) writes the list sorted by
address, which puts each batch of one set's readers all over the ledger's indexes while a send
without sections writes them in order; `--order shuffled` writes it as lists grow, in the order
readers joined, where both sends write all over them. The other case is the same folder and
readers without any `[sections]`: one render. Each round is a fresh folder and a fresh loopback
SendGrid server (tests/fake_sendgrid.py), `digest build` first; only the send is measured: client
CPU is user + system of the `digest send` process alone (os.wait4, as in bench_send.py). The
cases alternate round by round. Every round checks that the server received each reader exactly
once.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_send import API_KEY, FakeSendGrid, newsletter, run_send  # noqa: E402

CATEGORIES = ["Ville", "Sport", "Culture", "Économie", "Météo", "Transports", "Santé"]
SECTIONS = {  # six sections, one or two categories each
    "ville": ["Ville"], "sport": ["Sport"], "culture": ["Culture", "Santé"],
    "economie": ["Économie"], "meteo": ["Météo"], "transports": ["Transports", "Ville"],
}


def section_sets(count: int) -> list[str]:
    """`count` distinct non-empty sets of the sections, as a `sections` cell."""
    names = list(SECTIONS)
    sets = [";".join(combo) for size in range(1, len(names) + 1)
            for combo in itertools.combinations(names, size)]
    if count > len(sets):
        raise SystemExit(f"--sets {count}: at most {len(sets)} distinct sets of six sections")
    return sets[:count]


def folder(root: Path, readers: int, sets: int, server_url: str, with_sections: bool,
           shuffled: bool = False) -> None:
    sections = "".join(f'\n[sections.{name}]\ncategories = {categories!r}\n'.replace("'", '"')
                       for name, categories in SECTIONS.items()) if with_sections else ""
    newsletter(root, 0, f'[delivery.sendgrid]\napi_url = "{server_url}"\n'
               '[ranking]\nblurbs = 6\nmax_per_category = 6\n' + sections)
    for i, category in enumerate(CATEGORIES):
        (root / "articles" / f"article-{i}.md").write_text(
            f"---\ntitle: Article {category}\ncategory: {category}\n"
            f"date: 2025-04-22T0{i + 1}:30:00+02:00\n---\n\n" + f"Un texte {i}. " * 80)
    cells = section_sets(sets)
    order = list(range(readers))
    if shuffled:  # as lists grow: in the order readers joined, not by address
        random.Random(7).shuffle(order)
    with (root / "recipients.csv").open("w") as handle:
        handle.write("email,name,sections\n")
        for i in order:
            handle.write(f"lecteur{i:07d}@lecteurs.example,Lecteur {i},{cells[i % sets]}\n")


def send_round(readers: int, sets: int, with_sections: bool, shuffled: bool = False) -> dict:
    server = FakeSendGrid(api_key=API_KEY).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            folder(root, readers, sets, server.url, with_sections, shuffled)
            subprocess.run([sys.executable, "-m", "digest", "build", "--date", "2025-04-22"],
                           cwd=root, check=True, capture_output=True)
            seconds, peak, _, cpu = run_send(root, "sendgrid")
            got = server.recipients()
            assert len(got) == readers == len(set(got)), \
                f"every reader exactly once: {len(got)} received, {len(set(got))} distinct"
            renders = len(list((root / "out" / "2025-04-22" / "sections").glob("*.html"))) \
                if with_sections else 0
            return {"cpu": cpu, "seconds": seconds, "peak": peak, "renders": renders}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--sets", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--order", choices=("sorted", "shuffled"), default="sorted",
                        help="the list sorted by address (the worst case for sections), or in "
                        "a random order, as readers joined")
    options = parser.parse_args()
    shuffled = options.order == "shuffled"
    rows: dict[bool, list[dict]] = {False: [], True: []}
    for run in range(options.runs):
        for with_sections in (False, True):
            row = send_round(options.readers, options.sets, with_sections, shuffled)
            rows[with_sections].append(row)
            name = f"{options.sets} sets" if with_sections else "no sections"
            print(f"  run {run + 1} {name:>11}: client CPU {row['cpu']:.2f} s, wall "
                  f"{row['seconds']:.1f} s, peak {row['peak']} MB, editions kept "
                  f"{row['renders']}", flush=True)
    plain = statistics.median(r["cpu"] for r in rows[False])
    split = statistics.median(r["cpu"] for r in rows[True])
    print(f"\n{options.readers} readers, median of {options.runs}: no sections {plain:.2f} s, "
          f"{options.sets} sets of sections {split:.2f} s of client CPU: {split / plain:.2f}×")


if __name__ == "__main__":
    main()
