"""The small-problem path of the fast engine: Eclat on packed bitsets, numpy only.

In: a canonical boolean CSR matrix (see :func:`recommender.mining.as_bool_csr`),
``min_count`` and limits. Out: the itemsets DataFrame of
:func:`recommender.mining.frequent_itemsets`, already sorted.

Why it exists: importing numba and loading its compiled kernels costs about
100 MB of memory and a second whatever the data, which dominates small
problems. Here every frequent item's receipts are one row of packed ``uint64``
bits (only receipts with two or more frequent items, as singles are counted
directly); pairs are counted at once by one sparse ``X.T @ X``; longer itemsets
are found depth-first, each node extending its prefix by ``np.bitwise_and`` of
bit rows and counting with ``np.bitwise_count``. Items are ranked by ascending
count, so the first prefixes are rare and their candidate lists short.

:func:`plan` applies the selection rule (see :data:`MAX_ITEMS`,
:data:`MAX_PAIRS`, :data:`MAX_BITSET_BYTES`, :data:`MAX_ITEMSETS`) before any
numba import; the ``"fast"`` engine uses this path when the rule admits the
problem and falls back to the numba miner otherwise, or when the search finds
more than :data:`MAX_ITEMSETS` itemsets.
"""

from __future__ import annotations

import numpy as np

from recommender.mining import BYTES_PER_ITEMSET, DEFAULT_MAX_ITEMSETS, ThresholdTooLow, default_memory_budget

__all__ = ["mine", "plan", "MAX_ITEMS", "MAX_PAIRS", "MAX_BITSET_BYTES", "MAX_ITEMSETS"]

#: Selection rule of the ``"fast"`` engine (constants, independent of the data):
#: the numpy path is used when there are at most MAX_ITEMS frequent items, their
#: bit rows over all receipts take at most MAX_BITSET_BYTES, there are at most
#: MAX_PAIRS frequent pairs, and the search finds at most MAX_ITEMSETS itemsets
#: (past that it gives up and the numba miner starts afresh). Measured (CPU
#: seconds, numpy path vs warm numba; bench data): Online Retail 2,057 pairs
#: 0.10 vs 0.05, 7,259 pairs 0.36 vs 0.10; synthetic 88k receipts 4,453 pairs
#: 0.27 vs 0.09, 7,524 pairs 0.40 vs 0.09; synthetic 100k 13,755 pairs 0.68 vs
#: 0.09. Numba costs about 0.45 CPU seconds and 95 MB to start (import and
#: cached machine code), so numpy wins a whole run up to about 8,000 pairs; but
#: past about 5,000 the numpy search grows with the itemsets of dense data (16k
#: from Online Retail's 7k pairs) and the mining call alone falls behind pyfim's,
#: so the bound is 5,000.
MAX_ITEMS = 4_000
MAX_PAIRS = 5_000
MAX_BITSET_BYTES = 32 << 20
MAX_ITEMSETS = 20_000

# Items per block of co-occurrence counts (bounds the memory of the pair count).
_PAIR_BLOCK = 256


class _Abandon(Exception):
    """The search outgrew the limit it was given."""


class Plan:
    """Frequent items (ranked), their bit rows and the frequent pairs of one problem."""

    def __init__(self, rank_to_col, single_counts, bits, pair_a, pair_b, pair_counts):
        self.rank_to_col = rank_to_col  # column of each rank, ascending count then column
        self.single_counts = single_counts
        self.bits = bits  # (n_items, n_words) uint64, or None when max_len < 3
        self.pair_a, self.pair_b, self.pair_counts = pair_a, pair_b, pair_counts  # ranks, a < b


def _frequent(matrix, min_count):
    item_count = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)
    frequent = np.flatnonzero(item_count >= min_count)
    rank_to_col = frequent[np.lexsort((frequent, item_count[frequent]))]
    return item_count, rank_to_col


def plan(matrix, min_count: int, max_len: int | None = None, rule: bool = True):
    """Prepare the numpy search, or return None when the selection rule rejects it.

    Cheap and numba-free: one ``bincount`` of the items, then (only if there
    are few enough frequent items and receipts) the sparse product ``X.T @ X``
    restricted to the frequent columns, in blocks of items so that its memory
    stays small, stopping at the first block that breaks the pair bound. With
    ``rule=False`` never returns None.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool))
    >>> p = plan(m, 2)
    >>> p.rank_to_col.tolist(), p.pair_counts.tolist()
    ([0, 2, 1], [2, 2])
    """
    max_len = np.iinfo(np.int64).max if max_len is None else max_len
    item_count, rank_to_col = _frequent(matrix, min_count)
    n_items = rank_to_col.size
    n_words = (matrix.shape[0] + 63) // 64
    if rule and (n_items > MAX_ITEMS or n_items * n_words * 8 > MAX_BITSET_BYTES):
        return None
    single_counts = item_count[rank_to_col]
    no_pairs = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    if n_items < 2 or max_len < 2:
        return Plan(rank_to_col, single_counts, None, *no_pairs)
    found = None
    if not hasattr(matrix, "tocsc"):  # bare CSR arrays (recommender.baskets.BoolRows): try numpy alone
        found = _pairs_numpy(matrix, rank_to_col, min_count)
        if found is None:
            matrix = matrix.to_scipy()
    if found is None:
        found = _pairs_sparse(matrix, rank_to_col, min_count, rule)
        if found is None:
            return None
    pair_a, pair_b, pair_counts, rows, item, n_kept = found
    if rule and pair_a.size > MAX_PAIRS:
        return None
    bits = None
    if max_len >= 3 and pair_a.size:
        # receipt r of item i is bit r % 8 of byte r // 8 of row i; the words' byte order does
        # not matter, as only bit counts of ANDs of whole rows are used
        n_words_kept = (n_kept + 63) // 64
        packed = np.zeros((n_items, n_words_kept * 8), np.uint8)
        # one OR-reduction per byte over its run of sorted (item, byte) keys: ufunc.at is ~10x slower
        key = item * (n_words_kept * 8) + (rows >> 3)
        bit = (1 << (rows & 7)).astype(np.uint8)
        if key.size > 1 and (key[1:] < key[:-1]).any():
            order = np.argsort(key, kind="stable")
            key, bit = key[order], bit[order]
        if key.size:
            starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
            packed.ravel()[key[starts]] = np.bitwise_or.reduceat(bit, starts)
        bits = packed.view(np.uint64)
    return Plan(rank_to_col, single_counts, bits, pair_a, pair_b, pair_counts)


#: The numpy pair count enumerates every pair of frequent items in every receipt; past this many
#: (dense receipts) the sparse product ``X.T @ X`` of scipy is used instead, whose memory is bounded.
MAX_PAIR_INSTANCES = 20_000_000
#: Up to this many possible pairs (frequent items squared) they are counted in one array (32 MB), beyond by sorting.
MAX_PAIR_BINS = 1 << 22


def _pairs_sparse(matrix, rank_to_col, min_count, rule):
    """Frequent pairs (ranks a < b, sorted) by the sparse product ``X.T @ X``, with the (receipt, item) entries
    of the receipts holding two or more frequent items (for the bit rows); None when the rule is broken."""
    import scipy.sparse as sp

    n_items = rank_to_col.size
    # receipts x frequent items, columns in rank order; receipts with < 2 of them only count as singles
    x = sp.csr_array(matrix[:, rank_to_col], dtype=np.int32)
    x = x[np.diff(x.indptr) >= 2]
    # the co-occurrence counts can be dense (millions of entries): compute them for blocks
    # of items, keep only the frequent pairs, and stop as soon as the rule is broken; the
    # most frequent items come first, as they break it soonest
    xt = sp.csr_array(x.T)
    found_a, found_b, found_n = [], [], []
    n_found = 0
    for lo in range((n_items - 1) // _PAIR_BLOCK * _PAIR_BLOCK, -1, -_PAIR_BLOCK):
        block = sp.csr_array(xt[lo:lo + _PAIR_BLOCK] @ x)  # unsorted columns: the few kept pairs are sorted below
        at = np.flatnonzero(block.data >= min_count)
        a = np.searchsorted(block.indptr, at, side="right").astype(np.int64) - 1 + lo
        b = block.indices[at].astype(np.int64)
        upper = a < b
        found_a.append(a[upper])
        found_b.append(b[upper])
        found_n.append(block.data[at[upper]].astype(np.int64))
        n_found += int(upper.sum())
        if rule and n_found > MAX_PAIRS:
            return None
    pair_a, pair_b, pair_counts = (np.concatenate(v) for v in (found_a, found_b, found_n))
    order = np.lexsort((pair_b, pair_a))
    # the (receipt, item) entries item by item, receipts ascending within each (CSC order)
    rows = xt.indices.astype(np.int64)
    item = np.repeat(np.arange(n_items), np.diff(xt.indptr))
    return pair_a[order], pair_b[order], pair_counts[order], rows, item, x.shape[0]


def _pairs_numpy(matrix, rank_to_col, min_count):
    """What :func:`_pairs_sparse` gives, from bare CSR arrays by numpy alone; None when the receipts hold more
    than :data:`MAX_PAIR_INSTANCES` pairs of frequent items (the caller then uses scipy)."""
    n_items = rank_to_col.size
    n_rows = matrix.shape[0]
    # 32-bit throughout (ranks, receipts, positions): half the memory to touch
    rank = np.full(matrix.shape[1], -1, dtype=np.int32)
    rank[rank_to_col] = np.arange(n_items, dtype=np.int32)
    r = rank[matrix.indices]
    row = np.repeat(np.arange(n_rows, dtype=np.int32), np.diff(matrix.indptr))
    keep = r >= 0
    r, row = r[keep], row[keep]
    per_row = np.bincount(row, minlength=n_rows)
    n_pairs = int((per_row * (per_row - 1) // 2).sum())
    if n_pairs > MAX_PAIR_INSTANCES or len(r) >= 2 ** 31:
        return None
    multi = per_row >= 2
    keep = multi[row]
    r, row = r[keep], (np.cumsum(multi, dtype=np.int32) - 1)[row[keep]]  # rows renumbered among the kept receipts
    n_kept = int(multi.sum())
    # every pair within a receipt, for all receipts of one size at once: a (receipts x size) block of ranks,
    # and its columns i < j
    sizes = per_row[multi]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    codes = r.astype(np.int64) if n_items * n_items >= 2 ** 31 else r
    keys = np.empty(n_pairs, dtype=codes.dtype)
    filled = 0
    for k in np.unique(sizes).tolist():
        block = codes[starts[sizes == k][:, None] + np.arange(k)]
        i, j = np.triu_indices(k, 1)
        u, v = block[:, i], block[:, j]
        out = keys[filled:filled + u.size].reshape(u.shape)
        np.minimum(u, v, out=out)
        out *= n_items
        out += np.maximum(u, v)
        filled += u.size
    del starts
    if n_items * n_items <= MAX_PAIR_BINS:  # a count per possible pair
        counts = np.bincount(keys, minlength=n_items * n_items)
        hit = np.flatnonzero(counts >= min_count)
        hit_counts = counts[hit]
    else:
        uniq, n = np.unique(keys, return_counts=True)
        hit, hit_counts = uniq[n >= min_count].astype(np.int64), n[n >= min_count]
    del keys
    # entries item by item, receipts ascending within each: a stable sort by item keeps the receipt order
    order = np.argsort(r.astype(np.int16) if n_items <= 2 ** 15 else r, kind="stable")  # 16 bits: a radix sort
    return (hit // n_items, hit % n_items, hit_counts.astype(np.int64), row[order].astype(np.int64),
            r[order].astype(np.int64), n_kept)


def mine(matrix, min_count: int, max_len: int | None = None, progress=None,
         max_itemsets: int = DEFAULT_MAX_ITEMSETS, memory_budget: int | None = None) -> pd.DataFrame:
    """Frequent itemsets of a canonical boolean CSR ``matrix`` by numpy alone.

    Same result as :func:`recommender.mining.fast.mine` whatever the size
    (only slower on big problems); raises :class:`ThresholdTooLow` when the
    itemsets would exceed ``max_itemsets`` or the memory budget, with an
    unverified suggestion (the numba miner verifies its own).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1]], dtype=bool))
    >>> mine(m, 2).to_records(index=False).tolist()
    [((0,), 2), ((1,), 3), ((2,), 2), ((0, 1), 2), ((1, 2), 2)]
    """
    memory_budget = default_memory_budget() if memory_budget is None else memory_budget
    cap = int(min(max_itemsets, max(1, memory_budget // BYTES_PER_ITEMSET)))
    item_count, rank_to_col = _frequent(matrix, min_count)
    if rank_to_col.size > cap:
        raise _too_many(rank_to_col.size, cap, np.sort(item_count)[::-1], min_count, max_itemsets)
    p = plan(matrix, min_count, max_len, rule=False)
    found = p.rank_to_col.size + p.pair_counts.size
    if found > cap:
        counts = np.sort(np.concatenate([p.single_counts, p.pair_counts]))[::-1]
        raise _too_many(found, cap, counts, min_count, max_itemsets)
    try:
        return search(p, min_count, max_len, progress, cap)
    except _Abandon as stop:
        found = stop.args[0]
        raise _too_many(found.size, cap, np.sort(found)[::-1], min_count, max_itemsets, partial=True)


def try_mine(matrix, min_count, max_len, progress, max_itemsets, memory_budget):
    """The ``"fast"`` engine's small path: the result, or None to use the numba miner."""
    found = try_mine_lists(matrix, min_count, max_len, progress, max_itemsets, memory_budget)
    return None if found is None else _frame(*found)


def try_mine_lists(matrix, min_count, max_len, progress, max_itemsets, memory_budget):
    """:func:`try_mine` as two lists (itemsets as tuples, counts) in the documented order; no pandas."""
    p = plan(matrix, min_count, max_len)
    if p is None:
        return None
    cap = int(min(max_itemsets, max(1, memory_budget // BYTES_PER_ITEMSET), MAX_ITEMSETS))
    if p.rank_to_col.size + p.pair_counts.size > cap:
        return None  # the numba miner raises ThresholdTooLow with a verified suggestion
    try:
        return search_lists(p, min_count, max_len, progress, cap)
    except _Abandon:
        return None


def _frame(items: list, counts: list) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"items": pd.Series(items, dtype=object), "count": np.array(counts, dtype=np.int64)})


def search(p: Plan, min_count: int, max_len: int | None, progress, cap: int) -> pd.DataFrame:
    """Depth-first Eclat from the pairs; raises _Abandon past ``cap`` itemsets."""
    return _frame(*search_lists(p, min_count, max_len, progress, cap))


def search_lists(p: Plan, min_count: int, max_len: int | None, progress, cap: int) -> tuple[list, list]:
    """:func:`search` as two lists, sorted by ``(len(items), items)``."""
    max_len = np.iinfo(np.int64).max if max_len is None else max_len
    col = p.rank_to_col
    items = [(int(c),) for c in col]
    counts = [int(c) for c in p.single_counts]
    a_cols, b_cols = col[p.pair_a], col[p.pair_b]
    items.extend(zip(np.minimum(a_cols, b_cols).tolist(), np.maximum(a_cols, b_cols).tolist()))
    counts.extend(p.pair_counts.tolist())
    n_items = col.size
    if progress is not None:
        progress(0, n_items, f"mining: {n_items:,} frequent items")
    if p.bits is not None:
        starts = np.searchsorted(p.pair_a, np.arange(n_items + 1))
        # pair_ok[a, b]: a < b (ranks) is a frequent pair, the only extensions worth a bit count
        pair_ok = np.zeros((n_items, n_items), bool)
        pair_ok[p.pair_a, p.pair_b] = True
        for a in range(n_items):
            lo, hi = starts[a], starts[a + 1]
            if hi - lo >= 2:
                tail = p.pair_b[lo:hi]
                # only the words where item a has receipts matter below it: a cheap projection
                words = np.flatnonzero(p.bits[a])
                rows = p.bits[np.ix_(tail, words)] & p.bits[a, words]
                _extend([a], rows, tail, p.pair_counts[lo:hi], p, pair_ok, min_count, max_len,
                        items, counts, cap)
            if progress is not None and (a % 64 == 63 or a == n_items - 1):
                progress(a + 1, n_items, f"mining: {len(items):,} frequent itemsets so far")
    elif progress is not None:
        progress(n_items, n_items, f"mining: {len(items):,} frequent itemsets")
    order = sorted(range(len(items)), key=lambda i: (len(items[i]), items[i]))  # as sort_itemsets does
    return [items[i] for i in order], [counts[i] for i in order]


def _extend(prefix, rows, tail, tail_counts, p, pair_ok, min_count, max_len, items, counts, limit):
    """Emit every frequent extension of prefix + tail[k] by later tail items, depth-first.

    ``rows[k]`` are the receipts of prefix + tail[k] (already emitted).
    """
    if len(prefix) + 2 > max_len:
        return
    # only tail items with a frequent pair among the later ones can extend (one lookup for all)
    later_ok = np.triu(pair_ok[np.ix_(tail, tail)], k=1)
    for k in np.flatnonzero(later_ok.any(axis=1)).tolist():
        cand = tail[k + 1:]
        ok = later_ok[k, k + 1:]
        new_rows = rows[k + 1:][ok] & rows[k]
        new_counts = np.bitwise_count(new_rows).sum(axis=1, dtype=np.int64)
        keep = new_counts >= min_count
        if not keep.any():
            continue
        new_tail, new_rows, new_counts = cand[ok][keep], new_rows[keep], new_counts[keep]
        base = prefix + [int(tail[k])]
        cols = p.rank_to_col
        base_cols = cols[base].tolist()
        for t, c in zip(cols[new_tail].tolist(), new_counts.tolist()):
            items.append(tuple(sorted(base_cols + [t])))
            counts.append(c)
        if len(items) > limit:
            raise _Abandon(np.array(counts, dtype=np.int64))
        if new_tail.size >= 2:
            _extend(base, new_rows, new_tail, new_counts, p, pair_ok, min_count, max_len,
                    items, counts, limit)


def _too_many(n_found, cap, counts_desc, min_count, max_itemsets, partial=False):
    from recommender.mining.fast import _suggest  # plain Python, no numba

    limit = f"the limit of {cap:,} itemsets" + (" set by the memory budget" if cap < max_itemsets else "")
    if partial:
        text = f"min_count={min_count} gives more frequent itemsets than {limit} (mining stopped early)"
    else:
        text = f"min_count={min_count} gives at least {n_found:,} frequent itemsets, over {limit}"
    return ThresholdTooLow(text + "; raise the threshold",
                           suggested_min_count=_suggest(counts_desc, cap, min_count))
