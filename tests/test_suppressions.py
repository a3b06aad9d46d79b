"""Suppressions: kept in the state database, mirrored to unsubscribed.csv, read from SendGrid's
lists (the test server on 127.0.0.1 serves them page by page), changed by editors."""

import csv
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_sendgrid import API_KEY

DAY = "2025-04-22"



@pytest.fixture
def letter(newsletter, sendgrid):
    newsletter.article("une", "Un article pour les lecteurs. " * 30, title="La une", lead=True)
    newsletter.add_config(f"""\
        [delivery.sendgrid]
        api_url = "{sendgrid.url}"
        timeout = 5
        asm_group_id = 42
        """)
    return newsletter


def run(letter, *args):
    return letter.run(*args, env={"SENDGRID_API_KEY": API_KEY})


def listed(letter) -> dict[str, dict]:
    path = letter.root / "unsubscribed.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["email"]: row for row in csv.DictReader(handle)}


def fill(sendgrid, readers: list[str]) -> set[str]:
    """SendGrid's lists: 620 bounces (two pages), the others short; the addresses listed."""
    created = int(time.time()) - 3600
    bounces = [f"rebond{i:04d}@ailleurs.example" for i in range(618)] + readers[0:2]
    sendgrid.suppressions["bounces"] = [
        {"email": a, "created": created - i, "reason": "550 5.1.1 unknown user", "status": "5.1.1"}
        for i, a in enumerate(bounces)]
    sendgrid.suppressions["unsubscribes"] = [{"email": readers[2].upper(), "created": created}]
    sendgrid.suppressions["blocks"] = [{"email": readers[3], "created": created,
                                        "reason": "554 blocked", "status": "5.7.1"}]
    sendgrid.suppressions["spam_reports"] = [{"email": readers[4], "created": created,
                                              "ip": "192.0.2.4"}]
    sendgrid.suppressions["invalid_emails"] = [{"email": "pas valide@x.example",
                                                "created": created, "reason": "Mail domain"},
                                               {"email": readers[5], "created": created,
                                                "reason": "Mail domain mentioned in email "
                                                          "address is unknown"}]
    sendgrid.group_suppressions[42] = [readers[6]]
    return set(bounces) | set(readers[2:7])


def test_sync_adds_exactly_the_listed_addresses_and_a_send_right_after_skips_them(
        letter, sendgrid):
    readers = letter.recipients(10)
    expected = fill(sendgrid, readers)
    result = run(letter, "suppressions", "sync")
    assert result.returncode == 0, result.stderr
    assert f"sendgrid: {len(expected)} new suppressions" in result.stdout
    assert set(listed(letter)) == expected
    kinds = {a: row["kind"] for a, row in listed(letter).items() if a in readers}
    assert kinds == {readers[0]: "bounced", readers[1]: "bounced", readers[2]: "unsubscribed",
                     readers[3]: "bounced", readers[4]: "complained", readers[5]: "bounced",
                     readers[6]: "unsubscribed"}
    pages = [query for path, query in sendgrid.gets if path == "/v3/suppression/bounces"]
    assert [(p["offset"], p["limit"]) for p in pages] == [("0", "500"), ("500", "500")]
    assert all("start_time" not in p for p in pages)  # the first sync reads everything

    sent = run(letter, "send", "--date", DAY, "--backend", "sendgrid")
    assert sent.returncode == 0, sent.stderr
    assert sorted(sendgrid.recipients()) == sorted(readers[7:])
    assert API_KEY not in result.stdout + result.stderr + sent.stdout + sent.stderr


def test_a_second_sync_reads_only_what_is_new(letter, sendgrid):
    readers = letter.recipients(10)
    fill(sendgrid, readers)
    assert run(letter, "suppressions", "sync").returncode == 0
    first_end = int(sendgrid.gets[0][1]["end_time"])
    sendgrid.gets.clear()
    sendgrid.suppressions["spam_reports"].append({"email": readers[8],
                                                  "created": int(time.time())})
    result = run(letter, "suppressions", "sync")
    assert "sendgrid: 1 new suppression " in result.stdout
    assert listed(letter)[readers[8]]["kind"] == "complained"
    dated = [q for path, q in sendgrid.gets if path.startswith("/v3/suppression/")]
    assert dated and all(int(q["start_time"]) == first_end - 300 for q in dated)


def test_sync_retries_as_a_send_does_and_says_when_sendgrid_is_down(letter, sendgrid):
    readers = letter.recipients(3)
    sendgrid.suppressions["bounces"] = [{"email": readers[0], "created": 1700000000}]
    sendgrid.answer_get(429, {"Retry-After": "0"})
    sendgrid.answer_get(503)
    result = run(letter, "suppressions", "sync")
    assert result.returncode == 0, result.stderr
    assert set(listed(letter)) == {readers[0]}

    for _ in range(5):  # max_attempts: 5, as for sending
        sendgrid.answer_get(503, {"Retry-After": "0"})
    down = run(letter, "suppressions", "sync")
    assert down.returncode == 75
    assert "SendGrid failed the global unsubscribe list 5 times (last: HTTP 503)" in down.stderr
    sendgrid.scripted_gets.clear()
    sendgrid.answer_get(401, body={"errors": [{"message": "access forbidden", "field": None}]})
    refused = run(letter, "suppressions", "sync")
    assert refused.returncode == 1
    assert 'SendGrid refused the global unsubscribe list (HTTP 401): "access forbidden"' \
        in refused.stderr


def test_each_sendgrid_send_syncs_first_unless_told_not_to(letter, sendgrid):
    readers = letter.recipients(4)
    sendgrid.suppressions["spam_reports"] = [{"email": readers[1], "created": 1700000000}]
    sent = run(letter, "send", "--date", DAY, "--backend", "sendgrid")
    assert sent.returncode == 0, sent.stderr
    assert "warning" not in sent.stderr
    assert readers[1] not in sendgrid.recipients() and len(sendgrid.recipients()) == 3
    assert listed(letter)[readers[1]]["source"] == "sendgrid-sync"

    letter.set_config(letter.config.read_text().replace(
        "asm_group_id = 42", "asm_group_id = 42\nsync_suppressions = false"))
    sendgrid.gets.clear()
    assert run(letter, "send", "--date", DAY, "--backend", "sendgrid", "--force").returncode == 0
    assert sendgrid.gets == []


def test_a_send_goes_on_when_the_sync_fails(letter, sendgrid):
    readers = letter.recipients(3)
    for _ in range(5):
        sendgrid.answer_get(500, {"Retry-After": "0"})
    sent = run(letter, "send", "--date", DAY, "--backend", "sendgrid")
    assert sent.returncode == 0, sent.stderr
    assert "warning: sendgrid suppressions: not synced (SendGrid failed" in sent.stderr
    assert sorted(sendgrid.recipients()) == readers


def test_sendgrid_s_own_unsubscribe_page(letter, sendgrid):
    letter.set_config(letter.config.read_text().replace(
        "https://gazette.example/desabonnement?email={email}", "{asm_unsubscribe_url}"))
    letter.recipients(2)
    sent = run(letter, "send", "--date", DAY, "--backend", "sendgrid")
    assert sent.returncode == 0, sent.stderr
    (body,) = sendgrid.accepted
    assert "<%asm_group_unsubscribe_raw_url%>" in body["content"][1]["value"]
    assert "%unsubscribe_url%" not in body["content"][1]["value"]
    assert all("substitutions" not in p and "headers" not in p for p in body["personalizations"])
    assert body["asm"] == {"group_id": 42}


# -- editors ------------------------------------------------------------------------------------

def test_editors_add_list_and_remove(newsletter):
    newsletter.article("une", "Un article. " * 30, title="La une", lead=True)
    newsletter.recipients(3, extra="bob@bücher.example,Bob\n")
    (newsletter.root / "unsubscribed.csv").write_text("email\nancien@lecteurs.example\n")
    added = newsletter.run("suppressions", "add", "Lecteur Zéro <LECTEUR000000@Lecteurs.example>",
                           "bob@xn--bcher-kva.example", "pas-une-adresse", "--reason",
                           "au téléphone")
    assert added.returncode == 1  # one was not an address
    assert added.stdout.splitlines() == ["lecteur000000@lecteurs.example: suppressed",
                                         "bob@bücher.example: suppressed"]
    assert "warning: 'pas-une-adresse' is not an address; skipped" in added.stderr
    rows = listed(newsletter)
    assert list(rows) == ["ancien@lecteurs.example", "lecteur000000@lecteurs.example",
                          "bob@bücher.example"]  # the editors' own line kept, first
    assert rows["bob@bücher.example"]["reason"] == "au téléphone"
    again = newsletter.run("suppressions", "add", "lecteur000000@lecteurs.example")
    assert again.stdout == "lecteur000000@lecteurs.example: already suppressed\n"

    shown = newsletter.run("suppressions", "list")
    assert "lecteur000000@lecteurs.example  " in shown.stdout and "added (editor: au téléphone)" \
        in shown.stdout
    assert "3 suppressed addresses" in shown.stderr

    sent = newsletter.run("send", "--date", DAY)
    assert "sent 2," in sent.stdout  # readers 1 and 2; 0 and Bob are suppressed

    # an editor's line added by hand between two changes is kept by the next rewrite
    with (newsletter.root / "unsubscribed.csv").open("a") as handle:
        handle.write("main@lecteurs.example,,,,,\n")
    removed = newsletter.run("suppressions", "remove", "LECTEUR000000@lecteurs.example",
                             "inconnu@lecteurs.example")
    assert removed.stdout.splitlines() == ["lecteur000000@lecteurs.example: removed",
                                           "inconnu@lecteurs.example: was not suppressed"]
    assert set(listed(newsletter)) == {"ancien@lecteurs.example", "bob@bücher.example",
                                       "main@lecteurs.example"}
    resent = newsletter.run("send", "--date", "2025-04-22", "--force")
    assert "sent 3," in resent.stdout  # lecteur 0 is back


def test_concurrent_writers_never_lose_an_entry(newsletter):
    """Four processes adding 25 addresses each, one at a time, while the others do the same."""
    newsletter.recipients(0)

    def add(worker: int):
        addresses = [f"w{worker}-{i:02d}@lecteurs.example" for i in range(25)]
        script = ("import sys\nfrom digest.newsletter import Newsletter\n"
                  "with Newsletter.open() as n:\n"
                  "    for a in sys.argv[1:]:\n"
                  "        n.suppress([a], 'concurrence')\n")
        return subprocess.run([sys.executable, "-c", script, *addresses], cwd=newsletter.root,
                              capture_output=True, text=True, timeout=120, check=False)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(add, range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    expected = {f"w{w}-{i:02d}@lecteurs.example" for w in range(4) for i in range(25)}
    assert set(listed(newsletter)) == expected
    assert "100 suppressed addresses" in newsletter.run("suppressions", "list").stderr


def test_an_address_a_spreadsheet_would_run_is_written_as_text_and_read_back(newsletter):
    """=calc@… is a valid address, and a formula to a spreadsheet opening unsubscribed.csv: its
    cell starts with a quote (the OWASP advice), which digest drops when it reads the list."""
    newsletter.article("une", "Un article. " * 30, title="La une", lead=True)
    leaving = ["=calc@lecteurs.example", "+plus@lecteurs.example", "-moins@lecteurs.example",
               "'apostrophe@lecteurs.example"]
    newsletter.recipients(1, extra="".join(f"{address},Partant\n" for address in leaving))
    added = newsletter.run("suppressions", "add", "--reason", "@SUM(A1:A9)", "--", *leaving)
    assert added.returncode == 0, added.stderr
    path = newsletter.root / "unsubscribed.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert sorted(row[0] for row in rows) == sorted("'" + address for address in leaving)
    assert {row[4] for row in rows} == {"'@SUM(A1:A9)"}

    from digest.audience.recipients import read_suppressions

    assert read_suppressions(path) == set(leaving)
    # the list alone (the state database lost) still keeps each of them from the edition
    shutil.rmtree(newsletter.root / ".digest")
    sent = newsletter.run("send", "--date", DAY)
    assert "sent 1," in sent.stdout, sent.stdout + sent.stderr
