"""`compare` analysts can trust: a change is named only when a test on its counts says so (issue #19)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recommender.pipeline import MiningParams, mine
from recommender.rules import compare_rules

ITEMS = [f"P{i:02d}" for i in range(12)]
RATES = np.random.default_rng(0).uniform(0.06, 0.3, len(ITEMS))  # the same shop in every period
PARAMS = MiningParams(min_support=0.02, min_confidence=0.05)


def _shop(rng, n, start, rate_xy):
    """Receipts lines: 12 items bought independently, plus P01 with P00 at ``rate_xy`` of P00's receipts."""
    dense = rng.random((n, len(ITEMS))) < RATES
    dense[:, 1] = np.where(dense[:, 0], rng.random(n) < rate_xy, dense[:, 1])
    dense[:, 3] |= dense[:, 2] & (rng.random(n) < 0.4)  # a steady association in every period
    dense[dense.sum(axis=1) == 0, 5] = True
    r, c = np.nonzero(dense)
    days = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 28, n), unit="D")
    return pd.DataFrame({"receipt_id": [f"{start}-{i:05d}" for i in r], "sku": np.array(ITEMS)[c],
                         "timestamp": days[r]})


def _rule(table, x, y):
    hit = table[(table["antecedents"].map(tuple) == (x,)) & (table["consequents"].map(tuple) == (y,))]
    assert len(hit) == 1
    return hit.iloc[0]


def test_a_planted_change_is_reported_and_nothing_else_moves():
    rng = np.random.default_rng(19)
    a = mine(_shop(rng, 4000, "2025-01-01", 0.25), None, PARAMS)
    b = mine(_shop(rng, 4000, "2025-03-01", 0.55), None, PARAMS)
    cmp = compare_rules(a.rules, b.rules, baskets_a=a.baskets, baskets_b=b.baskets)
    planted = _rule(cmp, "P00", "P01")
    assert planted["status"] in ("strengthened", "appeared") and planted["q_value"] <= 0.05
    assert planted["delta_confidence_low"] > 0 and planted["delta_lift_low"] > 0
    assert planted["delta_confidence_low"] < planted["delta_confidence"] < planted["delta_confidence_high"]
    # the counts behind the test are the baskets' own, and the p-value is Fisher's
    ma, mb = a.baskets.matrix.toarray(), b.baskets.matrix.toarray()
    col = {s: list(a.baskets.items).index(s) for s in ("P00", "P01")}
    k_a, n_a = int((ma[:, col["P00"]] & ma[:, col["P01"]]).sum()), int(ma[:, col["P00"]].sum())
    col = {s: list(b.baskets.items).index(s) for s in ("P00", "P01")}
    k_b, n_b = int((mb[:, col["P00"]] & mb[:, col["P01"]]).sum()), int(mb[:, col["P00"]].sum())
    assert (planted["count_a"], planted["antecedent_count_a"]) == (k_a, n_a)
    assert (planted["count_b"], planted["antecedent_count_b"]) == (k_b, n_b)
    ref = stats.fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]]).pvalue
    assert planted["p_value"] == pytest.approx(ref, rel=1e-6) or planted["p_value"] < 1e-12
    named = cmp[cmp["status"].isin(["appeared", "vanished", "strengthened", "weakened"])]
    # P01 sells more with P00, so rules with P01 rise too; the others are false discoveries, which BH keeps
    # to about 5% of the rules named (at most 10% here, on one seed)
    false = sum("P01" not in set(x) | set(y) for x, y in zip(named["antecedents"], named["consequents"]))
    assert false <= 0.1 * len(named)
    assert _rule(cmp, "P02", "P03")["status"] == "stable"


def test_random_halves_of_the_same_receipts_show_no_more_changes_than_the_fdr_allows():
    rng = np.random.default_rng(2019)
    lines = _shop(rng, 4000, "2025-01-01", 0.4)
    receipts = lines["receipt_id"].unique()
    with_change = 0
    for _ in range(20):
        half = set(rng.choice(receipts, len(receipts) // 2, replace=False))
        inside = lines["receipt_id"].isin(half)
        a, b = mine(lines[inside], None, PARAMS), mine(lines[~inside], None, PARAMS)
        cmp = compare_rules(a.rules, b.rules, baskets_a=a.baskets, baskets_b=b.baskets)
        assert not (cmp["status"] == "untested").any()
        with_change += bool(cmp["status"].isin(["appeared", "vanished", "strengthened", "weakened"]).any())
    assert with_change <= 3


def test_without_the_other_baskets_a_missing_rule_is_untested_not_appeared():
    rng = np.random.default_rng(5)
    a = mine(_shop(rng, 3000, "2025-01-01", 0.0), None, PARAMS)
    b = mine(_shop(rng, 3000, "2025-03-01", 0.6), None, PARAMS)
    cmp = compare_rules(a.rules, b.rules)
    assert _rule(cmp, "P00", "P01")["status"] == "untested"
    cmp = compare_rules(a.rules, b.rules, baskets_a=a.baskets, baskets_b=b.baskets)
    assert _rule(cmp, "P00", "P01")["status"] == "appeared"


def test_cli_compare_recounts_from_the_runs_and_writes_json_arrays(cli, tmp_path):
    rng = np.random.default_rng(3)
    lines = pd.concat([_shop(rng, 3000, "2025-01-01", 0.2), _shop(rng, 3000, "2025-03-01", 0.6)])
    path = tmp_path / "receipts.csv"
    lines.to_csv(path, index=False)
    common = [path, "--min-support", "0.02", "--min-confidence", "0.05"]
    assert cli("mine", *common, "--until", "2025-01-31", "--out", tmp_path / "jan").returncode == 0
    assert cli("mine", *common, "--since", "2025-03-01", "--out", tmp_path / "mar").returncode == 0
    res = cli("compare", tmp_path / "jan", tmp_path / "mar", "--json", "--out", tmp_path / "cmp.csv")
    assert res.returncode == 0, res.stderr
    assert "read " in res.stderr  # the receipts were read again, with their accounting
    table = pd.DataFrame(json.loads(res.stdout))
    for key in ("antecedents", "consequents", "status", "lift_a", "lift_b", "confidence_a", "confidence_b",
                "count_a", "count_b", "p_value", "q_value", "delta_confidence", "delta_confidence_low",
                "delta_confidence_high", "delta_lift", "delta_lift_low", "delta_lift_high"):
        assert key in table.columns
    planted = _rule(table, "P00", "P01")
    assert planted["status"] in ("strengthened", "appeared")
    assert not table["status"].eq("untested").any()
    saved = pd.read_csv(tmp_path / "cmp.csv", encoding="utf-8-sig")
    assert saved["antecedents"].map(json.loads).map(tuple).tolist() == table["antecedents"].map(tuple).tolist()
    res = cli("compare", tmp_path / "jan", tmp_path / "mar", "--status", "changed")
    assert res.returncode == 0 and "P00 -> P01" in res.stdout and "95%" in res.stdout


def test_swapping_the_periods_mirrors_every_status():
    rng = np.random.default_rng(11)
    a = mine(_shop(rng, 3000, "2025-01-01", 0.2), None, PARAMS)
    b = mine(_shop(rng, 3000, "2025-03-01", 0.5), None, PARAMS)
    ab = compare_rules(a.rules, b.rules, baskets_a=a.baskets, baskets_b=b.baskets)
    ba = compare_rules(b.rules, a.rules, baskets_a=b.baskets, baskets_b=a.baskets)
    key = ["antecedents", "consequents"]
    both = ab.merge(ba, on=key, suffixes=("", "_swapped"))
    assert len(both) == len(ab) == len(ba)
    mirror = {"appeared": "vanished", "vanished": "appeared", "strengthened": "weakened", "weakened": "strengthened"}
    assert (both["status_swapped"] == both["status"].map(lambda s: mirror.get(s, s))).all()
    assert np.allclose(both["p_value"], both["p_value_swapped"], equal_nan=True, rtol=1e-9)
    assert np.allclose(both["delta_confidence"], -both["delta_confidence_swapped"], equal_nan=True)
    assert np.allclose(both["delta_lift_low"], -both["delta_lift_high_swapped"], equal_nan=True)
