"""docs/configuration.md is generated from the declarations of digest/config.py, and each key
declares its description, allowed values and check beside it."""

import difflib
import json
import subprocess
import sys
from pathlib import Path

from digest.config_reference import COMMAND, keys, reference

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"


def test_the_committed_reference_is_the_generated_one():
    expected = reference().encode("utf-8")
    committed = REFERENCE.read_bytes() if REFERENCE.is_file() else b""
    if committed != expected:
        diff = "".join(list(difflib.unified_diff(
            committed.decode("utf-8", "replace").splitlines(keepends=True),
            expected.decode("utf-8").splitlines(keepends=True),
            "docs/configuration.md (committed)", "docs/configuration.md (generated)"))[:40])
        raise AssertionError(
            "docs/configuration.md differs from the declarations in digest/config.py; "
            f"regenerate it from the repository's root:\n    {COMMAND}\n{diff}")


def test_the_documented_command_writes_the_reference():
    result = subprocess.run([sys.executable, "-m", "digest.config_reference"], cwd=ROOT,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == reference().encode("utf-8")


def test_every_key_has_a_one_line_description():
    found = list(keys())
    assert len(found) > 60 and "delivery.sendgrid.webhook_public_key" in dict(found)
    for dotted, spec in found:
        doc = spec.metadata.get("doc", "")
        assert doc.strip(), f"{dotted}: no description; declare it with setting(..., doc=...)"
        assert "\n" not in doc and doc == doc.strip(), f"{dotted}: the description is one line"


def test_every_check_says_what_it_lets_through():
    for dotted, spec in keys():
        check = spec.metadata.get("check")
        assert check is None or check.allowed_text(), f"{dotted}: its check has no allowed text"


def test_the_checks_import_nothing_of_delivery():
    """digest.config reads nothing of the stages it configures: its checks are its own."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from digest.config import parse_config\n"
        "problems = []\n"
        "parse_config('labels = {by = \"De {nope}\"}\\n[delivery]\\nbounce_address = \"x@y\"\\n'\n"
        "             '[delivery.sendgrid]\\nwebhook_public_key = \"bm90IGEga2V5\"\\n',\n"
        "             Path('digest.toml'), problems)\n"
        "print(json.dumps([problems, sorted(m for m in sys.modules if m.startswith('digest'))]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    problems, modules = json.loads(result.stdout)
    assert len(problems) == 3 and "webhook_public_key: not a public key" in problems[2]
    assert set(modules) <= {"digest", "digest.config", "digest.config_checks",
                            "digest.config_values", "digest.errors", "digest.labels",
                            "digest.text"}, modules
