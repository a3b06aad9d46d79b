"""The morning send fails safe: a mistake in the newsroom's own files holds the whole send
(exit 65, one `error: path:line` each), the cron and systemd recipes alert on real failures only,
a send that stops early leaves no trace, and usage errors are one line. Real processes under the
cron environment where the process matters."""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from conftest import REPO, copy_sample, log_lines
from fake_sendgrid import FakeSendGrid

DIGEST = Path(sys.executable).parent / "digest"  # the virtualenv's script, as docs/ say
RECIPES = (REPO / "docs" / "sending.md").read_text(encoding="utf-8")  # cron, systemd
DAY = "2025-04-22"
LEAD = "articles/2025-04-22-berges-de-la-sorelle.md"
SECRET = "a-secret-for-the-tests-only-not-for-any-newsletter"


def cron_line(folder: Path, log: Path, *options: str) -> str:
    """docs/sending.md's crontab line, for this folder and log, `digest send` given `options`."""
    line = re.search(r"^30 6 \* \* \*\s+(.+)$", RECIPES, re.MULTILINE).group(1)
    assert "/srv/courrier/.venv/bin/digest send >>" in line
    line = line.replace("/srv/courrier/.venv/bin/digest send",
                        " ".join([str(DIGEST), "send", *options]))
    return line.replace("/srv/courrier", str(folder)).replace("/var/log/digest.log", str(log))


def as_cron(command: str, home: Path) -> subprocess.CompletedProcess:
    """`command` as cron runs it: sh, a bare PATH and HOME, the crontab's environment lines."""
    return subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", f"HOME={home}",
                           f"DIGEST_SECRET={SECRET}", "sh", "-c", command],
                          capture_output=True, text=True, timeout=180, check=False)


def outbox(folder: Path) -> list[Path]:
    return sorted((folder / "out" / DAY / "outbox").glob("*.eml"))


def broken_lead(folder: Path) -> None:
    path = folder / LEAD
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^author: .*$", "author: Camille: Ferrand", text, count=1,
                           flags=re.MULTILINE), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def set_delivery(folder: Path, line: str) -> None:
    config = folder / "digest.toml"
    config.write_text(config.read_text().replace("[delivery]\n", f"[delivery]\n{line}\n", 1))


# -- the newsroom's own files hold the send ---------------------------------------------------


def test_a_broken_pinned_lead_holds_the_cron_send_for_everyone(tmp_path):
    folder = copy_sample(tmp_path / "courrier")
    broken_lead(folder)
    log = tmp_path / "digest.log"
    result = as_cron(cron_line(folder, log, "--date", DAY), tmp_path)
    assert outbox(folder) == []  # no reader's copy
    assert "digest send exited 65" in result.stdout  # printed, so cron mails it
    line = line_of(folder / LEAD, "author: Camille: Ferrand")
    logged = log.read_text(encoding="utf-8")
    assert re.search(rf" error: {LEAD}:{line}: invalid front matter \(.+\); fix the YAML$",
                     logged, re.MULTILINE), logged
    assert "nothing sent to anyone" in logged and "Traceback" not in logged
    status = subprocess.run([str(DIGEST), "status"], cwd=folder, capture_output=True, text=True,
                            env={**os.environ, "DIGEST_SECRET": SECRET}, check=False)
    assert status.stdout.strip() == "nothing sent yet"  # a held send leaves no round

    set_delivery(folder, 'on_article_error = "skip"')  # the newsroom chose the old behaviour
    skipped = as_cron(cron_line(folder, log, "--date", DAY), tmp_path)
    assert skipped.stdout == ""  # exit 0: nothing for cron to mail
    copies = len(outbox(folder))
    assert copies >= 3 and f": sent {copies}, skipped 0, failed 0" in log.read_text()
    assert f"warning: {LEAD}:{line}: invalid front matter" in log.read_text(encoding="utf-8")


def test_every_article_of_the_day_broken_holds_rather_than_nothing_to_send(newsletter):
    newsletter.raw("seul.md", "---\ntitle: Seul\ndate: 2025-04-22 07:00\nauthor: a: b\n---\nT\n")
    newsletter.article("hier", title="Hier", date="2025-04-21T08:00:00+02:00")
    newsletter.recipients(2)
    result = newsletter.run("send", "--date", DAY, process=True)
    assert result.returncode == 65, result.stderr  # not 3, which pages no one
    assert "error: articles/seul.md:4: invalid front matter" in result.stderr
    assert outbox(newsletter.root) == []


def test_a_broken_file_of_another_day_does_not_hold(newsletter):
    newsletter.article("une", title="La une")
    newsletter.raw("2025-03-01-ancien.md", "---\ntitle: Ancien\nauthor: a: b\n---\nTexte\n")
    newsletter.raw("sans-date.md", "---\ntitle: [pas fermé\n---\nTexte\n")
    old = newsletter.articles / "sans-date.md"
    os.utime(old, (1_700_000_000, 1_700_000_000))  # last saved in November 2023
    newsletter.recipients(2)
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert "warning: articles/2025-03-01-ancien.md:3: invalid front matter" in result.stderr
    assert "warning: articles/sans-date.md:2: invalid front matter" in result.stderr
    assert len(outbox(newsletter.root)) == 2


def test_same_story_naming_no_file_holds_and_an_address_only_warns(newsletter):
    newsletter.article("une", title="La une", same_story="suite-du-conseil")
    newsletter.article("autre", title="Autre", same_story="https://ailleurs.example/x")
    newsletter.recipients(2)
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 65
    lines = log_lines(result.stderr)
    une = line_of(newsletter.articles / "une.md", "same_story")
    assert (f"error: articles/une.md:{une}: same_story: 'suite-du-conseil' is no article of "
            "this edition; give the file name (or address) of an article of the same day, or "
            "remove the line") in lines
    autre = line_of(newsletter.articles / "autre.md", "same_story")
    assert any(line.startswith(f"warning: articles/autre.md:{autre}: same_story: "
                               "'https://ailleurs.example/x'") for line in lines), lines
    newsletter.article("suite-du-conseil", title="La suite")
    assert newsletter.run("send", "--date", DAY).returncode == 0
    assert len(outbox(newsletter.root)) == 2


def editor_copy(folder: Path, name: str, old: str, new: str) -> Path:
    """The editor's copy of a built-in template, with `old` changed to `new` once."""
    templates = folder / "templates"
    templates.mkdir(exist_ok=True)
    source = (REPO / "templates" / name).read_text(encoding="utf-8")
    assert old in source
    target = templates / name
    target.write_text(source.replace(old, new, 1), encoding="utf-8")
    return target


def test_an_mjml_typo_in_the_editors_template_is_named_and_holds_the_send(tmp_path):
    folder = copy_sample(tmp_path / "courrier")
    lead = editor_copy(folder, "lead.mjml.j2", "<mj-text mj-class=\"kicker\"",
                       "<mj-txet mj-class=\"kicker\"")
    lead.write_text(lead.read_text().replace("{{ lead.category }}</mj-text>",
                                             "{{ lead.category }}</mj-txet>", 1))
    line = line_of(lead, "<mj-txet")
    env = {"DIGEST_SECRET": SECRET}
    check = subprocess.run([str(DIGEST), "check"], cwd=folder, capture_output=True, text=True,
                           env={**os.environ, **env}, check=False)
    assert check.returncode == 1
    assert (f"templates/lead.mjml.j2:{line}: <mj-txet> is not an MJML tag (did you mean "
            "<mj-text>?)") in check.stdout.splitlines()
    build = subprocess.run([str(DIGEST), "build", "--date", DAY], cwd=folder, text=True,
                           capture_output=True, env={**os.environ, **env}, check=False)
    assert build.returncode == 0  # the editor still sees the edition, with the problem listed
    assert f"warning: templates/lead.mjml.j2:{line}: <mj-txet>" in build.stderr
    log = tmp_path / "digest.log"
    sent = as_cron(cron_line(folder, log, "--date", DAY), tmp_path)
    assert "digest send exited 65" in sent.stdout and outbox(folder) == []
    assert f"error: templates/lead.mjml.j2:{line}: <mj-txet>" in log.read_text()

    lead.unlink()  # an unknown attribute and an element closed too soon, in another partial
    footer = editor_copy(folder, "footer.mjml.j2", "<mj-column", "<mj-column paddng=\"4px\"")
    footer.write_text(footer.read_text().replace("</mj-column>", "", 1))
    check = subprocess.run([str(DIGEST), "check"], cwd=folder, capture_output=True, text=True,
                           env={**os.environ, **env}, check=False)
    column = line_of(footer, "<mj-column")
    lines = check.stdout.splitlines()
    assert any(line.startswith(f'templates/footer.mjml.j2:{column}: <mj-column> has no '
                               'attribute "paddng" (did you mean "padding"?); MRML ignores it')
               for line in lines), lines
    assert any(line.startswith(f"templates/footer.mjml.j2:{column}: <mj-column> is not closed "
                               "before </mj-section>") for line in lines), lines


def test_a_missing_closing_tag_names_the_editors_file_not_the_compiled_whole(newsletter):
    newsletter.article("une", title="La une")
    lead = editor_copy(newsletter.root, "lead.mjml.j2", "      </mj-column>\n", "")
    newsletter.recipients(1)
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 65
    column = line_of(lead, "<mj-column>")
    errors = [line for line in log_lines(result.stderr) if line.startswith("error:")]
    assert errors[0].startswith(f"error: templates/lead.mjml.j2:{column}: <mj-column> is not "
                                "closed before </mj-section>"), errors
    assert "digest.mjml.j2" not in errors[0]
    assert outbox(newsletter.root) == []


# -- the recipes alert on real failures only ----------------------------------------------------


def test_the_cron_line_mails_only_statuses_other_than_0_and_3(newsletter, tmp_path):
    log = tmp_path / "digest.log"
    newsletter.recipients(2)
    sunday = as_cron(cron_line(newsletter.root, log, "--date", DAY), tmp_path)  # no article: 3
    assert sunday.stdout == "" and sunday.stderr == ""
    assert "no articles for 2025-04-22" in log.read_text()
    newsletter.article("une", title="La une")
    sent = as_cron(cron_line(newsletter.root, log, "--date", DAY), tmp_path)
    assert sent.stdout == "" and len(outbox(newsletter.root)) == 2
    newsletter.config.write_text("[newsletter]\nnom = 'faute'\n", encoding="utf-8")
    broken = as_cron(cron_line(newsletter.root, log, "--date", DAY), tmp_path)
    assert broken.stdout.startswith("digest send exited 78\n")
    assert "error: digest.toml:2: newsletter.nom: unknown key" in broken.stdout  # the log's tail


def test_the_systemd_units_treat_3_as_success_and_alert_through_a_unit_given_in_full(newsletter,
                                                                                      tmp_path):
    service = re.search(r"```ini\n(\[Unit\]\nDescription=Send the morning digest.+?)```", RECIPES,
                        re.DOTALL).group(1)
    keys = dict(line.split("=", 1) for line in service.splitlines() if "=" in line)
    assert keys["SuccessExitStatus"].split() == ["3"]
    assert keys["OnFailure"] == "digest-failed@%n.service"
    alert = re.search(r"`/etc/systemd/system/digest-failed@\.service`.*?```ini\n(.+?)```", RECIPES,
                      re.DOTALL).group(1)
    alert_keys = dict(line.split("=", 1) for line in alert.splitlines() if "=" in line)
    assert alert_keys["Type"] == "oneshot" and "%i" in alert_keys["ExecStart"]
    script = re.search(r"/bin/sh -c '(.+)' alert %i$", alert_keys["ExecStart"]).group(1)
    # what the alert runs, with journalctl and mail stood in for, as sh runs it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "journalctl").write_text("#!/bin/sh\necho \"log of $2\"\n")
    (bin_dir / "mail").write_text(f"#!/bin/sh\n{{ echo \"$2\"; cat; }} > {tmp_path}/mailed\n")
    for tool in ("journalctl", "mail"):
        (bin_dir / tool).chmod(0o755)
    subprocess.run(["env", "-i", f"PATH={bin_dir}:/usr/bin:/bin", "sh", "-c",
                    script.replace("%H", "courrier"), "alert", "digest.service"], check=True)
    assert (tmp_path / "mailed").read_text() == \
        "digest: digest.service failed on courrier\nlog of digest.service\n"
    # the service's command on a day without articles: 3, which SuccessExitStatus lists
    start = keys["ExecStart"].replace("/srv/courrier/.venv/bin/digest", str(DIGEST))
    result = as_cron(f"cd {newsletter.root} && {start} --date {DAY}", tmp_path)
    assert result.returncode == 3, result.stderr


# -- a send that stops early leaves no trace; Ctrl-C says where it stopped ------------------------


def test_a_send_without_recipients_file_records_no_round(newsletter):
    newsletter.article("une", title="La une")
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 78
    assert result.stderr.strip().endswith("recipients.csv: recipients file not found; create "
                                          "it (columns: email,name) or set delivery.recipients "
                                          "in digest.toml")
    assert newsletter.run("status").stdout.strip() == "nothing sent yet"
    check = newsletter.run("check")
    assert check.returncode == 1
    assert "recipients.csv: recipients file not found" in check.stdout
    newsletter.recipients(1)
    assert newsletter.run("send", "--date", DAY).returncode == 0
    assert "round 1: sent 1," in newsletter.run("status").stdout


def test_a_semicolon_separated_recipients_file_is_read(newsletter):
    newsletter.article("une", title="La une")
    (newsletter.root / "recipients.csv").write_text(
        "email;nom;ville\r\nanne@lecteurs.example;Anne;Lyon\r\n\"bob@lecteurs.example\";Bob;\r\n",
        encoding="utf-8")
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in outbox(newsletter.root)] == ["anne@lecteurs.example.eml",
                                                         "bob@lecteurs.example.eml"]
    (newsletter.root / "recipients.csv").write_text("adresse;nom\nx@y.example;X\n")
    check = newsletter.run("check")
    assert "recipients.csv:1: no 'email' column; the first line must name the columns, e.g. " \
        "email,name (columns separated by commas or by semicolons)" in check.stdout


def test_ctrl_c_says_how_many_were_sent_unknown_and_left_and_how_to_finish(newsletter):
    server = FakeSendGrid(api_key="SG.interrupt", delay=0.3).start()
    try:
        newsletter.article("une", title="La une")
        newsletter.add_config(f'[delivery.sendgrid]\napi_url = "{server.url}"\nbatch_size = 100\n')
        addresses = newsletter.recipients(1500)
        env = {**os.environ, "SENDGRID_API_KEY": "SG.interrupt", "NO_PROXY": "127.0.0.1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "send", "--date", DAY, "--backend", "sendgrid"],
            cwd=newsletter.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.monotonic() + 60
        while not (len(server.accepted) >= 2 and server.in_flight == 1):  # a batch under way
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the send never got going"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        last = stdout.strip().splitlines()[-1]
        found = re.search(r": interrupted: sent (\d+), unknown (\d+), left (\d+); run digest send "
                          r"again to send to the (\d+) left", last)
        assert found, last
        sent, unknown, left, again = map(int, found.groups())
        # the batch under way when the signal came is unknown (unless it came between two)
        assert sent >= 200 and unknown in (0, 100) and left == again
        assert sent + unknown + left == 1500

        finish = newsletter.run("send", "--date", DAY, "--backend", "sendgrid",
                                env={"SENDGRID_API_KEY": "SG.interrupt"})
        assert finish.returncode == 0, finish.stderr
        assert f"sent {left}," in finish.stdout
        copies = Counter(server.recipients())
        assert set(copies) == set(addresses) and max(copies.values()) == 1
    finally:
        server.stop()


# -- usage errors are one line --------------------------------------------------------------------


def test_usage_errors_are_one_error_line_with_the_usage_hint(newsletter, tmp_path):
    newsletter.article("une", title="La une")
    for args, message in (
        (("build", "--date", "mardi"), "'mardi' is not a date; use YYYY-MM-DD"),
        (("build", "--bogus"), "No such option: --bogus"),
        (("send", "--to", "pas-une-adresse", "--date", DAY), "--to 'pas-une-adresse' is not an "
                                                             "address"),
    ):
        result = newsletter.run(*args, process=True)
        assert result.returncode == 2, (args, result.stderr)
        lines = log_lines(result.stderr.strip())  # a send's lines carry the time, as in cron
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert "Traceback" not in result.stderr
    assert re.search(r"\(see .*digest build --help\)$",
                     newsletter.run("build", "--date", "x", process=True).stderr.strip())
    assert not (newsletter.root / "out").exists()  # --to was refused before anything was built
    elsewhere = subprocess.run([str(DIGEST), "check"], cwd=tmp_path, capture_output=True,
                               text=True, check=False)
    assert elsewhere.returncode == 78
    assert elsewhere.stderr.startswith("error: digest.toml not found in ")


def test_a_markdown_file_that_is_no_article_never_holds(newsletter):
    """Notes beside the articles (no front matter), saved today or copied by a fresh clone:
    a warning, not a hold."""
    newsletter.article("une", title="La une")
    newsletter.raw("LISEZMOI.md", "# Notes de la rédaction\n\nÀ relire avant mardi.\n")
    newsletter.recipients(2)
    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert "warning: articles/LISEZMOI.md:1: no front matter" in result.stderr
    assert len(outbox(newsletter.root)) == 2
