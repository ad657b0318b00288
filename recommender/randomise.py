"""Null models for baskets: randomised copies to check that significance holds.

In: :class:`recommender.baskets.Baskets`. Out: a new Baskets with the same
receipts and items but randomised contents.

- :func:`permute_items` keeps every item's frequency and draws its receipts
  anew, uniformly: items become independent (basket sizes change).
- :func:`swap_randomise` keeps every item's frequency *and* every receipt's
  size (the "global curveball" algorithm of Carstens et al., 2018): items are
  independent given basket sizes, but popular items still co-occur in big
  baskets. A test that ignores basket size calls many such pairs associated;
  one stratified by size should not.

A rule set mined from real receipts should shrink to (almost) nothing on
either copy at the same thresholds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp


def _with_entries(baskets, rows: np.ndarray, cols: np.ndarray):
    coo = sp.coo_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=baskets.matrix.shape)
    matrix = coo.tocsr()
    matrix.sum_duplicates()
    matrix.sort_indices()
    return dataclasses.replace(baskets, matrix=matrix)


def permute_items(baskets, seed=None):
    """Redraw each item's receipts uniformly at random, keeping its count.

    Examples
    --------
    >>> import pandas as pd
    >>> from recommender.baskets import build_baskets
    >>> b = build_baskets(pd.DataFrame({"receipt_id": list("112233"), "sku": list("abacbc")}))
    >>> p = permute_items(b, seed=1)
    >>> p.item_counts().tolist() == b.item_counts().tolist()
    True
    """
    rng = np.random.default_rng(seed)
    n = baskets.n_receipts
    counts = baskets.item_counts().to_numpy(dtype=np.int64)
    rows = [rng.choice(n, size=int(c), replace=False) for c in counts]
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    cols = np.repeat(np.arange(len(counts)), counts)
    return _with_entries(baskets, rows, cols)


def swap_randomise(baskets, rounds: int = 20, seed=None):
    """Randomise baskets keeping every receipt's size and every item's count.

    Each round pairs all receipts at random and, for every pair, deals the
    items that only one of the two receipts holds back out at random (the two
    receipts keep their sizes; shared items stay in both): one "global
    curveball" round, vectorised over all pairs.

    Parameters
    ----------
    baskets : Baskets
    rounds : int
        Number of rounds; each trades every receipt once.
    seed : int or Generator, optional

    Examples
    --------
    >>> import pandas as pd
    >>> from recommender.baskets import build_baskets
    >>> b = build_baskets(pd.DataFrame({"receipt_id": list("1122334"), "sku": list("abcdabe")}))
    >>> s = swap_randomise(b, seed=3)
    >>> (s.sizes() == b.sizes()).all(), s.item_counts().tolist() == b.item_counts().tolist()
    (np.True_, True)
    """
    rng = np.random.default_rng(seed)
    coo = baskets.matrix.tocoo()
    rows, cols = coo.coords[0].astype(np.int64), coo.coords[1].astype(np.int64)
    n = baskets.n_receipts
    n_pairs = n // 2
    for _ in range(rounds):
        if n_pairs == 0:
            break
        perm = rng.permutation(n)
        pair_rows = perm[:2 * n_pairs].reshape(n_pairs, 2)
        pair = np.full(n, -1, dtype=np.int64)
        side = np.zeros(n, dtype=np.int64)
        pair[pair_rows[:, 0]], pair[pair_rows[:, 1]] = np.arange(n_pairs), np.arange(n_pairs)
        side[pair_rows[:, 1]] = 1
        pr, sd = pair[rows], side[rows]
        paired = np.flatnonzero(pr >= 0)
        # An item held by both receipts of a pair appears twice in a row once sorted by (pair, item).
        order = paired[np.lexsort((cols[paired], pr[paired]))]
        same = (pr[order][1:] == pr[order][:-1]) & (cols[order][1:] == cols[order][:-1])
        shared = np.zeros(len(order), dtype=bool)
        shared[1:] |= same
        shared[:-1] |= same
        free = order[~shared]
        if free.size == 0:
            continue
        fp = pr[free]
        # Shuffle each pair's free items, then the first "as many as receipt 0 had" go to receipt 0.
        free = free[np.lexsort((rng.random(free.size), fp))]
        fp = pr[free]
        n_side0 = np.bincount(fp[sd[free] == 0], minlength=n_pairs)
        group_start = np.searchsorted(fp, fp, side="left")
        rank = np.arange(free.size) - group_start
        new_side = (rank >= n_side0[fp]).astype(np.int64)
        rows[free] = pair_rows[fp, new_side]
    return _with_entries(baskets, rows, cols)
