"""The morning job as cron and systemd run it: docs/sending.md's own lines under a bare
environment, a time-stamped log, and `edition.window = "since_last"` over three mornings at
06:30."""

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import REPO, STAMP

DIGEST = Path(sys.executable).parent / "digest"  # the virtualenv's script, as docs/ say
RECIPES = (REPO / "docs" / "sending.md").read_text(encoding="utf-8")  # cron, systemd


def cron_command() -> str:
    return re.search(r"^30 6 \* \* \*\s+(.+)$", RECIPES, re.MULTILINE).group(1)


def bare_shell(command: str, home: Path) -> subprocess.CompletedProcess:
    """`command` as cron runs it: sh, no environment but a bare PATH and HOME."""
    return subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", f"HOME={home}", "sh", "-c", command],
                          capture_output=True, text=True, timeout=120, check=False)


def as_installed(command: str, folder: Path, log: Path) -> str:
    return (command.replace("/srv/courrier/.venv/bin/digest", str(DIGEST))
            .replace("/srv/courrier", str(folder)).replace("/var/log/digest.log", str(log)))


def test_the_documented_crontab_line_runs_under_env_i_with_a_stamped_log(newsletter, tmp_path):
    now = datetime.now(ZoneInfo("Europe/Paris")).replace(microsecond=0)
    newsletter.article("matin", title="Le matin", date=now.isoformat())
    newsletter.recipients(3)
    log = tmp_path / "digest.log"
    command = cron_command()
    assert "/.venv/bin/digest send" in command  # the virtualenv's absolute path
    result = bare_shell(as_installed(command, newsletter.root, log), tmp_path)
    assert result.returncode == 0, (result.stdout, result.stderr, log.read_text())
    assert result.stdout == ""  # nothing for cron to mail
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines
    assert re.search(r": sent 3, skipped 0, failed 0, unknown 0 \(file, ", lines[-1]), lines[-1]

    newsletter.config.write_text("[newsletter]\nnom = 'faute de frappe'\n", encoding="utf-8")
    broken = bare_shell(as_installed(command, newsletter.root, log), tmp_path)
    assert broken.stdout.startswith("digest send exited 78\n")  # mailed by cron
    new = log.read_text(encoding="utf-8").splitlines()[len(lines):]
    assert len(new) == 1 and STAMP.match(new[0]) and " error: digest.toml:2: " in new[0], new
    assert "Traceback" not in "\n".join(new)


def test_the_documented_systemd_service_runs_its_command(newsletter, tmp_path):
    service = re.search(r"```ini\n(\[Unit\]\nDescription=Send the morning digest.+?)```", RECIPES,
                        re.DOTALL).group(1)
    keys = dict(line.split("=", 1) for line in service.splitlines() if "=" in line)
    assert {"EnvironmentFile", "TimeoutStartSec", "OnFailure", "WorkingDirectory"} <= set(keys)
    timer = re.search(r"```ini\n(\[Unit\]\nDescription=The morning digest.+?)```", RECIPES,
                      re.DOTALL).group(1)
    assert "OnCalendar=*-*-* 06:30:00 Europe/Paris" in timer
    assert keys["ExecStart"].startswith("/srv/courrier/.venv/bin/digest ")
    now = datetime.now(ZoneInfo("Europe/Paris")).replace(microsecond=0)
    newsletter.article("matin", title="Le matin", date=now.isoformat())
    newsletter.recipients(2)
    start = as_installed(keys["ExecStart"], newsletter.root, tmp_path)
    command = f"cd {newsletter.root} && {start}"  # WorkingDirectory=
    result = bare_shell(command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sent 2" in result.stdout.splitlines()[-1]


ARTICLES = {  # (name, Paris time): three mornings' worth, some published after a send
    "a1": "2025-04-21T08:00", "a2": "2025-04-21T22:00", "a3": "2025-04-22T05:00",
    "a4": "2025-04-22T07:00", "a5": "2025-04-22T18:00", "a6": "2025-04-23T06:00",
    "a7": "2025-04-23T06:45", "a8": "2025-04-23T20:00", "a9": "2025-04-24T06:29",
}


@pytest.mark.skipif(not Path("/usr/bin/faketime").exists(), reason="tests/run.sh installs faketime")
def test_since_last_over_three_mornings_takes_every_article_exactly_once(newsletter):
    for name, when in ARTICLES.items():
        newsletter.article(name, title=f"Article {name}", date=f"{when}:00+02:00",
                           body=f"Texte distinct de l'article {name} sur un sujet {name}.")
    newsletter.add_config('[edition]\nwindow = "since_last"\n')
    newsletter.recipients(2)
    taken: list[str] = []
    for day in ("2025-04-22", "2025-04-23", "2025-04-24"):
        # monotonic time faked too: with FAKETIME_DONT_FAKE_MONOTONIC, Debian's libfaketime 0.9.10
        # times out the waits of CLOCK_MONOTONIC condition variables at once (fixed upstream in
        # wolfcw/libfaketime#503), and two Python threads then spin on the GIL: 5 s → 40 s of CPU
        env = {**os.environ, "TZ": "UTC", "PYTHONWARNINGS": "ignore"}
        result = subprocess.run(  # 06:30 in Paris
            ["faketime", f"{day} 04:30:00", sys.executable, "-m", "digest", "send", "--date",
             "today"], cwd=newsletter.root, env=env, capture_output=True, text=True, timeout=120,
            check=False)
        assert result.returncode == 0, result.stderr
        record = json.loads((newsletter.root / "out" / day / "edition.json").read_text())
        assert record["window"]["kind"] == "since_last"
        assert record["window"]["end"].startswith(f"{day}T04:30")
        taken += [a["title"] for a in record["articles_considered"]]
    assert sorted(taken) == sorted(f"Article {name}" for name in ARTICLES)  # each exactly once

    rebuilt = newsletter.run("build", "--date", "2025-04-23")  # a sent edition keeps its window
    assert rebuilt.returncode == 0, rebuilt.stderr
    record = json.loads((newsletter.root / "out" / "2025-04-23" / "edition.json").read_text())
    assert sorted(a["title"] for a in record["articles_considered"]) == \
        ["Article a4", "Article a5", "Article a6"]


def test_previous_day_window_takes_yesterdays_articles(newsletter):
    newsletter.article("hier", title="Hier", date="2025-04-21T18:00:00+02:00")
    newsletter.article("jour", title="Du jour", date="2025-04-22T08:00:00+02:00")
    newsletter.add_config('[edition]\nwindow = "previous_day"\n')
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == 0, result.stderr
    record = json.loads((newsletter.root / "out" / "2025-04-22" / "edition.json").read_text())
    assert [a["title"] for a in record["articles_considered"]] == ["Hier"]
    assert record["window"] == {"kind": "previous_day", "start": "2025-04-20T22:00:00+00:00",
                                "end": "2025-04-21T22:00:00+00:00"}
