"""The sample newsletter builds byte for byte as the fixture written before the code was reorganised.

A change of output must be deliberate: rewrite the fixture with `digest build` of the sample and say
why in the commit.
"""

from pathlib import Path

import pytest

from conftest import REPO, copy_sample, run_digest

GOLDEN = REPO / "tests" / "data" / "golden"


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
