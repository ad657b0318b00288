"""Significance of associations, from counts.

In: counts (per rule, optionally per basket-size stratum) and a receipt x item
matrix. Out: p-values, Benjamini-Hochberg q-values, basket-size strata and the
per-stratum support counts of itemsets.

Why stratify: a receipt of 30 items contains almost everything popular, a
receipt of 2 items almost nothing. Pooled over all receipts, any two popular
items therefore look positively associated (both favour big baskets) even when,
basket size for basket size, they are independent. The Cochran-Mantel-Haenszel
test compares receipts of similar size only.

Strata rule (:func:`size_strata`): bands of basket size whose upper bounds are
the Fibonacci numbers 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, ... so the bands are
{1}, {2}, {3}, {4-5}, {6-8}, {9-13}, {14-21}, {22-34}, {35-55}, ... Exact sizes
where the co-occurrence chance changes fastest, then bands about 1.6 times
wider each, so that every band holds receipts of comparable size (at most ~1.6x
apart) and the number of bands grows only with the log of the largest basket.
The rule is fixed (not fitted to the data) so that runs on different slices use
the same bands.
"""

from __future__ import annotations

import numpy as np


def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN.

    The family is every non-NaN entry of ``p``.

    Examples
    --------
    >>> bh_qvalues([0.01, 0.04, 0.03, 0.5]).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]
    """
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    scaled = pv[order] * m / np.arange(1, m + 1)
    # q_(i) = min over j >= i of p_(j) m / j: a running minimum from the largest p down.
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(scaled, 1.0)
    q[ok] = out
    return q


#: Up to this many tests on at most this many receipts, p-values are computed by numpy
#: (:mod:`recommender._significance_numpy`); otherwise by the numba kernels
#: (:mod:`recommender._significance_kernels`), which cost about a second and 100 MB to load. Both give the same
#: values (to ~1e-13 relative). Measured, the numpy kernels take 0.28 s for the 4,068 rules of 88k FIMI-shaped
#: baskets (numba 0.19 s once loaded) and 0.07 s for Online Retail at 0.01; the tail sums run longer with more
#: receipts, hence the second bound.
NUMPY_MAX_TESTS = 20_000
NUMPY_MAX_RECEIPTS = 200_000


def _kernels(n_tests: int, n_receipts: float = 0):
    if n_tests <= NUMPY_MAX_TESTS and n_receipts <= NUMPY_MAX_RECEIPTS:
        from recommender import _significance_numpy as kernels
    else:
        from recommender import _significance_kernels as kernels
    return kernels


def _tail(n_xy, n_x, n_y, n, upper: bool) -> np.ndarray:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (n_xy, n_x, n_y, n)))
    flat = [np.ascontiguousarray(a).ravel() for a in arrays]
    kernels = _kernels(flat[0].size, float(flat[3].max(initial=0)))
    out = kernels.hypergeom_tails(*flat, upper).reshape(arrays[0].shape)
    return np.clip(out, 0.0, 1.0) if out.ndim else float(np.clip(out, 0.0, 1.0))


def fisher_greater(n_xy, n_x, n_y, n) -> np.ndarray:
    """One-sided Fisher exact p-value for positive association, vectorised.

    Equal (to ~1e-12 relative at 10^4 receipts, ~1e-10 at 10^6) to
    ``scipy.stats.fisher_exact([[n_xy, n_x - n_xy], [n_y - n_xy, n - n_x - n_y + n_xy]],
    alternative="greater").pvalue``, i.e.
    ``scipy.stats.hypergeom.sf(n_xy - 1, n, n_x, n_y)``, but computed with
    R's ``phyper`` algorithm (Loader's saddle-point pmf, then the shorter tail
    summed by recurrence) compiled by numba: scipy's boost-based ``sf`` takes
    ~0.3 ms per table at 20,000 receipts, too slow for 10^5 rules.

    >>> float(np.round(fisher_greater(5, 5, 5, 10), 6))
    0.003968
    """
    return _tail(n_xy, n_x, n_y, n, True)


def fisher_less(n_xy, n_x, n_y, n) -> np.ndarray:
    """One-sided Fisher exact p-value for negative association, vectorised.

    Equal to ``scipy.stats.hypergeom.cdf(n_xy, n, n_x, n_y)`` (see
    :func:`fisher_greater`).

    >>> float(np.round(fisher_less(0, 5, 5, 10), 6))
    0.003968
    """
    return _tail(n_xy, n_x, n_y, n, False)


def cmh_greater(n_xy, n_x, n_y, n) -> np.ndarray:
    """One-sided Cochran-Mantel-Haenszel p-value for positive association.

    Each argument is an array of shape (n_tests, n_strata) (``n`` may be of
    shape (n_strata,)): the 2x2 table of stratum s is
    [[n_xy, n_x - n_xy], [n_y - n_xy, n - n_x - n_y + n_xy]]. The statistic is
    (sum O - sum E - 0.5) / sqrt(sum V) with the hypergeometric mean and
    variance of each stratum and a continuity correction of 1/2; its normal
    upper tail is the p-value. Tests without any variance (no stratum where
    both items vary) get p = 1.

    Examples
    --------
    >>> float(cmh_greater([[5, 5]], [[5, 5]], [[5, 5]], [10, 10])[0].round(6))
    6.7e-05
    """
    n_xy, n_x, n_y = (np.asarray(a, dtype=float) for a in (n_xy, n_x, n_y))
    n = np.broadcast_to(np.asarray(n, dtype=float), n_x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(n > 0, n_x * n_y / n, 0.0)
        var = np.where(n > 1, n_x * (n - n_x) * n_y * (n - n_y) / (n * n * (n - 1)), 0.0)
    o, e, v = n_xy.sum(axis=-1), expected.sum(axis=-1), var.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (o - e - 0.5) / np.sqrt(v)
    upper_tail = _kernels(z.size).upper_tail
    return np.where(v > 0, upper_tail(np.ascontiguousarray(z, dtype=np.float64).ravel()).reshape(z.shape), 1.0)


def _fibonacci_bounds(max_size: int) -> np.ndarray:
    bounds = [1, 2]
    while bounds[-1] < max_size:
        bounds.append(bounds[-1] + bounds[-2])
    return np.array(bounds, dtype=np.int64)


def size_bands(sizes, max_size: int | None = None) -> np.ndarray:
    """Band index of each size: bands with upper bounds 1, 2, 3, 5, 8, 13, ... (0 for sizes <= 1).

    Unlike :func:`size_strata` the index is fixed by
    the size alone (bands that no receipt falls in keep their number), so two
    arrays of sizes share one numbering.

    Examples
    --------
    >>> size_bands([1, 2, 3, 4, 5, 6, 40]).tolist()
    [0, 1, 2, 3, 3, 4, 8]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    top = int(max(sizes.max(initial=1), max_size or 1, 1))
    return np.searchsorted(_fibonacci_bounds(top), np.maximum(sizes, 1), side="left").astype(np.int64)


def size_strata(sizes) -> tuple[np.ndarray, list[str]]:
    """Assign each receipt to a basket-size band (see the module docstring).

    Returns the stratum index of every receipt (0-based, only bands that
    occur, in increasing size) and a label per stratum.

    Examples
    --------
    >>> codes, labels = size_strata([1, 2, 4, 5, 7, 40])
    >>> codes.tolist(), labels
    ([0, 1, 2, 2, 3, 4], ['1', '2', '4-5', '6-8', '35-55'])
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.size == 0:
        return np.zeros(0, dtype=np.int64), []
    upper = _fibonacci_bounds(max(int(sizes.max()), 1))
    lower = np.concatenate([[0], upper[:-1]]) + 1
    # Size-0 receipts (nothing at this level) share the first band: they hold no item anyway.
    band = size_bands(sizes)
    used, codes = np.unique(band, return_inverse=True)
    labels = [str(lower[b]) if lower[b] == upper[b] else f"{lower[b]}-{upper[b]}" for b in used]
    return codes.astype(np.int64), labels


class StratumCounter:
    """Count, per stratum, the receipts containing each of many itemsets.

    Receipts are sorted by stratum and each item becomes a packed bitset
    (uint64 words) in which every stratum occupies its own whole words; the
    support of an itemset in every stratum is then a few ANDs and popcounts.

    Parameters
    ----------
    matrix : scipy.sparse array, (n_receipts, n_items), bool
        Or bare CSR arrays (``indptr``, ``indices``, ``shape``; :class:`recommender.baskets.BoolRows`).
    strata : array of int, (n_receipts,)
        Stratum of each receipt, 0..n_strata-1.
    columns : array of int, optional
        Only these item columns will be asked for (saves memory).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1], [1, 0], [1, 1]], dtype=bool))
    >>> c = StratumCounter(m, np.array([0, 1, 1]))
    >>> c.counts(np.array([[0, 1]])).tolist(), c.stratum_sizes.tolist()
    ([[1, 1]], [1, 2])
    """

    def __init__(self, matrix, strata, columns=None):
        strata = np.asarray(strata, dtype=np.int64)
        n_strata = int(strata.max()) + 1 if strata.size else 0
        self.stratum_sizes = np.bincount(strata, minlength=n_strata).astype(np.int64)
        # At least one word per stratum, so that reduceat never sees an empty range.
        words = np.maximum((self.stratum_sizes + 63) // 64, 1)
        self.word_starts = np.concatenate([[0], np.cumsum(words)[:-1]]).astype(np.int64)
        self.n_words = int(words.sum())
        # Position of each receipt: its stratum's first bit plus its rank inside the stratum.
        order = np.argsort(strata, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order)) - np.repeat(np.cumsum(self.stratum_sizes) - self.stratum_sizes,
                                                         self.stratum_sizes)
        position = self.word_starts[strata] * 64 + rank
        n_items = matrix.shape[1]
        columns = np.arange(n_items) if columns is None else np.unique(np.asarray(columns, dtype=np.int64))
        self._slot = np.full(n_items, -1, dtype=np.int64)
        self._slot[columns] = np.arange(len(columns))
        if hasattr(matrix, "tocsr"):  # scipy.sparse, in any format
            matrix = matrix.tocsr()
        # the (receipt, slot) of every entry in the asked-for columns
        slot = self._slot[matrix.indices]
        receipt = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        wanted = slot >= 0
        pos = position[receipt[wanted]]
        word = pos >> 6
        slot = slot[wanted]
        key = slot * self.n_words + word
        bit = np.left_shift(np.uint64(1), (pos & 63).astype(np.uint64))
        if self.n_words < 2 ** 15 and len(columns) < 2 ** 15:
            # group the keys by two stable 16-bit sorts (numpy sorts those by radix): word, then slot
            order = np.argsort(word.astype(np.int16), kind="stable")
            order = order[np.argsort(slot[order].astype(np.int16), kind="stable")]
        else:
            order = np.argsort(key, kind="stable")
        key, bit = key[order], bit[order]
        bits = np.zeros(len(columns) * self.n_words, dtype=np.uint64)
        if key.size:
            starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
            bits[key[starts]] = np.bitwise_or.reduceat(bit, starts)
        self.bits = bits.reshape(len(columns), self.n_words)

    def counts(self, rows, chunk_bytes: int = 1 << 24) -> np.ndarray:
        """Per-stratum support counts of itemsets.

        Parameters
        ----------
        rows : int array, (n_itemsets, k)
            Item columns of each itemset (all of the same size k).

        Returns
        -------
        int64 array, (n_itemsets, n_strata)
        """
        rows = np.asarray(rows, dtype=np.int64)
        slots = self._slot[rows]
        if (slots < 0).any():
            raise ValueError("an itemset uses a column the counter was not built for")
        n_strata = len(self.stratum_sizes)
        out = np.zeros((len(rows), n_strata), dtype=np.int64)
        step = max(1, chunk_bytes // max(1, 8 * self.n_words))
        for lo in range(0, len(rows), step):
            s = slots[lo:lo + step]
            acc = self.bits[s[:, 0]]
            for j in range(1, s.shape[1]):
                acc &= self.bits[s[:, j]]
            out[lo:lo + step] = np.add.reduceat(np.bitwise_count(acc), self.word_starts, axis=1, dtype=np.int64)
        return out
