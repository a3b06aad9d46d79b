"""Times `digest build` for a generated day of N articles: whole process and stage by stage.

    python bench/bench_build.py [--sizes 30 300 3000] [--runs 7]

Prints Markdown tables (medians of --runs runs) for bench/README.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2025, 4, 22)
CATEGORIES = ["Val-Sorel", "Sport", "Culture", "Économie", "Transports", "Éducation", "Météo"]
WORDS = ["le", "conseil", "municipal", "a", "voté", "lundi", "soir", "un", "projet", "de",
         "rénovation", "des", "berges", "qui", "doit", "rendre", "la", "rivière", "aux",
         "habitants", "avec", "une", "promenade", "continue", "des", "zones", "humides", "et", "un",
         "jardin", "public"]


def pseudo_words(rng: random.Random, count: int) -> list[str]:
    """Words that belong to one story only, so that each article is a story of its own."""
    syllables = [consonant + vowel for consonant in "bdfglmnprstvz" for vowel in "aeiou"]
    return ["".join(rng.choice(syllables) for _ in range(3)) for _ in range(count)]


def generate(root: Path, count: int, seed: int = 1, words: tuple[int, int] = (80, 900)) -> None:
    """`count` articles of `words` words (at least 60: a paragraph) under root/articles/."""
    rng = random.Random(seed)
    (root / "articles").mkdir(parents=True)
    (root / "digest.toml").write_text(
        '[newsletter]\nname = "Banc d\'essai"\nurl = "https://bench.example"\n', encoding="utf-8"
    )
    for i in range(count):
        length = rng.randint(*words)
        own = pseudo_words(rng, 12)
        paragraphs = [
            " ".join(rng.choice(WORDS + own) for _ in range(60)).capitalize() + "."
            for _ in range(max(1, length // 60))
        ]
        body = "\n\n".join(paragraphs[:3] + ["## Un sous-titre"] + paragraphs[3:])
        image = f"image: https://img.example/{i}.jpg\n" if rng.random() < 0.4 else ""
        (root / "articles" / f"article-{i:05d}.md").write_text(
            f"---\ntitle: \"{' '.join(own[:4]).capitalize()} : {rng.choice(WORDS)}\"\n"
            f"date: 2025-04-22T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+02:00\n"
            f"category: {rng.choice(CATEGORIES)}\npriority: {rng.choice([0, 0, 0, 1, 2])}\n"
            f"{image}---\n\n{body}\n",
            encoding="utf-8",
        )


def median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


# The same command with css-inline in place of premailer, for comparison only. keep_at_rules keeps
# the @media blocks (the responsive layout and dark mode) in a <style>, as premailer does; without
# it css-inline drops every one of them.
WITH_CSS_INLINE = (
    "import sys, css_inline, digest.rendering.render as r\n"
    "inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)\n"
    "r.inline_css = inliner.inline\n"
    "from digest.cli import main\n"
    "sys.argv[0] = 'digest'\n"
    "main()\n"
)


def whole_process(root: Path, runs: int, css_inline: bool = False) -> float:
    start = ["-c", WITH_CSS_INLINE] if css_inline else ["-m", "digest"]
    command = [sys.executable, *start, "build", "--date", DAY.isoformat(),
               "--config", str(root / "digest.toml"), "--out", str(root / "out")]

    def once():
        subprocess.run(command, check=True, capture_output=True)

    once()  # warm the file cache and .pyc files
    return median_ms(once, runs)


def stages(root: Path, runs: int) -> dict[str, float]:
    from digest.config import load_config
    from digest.ranking.rank import rank
    from digest.rendering.render import (
        HTML_TEMPLATE,
        TEXT_TEMPLATE,
        context,
        environment,
        inline_css,
        mjml_to_html,
        render,
        render_template,
    )
    from digest.sources import gather
    from digest.sources.markdown import plain_text, rendered_body

    config = load_config(root / "digest.toml")
    gathered = gather(config, DAY)
    edition = rank(gathered.articles, DAY, config.tz, config.ranking)
    env = environment(config.resolve(config.newsletter.templates))
    values = context(edition, config)
    values["subject"] = "Sujet"
    source = render_template(env, HTML_TEMPLATE, values, config)
    html = mjml_to_html(source, config)
    render(edition, config)  # warm-up: imports, template compilation

    def gather_afresh():
        # each article's HTML and text are kept for the preview's next build: not for this figure
        rendered_body.cache_clear()
        plain_text.cache_clear()
        return gather(config, DAY)

    return {
        "gather": median_ms(gather_afresh, runs),
        "rank": median_ms(lambda: rank(gathered.articles, DAY, config.tz, config.ranking), runs),
        "jinja": median_ms(lambda: render_template(env, HTML_TEMPLATE, context(edition, config)
                                                   | {"subject": "Sujet"}, config), runs),
        "mjml": median_ms(lambda: mjml_to_html(source, config), runs),
        "inline": median_ms(lambda: inline_css(html), runs),
        "text": median_ms(lambda: render_template(env, TEXT_TEMPLATE, values, config), runs),
        "render (all)": median_ms(lambda: render(edition, config), runs),
    }


def inliners(root: Path, runs: int) -> dict[str, float]:
    """premailer (used) against css-inline on the same MJML output."""
    import css_inline

    from digest.config import load_config
    from digest.ranking.rank import rank
    from digest.rendering.render import (
        HTML_TEMPLATE,
        context,
        environment,
        mjml_to_html,
        render_template,
    )
    from digest.sources import gather

    config = load_config(root / "digest.toml")
    edition = rank(gather(config, DAY).articles, DAY, config.tz, config.ranking)
    env = environment(config.resolve(config.newsletter.templates))
    values = context(edition, config) | {"subject": "Sujet"}
    html = mjml_to_html(render_template(env, HTML_TEMPLATE, values, config), config)
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    from digest.rendering.render import inline_css

    return {
        "premailer": median_ms(lambda: inline_css(html), runs),
        "css-inline": median_ms(lambda: inliner.inline(html), runs),
        "premailer bytes": len(inline_css(html).encode()),
        "css-inline bytes": len(inliner.inline(html).encode()),
        "@media blocks in (premailer, css-inline)": (inline_css(html).count("@media"),
                                                     inliner.inline(html).count("@media")),
    }


def startup(runs: int) -> float:
    def once():
        subprocess.run([sys.executable, "-c", "import typer, jinja2, premailer"], check=True)

    once()
    return median_ms(once, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 300, 3000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    print(f"Python start + import typer, jinja2, premailer: {startup(args.runs):.0f} ms\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            root = Path(tmp) / f"n{size}"
            generate(root, size)
            rows.append((size, whole_process(root, args.runs), stages(root, args.runs)))
            if size == args.sizes[0]:
                compared = inliners(root, args.runs)
                compared["whole process, premailer"] = rows[-1][1]
                compared["whole process, css-inline"] = whole_process(root, args.runs, True)
    names = list(rows[0][2])
    print("| articles | whole process | " + " | ".join(names) + " |")
    print("|---:|---:|" + "---:|" * len(names))
    for size, whole, parts in rows:
        cells = " | ".join(f"{parts[n]:.1f}" for n in names)
        print(f"| {size} | {whole:.0f} | {cells} |")
    print(f"\nInlining the {args.sizes[0]}-article email, warm, and whole process (ms, bytes):")
    for name, value in compared.items():
        print(f"- {name}: {value:.1f}" if isinstance(value, float) else f"- {name}: {value}")


if __name__ == "__main__":
    main()
