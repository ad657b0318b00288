"""The demo shop: deterministic, consistent catalog, and its ground truth recoverable from the files.

Every figure compared with ground_truth.json is recomputed here from the CSV files
with plain pandas, never taken from the generator.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.catalog import clean_catalog
from recommender.demo import DEMO_DIR, demo_paths, ensure_demo, generate_demo

N_SMALL = 5_000
CJK = re.compile(r"[\u4e00-\u9fff]")


def _read(paths):
    catalog = pd.read_csv(paths["catalog"], dtype={"sku": str}, encoding="utf-8")
    receipts = pd.read_csv(paths["receipts"], dtype={"receipt_id": str, "sku": str, "customer_id": str,
                                                     "store_id": str}, keep_default_na=False,
                           na_values={"quantity": [""], "unit_price": [""]}, encoding="utf-8")
    truth = json.loads(Path(paths["ground_truth"]).read_text(encoding="utf-8"))
    return catalog, receipts, truth


def _clean(receipts):
    """Sale lines: no cancellation receipt, positive quantity, a SKU, exact duplicates dropped."""
    keep = ~receipts["receipt_id"].str.startswith("C") & (receipts["quantity"] > 0) & (receipts["sku"] != "")
    return receipts[keep].drop_duplicates()


def _presence(lines, catalog, level="subcategory"):
    """Receipt x item boolean table at a catalog level."""
    labels = lines["sku"].map(catalog.set_index("sku")[level]) if level != "sku" else lines["sku"]
    return pd.crosstab(lines["receipt_id"], labels).gt(0)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    paths = generate_demo(tmp_path_factory.mktemp("demo"), n_receipts=N_SMALL)
    catalog, receipts, truth = _read(paths)
    clean = _clean(receipts)
    return {"paths": paths, "catalog": catalog, "receipts": receipts, "truth": truth, "clean": clean,
            "presence": _presence(clean, catalog)}


def _no_promotion_receipts(clean, truth):
    """Receipt ids outside the post-launch test stores (where the promotion never ran)."""
    heads = clean.drop_duplicates("receipt_id")
    treated = heads["store_id"].isin(truth["test_stores"]) & (heads["timestamp"] >= truth["launch_date"])
    return pd.Index(heads.loc[~treated, "receipt_id"])


# ---------------------------------------------------------------- files and determinism

def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a = generate_demo(tmp_path / "a", seed=7, n_receipts=1_500)
    b = generate_demo(tmp_path / "b", seed=7, n_receipts=1_500)
    c = generate_demo(tmp_path / "c", seed=8, n_receipts=1_500)
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    assert a["receipts"].read_bytes() != c["receipts"].read_bytes()


def test_writes_only_its_four_files_and_reports_progress(tmp_path):
    calls = []
    paths = generate_demo(tmp_path, n_receipts=1_000, progress=lambda d, t, m: calls.append((d, t, m)))
    assert paths == demo_paths(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.csv", "ground_truth.json", "launch.json",
                                                          "receipts.csv"]
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]


def test_demo_dir_is_the_repository_data_folder():
    assert DEMO_DIR == Path(__file__).resolve().parents[1] / "data" / "demo"
    assert demo_paths()["receipts"] == DEMO_DIR / "receipts.csv"


def test_too_few_receipts_is_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_demo(tmp_path, n_receipts=10)


# ---------------------------------------------------------------- catalog

def test_catalog_hierarchy_is_consistent(small):
    cat = small["catalog"]
    assert 150 <= len(cat) <= 300
    assert cat["sku"].is_unique
    assert set(cat["department"]) == {"apparel", "pharmacy", "grocery"}
    assert cat.groupby("subcategory")["category"].nunique().max() == 1
    assert cat.groupby("category")["department"].nunique().max() == 1
    assert (cat.groupby("subcategory").size() >= 2).all()


def test_catalog_has_chinese_names_and_awkward_codes(small):
    cat = small["catalog"]
    assert cat["name_zh"].map(lambda s: bool(CJK.search(s))).all()
    assert cat["name"].str.match(r"^[ -~]+$").all()  # English names are plain ASCII
    assert cat["sku"].str.startswith("0").any()
    assert cat["sku"].str.contains("[A-Za-z]").any()
    # codes survive the catalog loader as text
    loaded = clean_catalog(pd.read_csv(small["paths"]["catalog"], dtype=str))
    assert list(loaded["sku"]) == list(cat["sku"])


def test_catalog_prices_and_tags(small):
    cat = small["catalog"]
    margin = 1 - cat["unit_cost"] / cat["price"]
    bag = cat["subcategory"] == "medicine bag"
    assert margin[~bag].between(0.29, 0.61).all()
    assert bag.any() and cat.loc[bag, "unit_cost"].between(1, 2).all() and cat.loc[bag, "price"].between(4, 7).all()
    needs = cat.groupby("subcategory")["need"].first()
    for sub in ("calcium", "vitamin D", "cod-liver oil"):
        assert "bone health" in needs[sub]
    for sub in ("cold remedy", "vitamin C"):
        assert "cold relief" in needs[sub]
    for sub in ("stomach remedy", "heat-clearing remedy", "cold remedy", "dewormer"):
        assert "family first aid" in needs[sub]
    assert set(cat.loc[cat["subcategory"].isin(["stomach remedy", "dewormer"]), "season"]) == {"summer"}


# ---------------------------------------------------------------- receipts shape

def test_receipts_shape(small):
    rec, truth, clean = small["receipts"], small["truth"], small["clean"]
    assert list(rec.columns) == ["receipt_id", "timestamp", "store_id", "customer_id", "sku", "quantity",
                                 "unit_price"]
    assert clean["receipt_id"].nunique() == truth["n_receipts"] == N_SMALL
    ts = pd.to_datetime(rec["timestamp"], format="%Y-%m-%d %H:%M:%S")
    assert ts.min() >= pd.Timestamp("2025-01-01") and ts.max() < pd.Timestamp("2026-01-01")
    assert ts.dt.month.nunique() == 12
    assert sorted(rec["store_id"].unique()) == [f"S{i:02d}" for i in range(1, 13)]
    assert sorted(truth["test_stores"] + truth["control_stores"]) == sorted(rec["store_id"].unique())
    heads = clean.drop_duplicates("receipt_id")
    assert 0.2 < (heads["customer_id"] == "").mean() < 0.4
    visits = heads.loc[heads["customer_id"] != "", "customer_id"].value_counts()
    assert (visits >= 2).mean() > 0.5
    lines = clean.groupby("receipt_id").size()
    assert (lines <= 6).mean() > 0.85 and lines.max() > 6
    # one receipt, one store, one time, one customer
    assert (rec.groupby("receipt_id")[["timestamp", "store_id", "customer_id"]].nunique() == 1).all().all()


def test_dirt_counts_match_the_file(small):
    rec, dirt = small["receipts"], small["truth"]["dirt"]
    cancel = rec["receipt_id"].str.startswith("C")
    assert rec.loc[cancel, "receipt_id"].nunique() == dirt["cancelled_receipts"]
    assert cancel.sum() == dirt["cancelled_lines"]
    assert (rec.loc[cancel, "quantity"] < 0).all()
    assert sorted(rec.loc[cancel, "receipt_id"].unique()) == sorted(dirt["cancelled_receipt_ids"])
    assert ((rec["quantity"] < 0) & ~cancel).sum() == dirt["return_lines"]
    assert rec.duplicated().sum() == dirt["duplicate_lines"]
    assert (rec["sku"] == "").sum() == dirt["empty_sku_lines"]
    assert len(rec) == small["truth"]["total_lines"]
    assert dirt["total_dirty_lines"] < 0.01 * len(rec)


def test_no_dirt_on_post_launch_test_store_receipts(small):
    """Their ticket value must not depend on how a loader treats dirt."""
    rec, truth = small["receipts"], small["truth"]
    treated = rec["store_id"].isin(truth["test_stores"]) & (rec["timestamp"] >= truth["launch_date"])
    part = rec[treated]
    assert treated.sum() > 0
    assert not part["receipt_id"].str.startswith("C").any()
    assert (part["quantity"] > 0).all() and (part["sku"] != "").all()
    assert not part.duplicated().any()
    originals = {rid[1:] for rid in truth["dirt"]["cancelled_receipt_ids"]}
    assert not part["receipt_id"].isin(originals).any()


def test_cancellations_repeat_an_earlier_sale(small):
    rec = small["receipts"]
    cancel = rec[rec["receipt_id"].str.startswith("C")]
    for rid, lines in list(cancel.groupby("receipt_id"))[:20]:
        sale = rec[rec["receipt_id"] == rid[1:]].drop_duplicates()
        sale = sale[sale["quantity"] > 0]
        assert sorted(zip(lines["sku"], -lines["quantity"])) == sorted(zip(sale["sku"], sale["quantity"]))
        assert lines["timestamp"].iloc[0] > sale["timestamp"].iloc[0]
        assert lines["store_id"].iloc[0] == sale["store_id"].iloc[0]


# ---------------------------------------------------------------- planted structure

@pytest.mark.parametrize("k", range(4))
def test_planted_association_is_recoverable(small, k):
    rule = small["truth"]["associations"][k]
    pres = small["presence"]
    ante = pres[rule["antecedent"]].all(axis=1)
    cons = pres[rule["consequent"]].all(axis=1)
    quiet = pres.index.isin(_no_promotion_receipts(small["clean"], small["truth"]))
    a, both = (ante & quiet).sum(), (ante & cons & quiet).sum()
    confidence = both / a
    recorded = rule["without_promotion"]
    assert (a, both) == (recorded["antecedent_receipts"], recorded["both_receipts"])
    p = rule["planted_add_probability"]
    se = np.sqrt(p * (1 - p) / a)
    # the planted mechanism adds the consequent with probability p; background adds a little more
    assert p - 3 * se <= confidence <= p + 0.15
    base = (cons & ~ante & quiet).sum() / (~ante & quiet).sum()
    assert confidence > 4 * base


def test_tie_after_business_shirt_is_strong_and_tie_alone_is_rare(small):
    pres = small["presence"]
    quiet = pres.index.isin(_no_promotion_receipts(small["clean"], small["truth"]))
    p_tie = pres.loc[quiet, "tie"].mean()
    p_tie_given_shirt = pres.loc[quiet & pres["business shirt"], "tie"].mean()
    assert p_tie < 0.1
    assert 0.3 < p_tie_given_shirt < 0.55


def test_planted_association_shows_at_sku_level_for_dominant_skus(small):
    rule = small["truth"]["associations"][0]
    pres = _presence(small["clean"], small["catalog"], level="sku")
    ante, cons = pres[rule["antecedent_skus"][0]], pres[rule["consequent_skus"][0]]
    lift = (ante & cons).mean() / (ante.mean() * cons.mean())
    assert lift > 3


def test_family_kit_sells_together_only_in_summer(small):
    kit = small["truth"]["summer_kit"]
    pres = small["presence"]
    months = small["clean"].drop_duplicates("receipt_id").set_index("receipt_id")["timestamp"].str[5:7].astype(int)
    summer = months.reindex(pres.index).isin(kit["months"]).to_numpy()
    all_four = pres[kit["items"]].all(axis=1).to_numpy()
    assert all_four[summer].sum() == kit["summer"]["receipts_with_all_items"]
    assert all_four[~summer].sum() == kit["outside_summer"]["receipts_with_all_items"]
    assert all_four[summer].mean() > 10 * max(all_four[~summer].mean(), 1 / (~summer).sum())
    # outside summer the four items still sell, just not together
    assert (pres.loc[~summer, kit["items"]].sum() > 0).all()


def test_substitutes_are_rarely_bought_together(small):
    pres = _presence(small["clean"], small["catalog"], level="sku")
    for pair in small["truth"]["substitutes"]:
        a, b = pres[pair["sku_a"]], pres[pair["sku_b"]]
        together = int((a & b).sum())
        assert (int(a.sum()), int(b.sum()), together) == (pair["count_a"], pair["count_b"], pair["count_ab"])
        expected = a.sum() * b.sum() / len(pres)
        assert together < 0.25 * expected


# ---------------------------------------------------------------- bundle launch and its true effect

def _tickets(clean, truth):
    c = clean.assign(value=clean["quantity"] * clean["unit_price"])
    t = c.groupby("receipt_id").agg(value=("value", "sum"), units=("quantity", "sum"),
                                    store=("store_id", "first"), ts=("timestamp", "first"))
    t["test"] = t["store"].isin(truth["test_stores"])
    t["post"] = t["ts"] >= truth["launch_date"]
    return t


def _check_effect(clean, truth):
    eff = truth["true_effect"]
    t = _tickets(clean, truth)
    treated = t[t["test"] & t["post"]]
    assert len(treated) == eff["n_receipts"]
    assert treated["value"].mean() == pytest.approx(eff["atv_with"], abs=1e-4)
    assert treated["units"].mean() == pytest.approx(eff["units_with"], abs=1e-4)
    assert eff["atv_effect"] == pytest.approx(eff["atv_with"] - eff["atv_without"], abs=1e-4)
    assert eff["atv_effect_pct"] == pytest.approx(100 * eff["atv_effect"] / eff["atv_without"], abs=1e-4)
    assert eff["atv_effect"] > 0 and eff["units_effect"] > 0
    for cell, sel in (("control_pre", ~t["test"] & ~t["post"]), ("control_post", ~t["test"] & t["post"])):
        assert t.loc[sel, "value"].mean() == pytest.approx(eff["observed_mean_atv"][cell], rel=0.02)
    # a common trend: control stores change too, so a naive pre/post is biased by more than the launch did
    control_change = eff["observed_mean_atv"]["control_post"] - eff["observed_mean_atv"]["control_pre"]
    assert eff["naive_pre_post"] - eff["atv_effect"] > eff["atv_effect"]
    assert control_change > 0
    return t


def test_true_effect_is_consistent_with_the_receipts(small):
    _check_effect(small["clean"], small["truth"])


def test_bundle_prices_only_after_launch_in_test_stores(small):
    clean, cat, truth = small["clean"], small["catalog"], small["truth"]
    regular = clean["sku"].map(cat.set_index("sku")["price"])
    cut = clean[clean["unit_price"] < regular - 1e-9]
    assert len(cut) > 0
    assert cut["store_id"].isin(truth["test_stores"]).all()
    assert (cut["timestamp"] >= truth["launch_date"]).all()
    addons = {a for b in truth["bundles"] for a in b["addons"]}
    assert set(cut["sku"].map(cat.set_index("sku")["subcategory"])) <= addons
    elsewhere = clean.drop(cut.index)
    assert np.allclose(elsewhere["unit_price"], regular.drop(cut.index))


def test_attach_rates_rise_in_test_stores_after_launch(small):
    truth, pres = small["truth"], small["presence"]
    t = _tickets(small["clean"], truth).reindex(pres.index)
    treated = (t["test"] & t["post"]).to_numpy()
    for rate in truth["true_effect"]["attach_rates"]:
        anchor = pres[rate["anchor"]].to_numpy()
        complete = pres[rate["addons"]].all(axis=1).to_numpy()
        observed = (anchor & complete & treated).sum() / (anchor & treated).sum()
        assert observed == pytest.approx(rate["attach_rate_with"], abs=1e-6)
        assert rate["attach_rate_with"] > rate["attach_rate_without"]


# ---------------------------------------------------------------- invariants and full size

@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1))
def test_any_seed_keeps_accounting_and_hierarchy(tmp_path_factory, seed):
    paths = generate_demo(tmp_path_factory.mktemp("seed"), seed=seed, n_receipts=600)
    catalog, receipts, truth = _read(paths)
    assert catalog.groupby("subcategory")["category"].nunique().max() == 1
    assert receipts.duplicated().sum() == truth["dirt"]["duplicate_lines"]
    assert (receipts["sku"] == "").sum() == truth["dirt"]["empty_sku_lines"]
    assert len(receipts) == truth["total_lines"] == truth["clean_lines"] + truth["dirt"]["total_dirty_lines"]
    assert set(receipts["sku"]) - {""} <= set(catalog["sku"])
    clean = _clean(receipts)
    treated = _tickets(clean, truth).query("test and post")
    assert treated["value"].mean() == pytest.approx(truth["true_effect"]["atv_with"], abs=1e-4)


@pytest.mark.slow
def test_ensure_demo_generates_full_size_once(tmp_path):
    paths = ensure_demo(tmp_path)
    catalog, receipts, truth = _read(paths)
    assert truth["n_receipts"] == 50_000 and truth["seed"] == 20250101
    clean = _clean(receipts)
    _check_effect(clean, truth)
    pres = _presence(clean, catalog)
    quiet = pres.index.isin(_no_promotion_receipts(clean, truth))
    assert pres.loc[quiet & pres["business shirt"], "tie"].mean() == pytest.approx(0.4, abs=0.05)
    # present files are left alone
    before = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    assert ensure_demo(tmp_path) == paths
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == before
    paths["ground_truth"].unlink()
    ensure_demo(tmp_path)
    assert json.loads(paths["ground_truth"].read_text(encoding="utf-8")) == truth


# ---------------------------------------------------------------- the launch as a record, and its true take rates

def test_take_rates_follow_true_curves_that_are_not_a_multiple_of_the_defaults(small):
    from recommender.demo import true_take_rate
    from recommender.policy import DEFAULT_CURVES

    truth = small["truth"]
    curves = truth["true_take_rate_curves"]
    assert set(curves) >= {"apparel", "pharmacy"}
    for dept, c in curves.items():
        assert set(c) == {"q0", "q_max", "k"}
        d = DEFAULT_CURVES[dept]
        # q0 / q_max ratios differ from the default's, or k differs: no single factor maps one onto the other
        assert not np.isclose(c["q0"] / c["q_max"], d.q0 / d.q_max) or c["k"] != d.k
    for b, rate in zip(truth["bundles"], truth["true_effect"]["attach_rates"]):
        assert b["true_take_rate"] == pytest.approx(true_take_rate(b["department"], b["saving_pct"]), abs=1e-5)
        assert b["true_attach_uplift"] == pytest.approx(rate["attach_rate_effect"], abs=1e-6)
        assert b["name"] == rate["bundle"]


def test_a_gap_ticket_that_takes_buys_every_missing_addon(small):
    # every post-launch test-store anchor ticket that is complete now but was not without the promotion
    # took the offer; takers / gap tickets is a binomial draw around the true take rate
    truth = small["truth"]
    for b, rate in zip(truth["bundles"], truth["true_effect"]["attach_rates"]):
        takers = rate["attach_rate_effect"] * rate["anchor_receipts"]
        gap = rate["gap_receipts"]
        assert gap > 0
        share = takers / gap
        se = np.sqrt(b["true_take_rate"] * (1 - b["true_take_rate"]) / gap)
        assert abs(share - b["true_take_rate"]) < 4.5 * se + 1e-9, b["name"]


def test_launch_json_is_a_launch_record(small):
    from recommender.launch import read_launch

    launch = read_launch(small["paths"]["launch"])
    truth = small["truth"]
    assert launch["stores"] == truth["test_stores"] and launch["control_stores"] == truth["control_stores"]
    assert launch["from"] == truth["launch_date"] and launch["promotion_id"]
    assert [b["name"] for b in launch["bundles"]] == [b["name"] for b in truth["bundles"]]
    cat = small["catalog"].set_index("sku")
    for b, t in zip(launch["bundles"], truth["bundles"]):
        assert b["anchor"] == [t["anchor"]] and b["addons"] == t["addons"] and b["level"] == "subcategory"
        comps = {c["sku"]: c for c in b["components"]}
        assert sum(c["promotion_price"] for c in comps.values()) == pytest.approx(b["bundle_price"], abs=0.011)
        assert b["regular_price"] == pytest.approx(sum(cat.loc[s, "price"] for s in comps), abs=1e-6)
        p = b["projection"]
        assert 0 < p["take_rate"] < 1
        assert p["takers_per_store_week"] == pytest.approx(p["take_rate"] * p["gap_tickets_per_store_week"])
