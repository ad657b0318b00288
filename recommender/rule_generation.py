"""Frequent itemsets -> every rule, its counts, measures and tests, as numpy arrays (no pandas).

In: the frequent itemsets (ascending tuples of column indices, closed under
subsets, single items included) with their counts, and the baskets they were
mined from (anything with ``n_receipts``, ``n_items``, ``sizes()`` and
``matrix``, or a ``stratum_counter``). Out: :class:`RuleArrays` -- the rules
X -> Y as itemset ids (rows of the itemsets) with the columns of
:data:`recommender.rules.RULE_COLUMNS` other than the labels, filtered by
confidence and lift and sorted by lift then count (descending).

:func:`recommender.rules.association_rules` puts labels on them and makes the
DataFrame; :mod:`recommender.basket_mine` writes them with Arrow, without
ever importing pandas. Significance is computed over the family of *all*
generated rules, before any filter (see :mod:`recommender.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.significance import StratumCounter, bh_qvalues, cmh_greater, fisher_greater, size_strata

__all__ = ["RuleArrays", "rule_arrays", "ItemsetIndex"]

#: The numeric columns of a rule, in the order of :data:`recommender.rules.RULE_COLUMNS`.
NUMERIC_COLUMNS = ("count", "antecedent_count", "consequent_count", "n_receipts", "support", "confidence", "lift",
                   "leverage", "conviction", "kulczynski", "p_value", "q_value", "p_value_cmh", "q_value_cmh",
                   "significant", "redundant")


class ItemsetIndex:
    """Find the row of any itemset (given as sorted column indices), size by size.

    Each itemset of k items is one key: its columns in base ``n_items`` packed
    into an int64 when they fit, else its k int64s as one opaque byte string;
    lookups are a binary search in the sorted keys.

    >>> ix = ItemsetIndex([(0,), (1,), (0, 1)], n_items=2)
    >>> ix.find(np.array([[0, 1], [1, 1]])).tolist(), ix.find(np.array([[1]])).tolist()
    ([2, -1], [1])
    """

    def __init__(self, items: list[tuple], n_items: int):
        self.radix = max(int(n_items), 1)
        self.sizes = np.fromiter((len(t) for t in items), dtype=np.int64, count=len(items))
        self.pos_in_group = np.zeros(len(items), dtype=np.int64)
        self.groups: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for k in np.unique(self.sizes).tolist():
            ids = np.flatnonzero(self.sizes == k)
            rows = np.array([items[i] for i in ids], dtype=np.int64).reshape(len(ids), k)
            keys = self._keys(rows)
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            if len(sorted_keys) > 1 and (sorted_keys[1:] == sorted_keys[:-1]).any():
                raise ValueError("itemsets must be unique")
            self.pos_in_group[ids] = np.arange(len(ids))
            self.groups[k] = (rows, ids, sorted_keys, ids[order])

    def _keys(self, rows: np.ndarray) -> np.ndarray:
        k = rows.shape[1]
        if self.radix ** k < 2 ** 62:
            key = np.zeros(len(rows), dtype=np.int64)
            for j in range(k):
                key = key * self.radix + rows[:, j]
            return key
        return np.ascontiguousarray(rows, dtype=np.int64).view(np.dtype((np.void, 8 * k))).ravel()

    def find(self, rows: np.ndarray) -> np.ndarray:
        """Itemset ids of ``rows`` (n, k); -1 where not frequent."""
        k = rows.shape[1]
        if k not in self.groups or len(rows) == 0:
            return np.full(len(rows), -1, dtype=np.int64)
        _, _, sorted_keys, sorted_ids = self.groups[k]
        keys = self._keys(np.asarray(rows, dtype=np.int64))
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == keys, sorted_ids[pos], -1)

    def rows_of(self, ids: np.ndarray, k: int) -> np.ndarray:
        """Column indices of itemsets ``ids``, all of size ``k``."""
        return self.groups[k][0][self.pos_in_group[ids]]


def check_itemsets(items, n_items: int) -> list[tuple]:
    """The itemsets as tuples of int, checked to be ascending column indices of the baskets."""
    items = [tuple(map(int, t)) for t in items]
    for t in items:
        if not t or any(a >= b for a, b in zip(t, t[1:])) or t[0] < 0 or t[-1] >= n_items:
            raise ValueError(f"itemset {t!r} is not an ascending tuple of column indices of the baskets")
    return items


def generate(index: ItemsetIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every rule X -> Y with X, Y non-empty, disjoint and X | Y frequent, as itemset ids."""
    ant, con, uni = [], [], []
    for k, (rows, ids, _, _) in index.groups.items():
        if k < 2:
            continue
        for mask in range(1, 2 ** k - 1):
            a_cols = [j for j in range(k) if mask >> j & 1]
            c_cols = [j for j in range(k) if not mask >> j & 1]
            ant.append(index.find(rows[:, a_cols]))
            con.append(index.find(rows[:, c_cols]))
            uni.append(ids)
    if not ant:
        return (np.zeros(0, dtype=np.int64),) * 3
    ant, con, uni = (np.concatenate(a) for a in (ant, con, uni))
    if (ant < 0).any() or (con < 0).any():
        raise ValueError("the itemsets are not closed under subsets: pass the full mining output, "
                         "including single items")
    return ant, con, uni


def _lookup(sorted_keys: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Positions (in the unsorted keys) of ``keys``; -1 where absent."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == keys, order[pos], -1)


def redundant(index: ItemsetIndex, ant: np.ndarray, con: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """True where a rule with a smaller antecedent and the same consequent is at least as confident."""
    n_sets = len(index.sizes)
    rule_keys = ant * n_sets + con
    order = np.argsort(rule_keys, kind="stable")
    sorted_keys = rule_keys[order]
    asize = index.sizes[ant]
    # best[i]: highest confidence among rule i and all its generalisations (filled by antecedent size).
    best = confidence.copy()
    out = np.zeros(len(ant), dtype=bool)
    for a in np.unique(asize).tolist():
        if a < 2:
            continue
        sel = np.flatnonzero(asize == a)
        rows = index.rows_of(ant[sel], a)
        sub_best = np.full(len(sel), -np.inf)
        for j in range(a):
            sub = index.find(np.delete(rows, j, axis=1))
            pos = _lookup(sorted_keys, order, np.where(sub >= 0, sub * n_sets + con[sel], -1))
            sub_best = np.maximum(sub_best, np.where(pos >= 0, best[pos], -np.inf))
        out[sel] = sub_best >= confidence[sel]
        best[sel] = np.maximum(confidence[sel], sub_best)
    return out


def measures(n_xy, n_x, n_y, n) -> dict:
    """Rule measures from counts (the same definitions as mlxtend's association_rules)."""
    n_xy, n_x, n_y = (np.asarray(a, dtype=np.int64) for a in (n_xy, n_x, n_y))
    s_xy, s_x, s_y = n_xy / n, n_x / n, n_y / n
    confidence = n_xy / n_x
    with np.errstate(divide="ignore"):
        conviction = np.where(n_xy == n_x, np.inf, (1.0 - s_y) / np.where(n_xy == n_x, 1.0, 1.0 - confidence))
    return {"support": s_xy, "confidence": confidence, "lift": confidence / s_y, "leverage": s_xy - s_x * s_y,
            "conviction": conviction, "kulczynski": (confidence + n_xy / n_y) / 2.0}


def cmh_pvalues(baskets, index: ItemsetIndex, ant, con, uni, counts) -> np.ndarray:
    """One-sided CMH p-values of the rules, basket-size strata (see :mod:`recommender.significance`)."""
    needed = np.unique(np.concatenate([ant, con, uni]))
    columns = np.unique(np.concatenate([index.rows_of(needed[index.sizes[needed] == k], k).ravel()
                                        for k in index.groups]))
    if hasattr(baskets, "stratum_counter"):  # baskets in a cluster bring their per-band counts (recommender.spark)
        counter = baskets.stratum_counter(columns)
    else:
        strata, _ = size_strata(baskets.sizes())
        counter = StratumCounter(baskets.matrix, strata, columns=columns)
    per_stratum = np.zeros((len(index.sizes), len(counter.stratum_sizes)), dtype=np.int64)
    for k in index.groups:
        ids = needed[index.sizes[needed] == k]
        if len(ids):
            per_stratum[ids] = counter.counts(index.rows_of(ids, k))
    if not np.array_equal(per_stratum[needed].sum(axis=1), counts[needed]):
        raise ValueError("the itemset counts do not match the baskets: were they mined from these baskets?")
    return cmh_greater(per_stratum[uni], per_stratum[ant], per_stratum[con], counter.stratum_sizes)


@dataclass
class RuleArrays:
    """Rules as itemset ids (``antecedent``, ``consequent``) and their columns (:data:`NUMERIC_COLUMNS`)."""

    antecedent: np.ndarray
    consequent: np.ndarray
    columns: dict

    def __len__(self) -> int:
        return len(self.antecedent)

    def take(self, rows: np.ndarray) -> RuleArrays:
        """The rules at ``rows`` (positions or a boolean mask), in that order."""
        return RuleArrays(self.antecedent[rows], self.consequent[rows], {k: v[rows] for k, v in self.columns.items()})


def rule_arrays(items, counts, baskets, *, min_confidence: float = 0.1, min_lift: float | None = None,
                fdr: float = 0.05, stratify: bool = True, excluded: np.ndarray | None = None,
                progress=None) -> RuleArrays:
    """Every rule of the itemsets, tested, then filtered by confidence and lift and sorted.

    Parameters
    ----------
    items : list of tuple of int
        Frequent itemsets as ascending column indices (closed under subsets).
    counts : array of int
        Their counts.
    baskets
        The baskets they were mined from.
    min_confidence, min_lift, fdr, stratify
        As in :func:`recommender.rules.association_rules`.
    excluded : array of bool, optional
        Per itemset: rules whose union is such an itemset are left out before
        testing (an item together with its own ancestor).
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    RuleArrays
        Sorted by lift, then count (both descending; ties keep generation order).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from recommender.baskets import Baskets
    >>> m = sp.csr_array(np.array([[1, 1], [1, 1], [1, 1], [0, 0]], dtype=bool))
    >>> b = Baskets(matrix=m, receipts=np.arange(4), items=np.array(["a", "b"]))
    >>> r = rule_arrays([(0,), (1,), (0, 1)], [3, 3, 3], b)
    >>> r.antecedent.tolist(), r.consequent.tolist(), r.columns["lift"].round(3).tolist()
    ([0, 1], [1, 0], [1.333, 1.333])
    """
    report = progress or (lambda done, total, message: None)
    total = 4
    items = check_itemsets(items, baskets.n_items)
    counts = np.asarray(counts, dtype=np.int64)
    n = int(baskets.n_receipts)
    report(0, total, "generating rules")
    index = ItemsetIndex(items, baskets.n_items)
    ant, con, uni = generate(index)
    if excluded is not None and len(uni):
        keep = ~np.asarray(excluded, dtype=bool)[uni]
        ant, con, uni = ant[keep], con[keep], uni[keep]
    if len(uni) == 0:
        report(total, total, "no rules")
        empty = np.zeros(0, dtype=np.int64)
        columns = {c: np.zeros(0, dtype=bool if c in ("significant", "redundant") else
                               np.int64 if c.endswith("count") or c == "n_receipts" else float)
                   for c in NUMERIC_COLUMNS}
        return RuleArrays(empty, empty.copy(), columns)
    n_xy, n_x, n_y = counts[uni], counts[ant], counts[con]
    measured = measures(n_xy, n_x, n_y, n)
    report(1, total, f"testing {len(uni):,} rules (Fisher)")
    p = fisher_greater(n_xy, n_x, n_y, n)
    p_cmh = np.full(len(uni), np.nan)
    if stratify:
        report(2, total, "counting itemsets per basket-size band")
        p_cmh = cmh_pvalues(baskets, index, ant, con, uni, counts)
    report(3, total, "flagging redundant rules")
    flags = redundant(index, ant, con, measured["confidence"])
    q, q_cmh = bh_qvalues(p), bh_qvalues(p_cmh)
    columns = {"count": n_xy, "antecedent_count": n_x, "consequent_count": n_y,
               "n_receipts": np.full(len(uni), n, dtype=np.int64), **measured,
               "p_value": p, "q_value": q, "p_value_cmh": p_cmh, "q_value_cmh": q_cmh,
               "significant": (q_cmh if stratify else q) <= fdr, "redundant": flags}
    keep = measured["confidence"] >= min_confidence
    if min_lift is not None:
        keep &= measured["lift"] >= min_lift
    rules = RuleArrays(ant, con, columns).take(np.flatnonzero(keep))
    # lift then count, both descending; np.lexsort is stable, so ties keep their order
    order = np.lexsort((-rules.columns["count"], -rules.columns["lift"]))
    report(total, total, f"{len(order):,} rules")
    return rules.take(order)
