"""A store's offers as one portfolio: exact maximum-weight choice with no shared item, greedy only above the bound."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.portfolio import MAX_EXACT, choose_offers


def _brute(weights, sets):
    best = 0.0
    for r in range(len(weights) + 1):
        for combo in itertools.combinations(range(len(weights)), r):
            items = [it for i in combo for it in sets[i]]
            if len(items) == len(set(items)) and all(weights[i] > 0 for i in combo):
                best = max(best, sum(weights[i] for i in combo))
    return best


offers = st.lists(st.tuples(st.sampled_from([0.0, -1.0]) | st.floats(0.01, 100), st.sets(st.sampled_from("abcdefgh"), min_size=1, max_size=3)),
                  min_size=0, max_size=9)


@settings(max_examples=200, deadline=None)
@given(offers)
def test_portfolio_is_the_best_set_with_no_shared_item(rows):
    weights, sets = [w for w, _ in rows], [s for _, s in rows]
    p = choose_offers(weights, sets)
    items = [it for i in p.chosen for it in sets[i]]
    assert len(items) == len(set(items))  # no item in two chosen offers
    assert p.method == "exact"
    assert abs(p.total - _brute(weights, sets)) < 1e-9  # nothing better exists (checked by enumeration)
    assert p.total >= p.greedy_total - 1e-9


def test_portfolio_beats_greedy_where_greedy_loses():
    # the best single offer shares one item with each of two disjoint offers that earn more together
    p = choose_offers([10.0, 6.0, 6.0], [{"shirt", "tie"}, {"shirt", "belt"}, {"tie", "socks"}])
    assert p.chosen == (1, 2) and p.total == 12.0 and p.greedy_total == 10.0


def test_above_the_bound_it_falls_back_to_greedy_and_says_so():
    # a chain of MAX_EXACT + 1 offers, each sharing an item with the next: one component over the bound
    n = MAX_EXACT + 1
    sets = [{f"i{k}", f"i{k + 1}"} for k in range(n)]
    p = choose_offers([1.0] * n, sets)
    assert p.method == "greedy" and p.total == p.greedy_total
    exact = choose_offers([1.0] * n, sets, max_exact=n)
    assert exact.method == "exact" and exact.total == (n + 1) // 2


def test_offers_that_earn_nothing_are_never_chosen():
    assert choose_offers([0.0, -3.0, 2.0], [{"a"}, {"b"}, {"a"}]).chosen == (2,)
    assert choose_offers([0.0, -3.0, 2.0], [{"x"}, {"y"}, {"a"}]).chosen == (2,)  # not even with nothing in the way


def test_bundles_keep_each_stores_best_portfolio_not_the_greedy_one():
    # the bundles step itself (not only the solver): in store S1 the best offer clashes with two that earn more
    # together, in S2 the same items do not compete with S1's offers (portfolios are per store)
    from recommender.bundles import _no_stacking

    def row(bid, store, items, profit):
        return {"bundle_id": bid, "store": store, "items": tuple(items), "level_items": tuple(items),
                "expected_profit": profit, "recommended": True, "reason_not_recommended": None,
                "_key": (True, profit)}

    rows = [row("a", "S1", ["shirt", "tie"], 10.0), row("b", "S1", ["shirt", "belt"], 6.0),
            row("c", "S1", ["tie", "socks"], 6.0), row("d", "S2", ["shirt", "tie"], 10.0)]
    out, summary = _no_stacking(rows)
    kept = {r["bundle_id"] for r in out if r["recommended"]}
    assert kept == {"b", "c", "d"}
    a = next(r for r in out if r["bundle_id"] == "a")
    assert "best portfolio" in a["reason_not_recommended"] and a["_key"] == (False, 10.0)
    assert summary["S1"] == {"offers": 3, "chosen": 2, "expected_profit": 12.0, "greedy_expected_profit": 10.0,
                             "method": "exact"}
