"""The sample newsletter builds byte for byte as the fixture written before the code was reorganised;
so does a generated day of 30 articles (bench/bench_build.py's), whose email inlines every kind of
style the built-in theme has: it guards what the renderer's speed-ups must not change.

A change of output must be deliberate: rewrite the fixture with `digest build` of the sample (or of
the generated day) and say why in the commit.
"""

import sys
from pathlib import Path

import pytest

from conftest import REPO, copy_sample, run_digest

GOLDEN = REPO / "tests" / "data" / "golden"
GOLDEN_GENERATED = REPO / "tests" / "data" / "golden_generated"
NAMES = ["digest.html", "digest.txt", "edition.json"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = copy_sample(tmp_path_factory.mktemp("golden") / "sample")
    for day in ("2025-04-21", "2025-04-22"):
        result = run_digest("build", "--date", day, cwd=root, process=True)
        assert result.returncode == 0, result.stderr
    return root / "out"


@pytest.mark.parametrize("name", [
    "2025-04-21/digest.html", "2025-04-21/digest.txt", "2025-04-21/edition.json",
    "2025-04-22/digest.html", "2025-04-22/digest.txt", "2025-04-22/edition.json",
    "archive/2025-04-21.html", "archive/2025-04-22.html", "archive/index.html",
])
def test_sample_output_is_byte_identical(built: Path, name: str) -> None:
    assert (built / name).read_bytes() == (GOLDEN / name).read_bytes(), f"{name} changed"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """The day built with an empty user cache, then again with what premailer made of the
    theme's CSS kept there by the first build (digest/inliner.py's memo)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from bench_build import DAY, generate
    finally:
        sys.path.remove(str(REPO / "bench"))
    root = tmp_path_factory.mktemp("golden") / "generated"
    generate(root, 30)
    cache = root.parent / "cache"
    outs = {}
    for run in ("cold", "warm"):
        result = run_digest("build", "--date", DAY.isoformat(), cwd=root, process=True,
                            env={"DIGEST_CACHE_DIR": str(cache)})
        assert result.returncode == 0, result.stderr
        outs[run] = (root / "out").rename(root / f"out-{run}")
        assert len(list((cache / "premailer").glob("*.json"))) == 1
    return outs


@pytest.mark.parametrize("run", ["cold", "warm"])
@pytest.mark.parametrize("name", [
    *(f"2025-04-22/{name}" for name in NAMES), "archive/2025-04-22.html", "archive/index.html",
])
def test_generated_day_output_is_byte_identical(generated: dict[str, Path], run: str,
                                                name: str) -> None:
    assert (generated[run] / name).read_bytes() == (GOLDEN_GENERATED / name).read_bytes(), \
        f"{name} changed"


def test_a_damaged_css_memo_is_parsed_again(newsletter, tmp_path):
    newsletter.article("une", "Un article. " * 50, lead=True)
    memo = tmp_path / "cache" / "premailer"
    memo.mkdir(parents=True)
    for damaged in ('{"blocks": {"0:p{}": 5}, "pairs": []}', "not json"):
        for old in memo.iterdir():
            old.unlink()
        result = run_digest("build", "--date", "2025-04-22", cwd=newsletter.root, process=True,
                            env={"DIGEST_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 0 and result.stderr == "", result.stderr
        first = (newsletter.root / "out" / "2025-04-22" / "digest.html").read_bytes()
        [kept] = memo.iterdir()
        kept.write_text(damaged)
        result = run_digest("build", "--date", "2025-04-22", cwd=newsletter.root, process=True,
                            env={"DIGEST_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert (newsletter.root / "out" / "2025-04-22" / "digest.html").read_bytes() == first
