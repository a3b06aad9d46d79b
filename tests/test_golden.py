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
