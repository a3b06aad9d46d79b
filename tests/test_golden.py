"""The sample newsletter builds byte for byte as the fixture written before the code was \
reorganised;
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
    """The first day built with an empty memo of premailer's (digest/rendering/inliner.py), the
    second with what the first kept in the user's cache: both must be the fixture, byte for byte."""
    root = copy_sample(tmp_path_factory.mktemp("golden") / "sample")
    cache = root.parent / "cache"
    cache.mkdir()
    (cache / "model").symlink_to(model_cache(), target_is_directory=True)  # 79 MB: not again
    for day in ("2025-04-21", "2025-04-22"):
        result = run_digest("build", "--date", day, cwd=root, process=True,
                            env={"DIGEST_CACHE_DIR": str(cache)})
        assert result.returncode == 0, result.stderr
        assert len(list((cache / "premailer").glob("*.json"))) == 1
    return root / "out"


def model_cache() -> Path:
    from digest.ranking.meaning import cache_folder

    folder = cache_folder()
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("name", [
    "2025-04-21/digest.html", "2025-04-21/digest.txt", "2025-04-21/edition.json",
    "2025-04-22/digest.html", "2025-04-22/digest.txt", "2025-04-22/edition.json",
    "archive/2025-04-21.html", "archive/2025-04-22.html", "archive/index.html",
])
def test_sample_output_is_byte_identical(built: Path, name: str) -> None:
    assert (built / name).read_bytes() == (GOLDEN / name).read_bytes(), f"{name} changed"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from bench_build import DAY, generate
    finally:
        sys.path.remove(str(REPO / "bench"))
    root = tmp_path_factory.mktemp("golden") / "generated"
    generate(root, 30)
    result = run_digest("build", "--date", DAY.isoformat(), cwd=root, process=True)
    assert result.returncode == 0, result.stderr
    return root / "out"


@pytest.mark.parametrize("name", [
    *(f"2025-04-22/{name}" for name in NAMES), "archive/2025-04-22.html", "archive/index.html",
])
def test_generated_day_output_is_byte_identical(generated: Path, name: str) -> None:
    assert (generated / name).read_bytes() == (GOLDEN_GENERATED / name).read_bytes(), \
        f"{name} changed"


@pytest.mark.parametrize("damaged", ['{"blocks": {"0:p{}": 5}, "pairs": []}', "not json"])
def test_a_damaged_css_memo_is_parsed_again(newsletter, tmp_path, damaged):
    from digest.rendering import inliner

    newsletter.article("une", "Un article. " * 50, lead=True)
    env = {"DIGEST_CACHE_DIR": str(tmp_path / "cache")}
    built = []
    try:
        for memo in ("made here", damaged):
            inliner.memo.cache_clear()  # read again, as by a new process
            if memo == damaged:
                [kept] = (tmp_path / "cache" / "premailer").iterdir()
                kept.write_text(damaged)
            result = run_digest("build", "--date", "2025-04-22", cwd=newsletter.root, env=env)
            assert result.returncode == 0 and result.stderr == "", result.stderr
            built.append((newsletter.root / "out" / "2025-04-22" / "digest.html").read_bytes())
    finally:
        inliner.memo.cache_clear()  # the other tests' memo is the shared test cache's
    assert built[0] == built[1]


def test_a_cache_that_cannot_be_written_only_means_no_memo(newsletter, tmp_path):
    from digest.rendering import inliner

    newsletter.article("une", "Un article. " * 50, lead=True)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    try:
        inliner.memo.cache_clear()
        result = run_digest("build", "--date", "2025-04-22", cwd=newsletter.root,
                            env={"DIGEST_CACHE_DIR": str(blocker)})
    finally:
        inliner.memo.cache_clear()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert blocker.read_text() == ""


def test_the_memo_is_kept_apart_for_other_premailer_options(monkeypatch, tmp_path):
    from digest.rendering import inliner

    monkeypatch.setenv("DIGEST_CACHE_DIR", str(tmp_path))
    try:
        inliner.memo.cache_clear()
        ours = inliner.memo().path
        monkeypatch.setattr(inliner, "OPTIONS", {**inliner.OPTIONS, "strip_important": True})
        inliner.memo.cache_clear()
        other = inliner.memo().path
    finally:
        inliner.memo.cache_clear()
    assert ours is not None and other is not None and ours.parent == other.parent
    assert ours != other
