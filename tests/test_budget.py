"""The rule estimate before mining (recommender/mining/budget.py): exact items and pairs, an upper bound on rules
of up to three items, and the default threshold is the smallest within the budget."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.mining import frequent_itemsets
from recommender.mining.budget import default_min_count, estimate_rules


def _matrix(seed: int, n: int, m: int, p: float):
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)) < rng.uniform(0.2, 1.0, m) * p  # items of unequal popularity
    return sp.csr_array(dense)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 200), m=st.integers(3, 25), p=st.floats(0.05, 0.6),
       min_count=st.integers(1, 30))
def test_items_and_pairs_exact_and_rules_bounded(seed, n, m, p, min_count):
    matrix = _matrix(seed, n, m, p)
    est = estimate_rules(matrix, min_count, max_len=3)
    sets = frequent_itemsets(matrix, min_count, max_len=3)
    sizes = sets["items"].map(len).to_numpy()
    assert est.items == int((sizes == 1).sum())
    assert est.pairs == int((sizes == 2).sum())
    assert est.triple_candidates >= int((sizes == 3).sum())
    assert est.rules >= int(2 * (sizes == 2).sum() + 6 * (sizes == 3).sum())
    assert estimate_rules(matrix, min_count, max_len=2).rules == 2 * est.pairs


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), budget=st.integers(0, 400))
def test_default_is_the_smallest_threshold_within_budget(seed, budget):
    matrix = _matrix(seed, 150, 20, 0.5)
    pick = default_min_count(matrix, budget=budget)
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    if pick.rules > budget:  # nothing fits: the best seller's count, the highest useful threshold
        assert pick.min_count == counts.max()
        return
    below = estimate_rules(matrix, pick.min_count - 1) if pick.min_count > 2 else None
    # within 2 % of the smallest (bisection stops there), and never over the budget
    assert below is None or below.rules > budget or pick.min_count - 1 <= 0.02 * pick.min_count + 1
