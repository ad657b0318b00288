"""Rules from itemset counts: measures, significance, redundancy, substitutes, slices."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from recommender.baskets import Baskets, build_baskets
from recommender.randomise import permute_items, swap_randomise
from recommender.rules import (RULE_COLUMNS, SUBSTITUTE_COLUMNS, association_rules, compare_rules,
                               drop_ancestor_rules, filter_rules, substitutes)
from recommender.significance import StratumCounter, bh_qvalues, cmh_greater, size_strata


# ------------------------------------------------------------------------------------------------ helpers

def mine(matrix, min_count, max_len=None) -> pd.DataFrame:
    """Brute-force level-wise miner (small data only): the reference for the rules."""
    dense = sp.csr_array(matrix).toarray().astype(bool)
    counts = dense.sum(axis=0)
    level = [(i,) for i in np.flatnonzero(counts >= min_count).tolist()]
    found = {t: int(counts[t[0]]) for t in level}
    k = 1
    while level and (max_len is None or k < max_len):
        singles = sorted({i for t in level for i in t})
        nxt = []
        for t in level:
            for i in singles:
                if i > t[-1]:
                    cand = t + (i,)
                    if all(sub in found for sub in itertools.combinations(cand, k)):
                        c = int(dense[:, list(cand)].all(axis=1).sum())
                        if c >= min_count:
                            found[cand] = c
                            nxt.append(cand)
        level, k = nxt, k + 1
    return pd.DataFrame({"items": list(found), "count": np.array(list(found.values()), dtype=np.int64)})


def baskets_from_dense(dense, labels=None) -> Baskets:
    m = sp.csr_array(np.asarray(dense, dtype=bool))
    m.sort_indices()
    n, k = m.shape
    labels = labels if labels is not None else [f"i{j:03d}" for j in range(k)]
    return Baskets(matrix=m, receipts=pd.Index([f"r{i:06d}" for i in range(n)], dtype="string"),
                   items=pd.Index(labels, dtype="string"))


def baskets_from_sets(receipts: list[str]) -> Baskets:
    """'abc' -> one receipt holding items a, b, c."""
    rows = [(str(i), ch) for i, r in enumerate(receipts) for ch in r]
    return build_baskets(pd.DataFrame(rows, columns=["receipt_id", "sku"]))


def random_baskets(seed, n=400, k=10) -> Baskets:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.6, k)
    dense = rng.random((n, k)) < p
    # Some dependence so that confidences differ from supports.
    dense[:, 1] |= dense[:, 0] & (rng.random(n) < 0.5)
    dense[:, 3] |= dense[:, 2] & dense[:, 1] & (rng.random(n) < 0.7)
    return baskets_from_dense(dense)


def synthetic(n_receipts=20_000, n_items=200, planted=((3, 40), (10, 77), (25, 120), (50, 150), (90, 180)),
              seed=0) -> Baskets:
    """Receipts of 1..40 items drawn without replacement with Zipf popularity, plus planted pairs.

    For every planted pair (a, b), half of the receipts holding a also get b.
    """
    rng = np.random.default_rng(seed)
    sizes = np.clip(np.round(np.exp(rng.uniform(0, np.log(40), n_receipts))), 1, 40).astype(int)
    weights = 1.0 / np.arange(1, n_items + 1)
    # Gumbel top-k: the first `size` items by log-weight + Gumbel noise are a weighted draw without replacement.
    order = np.argsort(-(np.log(weights)[None, :] + rng.gumbel(size=(n_receipts, n_items))), axis=1)
    dense = np.zeros((n_receipts, n_items), dtype=bool)
    take = np.arange(n_items)[None, :] < sizes[:, None]
    dense[np.repeat(np.arange(n_receipts), sizes), order[take]] = True
    for a, b in planted:
        dense[dense[:, a] & (rng.random(n_receipts) < 0.5), b] = True
    return baskets_from_dense(dense)


def pairs_only(matrix, min_count) -> pd.DataFrame:
    """Frequent items and pairs via a sparse X.T @ X (fast enough for the 20k-receipt tests)."""
    x = sp.csc_array(matrix, dtype=np.int64)
    counts = np.asarray(x.sum(axis=0)).ravel()
    co = sp.triu(sp.coo_array(x.T @ x), k=1).tocoo()
    keep = co.data >= min_count
    ii, jj, cc = co.coords[0][keep], co.coords[1][keep], co.data[keep]
    order = np.lexsort((jj, ii))
    items = [(i,) for i in np.flatnonzero(counts >= min_count).tolist()]
    items += list(zip(ii[order].tolist(), jj[order].tolist()))
    cnt = np.concatenate([counts[counts >= min_count], cc[order]]).astype(np.int64)
    return pd.DataFrame({"items": items, "count": cnt})


def rule_keys(rules) -> list:
    return list(zip(rules["antecedents"], rules["consequents"]))


# ------------------------------------------------------------------------------------------------ measures

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_measures_equal_mlxtend(seed):
    from mlxtend.frequent_patterns import association_rules as mlx_rules

    b = random_baskets(seed)
    sets = mine(b.matrix, min_count=20)
    n = b.n_receipts
    labels = np.asarray(b.items, dtype=object)
    mlx_in = pd.DataFrame({"support": sets["count"] / n,
                           "itemsets": [frozenset(labels[list(t)]) for t in sets["items"]]})
    ref = mlx_rules(mlx_in, num_itemsets=n, metric="confidence", min_threshold=0.3)
    ours = association_rules(sets, b, min_confidence=0.3)
    assert len(ref) > 20 and len(ours) == len(ref)
    ref = ref.assign(key=[(tuple(sorted(a)), tuple(sorted(c))) for a, c in zip(ref["antecedents"], ref["consequents"])])
    ours = ours.assign(key=rule_keys(ours))
    both = ours.merge(ref.drop(columns=["antecedents", "consequents"]), on="key", suffixes=("", "_mlx"))
    assert len(both) == len(ref)
    for ours_col, ref_col in [("support", "support_mlx"), ("confidence", "confidence_mlx"), ("lift", "lift_mlx"),
                              ("leverage", "leverage_mlx"), ("conviction", "conviction_mlx"),
                              ("kulczynski", "kulczynski_mlx")]:
        np.testing.assert_allclose(both[ours_col], both[ref_col], rtol=1e-9, atol=1e-12, err_msg=ours_col)
    np.testing.assert_allclose(both["antecedent_count"] / n, both["antecedent support"], rtol=1e-12)
    np.testing.assert_allclose(both["consequent_count"] / n, both["consequent support"], rtol=1e-12)


def test_conviction_is_inf_when_confidence_is_one():
    b = baskets_from_sets(["ab", "ab", "b", "c"])
    r = association_rules(mine(b.matrix, 1), b, min_confidence=0.0).set_index(["antecedents", "consequents"])
    assert r.loc[(("a",), ("b",)), "confidence"] == 1.0
    assert np.isinf(r.loc[(("a",), ("b",)), "conviction"])


def test_every_split_of_every_itemset_is_a_rule_with_its_counts():
    b = random_baskets(5)
    sets = mine(b.matrix, min_count=15)
    r = association_rules(sets, b, min_confidence=0.0)
    expected = sum(2 ** len(t) - 2 for t in sets["items"])
    assert len(r) == expected
    assert set(r.columns) == set(RULE_COLUMNS)
    assert (r["consequents"].map(len) > 1).any()
    ref = b.as_sets()
    for _, row in r.sample(25, random_state=0).iterrows():
        x, y = set(row["antecedents"]), set(row["consequents"])
        assert not x & y
        assert row["count"] == sum(1 for s in ref if x | y <= s)
        assert row["antecedent_count"] == sum(1 for s in ref if x <= s)
        assert row["consequent_count"] == sum(1 for s in ref if y <= s)


def test_p_value_is_fisher_exact_greater():
    b = random_baskets(3)
    r = association_rules(mine(b.matrix, 15), b, min_confidence=0.0)
    n = b.n_receipts
    for _, row in r.sample(40, random_state=1).iterrows():
        nxy, nx, ny = row["count"], row["antecedent_count"], row["consequent_count"]
        table = [[nxy, nx - nxy], [ny - nxy, n - nx - ny + nxy]]
        expected = stats.fisher_exact(table, alternative="greater").pvalue
        assert row["p_value"] == pytest.approx(expected, rel=1e-9, abs=1e-300)


_FULL = {}


def _full_rules(seed):
    if seed not in _FULL:
        b = random_baskets(seed)
        _FULL[seed] = (b, mine(b.matrix, 15), association_rules(mine(b.matrix, 15), b, min_confidence=0.0))
    return _FULL[seed]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(min_confidence=st.floats(0.0, 1.0), min_lift=st.one_of(st.none(), st.floats(0.5, 3.0)))
def test_q_values_do_not_depend_on_filters(min_confidence, min_lift):
    b, sets, full = _full_rules(7)
    some = association_rules(sets, b, min_confidence=min_confidence, min_lift=min_lift)
    assert (some["confidence"] >= min_confidence).all()
    merged = some.merge(full, on=["antecedents", "consequents"], suffixes=("", "_full"))
    assert len(merged) == len(some)
    for col in ["q_value", "q_value_cmh", "significant", "redundant"]:
        assert (merged[col] == merged[f"{col}_full"]).all(), col


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60))
def test_bh_equals_scipy(p):
    np.testing.assert_allclose(bh_qvalues(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12)


def test_bh_keeps_nan_out_of_the_family():
    q = bh_qvalues([0.01, np.nan, 0.02])
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2]], stats.false_discovery_control([0.01, 0.02]))


def test_redundancy_on_a_handmade_case():
    # n_a=9, n_b=9, n_c=12, n_ab=5, n_ac=8, n_bc=4, n_abc=4.
    b = baskets_from_sets(["abc"] * 4 + ["ab"] + ["ac"] * 4 + ["b"] * 4 + ["c"] * 4)
    r = association_rules(mine(b.matrix, 1), b, min_confidence=0.0).set_index(["antecedents", "consequents"])
    flag = r["redundant"]
    # ab -> c: 4/5 < a -> c: 8/9.  ac -> b: 4/8 < a -> b: 5/9.
    assert flag[(("a", "b"), ("c",))] and flag[(("a", "c"), ("b",))]
    # bc -> a: 4/4 beats b -> a (5/9) and c -> a (8/12).
    assert not flag[(("b", "c"), ("a",))]
    # Single-item antecedents have no more general rule.
    assert not flag[[len(a) == 1 for a, _ in flag.index]].any()


def test_redundancy_counts_ties_and_deep_subsets():
    # abc -> d is as confident as a -> d (both 1.0) though ab -> d and ac -> d exist in between.
    b = baskets_from_sets(["abcd"] * 3 + ["ad"] * 2 + ["b", "c", "bc"])
    r = association_rules(mine(b.matrix, 1), b, min_confidence=0.0).set_index(["antecedents", "consequents"])
    assert r.loc[(("a", "b", "c"), ("d",)), "redundant"]
    assert r.loc[(("a", "b", "c"), ("d",)), "confidence"] == 1.0


def test_rejects_itemsets_that_are_not_closed_or_not_from_these_baskets():
    b = baskets_from_sets(["ab", "ab", "a"])
    with pytest.raises(ValueError, match="closed"):
        association_rules(pd.DataFrame({"items": [(0,), (0, 1)], "count": [3, 2]}), b)
    with pytest.raises(ValueError, match="do not match"):
        association_rules(pd.DataFrame({"items": [(0,), (1,), (0, 1)], "count": [3, 2, 1]}), b)


def test_no_rules_gives_an_empty_frame_with_the_columns():
    b = baskets_from_sets(["a", "b"])
    r = association_rules(pd.DataFrame({"items": [(0,), (1,)], "count": [1, 1]}), b)
    assert r.empty and list(r.columns) == RULE_COLUMNS


def test_progress_is_reported():
    b = random_baskets(1)
    calls = []
    association_rules(mine(b.matrix, 20), b, progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]


# ------------------------------------------------------------------------------------------------ strata, CMH

@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(1, 6), st.integers(0, 10_000))
def test_stratum_counter_equals_brute_force(n, n_strata, seed):
    rng = np.random.default_rng(seed)
    dense = rng.random((n, 5)) < rng.uniform(0.1, 0.9, 5)
    strata = rng.integers(0, n_strata, n)
    counter = StratumCounter(sp.csr_array(dense), strata)
    rows = np.array([[0, 1], [1, 3], [2, 4], [0, 4]])
    got = counter.counts(rows)
    for s in range(got.shape[1]):
        in_s = strata == s
        for i, (a, c) in enumerate(rows):
            assert got[i, s] == (dense[in_s, a] & dense[in_s, c]).sum()
    assert counter.stratum_sizes.tolist() == np.bincount(strata, minlength=got.shape[1]).tolist()


def test_size_strata_follow_fibonacci_bands():
    sizes = np.arange(1, 61)
    codes, labels = size_strata(sizes)
    assert labels == ["1", "2", "3", "4-5", "6-8", "9-13", "14-21", "22-34", "35-55", "56-89"]
    assert (np.diff(codes) >= 0).all()
    for code, label in enumerate(labels):
        lo, _, hi = label.partition("-")
        members = sizes[codes == code]
        assert members.min() == int(lo) and members.max() == min(int(hi or lo), sizes.max())


def test_cmh_with_one_stratum_is_the_normal_approximation_of_fisher():
    # One stratum: the CMH statistic is the hypergeometric z-score of the single table.
    nxy, nx, ny, n = 300, 1000, 900, 5000
    mean = nx * ny / n
    var = nx * (n - nx) * ny * (n - ny) / (n * n * (n - 1))
    expected = stats.norm.sf((nxy - mean - 0.5) / np.sqrt(var))
    assert cmh_greater([[nxy]], [[nx]], [[ny]], [n])[0] == pytest.approx(expected, rel=1e-12)
    assert cmh_greater([[nxy]], [[nx]], [[ny]], [n])[0] == pytest.approx(
        stats.hypergeom.sf(nxy - 1, n, nx, ny), rel=0.2)


# ------------------------------------------------------------------------------------------------ randomisation

PLANTED = ((3, 40), (10, 77), (25, 120), (50, 150), (90, 180))


@pytest.fixture(scope="module")
def synth():
    return synthetic(planted=PLANTED, seed=11)


def _pair_rules(b, min_count=100):
    return association_rules(pairs_only(b.matrix, min_count), b, min_confidence=0.0)


@pytest.mark.slow
def test_planted_pairs_are_significant(synth):
    r = _pair_rules(synth)
    sig = set(rule_keys(r[r["significant"]]))
    labels = list(synth.items)
    for a, c in PLANTED:
        assert ((labels[a],), (labels[c],)) in sig and ((labels[c],), (labels[a],)) in sig
    # Planted pairs, both directions, and hardly anything else.
    assert len(sig) <= 2 * len(PLANTED) + 4


@pytest.mark.slow
def test_permuted_items_leave_at_most_a_handful(synth):
    null = permute_items(synth, seed=5)
    assert null.item_counts().tolist() == synth.item_counts().tolist()
    r = _pair_rules(null)
    assert len(r) > 1000
    assert r["significant"].sum() <= 4
    assert (r["q_value"] <= 0.05).sum() <= 4


@pytest.mark.slow
def test_swap_randomised_fools_fisher_but_not_cmh(synth):
    null = swap_randomise(synth, rounds=20, seed=9)
    assert (null.sizes() == synth.sizes()).all()
    assert null.item_counts().tolist() == synth.item_counts().tolist()
    assert (null.matrix != synth.matrix).sum() > synth.matrix.nnz  # actually shuffled
    r = _pair_rules(null)
    assert len(r) > 1000
    assert (r["q_value"] <= 0.05).sum() > len(r) / 2
    assert r["significant"].sum() <= 4
    assert association_rules(pairs_only(null.matrix, 100), null, stratify=False)["significant"].sum() > len(r) / 4


ONLINE_RETAIL = Path(__file__).resolve().parents[1].parent / "shared/datasets/online_retail.csv.gz"


@pytest.mark.slow
def test_online_retail_swap_null_fools_fisher_but_not_cmh():
    if not ONLINE_RETAIL.exists():
        pytest.skip("UCI Online Retail not present")
    from recommender.receipts import load_receipts

    b = build_baskets(load_receipts(ONLINE_RETAIL).lines)
    min_count = int(np.ceil(0.01 * b.n_receipts))
    real = association_rules(pairs_only(b.matrix, min_count), b, min_confidence=0.0)
    assert real["significant"].sum() > len(real) / 2
    null = swap_randomise(b, rounds=20, seed=1)
    r = association_rules(pairs_only(null.matrix, min_count), null, min_confidence=0.0)
    assert len(r) > 100
    assert (r["q_value"] <= 0.05).sum() > len(r) / 2
    assert r["significant"].sum() <= 4


def test_swap_randomise_keeps_margins_on_ragged_data():
    b = random_baskets(2, n=101, k=7)
    s = swap_randomise(b, rounds=5, seed=0)
    assert (s.sizes() == b.sizes()).all()
    assert s.item_counts().tolist() == b.item_counts().tolist()
    assert s.matrix.dtype == bool and s.matrix.has_canonical_format


# ------------------------------------------------------------------------------------------------ filters

def test_filter_rules():
    b = random_baskets(4)
    r = association_rules(mine(b.matrix, 15), b, min_confidence=0.0)
    assert len(filter_rules(r)) == len(r)
    pruned = filter_rules(r, prune=True)
    assert len(pruned) == (~r["redundant"]).sum() and not pruned["redundant"].any()
    top = filter_rules(r, top_k=5, by="lift")
    assert top["lift"].tolist() == sorted(r["lift"], reverse=True)[:5]
    top_q = filter_rules(r, top_k=5, by="q_value")
    assert top_q["q_value"].tolist() == sorted(r["q_value"])[:5]
    lhs = filter_rules(r, lhs="i001")
    assert len(lhs) and all("i001" in a for a in lhs["antecedents"])
    assert len(lhs) == sum("i001" in a for a in r["antecedents"])
    both = filter_rules(r, lhs=["i000", "i001"], rhs="i003")
    assert all({"i000", "i001"} <= set(a) and "i003" in c for a, c in zip(both["antecedents"], both["consequents"]))


def test_drop_ancestor_rules_on_mixed_levels_and_noop_on_one_level():
    cat = pd.DataFrame({"sku": ["a", "b", "c"], "subcategory": ["tea", "tea", "cake"],
                        "category": ["drinks", "drinks", "bakery"]})
    # Mixed-level labels: sku a with its subcategory "tea" and its category "drinks".
    receipts = [["a", "tea", "drinks", "c", "cake", "bakery"], ["a", "tea", "drinks"], ["c", "cake", "bakery"]] * 3
    lines = pd.DataFrame([(str(i), s) for i, r in enumerate(receipts) for s in r], columns=["receipt_id", "sku"])
    b = build_baskets(lines)
    r = association_rules(mine(b.matrix, 1, max_len=2), b, min_confidence=0.0)
    kept = drop_ancestor_rules(r, cat, "sku")
    pairs = {frozenset(a + c) for a, c in rule_keys(kept)}
    assert frozenset({"a", "tea"}) not in pairs and frozenset({"tea", "drinks"}) not in pairs
    assert frozenset({"a", "c"}) in pairs and frozenset({"tea", "cake"}) in pairs
    # The same when asked for while mining.
    assert set(rule_keys(association_rules(mine(b.matrix, 1, max_len=2), b, min_confidence=0.0, catalog=cat))) \
        == set(rule_keys(kept))
    single = baskets_from_sets(["ab", "ab", "bc"])
    rs = association_rules(mine(single.matrix, 1), single, min_confidence=0.0)
    cat1 = pd.DataFrame({"sku": ["a", "b", "c"], "subcategory": ["x", "x", "y"]})
    assert rule_keys(drop_ancestor_rules(rs, cat1, "sku")) == rule_keys(rs)


# ------------------------------------------------------------------------------------------------ substitutes

def test_substitutes_found_within_subcategory_not_across_departments():
    rng = np.random.default_rng(3)
    n = 3000
    labels = ["cola_a", "cola_b", "shovel", "bread", "tea", "milk"]
    dense = np.zeros((n, len(labels)), dtype=bool)
    cola = rng.random(n) < 0.4
    dense[:, 0] = cola & (rng.random(n) < 0.5)         # one cola or the other, never both
    dense[:, 1] = cola & ~dense[:, 0]
    garden = rng.random(n) < 0.3                        # garden trips and bakery trips exclude each other
    dense[:, 2] = garden
    dense[:, 3] = ~garden & (rng.random(n) < 0.4)
    dense[:, 4] = rng.random(n) < 0.3                  # tea and milk: same subcategory, independent
    dense[:, 5] = rng.random(n) < 0.3
    b = baskets_from_dense(dense, labels)
    cat = pd.DataFrame({"sku": labels, "subcategory": ["cola", "cola", "tools", "bread", "hot", "hot"],
                        "category": ["soft", "soft", "tools", "bread", "hot", "hot"],
                        "department": ["drinks", "drinks", "garden", "bakery", "drinks", "drinks"]})
    assert (dense[:, 2] & dense[:, 3]).sum() == 0
    out = substitutes(b, cat, min_count=50)
    assert list(out.columns) == SUBSTITUTE_COLUMNS
    pairs = {frozenset(p) for p in zip(out["item_a"], out["item_b"])}
    assert pairs == {frozenset({"cola_a", "cola_b"})}
    row = out.iloc[0]
    assert row["count"] == 0 and row["relation"] == "same subcategory: cola"
    assert row["count_a"] == dense[:, labels.index(row["item_a"])].sum()
    assert row["p_value"] == pytest.approx(stats.fisher_exact(
        [[0, row["count_a"]], [row["count_b"], n - row["count_a"] - row["count_b"]]], alternative="less").pvalue)


def test_substitutes_by_shared_need():
    rng = np.random.default_rng(4)
    n = 2000
    flu = rng.random(n) < 0.3
    pick = rng.random(n) < 0.5
    dense = np.column_stack([flu & pick, flu & ~pick, rng.random(n) < 0.2])
    b = baskets_from_dense(dense, ["pill", "syrup", "soap"])
    cat = pd.DataFrame({"sku": ["pill", "syrup", "soap"], "department": ["pharmacy", "drinks", "home"],
                        "need": ["cold relief", "cold relief; sore throat", None]})
    out = substitutes(b, cat, min_count=20)
    assert out[["item_a", "item_b", "relation"]].values.tolist() == [["pill", "syrup", "same need: cold relief"]]


# ------------------------------------------------------------------------------------------------ compare

def _season(rng, n, rate: float):
    dense = rng.random((n, 6)) < 0.25
    # Pair (i004, i005) bought together `rate` of the time i004 is bought; (i000 -> i001) the same in both seasons.
    dense[:, 5] = np.where(dense[:, 4] & (rng.random(n) < rate), True, dense[:, 5] & (rng.random(n) < 0.3))
    dense[:, 1] |= dense[:, 0] & (rng.random(n) < 0.5)
    return baskets_from_dense(dense)


@pytest.mark.parametrize("winter_rate, status", [(0.0, "appeared"), (0.35, "strengthened")])
def test_compare_rules_between_seasons(winter_rate, status):
    rng = np.random.default_rng(8)
    winter, summer = _season(rng, 3000, winter_rate), _season(rng, 3000, 0.9)
    rules = {name: association_rules(mine(b.matrix, 120, max_len=2), b, min_confidence=0.0)
             for name, b in [("winter", winter), ("summer", summer)]}
    cmp = compare_rules(rules["winter"], rules["summer"], baskets_a=winter,
                        baskets_b=summer).set_index(["antecedents", "consequents"])
    assert cmp.loc[(("i004",), ("i005",)), "status"] == status
    assert cmp.loc[(("i000",), ("i001",)), "status"] == "stable"
    assert set(cmp["status"]) <= {"appeared", "vanished", "strengthened", "weakened", "stable", "below chance"}
    stable = cmp[cmp["status"] == "stable"]
    assert stable["q_value"].gt(0.05).all() and stable["count_a"].notna().all() and stable["count_b"].notna().all()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 30_000), st.data())
def test_fisher_tails_equal_scipy(n, data):
    from recommender.significance import fisher_greater, fisher_less

    n_x = data.draw(st.integers(0, n))
    n_y = data.draw(st.integers(0, n))
    k = data.draw(st.integers(max(0, n_x + n_y - n), min(n_x, n_y)))
    for ours, ref in [(fisher_greater(k, n_x, n_y, n), stats.hypergeom.sf(k - 1, n, n_x, n_y)),
                      (fisher_less(k, n_x, n_y, n), stats.hypergeom.cdf(k, n, n_x, n_y))]:
        assert 0.0 <= ours <= 1.0
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-290)


def test_substitutes_joins_every_relation_of_a_pair():
    n = 1000
    a = np.arange(n) % 2 == 0
    dense = np.column_stack([a, ~a])
    b = baskets_from_dense(dense, ["x", "y"])
    cat = pd.DataFrame({"sku": ["x", "y"], "subcategory": ["s", "s"], "need": ["cold relief", "cold relief"]})
    out = substitutes(b, cat, min_count=10)
    assert out["relation"].tolist() == ["same subcategory: s; same need: cold relief"]


def test_label_named_like_its_parent_is_not_its_own_ancestor():
    """A SKU code equal to its subcategory's name must not make every rule with it vanish."""
    import pandas as pd

    from recommender.baskets import build_baskets
    from recommender.mining import frequent_itemsets
    from recommender.rules import association_rules

    lines = pd.DataFrame({"receipt_id": [str(i // 2) for i in range(40)], "sku": ["tea", "cake"] * 20})
    catalog = pd.DataFrame({"sku": ["tea", "cake"], "subcategory": ["tea", "bakery"], "category": ["drinks", "food"]})
    b = build_baskets(lines, catalog, "sku")
    rules = association_rules(frequent_itemsets(b.matrix, 2), b, catalog=catalog)
    assert {(r.antecedents, r.consequents) for r in rules.itertuples()} == {(("tea",), ("cake",)), (("cake",), ("tea",))}
