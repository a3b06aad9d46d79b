"""The state package: one owner of .digest/state.db, a versioned schema, and the import rules that
keep the pipeline's layers apart."""

import ast
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import REPO, copy_sample, run_digest

from digest.state import State, StateError
from digest.state.db import MIGRATIONS

DIGEST = REPO / "digest"


def imports_of(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def modules() -> dict[str, set[str]]:
    return {str(p.relative_to(DIGEST)): imports_of(p) for p in DIGEST.rglob("*.py")}


def test_only_the_state_package_imports_sqlite3():
    users = {name for name, found in modules().items() if "sqlite3" in found}
    assert users and all(name.startswith("state/") for name in users), users


def test_no_module_outside_deliver_imports_a_backend_class():
    backends = ("digest.deliver.file", "digest.deliver.sendgrid", "digest.deliver.smtp")
    users = {name for name, found in modules().items()
             if not name.startswith("deliver/") and any(m.startswith(backends) for m in found)}
    assert not users, users


def test_ranking_imports_nothing_from_sources_or_delivery():
    ranking = {name: found for name, found in modules().items() if name.startswith("ranking/")}
    assert {"ranking/rank.py", "ranking/stories.py"} <= set(ranking)
    for name, found in ranking.items():
        assert not any(m.startswith(("digest.sources", "digest.deliver", "digest.state"))
                       for m in found), (name, found)


def test_a_database_of_the_first_release_opens_and_keeps_its_history(tmp_path):
    path = tmp_path / "state.db"
    shutil.copy(REPO / "tests" / "data" / "state-v0.db", path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0
    state = State(path)
    try:
        assert state.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        stats = state.ledger.stats("https://www.courrier-valsorel.example")
        assert [(s.day, s.sent) for s in stats] == [("2025-04-22", 4), ("2025-04-21", 4)]
        from datetime import date

        remembered = state.memory.before("https://www.courrier-valsorel.example",
                                         date(2025, 4, 22), 3)
        assert remembered and all(p.day == date(2025, 4, 21) for p in remembered)
        cached = state.feeds.cached("feeds/agence-sorelle.xml")
        assert cached is not None and cached.entries == 3 and cached.body
    finally:
        state.close()


def test_the_edition_a_leaver_got_is_found_through_the_index_of_sent_deliveries(tmp_path):
    """Each suppression added looks up the last edition its reader got: an index search, however
    long the ledger (the index holds only what was sent, so a send's status writes stay cheap)."""
    from digest.state.suppressions import _INSERT

    state = State(tmp_path / "state.db")
    try:
        plan = " ".join(row[3] for row in state.db.execute(
            "EXPLAIN QUERY PLAN " + _INSERT, ("a@b.example", "unsubscribed", "link", "", 0.0, "")))
        assert "SEARCH d USING INDEX deliveries_sent_by_email (email=? AND updated_at<?)" in plan
        assert "TEMP B-TREE" not in plan
    finally:
        state.close()


def test_vectors_written_long_ago_are_dropped_as_new_ones_are_written(tmp_path):
    """The vectors, features and commonness kept for grouping do not grow with every article
    ever ranked, nor keep what an older release computed: rows written more than KEEP_DAYS
    before the day of a new write go; the others stay, whatever their version."""
    from datetime import date, timedelta

    from digest.state.embeddings import KEEP_DAYS

    state = State(tmp_path / "state.db")
    store = state.embeddings
    first = date(2026, 1, 5)
    try:
        store.put("model/1", {"ancien": b"a", "commun": b"c"}, today=first)
        store.put("model/2", {"récent": b"r"}, today=first + timedelta(days=10))
        store.put("model/2", {"commun": b"C"}, today=first + timedelta(days=KEEP_DAYS))
        # nothing is old enough yet: the cutoff is KEEP_DAYS before the write, excluded
        assert store.get("model/1", ["ancien", "commun"]) == {"ancien": b"a", "commun": b"c"}
        store.put("model/2", {"nouveau": b"n"}, today=first + timedelta(days=KEEP_DAYS + 1))
        assert store.get("model/1", ["ancien", "commun"]) == {}  # the first day's rows went
        assert store.get("model/2", ["récent", "commun", "nouveau"]) == {
            "récent": b"r", "commun": b"C", "nouveau": b"n"}
        # a row written again counts from its new write
        store.put("model/2", {"récent": b"r"}, today=first + timedelta(days=KEEP_DAYS + 5))
        store.put("model/2", {"autre": b"o"}, today=first + timedelta(days=KEEP_DAYS + 20))
        assert store.get("model/2", ["récent", "commun", "nouveau", "autre"]) == {
            "récent": b"r", "commun": b"C", "nouveau": b"n", "autre": b"o"}
        days = [day for (day,) in state.db.execute("SELECT day FROM embedding_days ORDER BY day")]
        assert days[0] >= (first + timedelta(days=20)).isoformat()
    finally:
        state.close()


def test_dropping_old_vectors_never_takes_recent_ones(tmp_path, monkeypatch):
    """An empty write, a clock set back, a write after a long silence and a long backlog: what
    was written within KEEP_DAYS stays, and the backlog goes a share at a time."""
    from datetime import date, timedelta

    from digest.state import embeddings
    from digest.state.embeddings import KEEP_DAYS

    state = State(tmp_path / "state.db")
    store = state.embeddings
    first = date(2026, 1, 5)
    later = first + timedelta(days=KEEP_DAYS + 1)
    try:
        store.put("m", {f"vieux {i}": b"v" for i in range(5)}, today=first)
        store.put("m", {}, today=later)  # nothing written: nothing marked, nothing dropped
        assert len(store.get("m", [f"vieux {i}" for i in range(5)])) == 5
        # after a long silence, the old rows go and this write's stay
        store.put("m", {"neuf": b"n"}, today=later)
        assert store.get("m", ["vieux 0", "neuf"]) == {"neuf": b"n"}
        # a clock set back does not make a day that would outlive the rows written after it
        store.put("m", {"égaré": b"e"}, today=date(2000, 1, 1))
        store.put("m", {"suivant": b"s"}, today=later + timedelta(days=1))
        assert store.get("m", ["neuf", "égaré", "suivant"]) == {
            "neuf": b"n", "égaré": b"e", "suivant": b"s"}
        # a backlog goes a share at a time (twice the write's rows at least), marks last
        monkeypatch.setattr(embeddings, "PRUNED_AT_ONCE", 3)
        store.put("m", {f"lot {i}": b"l" for i in range(10)}, today=later + timedelta(days=2))
        far = later + timedelta(days=2 + KEEP_DAYS + 1)
        store.put("m", {"a": b"a"}, today=far)
        left = store.get("m", [f"lot {i}" for i in range(10)] + ["neuf", "égaré", "suivant"])
        assert len(left) == 13 - 3
        for extra in ("b", "c", "d", "e"):
            store.put("m", {extra: b"x"}, today=far)
        assert store.get("m", [f"lot {i}" for i in range(10)] + ["neuf"]) == {}
        assert store.get("m", ["a", "b", "c", "d", "e"]) == {k: b"a" if k == "a" else b"x"
                                                              for k in "abcde"}
        days = [day for (day,) in state.db.execute("SELECT day FROM embedding_days")]
        assert days == [far.isoformat()]
    finally:
        state.close()


def test_status_of_an_old_database_through_the_cli(tmp_path):
    root = copy_sample(tmp_path / "sample")
    (root / ".digest").mkdir()
    shutil.copy(REPO / "tests" / "data" / "state-v0.db", root / ".digest" / "state.db")
    result = run_digest("status", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "2025-04-22-a373b9c711  round 1: sent 4" in result.stdout
    # the ledger's history holds: its readers already got an edition of that day, so none gets
    # another (whether this release renders it byte for byte the same or not)
    again = run_digest("send", "--date", "2025-04-22", cwd=root,
                       env={"DIGEST_SECRET": "a-secret-for-the-sample-only"})
    assert "nothing to do" in again.stdout or \
        "already sent to 4 readers with other content" in again.stderr, again
    assert not (root / "out" / "2025-04-22" / "outbox").exists()


def test_a_database_from_a_newer_release_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StateError, match="newer version of digest"):
        State(path)


def test_a_damaged_database_is_one_error_line(tmp_path):
    root = copy_sample(tmp_path / "sample")
    (root / ".digest").mkdir()
    (root / ".digest" / "state.db").write_bytes(b"this is not a database" * 100)
    result = run_digest("status", cwd=root)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "state.db" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_transaction_rolls_back_on_error(tmp_path):
    state = State(tmp_path / "state.db")
    try:
        with pytest.raises(RuntimeError), state.db.transaction():
            state.db.execute("INSERT INTO feed_first_seen VALUES ('u', 'k', 1)")
            raise RuntimeError("stop")
        assert state.db.execute("SELECT COUNT(*) FROM feed_first_seen").fetchone()[0] == 0
    finally:
        state.close()


def test_a_batch_taken_whole_is_never_failed_nor_finished_over(tmp_path):
    """A backend error after the provider took a batch whole must not make its readers failed
    (sent again) nor hide the batch from the settling."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from digest.dates import calendar_window
    from digest.models import Status
    from digest.state import State

    state = State(tmp_path / "state.db")
    ledger = state.ledger
    ledger.edition("e1", "https://n.example", "2025-04-22", "h", "s",
                   calendar_window(date(2025, 4, 22), ZoneInfo("Europe/Paris")))
    [(batch, claimed)] = ledger.claim_batches("e1", 1, "sendgrid",
                                              [["a@x.example", "b@x.example"]])
    assert claimed == {"a@x.example", "b@x.example"}
    ledger.begin(batch)
    ledger.batch_sent(batch, "provider-id")
    ledger.fail_pending(batch, "a bug after the answer")
    ledger.finish_batch(batch, "unknown")
    assert ledger.statuses("e1", 1) == {"a@x.example": Status.PENDING,
                                        "b@x.example": Status.PENDING}
    assert ledger.settle("e1", 1) == 2
    assert ledger.statuses("e1", 1) == {"a@x.example": Status.SENT, "b@x.example": Status.SENT}
    [(_, again)] = ledger.claim_batches("e1", 1, "sendgrid", [["a@x.example", "b@x.example"]])
    assert again == set()
    state.close()


def test_batches_claimed_together_and_never_begun_are_released(tmp_path):
    """A window of batches is claimed in one transaction; a run stopped after the first began
    leaves the others queued: released, their readers are sent to by the next run, while the
    begun batch's readers stay unknown (never sent twice)."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from digest.dates import calendar_window
    from digest.models import Status
    from digest.state import State

    state = State(tmp_path / "state.db")
    ledger = state.ledger
    ledger.edition("e1", "https://n.example", "2025-04-22", "h", "s",
                   calendar_window(date(2025, 4, 22), ZoneInfo("Europe/Paris")))
    claims = ledger.claim_batches("e1", 1, "sendgrid", [["c@x.example", "a@x.example"],
                                                        ["b@x.example"], ["d@x.example"]])
    assert [claimed for _, claimed in claims] == [{"a@x.example", "c@x.example"},
                                                  {"b@x.example"}, {"d@x.example"}]
    ledger.begin(claims[0][0])
    assert ledger.release_queued() == 2
    assert ledger.statuses("e1", 1) == {"a@x.example": Status.PENDING,
                                        "c@x.example": Status.PENDING}
    again = ledger.claim_batches("e1", 1, "sendgrid", [["a@x.example", "b@x.example"]])
    assert again[0][1] == {"b@x.example"}
    state.close()
