"""Mix & match: the variant families the gate removes become "any 2 for X" offers, priced with the same guardrails."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from recommender.bundles import build_bundles
from recommender.export import export_bundles, pos_table, staff_table
from recommender.mix_match import price_point, variant_families
from recommender.pipeline import MiningParams, mine
from recommender.runs import read_run, write_run

BAGS = {"b1": "LUNCH BAG RED", "b2": "LUNCH BAG BLUE", "b3": "LUNCH BAG OWL"}


def _shop(seed=3, n=900, two_share=0.4):
    """Receipts where 20% hold lunch bags: one design once, two designs, or one design twice (quantity 2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n):
        ts = pd.Timestamp("2025-03-01") + pd.Timedelta(minutes=int(rng.integers(0, 8 * 7 * 24 * 60)))
        lines = []
        if rng.random() < 0.2:
            u = rng.random()
            if u < two_share:
                a, b = rng.choice(list(BAGS), 2, replace=False)
                lines += [(a, 1), (b, 1)]
            elif u < two_share + 0.1:
                lines.append((str(rng.choice(list(BAGS))), 2))
            else:
                lines.append((str(rng.choice(list(BAGS))), 1))
        lines += [(o, 1) for o in ("pen", "mug", "tea", "card") if rng.random() < 0.25] or [("card", 1)]
        rows += [{"receipt_id": f"R{r:04d}", "timestamp": ts, "sku": s, "quantity": q} for s, q in lines]
    lines = pd.DataFrame(rows)
    cat = pd.DataFrame({"sku": list(BAGS) + ["pen", "mug", "tea", "card"],
                        "name": list(BAGS.values()) + ["PEN", "MUG", "TEA", "CARD"],
                        "department": "gifts", "price": [10.0, 10.0, 10.0, 2.0, 6.0, 4.0, 3.0],
                        "unit_cost": [4.0, 4.0, 4.0, 1.0, 3.0, 2.0, 1.5]})
    return lines, cat


def _bundles(tmp_path, lines, cat, **kw):
    res = mine(lines, cat, MiningParams(min_count=10, stratify=False))  # the pairs, not the size strata, are tested here
    out = tmp_path / "run"
    write_run(out, itemsets_df=res.itemsets, rules_df=res.rules, manifest=res.manifest)
    return build_bundles(read_run(out), lines, cat, weeks=None, max_per_anchor=None, **kw)


def test_families_and_price_points():
    assert variant_families([("b2", "b1"), ("b3", "b2"), ("x", "y")]) == [["b1", "b2", "b3"], ["x", "y"]]
    assert price_point(["a", "b", "c", "d"], {"a": 2.0, "b": 1.0, "c": 2.0, "d": 1.0}) == (1.0, ["b", "d"])


def test_a_variant_family_gets_an_any_2_offer_counted_and_priced_like_every_offer(tmp_path):
    lines, cat = _shop()
    b = _bundles(tmp_path, lines, cat, currency="GBP")
    assert b.attrs["summary"]["gates"]["same_product_variants"] >= 1
    mm = b[b["discount_type"] == "mix_match"]
    assert len(mm) == 1
    row = mm.iloc[0]
    assert set(row["items"]) == set(BAGS) and set(row["names"]) == set(BAGS.values())
    # counted independently: receipts with exactly one unit of a lunch bag, and with two or more
    units = lines[lines["sku"].isin(list(BAGS))].groupby("receipt_id")["quantity"].sum()
    assert row["gap_tickets"] == int((units == 1).sum()) and row["set_tickets"] == int((units >= 2).sum())
    assert row["regular_price"] == 20.0 and 0 < row["saving"] and row["bundle_price"] == 20.0 - row["saving"]
    # the same economics as every offer: one more unit's margin, the saving paid to every set ticket too
    q, c = row["expected_take_rate"], row["saving"]
    expected = q * row["gap_tickets"] * (10.0 - 4.0 - c) - c * row["set_tickets"]
    assert row["expected_profit"] == pytest.approx(expected, abs=1e-6)
    guards = json.loads(row["guardrails"])
    assert guards["min_margin"]["holds"] and row["bundle_price"] >= 8.0 / (1 - guards["min_margin"]["limit"]) - 0.01
    pct = int(round(row["saving"] * 100)) * 100 // 2000
    assert row["reason_en"] == f"Mix & match: any 2 LUNCH BAG for £{row['bundle_price']:.2f}, save {pct}%"
    assert row["reason_zh"] == f"LUNCH BAG任选2件£{row['bundle_price']:.2f}，立省{pct}%"
    share = 100 * row["set_tickets"] // (row["gap_tickets"] + row["set_tickets"])
    assert row["evidence_en"] == f"{share}% of receipts with LUNCH BAG already hold 2 or more"
    # Chinese copy follows the currency
    cny = _bundles(tmp_path / "cny", lines, cat, currency="CNY")
    assert cny.loc[cny["discount_type"] == "mix_match", "reason_zh"].iloc[0].startswith("LUNCH BAG任选2件¥")
    # switched off: no mix & match row
    assert "mix_match" not in set(_bundles(tmp_path / "off", lines, cat, mix_match=False)["discount_type"])


def test_no_discount_for_people_who_buy_two_anyway(tmp_path):
    lines, cat = _shop(two_share=0.88)  # 98% of bag receipts already hold two or more
    row = _bundles(tmp_path, lines, cat, currency="GBP").query("discount_type == 'mix_match'").iloc[0]
    assert row["set_tickets"] > 20 * row["gap_tickets"]
    assert not row["recommended"] and row["expected_profit"] < 0
    assert "already buy the set" in row["reason_not_recommended"]


def test_mix_match_in_the_staff_lists_the_printable_page_and_the_till_file(tmp_path):
    lines, cat = _shop()
    b = _bundles(tmp_path, lines, cat, currency="GBP")
    row = b[b["discount_type"] == "mix_match"].iloc[0]
    staff = staff_table(b, selection="all").set_index("bundle_id").loc[row["bundle_id"]]
    assert staff["offer_type"] == "mix_match" and " / " in staff["names"] and "+" not in staff["names"]
    assert staff["offer"].startswith(f"any 2 for £{row['bundle_price']:.2f}")
    csv = pd.read_csv(export_bundles(b, "csv", tmp_path / "a.csv", selection="all"), encoding="utf-8-sig", dtype=str)
    assert csv.set_index("Bundle").loc[row["bundle_id"], "Offer type"] == "mix_match"
    page = export_bundles(b, "html", tmp_path / "a.html", selection="all").read_text(encoding="utf-8")
    assert re.search(rf'<div class="card" data-bundle="{row["bundle_id"]}" data-kind="mix_match">', page)
    till = pos_table(b, selection="all")
    till = till[till["promotion_id"] == row["bundle_id"]]
    assert sorted(till["sku"]) == sorted(BAGS) and set(till["quantity"]) == {2} and set(till["trigger"]) == {"any_2"}
    assert set(till["promotion_price"]) == {round(float(row["bundle_price"]), 2)}


def test_family_names_and_chinese_copy():
    from types import SimpleNamespace

    from recommender.reasons import reasons_for
    from recommender.variants import Vocabulary, family_name

    assert family_name(["WHITE HANGING HEART T-LIGHT HOLDER", "RED HANGING HEART T-LIGHT HOLDER"]) == \
        "HANGING HEART T-LIGHT HOLDER"
    assert family_name(["POPPY'S PLAYHOUSE KITCHEN", "POPPY'S PLAYHOUSE BEDROOM"]) == "POPPY'S PLAYHOUSE"
    cups = ["红色保温杯", "蓝色保温杯", "绿色保温杯", "保温杯杯套"]
    v = Vocabulary(cups, [39.0, 39.0, 39.0, 35.0])
    assert family_name(cups[:2]) == "色保温杯" and family_name(cups[:2], v) == "保温杯"
    d = SimpleNamespace(discount_type="mix_match", saving=7.8, regular_price=78.0, bundle_price=70.2)
    rows = [{"sku": "a", "name": "红色保温杯"}, {"sku": "b", "name": "蓝色保温杯"}]
    assert reasons_for(rows, d, currency="CNY", vocabulary=v) == {
        "reason_type": "value_pack", "reason_en": "Mix & match: any 2 保温杯 for CN¥70.20, save 10%",
        "reason_zh": "保温杯任选2件¥70.20，立省10%"}


def _launch_shop(seed=11):
    """Four test and four control stores, 8 weeks before and 4 after 2025-04-01. A third of the receipts hold
    lunch bags: one unit, two designs, or one design twice. In the test stores after the launch, 2+ units are
    more common (the offer); other lines (pens, mugs) never count."""
    rng = np.random.default_rng(seed)
    rows, start = [], pd.Timestamp("2025-04-01")
    for store in [f"T{i}" for i in range(4)] + [f"C{i}" for i in range(4)]:
        base = rng.uniform(0.15, 0.35)
        for r in range(360):
            post = r % 3 == 0
            ts = start + pd.Timedelta(hours=int(rng.integers(0, 28 * 24))) if post else \
                start - pd.Timedelta(hours=int(rng.integers(1, 56 * 24)))
            two = base + (0.25 if post and store.startswith("T") else 0.0) + rng.normal(0, 0.03)
            lines = []
            if rng.random() < 0.35:
                if rng.random() < two:
                    if rng.random() < 0.5:
                        lines += [(b, 1) for b in rng.choice(list(BAGS), 2, replace=False)]
                    else:
                        lines.append((str(rng.choice(list(BAGS))), 2))
                else:
                    lines.append((str(rng.choice(list(BAGS))), 1))
            lines += [(o, int(rng.integers(1, 3))) for o in ("pen", "mug") if rng.random() < 0.4] or [("card", 1)]
            rows += [{"receipt_id": f"{store}-{r}", "store_id": store, "timestamp": ts, "sku": s, "quantity": float(q),
                      "line_amount": 10.0 * q} for s, q in lines]
    return pd.DataFrame(rows)


MM_BUNDLE = {"bundle_id": "MM1", "name": "LUNCH BAG", "department": "gifts", "level": "sku", "anchor": ["b1"],
             "addons": ["b2", "b3"], "items": ["b1", "b2", "b3"], "discount_type": "mix_match",
             "components": [{"sku": "b1", "role": "anchor", "quantity": 1, "unit_price": 10.0},
                            {"sku": "b2", "role": "addon", "quantity": 1, "unit_price": 10.0}],
             "regular_price": 20.0, "bundle_price": 17.0, "saving": 3.0, "saving_pct": 0.15, "discount_cost": 3.0,
             "added_margin": 6.0}


def test_a_launched_mix_and_match_is_measured_by_family_tickets_with_two_or_more_units():
    """The attach rate of "any 2 LUNCH BAG" is the share of bag tickets with 2+ bag units (any mix), test vs
    control, before vs after, with the interval every offer gets; counted here independently with pandas."""
    from recommender.launch import project_bundle
    from recommender.measure import attach_did, measure_launch

    lines = _launch_shop()
    stores, control = [f"T{i}" for i in range(4)], [f"C{i}" for i in range(4)]
    launch = {"launch_id": "L-mm", "name": "bags", "from": "2025-04-01", "to": "2025-04-28", "stores": stores,
              "control_stores": control, "bundles": [dict(MM_BUNDLE)]}
    got = measure_launch(lines, launch)["bundles"][0]

    bags = lines[lines["sku"].isin(list(BAGS))]
    per = bags.groupby("receipt_id").agg(store=("store_id", "first"), ts=("timestamp", "first"),
                                         units=("quantity", "sum"))
    per["post"], per["took"] = per["ts"] >= pd.Timestamp("2025-04-01"), per["units"] >= 2
    rate = per.groupby(["store", "post"])["took"].mean().unstack()
    n = per.groupby(["store", "post"]).size().unstack()
    change = rate[True] - rate[False]
    did = change[stores].mean() - change[control].mean()
    assert did > 0.1  # the planted effect is there to be found
    assert got["attach_uplift"] == pytest.approx(did, abs=1e-12)
    ref = attach_did(rate.loc[stores, False], rate.loc[stores, True], n.loc[stores, True],
                     rate.loc[control, False], rate.loc[control, True])
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((ref["ci_low"], ref["ci_high"]), abs=1e-12)
    assert got["ci_low"] < did < got["ci_high"] and got["p_value"] == pytest.approx(ref["p_value"])
    A = int(n.loc[stores, True].sum())
    a = int(per[per["post"] & per["store"].isin(stores)]["took"].sum())
    assert got["anchor_tickets"] == A and got["attach_rate_after_test"] == pytest.approx(a / A)
    assert got["takers"] == pytest.approx(did * A)
    # a taker adds one bag: its price and margin; every 2+ ticket is paid the saving
    store_weeks = 4 * 28 / 7
    assert got["incremental_sales"] == pytest.approx((did * A * 10.0 - (a - did * A) * 3.0) / store_weeks)
    assert got["incremental_margin"] == pytest.approx((did * A * 6.0 - a * 3.0) / store_weeks)
    assert not any("not measured" in w for w in got["warnings"])
    # the projection at launch counts the same take (bag tickets with 2+ units, the 4 weeks before)
    proj = project_bundle(lines, MM_BUNDLE, stores, "2025-04-01", weeks=4)
    before = per[~per["post"] & per["store"].isin(stores) & (per["ts"] >= pd.Timestamp("2025-03-04"))]
    assert proj["attach_rate_before"] == pytest.approx(before["took"].mean())
