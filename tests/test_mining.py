"""Frequent itemset engines against brute force and against mlxtend on real data."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recommender import mining
from recommender.baskets import BoolRows
from recommender.mining import ThresholdTooLow, fast, frequent_itemsets, min_count_for, small

RETAIL = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "online_retail.csv.gz"


def brute_force(dense: np.ndarray, min_count: int, max_len=None) -> dict:
    """Every subset of columns, counted directly."""
    n_items = dense.shape[1]
    found = {}
    for k in range(1, (max_len or n_items) + 1):
        for combo in itertools.combinations(range(n_items), k):
            count = int(dense[:, list(combo)].all(axis=1).sum())
            if count >= min_count:
                found[combo] = count
    return found


def as_dict(df: pd.DataFrame) -> dict:
    return dict(zip(df["items"], (int(c) for c in df["count"])))


small_matrices = st.integers(1, 8).flatmap(
    lambda m: st.integers(0, 30).flatmap(lambda n: arrays(bool, (n, m))))
thresholds = st.integers(1, 8)
lengths = st.one_of(st.none(), st.integers(1, 8))


def small_path(matrix, min_count, max_len=None, **kw):
    """The numpy-only path of the fast engine, called directly (whatever the selection rule says)."""
    return small.mine(mining.as_bool_csr(matrix), min_count, max_len=max_len, **kw)


def numba_path(matrix, min_count, max_len=None, **kw):
    """The numba miner of the fast engine, called directly."""
    return fast.mine(mining.as_bool_csr(matrix), min_count, max_len=max_len, **kw)


def numba_path_words(words):
    """The numba miner with subtrees of nodes up to 64 x ``words`` receipts mined on bitsets (0: never)."""
    def mine(matrix, min_count, max_len=None, **kw):
        saved, fast.BITSET_WORDS = fast.BITSET_WORDS, words
        try:
            return numba_path(matrix, min_count, max_len=max_len, **kw)
        finally:
            fast.BITSET_WORDS = saved
    return mine


def bare_path(matrix, min_count, max_len=None, **kw):
    """The numpy path on bare CSR arrays (recommender.baskets.BoolRows): pairs counted by numpy, no scipy."""
    m = mining.as_bool_csr(matrix)
    return small.mine(BoolRows(m.indptr, m.indices, m.shape), min_count, max_len=max_len, **kw)


def auto_fast(matrix, min_count, max_len=None, **kw):
    return frequent_itemsets(matrix, min_count, max_len=max_len, engine="fast", **kw)


PATHS = pytest.mark.parametrize("mine", [auto_fast, small_path, bare_path, numba_path, numba_path_words(0)],
                                ids=["auto", "numpy", "numpy-bare", "numba", "numba-no-bitsets"])


@PATHS
@settings(max_examples=300, deadline=None)
@given(dense=small_matrices, min_count=thresholds, max_len=lengths)
def test_fast_engine_equals_brute_force(mine, dense, min_count, max_len):
    df = mine(sp.csr_array(dense), min_count, max_len=max_len)
    assert as_dict(df) == brute_force(dense, min_count, max_len)
    assert len(as_dict(df)) == len(df)  # no duplicate itemsets
    assert list(df["items"]) == sorted(df["items"], key=lambda t: (len(t), t))
    assert all(list(t) == sorted(t) and all(isinstance(i, int) for i in t) for t in df["items"])
    assert df["count"].dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(dense=small_matrices, min_count=thresholds, max_len=lengths)
def test_mlxtend_engine_equals_brute_force(dense, min_count, max_len):
    df = frequent_itemsets(sp.csr_array(dense), min_count, max_len=max_len, engine="mlxtend")
    assert as_dict(df) == brute_force(dense, min_count, max_len)
    assert list(df["items"]) == sorted(df["items"], key=lambda t: (len(t), t))


@PATHS
@settings(max_examples=40, deadline=None)
@given(dense=arrays(bool, (40, 14)), min_count=st.integers(1, 12), max_len=lengths)
def test_dense_long_itemsets_match_brute_force(mine, dense, min_count, max_len):
    # wider than the other cases, so that long itemsets and perfect extensions occur
    dense = dense | (np.arange(14) < 6)[None, :] & (np.arange(40) % 3 == 0)[:, None]
    df = mine(sp.csr_array(dense), min_count, max_len=max_len)
    assert as_dict(df) == brute_force(dense, min_count, max_len)
    assert list(df["items"]) == sorted(df["items"], key=lambda t: (len(t), t))


@settings(max_examples=30, deadline=None)
@given(dense=arrays(bool, (150, 10)), min_count=st.integers(1, 20))
def test_numpy_path_spans_several_bit_words(dense, min_count):
    # 150 receipts = 3 words of 64 bits, so receipts past the first word must be counted too
    dense = dense | (np.arange(10) < 4)[None, :] & (np.arange(150) % 7 == 0)[:, None]
    expected = brute_force(dense, min_count)
    assert as_dict(small_path(sp.csr_array(dense), min_count)) == expected


@pytest.mark.parametrize("words", [1, 2, 16])
@settings(max_examples=30, deadline=None)
@given(dense=arrays(bool, (150, 10)), min_count=st.integers(1, 20), max_len=lengths)
def test_numba_bitset_subtrees_span_several_words(words, dense, min_count, max_len):
    # 150 receipts: with 1 word the big nodes are projected and the small ones go to bitsets,
    # with 2 and 16 words a node's receipts span several words
    dense = dense | (np.arange(10) < 4)[None, :] & (np.arange(150) % 7 == 0)[:, None]
    df = numba_path_words(words)(sp.csr_array(dense), min_count, max_len=max_len)
    assert as_dict(df) == brute_force(dense, min_count, max_len)


def test_numpy_path_counts_pairs_across_item_blocks():
    # more items than one block of co-occurrence counts (256): pairs spanning blocks must be found
    rng = np.random.default_rng(5)
    dense = rng.random((400, 700)) < 0.02
    dense[:40, [3, 300, 650]] = True  # a triple spread over three blocks
    m = sp.csr_array(dense)
    got = small_path(m, 3)
    assert got.equals(numba_path(m, 3))
    assert (3, 300, 650) in set(got["items"])


@pytest.mark.parametrize("bins, instances", [(1 << 22, 20_000_000), (0, 20_000_000), (1 << 22, 0)],
                         ids=["one-count-array", "sorted-keys", "falls-back-to-scipy"])
def test_numpy_pair_count_equals_the_sparse_product(monkeypatch, bins, instances):
    # the plan from bare CSR arrays (numpy pairs) equals the plan from scipy's X.T @ X, bit rows included
    monkeypatch.setattr(small, "MAX_PAIR_BINS", bins)
    monkeypatch.setattr(small, "MAX_PAIR_INSTANCES", instances)
    rng = np.random.default_rng(11)
    dense = rng.random((700, 300)) < 0.03
    dense[:60, [5, 150, 290]] = True
    m = sp.csr_array(dense)
    for min_count in (2, 4, 9):
        a = small.plan(m, min_count, rule=False)
        b = small.plan(BoolRows(m.indptr, m.indices, m.shape), min_count, rule=False)
        for name in ("rank_to_col", "single_counts", "pair_a", "pair_b", "pair_counts", "bits"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert a.pair_counts.size > 0


def test_small_problem_is_mined_without_importing_numba():
    # the automatic choice must decide before importing numba (it costs ~100 MB)
    code = (
        "import sys\n"
        "import numpy as np, scipy.sparse as sp\n"
        "from recommender.mining import frequent_itemsets\n"
        "rng = np.random.default_rng(0)\n"
        "m = sp.csr_array(rng.random((500, 30)) < 0.2)\n"
        "df = frequent_itemsets(m, 10)\n"
        "assert (df['items'].map(len) >= 3).any()\n"
        "print('numba' in sys.modules)\n")
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert res.stdout.strip() == "False"


def test_large_problem_goes_to_numba_with_the_same_answer():
    # more frequent pairs than the numpy path's bound: the rule rejects it before any search
    n = int(np.sqrt(2 * small.MAX_PAIRS)) + 2  # n * (n - 1) / 2 pairs > MAX_PAIRS
    m = sp.csr_array(np.ones((50, n), dtype=bool))
    assert small.plan(mining.as_bool_csr(m), 1, max_len=2) is None
    df = frequent_itemsets(m, 1, max_len=2)
    assert len(df) == n + n * (n - 1) // 2
    assert as_dict(df) == as_dict(small_path(m, 1, max_len=2))


def test_numpy_path_gives_up_past_its_itemset_bound():
    # few items and pairs pass the rule, but 2^16 - 1 itemsets exceed MAX_ITEMSETS: numba takes over
    m = sp.csr_array(np.ones((3, 16), dtype=bool))
    assert small.plan(mining.as_bool_csr(m), 1) is not None
    assert small.try_mine(mining.as_bool_csr(m), 1, None, None, 10**9, 10**12) is None
    df = frequent_itemsets(m, 1)
    assert len(df) == 2**16 - 1 and (df["count"] == 3).all()


def test_numpy_path_threshold_guard():
    m = dense_ish()
    with pytest.raises(ThresholdTooLow) as err:
        small_path(m, 1, max_itemsets=20_000)
    suggestion = err.value.suggested_min_count
    assert suggestion > 1 and f"min_count >= {suggestion}" in str(err.value)
    with pytest.raises(ThresholdTooLow, match="at least 45,150"):
        small_path(sp.csr_array(np.ones((5, 300), dtype=bool)), 1, max_len=2, max_itemsets=1_000)
    with pytest.raises(ThresholdTooLow, match="memory budget"):
        small_path(dense_ish(seed=1), 1, memory_budget=mining.BYTES_PER_ITEMSET * 10_000)


def test_any_sparse_input_is_canonicalised():
    # duplicates, an explicitly stored False and unsorted indices: same answer as the clean matrix
    rows, cols = [0, 0, 0, 1, 1, 2, 2], [2, 0, 2, 0, 1, 1, 2]
    data = [True, True, True, True, False, True, True]
    messy = sp.csr_matrix((data, (rows, cols)), shape=(3, 3))
    clean = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=bool)
    assert as_dict(frequent_itemsets(messy, 1)) == brute_force(clean, 1)


def test_min_count_for_forgives_float_noise():
    assert 0.28 * 25 > 7  # 7.000000000000001 in floats, so a plain ceil would say 8
    assert math.ceil(0.28 * 25) == 8
    assert min_count_for(0.28, 25) == 7
    assert min_count_for(0.1, 30) == 3  # 3.0000000000000004
    assert min_count_for(0.281, 25) == 8  # 7.025 -> 8
    assert min_count_for(1.0, 25) == 25
    assert min_count_for(1e-12, 25) == 1  # never 0: an itemset must occur
    assert min_count_for(0.5, 0) == 1


def test_threshold_is_exact_where_mlxtend_float_rounding_is_not():
    # mlxtend turns min_support into a count with math.ceil(min_support * n) for its
    # conditional trees: 0.28 x 100 = 28.000000000000004 -> 29, so pairs in exactly 28
    # of 100 receipts are lost (while singles in 28 are kept)
    from mlxtend.frequent_patterns import fpgrowth

    assert math.ceil(0.28 * 100) == 29
    dense = np.zeros((100, 3), dtype=bool)
    dense[:28, 0] = True
    dense[:40, 1] = True
    dense[10:38, 2] = True
    raw = fpgrowth(pd.DataFrame(dense), min_support=0.28)
    raw_sets = {tuple(sorted(int(i) for i in s)) for s in raw["itemsets"]}
    assert (0, 1) not in raw_sets and (0,) in raw_sets
    c = min_count_for(0.28, 100)
    assert c == 28
    expected = brute_force(dense, 28)
    assert expected[(0, 1)] == 28 and expected[(1, 2)] == 28
    assert as_dict(frequent_itemsets(sp.csr_array(dense), c)) == expected
    assert as_dict(frequent_itemsets(sp.csr_array(dense), c, engine="mlxtend")) == expected


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan")])
def test_min_count_for_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        min_count_for(bad, 10)


def test_bad_arguments_are_rejected():
    m = sp.csr_array(np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match="fast.*mlxtend"):
        frequent_itemsets(m, 1, engine="nope")
    with pytest.raises(ValueError, match="min_count"):
        frequent_itemsets(m, 0)
    with pytest.raises(ValueError, match="max_len"):
        frequent_itemsets(m, 1, max_len=0)
    with pytest.raises(TypeError):
        frequent_itemsets(np.eye(3, dtype=bool), 1)


def test_registered_engine_is_used(monkeypatch):
    calls = []

    def engine(matrix, min_count, max_len, progress, max_itemsets, memory_budget):
        calls.append((matrix.shape, min_count, max_len))
        return pd.DataFrame({"items": [(1,), (0,)], "count": np.array([1, 2], dtype=np.int64)})

    monkeypatch.setitem(mining._ENGINES, "spark", (engine, False))
    assert "spark" in mining.engine_names()
    df = frequent_itemsets(sp.csr_array(np.eye(2, dtype=bool)), 1, max_len=3, engine="spark")
    assert calls == [((2, 2), 1, 3)]
    assert list(df["items"]) == [(0,), (1,)]  # the caller sorts an engine's rows


def test_empty_inputs():
    for shape in [(0, 0), (0, 4), (5, 0)]:
        df = frequent_itemsets(sp.csr_array(shape, dtype=bool), 1)
        assert len(df) == 0 and list(df.columns) == ["items", "count"]
    df = frequent_itemsets(sp.csr_array(np.eye(3, dtype=bool)), 2)
    assert len(df) == 0


def test_progress_reaches_the_end():
    rng = np.random.default_rng(3)
    dense = rng.random((300, 40)) < 0.2
    calls = []
    frequent_itemsets(sp.csr_array(dense), 5, progress=lambda d, t, msg: calls.append((d, t, msg)))
    assert calls and calls[-1][0] == calls[-1][1] > 0
    assert all(isinstance(m, str) for _, _, m in calls)


def dense_ish(n=120, m=40, seed=0):
    rng = np.random.default_rng(seed)
    return sp.csr_array(rng.random((n, m)) < 0.8)


def test_threshold_too_low_is_raised_with_a_working_suggestion():
    # 0.8 density over 40 items: min_count 1 would mean ~2^40 itemsets
    m = dense_ish()
    with pytest.raises(ThresholdTooLow) as err:
        frequent_itemsets(m, 1, max_itemsets=200_000)
    suggestion = err.value.suggested_min_count
    assert suggestion > 1
    assert f"min_count >= {suggestion}" in str(err.value)
    # the suggestion is verified: mining at it fits the limit
    assert 0 < len(frequent_itemsets(m, suggestion, max_itemsets=200_000)) <= 200_000


def test_threshold_too_low_caught_from_pairs_before_searching():
    # 300 items all in every receipt: 300 singles + 44,850 pairs, over a limit of 1,000
    m = sp.csr_array(np.ones((5, 300), dtype=bool))
    with pytest.raises(ThresholdTooLow) as err:
        frequent_itemsets(m, 1, max_len=2, max_itemsets=1_000)
    assert "at least 45,150" in str(err.value)
    assert err.value.suggested_min_count == 6  # nothing can be frequent above 5 receipts


def test_memory_budget_limits_the_output():
    m = dense_ish(seed=1)
    with pytest.raises(ThresholdTooLow, match="memory budget"):
        frequent_itemsets(m, 1, memory_budget=mining.BYTES_PER_ITEMSET * 10_000)


# --------------------------------------------------------------------------- real data

def retail_baskets() -> sp.csr_array:
    """Online Retail invoices x StockCode, built here with plain pandas (not the project loader)."""
    if not RETAIL.exists():
        pytest.skip(f"{RETAIL} not available")
    df = pd.read_csv(RETAIL, usecols=["InvoiceNo", "StockCode", "Quantity"],
                     dtype={"InvoiceNo": str, "StockCode": str})
    df = df[~df["InvoiceNo"].str.startswith("C") & (df["Quantity"] > 0)]
    df = df.drop_duplicates(["InvoiceNo", "StockCode"])
    rows, _ = pd.factorize(df["InvoiceNo"])
    cols, _ = pd.factorize(df["StockCode"])
    return sp.csr_array((np.ones(len(rows), dtype=bool), (rows, cols)))


@pytest.mark.slow
@pytest.mark.parametrize("min_support", [0.02, 0.01])
def test_online_retail_matches_mlxtend(min_support):
    from mlxtend.frequent_patterns import fpgrowth

    m = retail_baskets()
    n = m.shape[0]
    # away from a whole number, mlxtend's float threshold and ours cannot disagree
    assert abs(min_support * n - round(min_support * n)) > 1e-6
    frame = pd.DataFrame.sparse.from_spmatrix(m, columns=range(m.shape[1]))
    raw = fpgrowth(frame, min_support=min_support)
    expected = {tuple(sorted(int(i) for i in s)): int(round(sup * n))
                for s, sup in zip(raw["itemsets"], raw["support"])}
    got = frequent_itemsets(m, min_count_for(min_support, n), engine="fast")
    assert len(expected) > 100 and max(map(len, expected)) >= 3
    assert as_dict(got) == expected
