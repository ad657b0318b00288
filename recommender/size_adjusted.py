"""How much more often a set is bought than basket size alone predicts.

In: per receipt, whether it holds the antecedent (the rest of a set), whether
it holds the consequent (one item) and how many distinct items it holds. Out:
the observed co-occurrence, the co-occurrence basket size alone predicts, their
ratio (the *size-adjusted lift*), a one-sided Cochran-Mantel-Haenszel p-value
and the Mantel-Haenszel odds ratio.

Why: a wholesaler's basket of 25 lines holds most best sellers, a basket of 2
almost none, so over the whole file any two best sellers look associated (raw
lift 2 to 3 on Online Retail) although, basket for basket, one says nothing of
the other. The expectation compares like with like: receipts are grouped into
bands of basket size and, band by band, an antecedent receipt is expected to
hold the consequent as often as the band's *other* receipts (those without
the antecedent) do::

    expected = sum over bands b of  n_antecedent(b) * n_consequent_without_antecedent(b) / n_without_antecedent(b)
    size-adjusted lift = observed / expected

(indirect standardisation: what the anchor's buyers would hold if they bought
the add-on like other shoppers with baskets of their size). The baseline leaves
the antecedent's receipts out because otherwise a popular anchor caps the
ratio: a tie that never sells without a shirt bought on 40% of the receipts
could never look more than 1 / 0.4 = 2.5 times expected, and within size
bands, where the shirt is commoner still, even less.

The size that places a receipt in a band is its size *as if it held the
consequent*: its distinct items, without the consequent, plus one. Banding by
the plain size would count the pair against itself: in a shop of 2-item
baskets a shirt + tie receipt is a size-2 receipt *because* it holds the tie,
so the size-2 band is full of ties and the tie looks expected. Banding by the
size without the consequent asks the right question: among receipts with the
same rest-of-basket size, do the antecedent's receipts hold the consequent more
often? The bands are those of :func:`recommender.significance.size_strata`
(upper bounds 1, 2, 3, 5, 8, 13, ... of the size), so a receipt holding only
the consequent has a band of its own.

A band with antecedent receipts where every receipt holds the consequent, or
none does, or every receipt holds the antecedent, says nothing of the pair; it
is merged into the next band (the previous for the last) until it does.
Otherwise receipts of one fixed size would split into a band of consequent
receipts (size s) and one without (size s + 1), and the expectation would
always equal the observation. So when every receipt has the same size, the
size-adjusted lift is the plain ratio of the consequent's rate in antecedent
receipts to its rate in the others.
"""

from __future__ import annotations

import numpy as np

from recommender.significance import cmh_greater, size_bands

__all__ = ["size_bands", "size_adjusted_tables", "size_adjusted_expectation", "size_adjusted_test"]


def size_adjusted_tables(antecedent, consequent, sizes, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """Per band of size-without-the-consequent, the 2x2 counts (n_both, n_antecedent, n_consequent, n).

    Parameters
    ----------
    antecedent, consequent : bool arrays, (n_receipts,)
        Whether each receipt holds the antecedent (every item of it) and the consequent.
    sizes : int array, (n_receipts,)
        Distinct items of each receipt (the consequent included when it holds it).
    weights : int array, (n_receipts,), optional
        Receipts each row stands for (rows of receipts counted together, e.g. by Spark); default 1.

    Returns
    -------
    Four int64 arrays of shape (n_bands,), uninformative bands merged (see the module docstring).

    Examples
    --------
    >>> a = np.array([1, 1, 0, 0], bool); c = np.array([1, 0, 1, 0], bool)
    >>> [t.tolist() for t in size_adjusted_tables(a, c, [2, 1, 3, 2])]  # sizes without c: 1, 1, 2, 2
    [[0, 1], [0, 2], [0, 2], [0, 4]]

    (The band of the first two receipts holds the antecedent only: no baseline, so it is merged.)
    """
    antecedent = np.asarray(antecedent, dtype=bool)
    consequent = np.asarray(consequent, dtype=bool)
    sizes = np.asarray(sizes, dtype=np.int64)
    if not (antecedent.shape == consequent.shape == sizes.shape):
        raise ValueError("antecedent, consequent and sizes must be arrays of the same length")
    w = None if weights is None else np.asarray(weights, dtype=np.int64)
    # the receipt's size as if it held the consequent: its other items plus the consequent
    as_if = sizes - consequent.astype(np.int64) + 1
    bands = size_bands(as_if)
    k = int(bands.max(initial=-1)) + 1
    both = antecedent & consequent

    def count(mask):
        if w is None:
            return np.bincount(bands[mask], minlength=k)
        return np.bincount(bands[mask], weights=w[mask], minlength=k).round().astype(np.int64)

    every = np.ones(len(bands), bool)
    tables = np.stack([count(both), count(antecedent), count(consequent), count(every)])
    return tuple(_merge_uninformative(tables))


def _merge_uninformative(tables: np.ndarray) -> np.ndarray:
    """Merge each band with antecedent receipts where the consequent is in all or none of the receipts.

    ``tables`` is (4, n_bands): n_both, n_antecedent, n_consequent, n.

    >>> _merge_uninformative(np.array([[2, 0], [3, 1], [5, 0], [5, 4]])).tolist()
    [[2], [4], [5], [9]]
    """
    t = [tables[:, b].astype(np.int64) for b in range(tables.shape[1])]
    while len(t) > 1:
        pure = [i for i, (_, n_x, n_y, n) in enumerate(t) if n_x > 0 and (n_y == 0 or n_y == n or n_x == n)]
        if not pure:
            break
        i = pure[0]
        j = i + 1 if i + 1 < len(t) else i - 1
        t[min(i, j)] = t[i] + t[j]
        del t[max(i, j)]
    return np.stack(t, axis=1) if t else tables.astype(np.int64)


def size_adjusted_expectation(antecedent, consequent, sizes) -> tuple[int, float]:
    """Observed receipts with both, and how many basket size alone predicts (see the module docstring).

    Examples
    --------
    Two best sellers of big baskets: each is in half of the 8 big receipts and
    in none of the 8 small ones. Over all 16 receipts they meet twice as often
    as chance (lift 2), but exactly as often as basket size predicts.

    >>> a = np.array([1, 1, 1, 1, 0, 0, 0, 0] + [0] * 8, bool)
    >>> b = np.array([1, 1, 0, 0, 1, 1, 0, 0] + [0] * 8, bool)
    >>> size_adjusted_expectation(a, b, [20] * 8 + [2] * 8)
    (2, 2.0)
    """
    n_xy, n_x, n_y, n = size_adjusted_tables(antecedent, consequent, sizes)
    return int(n_xy.sum()), float(_expected(n_xy, n_x, n_y, n).sum())


def _expected(n_xy, n_x, n_y, n) -> np.ndarray:
    """Per band: antecedent receipts times the consequent's rate among the band's other receipts.

    A band of antecedent receipts only has no baseline: its expectation is its observation (no evidence).
    """
    n_xy, n_x, n_y, n = (np.asarray(a, dtype=float) for a in (n_xy, n_x, n_y, n))
    others = n - n_x
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(others > 0, n_x * (n_y - n_xy) / np.where(others > 0, others, 1.0), n_xy)


def size_adjusted_test(tables) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected, one-sided CMH p-value and Mantel-Haenszel odds ratio of many tests at once.

    ``tables`` is a list of the 4-tuples of :func:`size_adjusted_tables` (any
    number of bands each). Returns four float arrays (observed, expected,
    p-value, odds ratio). The odds ratio is the Mantel-Haenszel common odds
    ratio over the bands, sum(a d / n) / sum(b c / n) for the band tables
    [[a, b], [c, d]] = [[both, antecedent only], [consequent only, neither]];
    infinite when the consequent is never bought without the antecedent (nor
    the antecedent without it) in a band where the other occurs. Unlike the
    size-adjusted lift it is not capped by the antecedent's popularity: a tie
    that never sells without a shirt bought by 40% of the receipts has a lift
    of at most 1 / 0.4 = 2.5, but an infinite odds ratio.

    In 15 antecedent receipts the consequent is in 10, in the 15 others of the
    same size in 5: expected 15 * 5 / 15 = 5, odds ratio (10 * 10) / (5 * 5).

    >>> a, c = np.array([1, 1, 1, 0, 0, 0] * 5, bool), np.array([1, 1, 0, 1, 0, 0] * 5, bool)
    >>> o, e, p, odds = size_adjusted_test([size_adjusted_tables(a, c, np.where(c, 3, 2))])
    >>> o.tolist(), e.tolist(), round(float(p[0]), 3), odds.tolist()
    ([10.0], [5.0], 0.075, [4.0])
    >>> t = size_adjusted_tables(np.array([1, 1, 0, 0] * 5, bool), np.array([1, 0, 1, 0] * 5, bool), [3, 3, 3, 3] * 5)
    >>> size_adjusted_test([t])[3].tolist()  # independent
    [1.0]
    """
    if not tables:
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    width = max(len(t[3]) for t in tables)
    arr = np.zeros((4, len(tables), width))
    for i, t in enumerate(tables):
        for j in range(4):
            arr[j, i, :len(t[j])] = t[j]
    n_xy, n_x, n_y, n = arr
    expected = _expected(n_xy, n_x, n_y, n).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ad = (n_xy * (n - n_x - n_y + n_xy) / np.maximum(n, 1)).sum(axis=1)
        bc = ((n_x - n_xy) * (n_y - n_xy) / np.maximum(n, 1)).sum(axis=1)
        odds = np.where(bc > 0, ad / np.where(bc > 0, bc, 1.0), np.where(ad > 0, np.inf, np.nan))
    return n_xy.sum(axis=1), expected, np.asarray(cmh_greater(n_xy, n_x, n_y, n), dtype=float), odds
