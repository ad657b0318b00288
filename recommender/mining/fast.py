"""The fast engine: depth-first frequent itemset mining compiled with numba.

In: a canonical boolean CSR matrix (see :func:`recommender.mining.as_bool_csr`),
``min_count`` and limits. Out: the itemsets DataFrame of
:func:`recommender.mining.frequent_itemsets`, already sorted.

Steps: count items; keep the frequent ones, ranked by ascending count (rare
items first keeps the projected databases small); drop receipts with fewer than
two frequent items (they only count towards singles); check the exact number
of frequent pairs against the budget before searching; then search depth-first
(:mod:`recommender.mining._kernels`) in batches of first items, reporting
progress between batches and stopping with :class:`ThresholdTooLow` when the
itemset or memory budget is exceeded.

The ``"fast"`` engine first offers the problem to the numpy-only path
(:mod:`recommender.mining.small`, same output), whose selection rule keeps small
problems from importing numba at all; this module runs otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.mining import (BYTES_PER_ITEMSET, DEFAULT_MAX_ITEMSETS, ThresholdTooLow,
                                default_memory_budget)

# Progress is reported between batches of first items.
_N_BATCHES = 64

#: Nodes with at most 64 x this many receipts are mined on bitsets (see
#: ``_kernels.mine_range``). Measured, CPU seconds of the mining call with 0 /
#: 4 / 16 / 64 words: Online Retail at 0.0025 (677,312 itemsets) 1.56 / 0.96 /
#: 0.82 / 0.82, at 0.005 0.12 / 0.13 / 0.09 / 0.09; synthetic 88k and 100k
#: rows unchanged (0.08-0.15 whatever the value).
BITSET_WORDS = 16


def mine(matrix, min_count: int, max_len: int | None = None, progress=None,
         max_itemsets: int = DEFAULT_MAX_ITEMSETS, memory_budget: int | None = None) -> pd.DataFrame:
    """Frequent itemsets of a canonical boolean CSR ``matrix``; see ``frequent_itemsets``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1]], dtype=bool))
    >>> mine(m, 2).to_records(index=False).tolist()
    [((0,), 2), ((1,), 3), ((2,), 2), ((0, 1), 2), ((1, 2), 2)]
    """
    status, result, _ = _search(matrix, min_count, max_len, progress, max_itemsets,
                                default_memory_budget() if memory_budget is None else memory_budget)
    if status is not None:
        raise status
    return result


def warm_up() -> None:
    """Compile (first time in an environment) or load from cache every numba kernel.

    Takes tens of seconds on the very first call, about a second afterwards;
    call it before timing or before a progress bar appears.
    """
    import scipy.sparse as sp

    from recommender.mining import _kernels as K

    m = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool))
    mine(m, 1)
    flat, starts, _ = K.flatten(m.indptr, m.indices, np.arange(3, dtype=np.int32), 2)
    occ, off, _ = K.deliver_root(flat, starts, 3, np.empty(0, np.int32))
    K.pair_histogram(flat, occ, off, 3, 1, 3)


def _search(matrix, min_count, max_len, progress, max_itemsets, memory_budget, build=True):
    """Mine; return (exception or None, DataFrame or None, number of itemsets)."""
    from recommender.mining import _kernels as K

    max_len = np.iinfo(np.int64).max if max_len is None else max_len
    # the top-level call verifies its suggested threshold by mining at it (without building)
    probe = (matrix, max_len, memory_budget) if build else None
    cap = int(min(max_itemsets, max(1, memory_budget // BYTES_PER_ITEMSET)))
    item_count = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)
    frequent = np.flatnonzero(item_count >= min_count)
    # ascending count, ties by column, so the search order is deterministic
    rank_to_col = frequent[np.lexsort((frequent, item_count[frequent]))]
    n_items = rank_to_col.size
    single_counts = item_count[rank_to_col]
    if n_items > cap:
        return _too_many(n_items, cap, np.sort(item_count)[::-1], min_count, max_itemsets,
                         probe=probe), None, n_items
    empty_nodes = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.int64))
    if n_items == 0 or max_len < 2:
        return None, (_to_frame(rank_to_col, single_counts, *empty_nodes, 0) if build else None), n_items

    col_to_rank = np.full(matrix.shape[1], -1, np.int32)
    col_to_rank[rank_to_col] = np.arange(n_items, dtype=np.int32)
    flat, starts, pair_slots = K.flatten(matrix.indptr, matrix.indices, col_to_rank, 2)
    pos_sample = np.empty(0, np.int32 if flat.size < 2**31 - 1 else np.int64)
    root_occ, root_off, work = K.deliver_root(flat, starts, n_items, pos_sample)
    del starts
    max_occ = max(1 << 20, memory_budget // 8)  # int64 occurrences + int32 receipts

    # count the frequent pairs exactly, unless they cannot possibly exceed the limit
    n_pairs = min(n_items * (n_items - 1) // 2, pair_slots // min_count)
    if n_items + n_pairs > cap:
        hist = K.pair_histogram(flat, root_occ, root_off, n_items, min_count, int(single_counts.max()))
        n_pairs = int(hist.sum())
        if n_items + n_pairs > cap:
            by_count = np.concatenate([single_counts, np.repeat(np.arange(hist.size), hist)])
            return _too_many(n_items + n_pairs, cap, np.sort(by_count)[::-1], min_count, max_itemsets,
                             probe=probe), None, n_items + n_pairs

    # perfect extension pruning copies whole subtrees, which a length limit would cut
    perfect = bool(max_len >= int(np.diff(matrix.indptr).max()))
    size0 = int(min(max(1024, 2 * n_pairs), cap))
    out_parent = np.empty(size0, np.int64)
    out_item = np.empty(size0, np.int32)
    out_count = np.empty(size0, np.int64)
    n_out = 0
    if not work.any():
        work = np.ones_like(work)  # progress by first items when no receipt has two items
    bounds = _batches(work, _N_BATCHES)
    total_work = int(work.sum())
    done_work = 0
    if progress is not None:
        progress(0, total_work, f"mining: {n_items:,} frequent items")
    for lo, hi in bounds:
        status, n_out, out_parent, out_item, out_count = K.mine_range(
            flat, root_occ, root_off, single_counts, lo, hi, n_items, min_count, max_len, perfect,
            out_parent, out_item, out_count, n_out, cap - n_items, max_occ, BITSET_WORDS)
        if status != K.OK:
            if status == K.TOO_MUCH_MEMORY:
                return _memory_exceeded(min_count, memory_budget, cap, probe), None, None
            found = np.concatenate([single_counts, out_count[:n_out]])
            return _too_many(n_items + n_out, cap, np.sort(found)[::-1], min_count, max_itemsets,
                             partial=True, probe=probe), None, None
        done_work += int(work[lo:hi].sum())
        if progress is not None:
            progress(done_work, total_work, f"mining: {n_items + n_out:,} frequent itemsets so far")
    if not build:
        return None, None, n_items + n_out
    return None, _to_frame(rank_to_col, single_counts, out_parent, out_item, out_count, n_out), n_items + n_out


def _batches(work, n_batches):
    """Split 0..len(work) into contiguous ranges of roughly equal work."""
    n = work.size
    cum = np.cumsum(work)
    if n == 0 or cum[-1] == 0:
        return [(0, n)] if n else []
    cuts = np.searchsorted(cum, np.linspace(0, cum[-1], n_batches + 1)[1:-1], side="right")
    edges = np.unique(np.concatenate([[0], cuts, [n]]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _to_frame(rank_to_col, single_counts, out_parent, out_item, out_count, n_out) -> pd.DataFrame:
    """Nodes -> DataFrame of tuples of column indices, sorted by (length, items).

    Millions of tuples are built here, so: every tuple refers to one shared int
    object per column (not a fresh int per cell, which would double the memory),
    rows are sorted by one integer key where their columns fit in 63 bits, and
    the garbage collector, which would walk the growing heap of tuples again
    and again, is paused meanwhile.
    """
    import gc

    from recommender.mining import _kernels as K

    n_items = rank_to_col.size
    order = np.argsort(rank_to_col, kind="stable")
    n_cols = int(rank_to_col.max()) + 1 if n_items else 0
    labels = np.empty(n_cols, dtype=object)
    labels[:] = list(range(n_cols))
    bits = max(1, n_cols.bit_length())
    paused = gc.isenabled()
    gc.disable()
    try:
        items = list(zip(labels[rank_to_col[order]]))
        counts = [single_counts[order]]
        if n_out:
            lengths = K.node_lengths(out_parent, n_out, n_items)
            for k in range(2, int(lengths.max()) + 1):
                rows = np.flatnonzero(lengths == k)
                if rows.size == 0:
                    continue
                arr = K.fill_itemsets(out_parent, out_item, lengths, rows, k, n_items, rank_to_col)
                srt = _lexicographic_order(arr, bits)
                arr = arr[srt]
                items.extend(zip(*(labels[arr[:, c]] for c in range(k))))
                counts.append(out_count[rows][srt])
                del arr
        return pd.DataFrame({"items": pd.Series(items, dtype=object),
                             "count": np.concatenate(counts).astype(np.int64)})
    finally:
        if paused:
            gc.enable()


def _lexicographic_order(arr, bits):
    """Order of the rows of ``arr`` (non-negative ints below ``2**bits``) by their columns in turn.

    Columns are packed several to an int64 key, so a sort takes a few passes
    rather than one per column.

    >>> _lexicographic_order(np.array([[1, 3, 2], [1, 2, 9], [0, 5, 5]]), 4).tolist()
    [2, 1, 0]
    """
    per_key = max(1, 63 // bits)
    keys = []
    for lo in range(0, arr.shape[1], per_key):
        key = arr[:, lo].astype(np.int64)
        for c in range(lo + 1, min(lo + per_key, arr.shape[1])):
            key <<= bits
            key |= arr[:, c]
        keys.append(key)
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys[::-1])


def _suggest(counts_desc, cap, min_count):
    """Smallest count c such that at most ``cap`` of the given counts are >= c."""
    if counts_desc.size <= cap:
        return min_count
    return int(max(min_count + 1, counts_desc[cap] + 1))


def _too_many(n_found, cap, counts_desc, min_count, max_itemsets, partial=False, probe=None):
    suggestion = _suggest(counts_desc, cap, min_count)
    if probe is not None:
        suggestion = _probe(probe, suggestion, cap)
    limit = f"the limit of {cap:,} itemsets" + (" set by the memory budget" if cap < max_itemsets else "")
    if partial:
        text = f"min_count={min_count} gives more frequent itemsets than {limit} (mining stopped early)"
    else:
        text = f"min_count={min_count} gives at least {n_found:,} frequent itemsets, over {limit}"
    return ThresholdTooLow(text + "; raise the threshold", suggested_min_count=suggestion)


def _probe(probe, start, cap):
    """Smallest threshold, searching upwards from ``start``, that is verified to fit ``cap``."""
    matrix, max_len, memory_budget = probe
    c = start
    while True:
        status, _, n = _search(matrix, c, max_len, None, cap, memory_budget, build=False)
        if status is None:
            return c
        c = max(c + 1, getattr(status, "suggested_min_count", c * 2), int(c * 1.5))


def _memory_exceeded(min_count, memory_budget, cap, probe):
    suggestion = 2 * min_count if probe is None else _probe(probe, 2 * min_count, cap)
    return ThresholdTooLow(f"min_count={min_count} needs more working memory than the budget of "
                           f"{memory_budget / 2**20:,.0f} MB; raise the threshold",
                           suggested_min_count=suggestion)
