"""The cosines of a day's sentence vectors, without the n × n product: each article's closest in
meaning found by blocks of rows, shared out to threads (numpy lets go of the interpreter lock).
A cosine's last bits may differ with the block, the BLAS build and the CPU; which articles are
close enough does not depend on them (tests/test_stories.py tries several blocks)."""

from __future__ import annotations

import os

ROW_BLOCK = 1024  # rows of the cosines made at once: 40 MB at 10,000 articles, once a thread
BLOCK_BYTES = 64 * 2**20  # fewer rows on a larger day, so that a block stays within this
PRODUCT_THREADS = 2  # rows of cosines made side by side (numpy lets go of the interpreter lock)


def candidates(vectors, floor: float, count: int, block: int = 128):
    """The pairs (rows, cols), row < col, in row-major order, at least `floor` close in meaning
    (the cosine of their `vectors`, row by row as `vectors @ vectors.T` gives it) where one of
    the two is among the other's `count` closest; and their cosines. The n × n cosines are
    never made: `_row_block` rows at a time, each thread into the same memory (the whole product
    at 10,000 articles was 400 MB of new pages); each row's closest are found by `block` rows
    of it (a block of 512 rows made 40 MB of indexes, new pages from the system each time).
    The blocks of rows are shared out to PRODUCT_THREADS threads, as many as the process may
    use cores, each product on one BLAS thread. A cosine's last bits may differ with the block,
    the BLAS build and the CPU (float32 products are rounded by each kernel its own way): the
    groups do not depend on them (tests/test_stories.py tries several blocks)."""
    import threading

    import numpy as np

    size = len(vectors)
    if size <= count + 1:  # a small day: every pair is among the closest
        similarity = vectors @ vectors.T
        rows, cols = np.nonzero(np.triu(similarity >= floor, k=1))
        return rows, cols, similarity[rows, cols]
    mine = threading.local()
    rows_at_once = row_block(size)
    block = max(1, min(block, BLOCK_BYTES // (12 * size)))  # -rows and the indexes: 12 bytes

    def closest(start: int):
        """The `count` + 1 closest of each row of the block from `start` (itself among them)."""
        if not hasattr(mine, "product"):
            mine.product = np.empty((min(rows_at_once, size), size), dtype=vectors.dtype)
        cosines = _block_cosines(vectors, start, min(start + rows_at_once, size), mine.product)
        firsts, seconds, values = [], [], []
        for offset in range(0, len(cosines), block):
            rows = cosines[offset:offset + block]
            nearest = np.argpartition(-rows, count, axis=1)[:, :count + 1]
            first = start + offset
            firsts.append(np.repeat(np.arange(first, first + len(rows)), count + 1))
            seconds.append(nearest.ravel())
            values.append(np.take_along_axis(rows, nearest, axis=1).ravel())
        return firsts, seconds, values

    starts = range(0, size, rows_at_once)
    threads = min(PRODUCT_THREADS, _cores(), len(starts))
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="digest-cosines") as pool:
            found = list(pool.map(closest, starts))  # in order: the same pairs, the same order
    else:
        found = [closest(start) for start in starts]
    firsts = [part for parts, _, _ in found for part in parts]
    seconds = [part for _, parts, _ in found for part in parts]
    values = [part for _, _, parts in found for part in parts]
    ends = np.concatenate(firsts), np.concatenate(seconds)
    value = np.concatenate(values)
    low, high = np.minimum(*ends), np.maximum(*ends)
    # a pair found from either end is kept once, from the first of its rows
    keep = (low != high) & (value >= floor)
    keys = low[keep] * size + high[keep]
    order = np.argsort(keys, kind="stable")  # in row-major order, then once each
    keys, value = keys[order], value[keep][order]
    once = np.concatenate(([True], keys[1:] != keys[:-1]))
    keys, value = keys[once], value[once]
    return keys // size, keys % size, value


def row_block(size: int) -> int:
    """Rows of cosines made at once on a day of `size` vectors (float32): ROW_BLOCK, or fewer
    when so many would pass BLOCK_BYTES (400 MB a thread at 100,000 articles); two at least."""
    return max(2, min(ROW_BLOCK, BLOCK_BYTES // (4 * max(size, 1))))


def _block_cosines(vectors, start: int, stop: int, out=None):
    """The cosines of rows `start` to `stop` with every row, as a product of two rows or more
    gives them (so, `vectors @ vectors.T`'s): numpy computes a single row's by another
    routine, whose last bits differ. `out`: memory of at least two rows for the product."""
    import numpy as np

    first = start - 1 if stop - start == 1 and start > 0 else start
    product = np.matmul(vectors[first:stop], vectors.T,
                        out=None if out is None else out[:stop - first])
    return product[start - first:]


def _cores() -> int:
    """The cores this process may run on (all of the machine's where the system cannot say)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Similarity:
    """The cosine of two embedded items (rows a < b), as `vectors @ vectors.T` gives it: the
    candidate pairs' from `_candidates`, any other from the product of a's block of rows (only
    explanations ask for those)."""

    def __init__(self, vectors, rows, cols, values) -> None:
        self.vectors, self.values = vectors, values
        self.keys = rows * len(vectors) + cols  # ascending

    def __call__(self, a: int, b: int) -> float:
        import numpy as np

        key = a * len(self.vectors) + b
        at = int(np.searchsorted(self.keys, key))
        if at < len(self.keys) and self.keys[at] == key:
            return float(self.values[at])
        rows = row_block(len(self.vectors))
        start = a // rows * rows
        stop = min(start + rows, len(self.vectors))
        return float(_block_cosines(self.vectors, start, stop)[a - start, b])
