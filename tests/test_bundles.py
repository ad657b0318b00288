"""Bundles from a mined run: planted bundles found, economics ranked by gap, guards, ids, exports."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.bundles import BUNDLE_COLUMNS, build_bundles, bundle_id, bundles_for_run, regular_prices
from recommender.catalog import load_catalog
from recommender.demo import generate_demo
from recommender.export import export_bundles
from recommender.pipeline import MiningParams, mine_to_folder
from recommender.policy import Policy
from recommender.receipts import LoadOptions, load_receipts
from recommender.runs import read_run

PLANTED = {  # label set -> (anchor, reason type)
    frozenset({"business shirt", "tie"}): ("business shirt", "complete_the_look"),
    frozenset({"calcium", "vitamin D", "cod-liver oil"}): ("calcium", "need_kit"),
    frozenset({"cold remedy", "vitamin C"}): ("cold remedy", "need_kit"),
}
SUMMER_KIT = frozenset({"stomach remedy", "heat-clearing remedy", "cold remedy", "dewormer"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    paths = generate_demo(root / "demo")
    catalog = load_catalog(paths["catalog"])
    receipts = load_receipts(paths["receipts"])
    summer = load_receipts(paths["receipts"], LoadOptions(months=(6, 7, 8)))
    params = MiningParams(level="subcategory", min_support=0.002)
    mine_to_folder(receipts, root / "year", catalog, params)
    mine_to_folder(summer, root / "summer", catalog, params)
    truth = json.loads(paths["ground_truth"].read_text(encoding="utf-8"))
    return {"root": root, "catalog": catalog, "lines": receipts.lines, "summer_lines": summer.lines,
            "year": read_run(root / "year"), "summer": read_run(root / "summer"), "truth": truth}


@pytest.fixture(scope="module")
def default_bundles(demo):
    return build_bundles(demo["year"], demo["lines"], demo["catalog"])


@pytest.fixture(scope="module")
def all_bundles(demo):
    return build_bundles(demo["year"], demo["lines"], demo["catalog"], max_per_anchor=None)


def _sets(frame):
    return frame["level_items"].map(frozenset)


# --------------------------------------------------------------------------- the demo's planted bundles


@pytest.mark.slow
def test_columns_and_one_row_per_bundle_and_store(default_bundles):
    assert list(default_bundles.columns) == list(BUNDLE_COLUMNS)
    assert not default_bundles.duplicated(["bundle_id", "store"]).any()
    assert default_bundles["bundle_id"].is_unique  # the store is part of the id
    assert len(default_bundles) > 0


@pytest.mark.slow
def test_planted_bundles_come_out_with_their_reason_type(all_bundles, demo):
    sets = _sets(all_bundles)
    for labels, (anchor, kind) in PLANTED.items():
        rows = all_bundles[sets == labels]
        assert len(rows) > 0, sorted(labels)
        assert set(rows["anchor_label"]) == {anchor}
        assert set(rows["reason_type"]) == {kind}
    kit = all_bundles[sets == SUMMER_KIT]
    assert len(kit) > 0 and set(kit["reason_type"]) == {"seasonal_kit"}


@pytest.mark.slow
def test_summer_kit_from_the_summer_slice(demo):
    bundles = build_bundles(demo["summer"], demo["summer_lines"], demo["catalog"], max_per_anchor=None)
    kit = bundles[_sets(bundles) == SUMMER_KIT]
    assert len(kit) > 0
    assert set(kit["reason_type"]) == {"seasonal_kit"}
    assert kit["reason_en"].str.startswith("Summer family medicine kit").all()
    assert kit["reason_zh"].str.startswith("夏季").all()
    # counts of the summer slice: receipts with the whole kit, as planted
    assert set(kit["count"]) == {demo["truth"]["summer_kit"]["summer"]["receipts_with_all_items"]}


@pytest.mark.slow
def test_evidence_counts_are_the_planted_associations(all_bundles, demo):
    sets = _sets(all_bundles)
    for assoc in demo["truth"]["associations"]:
        labels = frozenset(assoc["antecedent"] + assoc["consequent"])
        rows = all_bundles[sets == labels]
        if not len(rows):
            continue  # shirt + trousers may not make a bundle; the others are asserted above
        truth = assoc["all_receipts"]
        assert set(rows["count"]) == {truth["both_receipts"]}
        assert set(rows["antecedent_count"]) == {truth["antecedent_receipts"]}
        pct = truth["both_receipts"] * 100 // truth["antecedent_receipts"]
        assert rows["evidence_en"].str.startswith(f"{pct}% of receipts with {assoc['antecedent'][0]}").all()


@pytest.mark.slow
def test_gift_option_for_kits_uses_the_medicine_bag(all_bundles, demo):
    cat = demo["catalog"].set_index("sku")
    kits = all_bundles[_sets(all_bundles) == frozenset({"calcium", "vitamin D", "cod-liver oil"})]
    assert len(kits) > 0
    for row in kits.itertuples():
        assert cat.loc[row.gift_sku, "subcategory"] == "medicine bag"
        gift = [o for o in json.loads(row.offers) if o["discount_type"] == "gift"]
        assert len(gift) == 1 and gift[0]["discounted_sku"] == row.gift_sku
        g = gift[0]
        if g["recommended"]:
            assert all(v["holds"] for v in g["guardrails"].values())
        # the gift costs the store its unit cost, not its price
        assert math.isclose(g["discount_cost"], cat.loc[row.gift_sku, "unit_cost"], abs_tol=0.005)
        assert g["bundle_price"] == row.regular_price  # the gift comes on top, the items keep their price
    # apparel looks get no gift
    looks = all_bundles[all_bundles["reason_type"] == "complete_the_look"]
    assert looks["gift_sku"].isna().all()


@pytest.mark.slow
def test_gift_is_priced_by_the_guardrails(demo):
    # A cap on the saving below the bag's share of the kit price rules the gift out.
    tight = Policy(max_discount_pct=0.01)
    run = demo["year"]
    bundles = build_bundles(run, demo["lines"], demo["catalog"], policy=tight, max_per_anchor=None)
    kits = bundles[_sets(bundles) == frozenset({"calcium", "vitamin D", "cod-liver oil"})]
    assert len(kits) > 0
    for row in kits.itertuples():
        gift = next(o for o in json.loads(row.offers) if o["discount_type"] == "gift")
        assert not gift["recommended"]
        assert "max discount" in gift["reason_not_recommended"]
        assert row.discount_type != "gift"


@pytest.mark.slow
def test_gift_sku_overrides_the_automatic_choice(demo):
    cat = demo["catalog"]
    bags = cat[cat["subcategory"] == "medicine bag"].sort_values("unit_cost")
    chosen = bags["sku"].iloc[-1]  # the dearer bag: not the automatic pick
    bundles = build_bundles(demo["year"], demo["lines"], cat, gift_sku=chosen, top=3)
    kits = bundles[bundles["reason_type"].isin(["need_kit", "seasonal_kit"])]
    assert len(kits) > 0 and set(kits["gift_sku"]) == {chosen}


# --------------------------------------------------------------------------- counts and SKUs, recomputed


def _period(lines, weeks=8):
    ts = lines["timestamp"]
    return lines[ts > ts.max() - pd.Timedelta(weeks=weeks)]


@pytest.mark.slow
def test_gap_and_set_tickets_and_best_sellers_recomputed(all_bundles, demo):
    cat = demo["catalog"]
    sub = cat.set_index("sku")["subcategory"]
    period = _period(demo["lines"]).assign(label=lambda d: d["sku"].map(sub))
    rows = all_bundles[_sets(all_bundles) == frozenset({"cold remedy", "vitamin C"})]
    assert len(rows) == len(period["store_id"].unique())
    for row in rows.itertuples():
        mine = period[period["store_id"] == row.store]
        baskets = mine.groupby("receipt_id")["label"].agg(set)
        has_a = baskets.map(lambda s: "cold remedy" in s)
        has_b = baskets.map(lambda s: "vitamin C" in s)
        assert row.gap_tickets == int((has_a & ~has_b).sum())
        assert row.set_tickets == int((has_a & has_b).sum())
        assert row.store_tickets == len(baskets)
        for label, sku in zip(row.level_items, row.items):
            units = mine[mine["label"] == label].groupby("sku")["quantity"].sum()
            assert units[sku] == units.max()
        price = cat.set_index("sku").loc[row.items[1]]
        assert row.added_margin == pytest.approx(price["price"] - price["unit_cost"])


@pytest.mark.slow
def test_take_rate_range_brackets_the_point_estimate(all_bundles):
    ok = all_bundles[all_bundles["recommended"]]
    assert (ok["expected_upt_uplift_low"] <= ok["expected_upt_uplift_high"]).all()
    assert (ok["expected_atv_uplift_low"] <= ok["expected_atv_uplift_high"]).all()
    assert (ok["expected_upt_uplift_high"] > 0).all()
    assert (ok["expected_profit"] > 0).all()
    assert (all_bundles.loc[~all_bundles["recommended"], "reason_not_recommended"].notna()).all()


@pytest.mark.slow
def test_whole_period_counts_add_up_to_the_rule_counts(demo):
    bundles = build_bundles(demo["year"], demo["lines"], demo["catalog"], weeks=None, max_per_anchor=None)
    pair = bundles[_sets(bundles) == frozenset({"cold remedy", "vitamin C"})]
    assert len(pair) == 12  # every store stocks both
    assert pair["set_tickets"].sum() == pair["count"].iloc[0]
    assert pair["anchor_tickets"].sum() == pair["antecedent_count"].iloc[0]
    assert pair["store_tickets"].sum() == demo["truth"]["n_receipts"]


@pytest.mark.slow
def test_campaign_season_leaves_out_other_seasons(demo):
    cat = demo["catalog"].set_index("sku")
    calls = []
    bundles = build_bundles(demo["year"], demo["lines"], demo["catalog"], season="winter", max_per_anchor=None,
                            progress=lambda done, total, message: calls.append((done, total)))
    seasons = bundles["items"].map(lambda t: set(cat.loc[list(t), "season"]))
    assert len(bundles) > 0
    assert not seasons.map(lambda s: "summer" in s).any()
    winter = seasons.map(lambda s: any("winter" in str(x).lower() for x in s))
    assert (bundles.loc[~winter, "reason_type"] != "seasonal_kit").all()  # no winter item: no winter wording
    assert calls and all(0 <= d <= t for d, t in calls)


# --------------------------------------------------------------------------- guards


@pytest.mark.slow
def test_at_most_one_offer_per_anchor_per_store_by_default(default_bundles, demo):
    assert default_bundles.groupby(["store", "anchor_label"]).size().max() == 1
    # Stacking allowed in both, so that the one-offer-per-anchor rule is seen alone (without it, which offers
    # share an item, and so which stay recommended, depends on how many offers per anchor are kept).
    stacking = Policy(allow_stacking=True)
    one = build_bundles(demo["year"], demo["lines"], demo["catalog"], policy=stacking)
    two = build_bundles(demo["year"], demo["lines"], demo["catalog"], max_per_anchor=2, policy=stacking)
    sizes = two.groupby(["store", "anchor_label"]).size()
    assert sizes.max() == 2
    # the one kept by default is the best of the two
    for (store, anchor), grp in two.groupby(["store", "anchor_label"]):
        best = one[(one["store"] == store) & (one["anchor_label"] == anchor)]
        assert best["bundle_id"].tolist() == [grp.sort_values("rank")["bundle_id"].iloc[0]]


@pytest.mark.slow
def test_top_keeps_the_best_per_store(default_bundles, demo):
    top = build_bundles(demo["year"], demo["lines"], demo["catalog"], top=2)
    assert top.groupby("store").size().max() == 2
    expect = default_bundles[default_bundles["rank"] <= 2]
    assert sorted(top["bundle_id"]) == sorted(expect["bundle_id"])


@pytest.mark.slow
def test_substitute_pairs_are_never_inside_a_bundle(demo, all_bundles):
    run = demo["year"]
    subs = pd.DataFrame({"item_a": ["business shirt"], "item_b": ["tie"], "count": [1], "count_a": [1],
                         "count_b": [1], "n_receipts": [1], "lift": [0.1], "p_value": [0.0], "q_value": [0.0],
                         "relation": ["test"]})
    assert (_sets(all_bundles) == frozenset({"business shirt", "tie"})).any()
    bundles = build_bundles(dataclasses.replace(run, substitutes=subs), demo["lines"], demo["catalog"],
                            max_per_anchor=None)
    assert len(bundles) > 0
    assert not _sets(bundles).map(lambda s: {"business shirt", "tie"} <= s).any()
    # and the run's own substitute pairs (found at this level) are never together either
    pairs = list(zip(run.substitutes["item_a"], run.substitutes["item_b"]))
    assert not _sets(all_bundles).map(lambda s: any({a, b} <= s for a, b in pairs)).any()
    # nor the demo's planted SKU-level substitutes
    for sub in demo["truth"]["substitutes"]:
        assert not all_bundles["items"].map(lambda t: {sub["sku_a"], sub["sku_b"]} <= set(t)).any()


@pytest.mark.slow
def test_cannibalised_substitute_is_flagged_and_costed(demo, all_bundles):
    run = demo["year"]
    subs = pd.DataFrame({"item_a": ["multivitamin"], "item_b": ["vitamin C"], "count": [1], "count_a": [1],
                         "count_b": [1], "n_receipts": [1], "lift": [0.1], "p_value": [0.0], "q_value": [0.0],
                         "relation": ["test"]})
    # shelf offers only on both sides: the till fallback (taken when the substitute loss sinks every shelf
    # offer) is another offer, not the same offer with a cost added
    shelf = Policy(till_offers=False)
    bundles = build_bundles(dataclasses.replace(run, substitutes=subs), demo["lines"], demo["catalog"],
                            max_per_anchor=None, policy=shelf)
    pair = frozenset({"cold remedy", "vitamin C"})
    rows = bundles[_sets(bundles) == pair].set_index("store")
    plain = build_bundles(run, demo["lines"], demo["catalog"], max_per_anchor=None, policy=shelf)
    plain = plain[_sets(plain) == pair].set_index("store")
    cat = demo["catalog"].set_index("sku")
    period = _period(demo["lines"]).assign(label=lambda d: d["sku"].map(cat["subcategory"]))
    period = period.assign(margin=period["quantity"] * (period["sku"].map(cat["price"]) -
                                                        period["sku"].map(cat["unit_cost"])))
    assert rows["substitute_warning"].str.contains("multivitamin").all()
    for store, row in rows.iterrows():
        mine = period[period["store_id"] == store]
        labels = mine.groupby("receipt_id")["label"].agg(set)
        gap = labels[labels.map(lambda s: "cold remedy" in s and "vitamin C" not in s)].index
        lost = mine[mine["receipt_id"].isin(gap) & (mine["label"] == "multivitamin")]["margin"].sum()
        assert row["substitute_margin_loss"] == pytest.approx(lost / len(gap))
        assert row["expected_profit"] <= plain.loc[store, "expected_profit"] + 1e-9
    assert (rows["substitute_margin_loss"] > 0).any()
    assert plain["substitute_warning"].isna().all()


@pytest.mark.slow
def test_inactive_skus_are_never_chosen(demo, all_bundles):
    lines = demo["lines"]
    recent = set(_period(lines)["sku"])
    for items in all_bundles["items"]:
        assert set(items) <= recent
    # Stop selling the tie that most stores pick: it must disappear, the bundle must not.
    ties = all_bundles[_sets(all_bundles) == frozenset({"business shirt", "tie"})]
    tie = ties["items"].map(lambda t: t[1]).mode().iloc[0]
    cut = lines["timestamp"].max() - pd.Timedelta(weeks=10)
    stopped = lines[~((lines["sku"] == tie) & (lines["timestamp"] > cut))]
    again = build_bundles(demo["year"], stopped, demo["catalog"], max_per_anchor=None)
    assert not again["items"].map(lambda t: tie in t).any()
    moved = again[_sets(again) == frozenset({"business shirt", "tie"})]
    assert len(moved) > 0
    # the bundle keeps its id although its tie changed: approvals survive
    assert set(moved["bundle_id"]) == set(ties["bundle_id"])


@pytest.mark.slow
def test_bundle_id_is_stable_across_runs(demo, default_bundles):
    again = build_bundles(demo["year"], demo["lines"], demo["catalog"])
    pd.testing.assert_frame_equal(again, default_bundles)
    row = default_bundles.iloc[0]
    assert row["bundle_id"] == bundle_id(row["level_items"], row["store"], "subcategory")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text("abc", min_size=1, max_size=3), min_size=2, max_size=5, unique=True),
       st.sampled_from(["S01", "S02", None]), st.randoms())
def test_bundle_id_ignores_item_order(labels, store, rnd):
    shuffled = list(labels)
    rnd.shuffle(shuffled)
    assert bundle_id(labels, store, "sku") == bundle_id(shuffled, store, "sku")
    assert bundle_id(labels, store, "sku") != bundle_id(labels, "other", "sku")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["x", "y"]), st.sampled_from([4.0, 4.5, 5.0])), min_size=1, max_size=30))
def test_regular_price_is_the_most_common_price_the_higher_on_a_tie(sales):
    lines = pd.DataFrame(sales, columns=["sku", "unit_price"])
    got = regular_prices(lines, pd.DataFrame({"sku": ["x", "y"]}))
    for sku, grp in lines.groupby("sku"):
        counts = grp["unit_price"].value_counts()
        assert got[sku] == max(p for p, n in counts.items() if n == counts.max())


# --------------------------------------------------------------------------- economics, by hand


def _hand_made(tmp_path):
    """Pair AB bought together by 90% of A buyers; pair CD by 15% of C buyers but C sells 4x more."""
    rows, rid = [], 0

    def receipt(*skus):
        nonlocal rid
        rid += 1
        for k, s in enumerate(skus):
            rows.append({"receipt_id": f"R{rid:05d}", "timestamp": f"2025-03-0{1 + rid % 7} 10:{k:02d}:00",
                         "store_id": "S1", "sku": s, "quantity": 1, "unit_price": 10.0})

    for i in range(90):
        receipt("A", "B")
    for i in range(10):
        receipt("A", f"F{i % 10}")
    for i in range(60):
        receipt("C", "D")
    for i in range(340):
        receipt("C", f"F{i % 10}")
    for i in range(1100):
        receipt(f"F{i % 10}")
    path = tmp_path / "receipts.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    skus = ["A", "B", "C", "D"] + [f"F{i}" for i in range(10)]
    catalog = pd.DataFrame({"sku": skus, "name": skus, "name_zh": skus, "department": "grocery",
                            "subcategory": [f"sub {s}" for s in skus], "price": 10.0, "unit_cost": 2.0})
    return path, catalog


def test_large_gap_beats_high_confidence(tmp_path):
    path, catalog = _hand_made(tmp_path)
    receipts = load_receipts(path)
    mine_to_folder(receipts, tmp_path / "run", catalog, MiningParams(level="sku", min_count=20))
    bundles = build_bundles(read_run(tmp_path / "run"), receipts.lines, catalog)
    ab = bundles[_sets(bundles) == frozenset({"A", "B"})].iloc[0]
    cd = bundles[_sets(bundles) == frozenset({"C", "D"})].iloc[0]
    assert (ab["anchor"], ab["gap_tickets"], ab["set_tickets"]) == ("A", 10, 90)
    assert (cd["anchor"], cd["gap_tickets"], cd["set_tickets"]) == ("C", 340, 60)
    assert ab["confidence"] == pytest.approx(0.9) and cd["confidence"] == pytest.approx(0.15)
    assert cd["expected_profit"] > ab["expected_profit"]
    assert cd["rank"] < ab["rank"]
    assert cd["recommended"]


# --------------------------------------------------------------------------- run folder and exports


def test_module_doctests():
    import doctest

    import recommender.bundles

    failed, tried = doctest.testmod(recommender.bundles, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0


@pytest.mark.slow
def test_bundles_for_run_stores_the_table(demo, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(demo["root"] / "year", run_dir)
    catalog_path = demo["root"] / "demo" / "catalog.csv"
    # receipts=None: the run manifest's input file, read again
    frame, path = bundles_for_run(run_dir, None, catalog_path, top=3)
    pd.testing.assert_frame_equal(frame, build_bundles(demo["year"], demo["lines"], demo["catalog"], top=3))
    assert (path / "bundles.csv").exists() and (path / "bundles.parquet").exists()
    back = read_run(path)
    assert back.manifest["bundles"]["rows"] == len(frame)
    assert back.manifest["level"] == "subcategory"
    pd.testing.assert_frame_equal(back.rules, demo["year"].rules)
    stored = back.tables["bundles"]
    assert stored["items"].tolist() == frame["items"].tolist()
    assert stored["bundle_id"].tolist() == frame["bundle_id"].tolist()
    np.testing.assert_allclose(stored["expected_profit"], frame["expected_profit"])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "html", "pos"])
def test_export_bundles_accepts_the_table(default_bundles, tmp_path, fmt):
    out = export_bundles(default_bundles, fmt, tmp_path / f"bundles.{fmt}", selection="all", lang="zh")
    rec = default_bundles
    if fmt == "csv":
        back = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
        assert back.iloc[:, 0].tolist() == rec["bundle_id"].tolist()
    elif fmt == "xlsx":
        back = pd.read_excel(out, dtype=str)
        assert len(back) == len(rec)
    elif fmt == "html":
        text = out.read_text(encoding="utf-8")
        assert all(f'data-bundle="{b}"' in text for b in rec["bundle_id"])
    else:
        back = pd.read_csv(out, dtype={"promotion_id": str, "sku": str, "store": str})
        totals = back.groupby(["store", "promotion_id"])["promotion_price"].sum().round(2)
        expect = rec.set_index(["store", "bundle_id"])["bundle_price"]
        for key, total in totals.items():
            assert total == pytest.approx(expect[key])
        assert len(totals) == len(rec)
