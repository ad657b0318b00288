"""Basket suggestions and their offline evaluation, on the planted demo shop."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recommender.evaluate
import recommender.suggest
from recommender.catalog import load_catalog
from recommender.demo import generate_demo
from recommender.evaluate import evaluate, split_by_time
from recommender.pipeline import MiningParams, mine
from recommender.receipts import load_receipts
from recommender.runs import read_run, write_run
from recommender.suggest import Recommender, _floor_percent, is_consumable, suggest


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    paths = generate_demo(folder)
    lines = load_receipts(paths["receipts"]).lines
    catalog = load_catalog(paths["catalog"])
    truth = json.loads(paths["ground_truth"].read_text(encoding="utf-8"))
    result = mine(lines, catalog, MiningParams(min_support=0.001))
    run_dir = write_run(folder / "run", itemsets_df=result.itemsets, rules_df=result.rules,
                        substitutes_df=result.substitutes, manifest=result.manifest)
    rec = Recommender.from_run(run_dir, catalog=catalog, lines=lines)
    return {"lines": lines, "catalog": catalog, "truth": truth, "run_dir": run_dir, "rec": rec, "folder": folder}


def _association(truth, antecedent):
    return next(a for a in truth["associations"] if a["antecedent"] == [antecedent])


def _receipt_sets(lines):
    return lines.groupby("receipt_id")["sku"].agg(frozenset)


def test_business_shirt_gets_the_tie_first_with_a_reason_true_to_the_counts(demo):
    assoc = _association(demo["truth"], "business shirt")
    shirt, tie = assoc["antecedent_skus"][0], assoc["consequent_skus"][0]
    top = demo["rec"].suggest([shirt], k=5)[0]
    assert top["item"] == tie and top["source"] == "rule"
    # The reason's percentage is the floor of both / shirt receipts, counted here from the lines.
    sets = _receipt_sets(demo["lines"])
    with_shirt = sets[sets.map(lambda s: shirt in s)]
    both = int(with_shirt.map(lambda s: tie in s).sum())
    assert f"{100 * both // len(with_shirt)}% of receipts" in top["reason"]
    assert f"({both:,} of {len(with_shirt):,})" in top["reason"]
    assert top["rules"][0]["antecedents"] == [shirt] and top["rules"][0]["count"] == both


def test_cold_remedy_gets_vitamin_c(demo):
    assoc = _association(demo["truth"], "cold remedy")
    got = demo["rec"].suggest(assoc["antecedent_skus"], k=5, store="S01")
    assert got[0]["item"] == assoc["consequent_skus"][0]


def test_empty_basket_and_unknown_customer_still_get_k_best_sellers(demo):
    rec, lines = demo["rec"], demo["lines"]
    for basket, customer in (([], None), ([], "nobody"), (["not-a-sku"], "nobody")):
        got = rec.suggest(basket, k=7, customer=customer, store="S03")
        assert len(got) == 7 and [g["rank"] for g in got] == list(range(1, 8))
    got = rec.suggest([], k=5, store="S03")
    s03 = lines[lines["store_id"] == "S03"].drop_duplicates(["receipt_id", "sku"])["sku"].value_counts()
    assert [g["item"] for g in got] == list(s03.index[:5])
    assert all(g["source"] == "bestseller" and g["reason"] == "best seller in this store" for g in got)


def test_substitutes_are_never_suggested(demo):
    pair = demo["truth"]["substitutes"][0]
    subs = read_run(demo["run_dir"]).substitutes
    assert ((subs["item_a"] == pair["sku_a"]) & (subs["item_b"] == pair["sku_b"])).any()  # the test is not vacuous
    for basket in ([pair["sku_a"]], [pair["sku_b"]]):
        items = [g["item"] for g in demo["rec"].suggest(basket, k=40)]
        assert {pair["sku_a"], pair["sku_b"]}.isdisjoint(items)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_invariants_for_any_basket(demo, data):
    rec, skus = demo["rec"], sorted(demo["catalog"]["sku"])
    basket = data.draw(st.lists(st.sampled_from(skus), max_size=6, unique=True))
    k = data.draw(st.integers(0, 12))
    store = data.draw(st.sampled_from([None, "S01", "S12", "elsewhere"]))
    got = rec.suggest(basket, k=k, store=store)
    items = [g["item"] for g in got]
    subs = set()
    for x in basket:
        subs |= rec.substitutes.get(x, set())
    assert len(got) == k
    assert len(set(items)) == len(items)
    assert set(items).isdisjoint(basket) and set(items).isdisjoint(subs)
    scores = [g["score"] for g in got]
    assert scores == sorted(scores, reverse=True)
    assert all(g["source"] in ("rule", "attribute", "bestseller", "history") for g in got)


def test_customer_ids_never_appear_in_the_output(demo):
    lines = demo["lines"]
    regulars = lines["customer_id"].dropna().value_counts().index[:20]
    for customer in regulars:
        out = suggest(demo["run_dir"], "A1001,000119", k=8, customer=customer, store="S01",
                      catalog=demo["catalog"], lines=lines)
        assert len(out["suggestions"]) == 8
        assert customer not in json.dumps(out, ensure_ascii=False)


def test_history_offers_consumables_again_but_not_durables_already_bought(demo):
    rec, lines = demo["rec"], demo["lines"]
    tie = _association(demo["truth"], "business shirt")["consequent_skus"][0]
    shirt = _association(demo["truth"], "business shirt")["antecedent_skus"][0]
    assert not is_consumable(demo["catalog"].set_index("sku").loc[tie].to_dict())
    assert tie in [g["item"] for g in rec.suggest([shirt], k=5)]
    owners = lines.loc[(lines["sku"] == tie) & lines["customer_id"].notna(), "customer_id"].unique()
    assert len(owners)
    for customer in owners[:10]:
        assert tie not in [g["item"] for g in rec.suggest([shirt], k=10, customer=customer)]
    # A frequent customer's repeat purchases show up as history.
    regular = lines["customer_id"].dropna().value_counts().index[0]
    got = rec.suggest([], k=5, customer=regular)
    assert any(g["source"] == "history" and "visits" in g["reason"] for g in got)


def test_subcategory_run_suggests_the_stores_best_seller_of_the_group(demo):
    lines, catalog = demo["lines"], demo["catalog"]
    result = mine(lines, catalog, MiningParams(level="subcategory", min_support=0.005))
    rec = Recommender.from_run(result, catalog=catalog, lines=lines)
    shirt = _association(demo["truth"], "business shirt")["antecedent_skus"][0]
    top = rec.suggest([shirt], k=5, store="S02")[0]
    ties = set(catalog.loc[catalog["subcategory"] == "tie", "sku"])
    s02 = lines[(lines["store_id"] == "S02") & lines["sku"].isin(ties)].drop_duplicates(["receipt_id", "sku"])
    counts = s02["sku"].value_counts()
    assert top["item"] in ties and counts[top["item"]] == counts.max()
    assert top["rules"][0]["antecedents"] == ["business shirt"] and top["rules"][0]["consequents"] == ["tie"]


def test_the_live_bundle_rides_along_when_it_covers_basket_and_suggestion(demo):
    run = read_run(demo["run_dir"])
    assoc = _association(demo["truth"], "business shirt")
    shirt, tie = assoc["antecedent_skus"][0], assoc["consequent_skus"][0]
    bundles = pd.DataFrame({"bundle_id": ["B1"], "items": [(shirt, tie)], "anchor": [shirt], "addons": [(tie,)],
                            "store": [None], "regular_price": [348.0], "bundle_price": [315.0], "saving": [33.0],
                            "reason_en": ["shirt and tie"], "reason_zh": ["衬衫配领带"], "recommended": [True]})
    folder = write_run(demo["folder"] / "run_bundles", itemsets_df=run.itemsets, rules_df=run.rules,
                       substitutes_df=run.substitutes, manifest=run.manifest, extra_tables={"bundles": bundles})
    rec = Recommender.from_run(folder, catalog=demo["catalog"], lines=demo["lines"])
    by_item = {g["item"]: g for g in rec.suggest([shirt], k=5)}
    assert by_item[tie]["bundle"] == {"bundle_id": "B1", "bundle_price": 315.0, "regular_price": 348.0,
                                      "saving": 33.0, "reason_en": "shirt and tie", "reason_zh": "衬衫配领带"}
    assert all(g["bundle"] is None for item, g in by_item.items() if item != tie)
    assert all(g["bundle"] is None for g in rec.suggest(["000119"], k=5))


@given(count=st.integers(0, 10_000), extra=st.integers(0, 10_000))
def test_percentages_in_reasons_are_rounded_down(count, extra):
    of = count + extra
    text = _floor_percent(count, of)
    if of == 0 or 100 * count < of:
        assert text == "under 1%"
    else:
        pct = int(text.rstrip("%"))
        assert pct <= 100 * count / of < pct + 1


def test_time_split_keeps_whole_receipts_on_one_side(demo):
    train, test, cutoff = split_by_time(demo["lines"], 30)
    assert set(train["receipt_id"]).isdisjoint(test["receipt_id"])
    assert len(train) + len(test) == len(demo["lines"])
    first = test.groupby("receipt_id")["timestamp"].min()
    assert (first >= cutoff).all() and (train["timestamp"] < cutoff).all()


@pytest.mark.slow
def test_evaluate_reports_every_baseline_and_the_blend_is_at_least_each_of_them(demo):
    lines = demo["lines"]
    lines = lines[lines["store_id"].isin(["S01", "S02", "S03"])]
    table = evaluate(lines, demo["catalog"], test_days=30, k=5, seed=0)
    assert list(table["method"]) == ["blend", "rules", "bestsellers", "ease", "itemknn", "blend_margin"]
    assert table["hit_rate"].between(0, 1).all() and table["coverage"].between(0, 1).all()
    assert np.allclose(table["precision"], table["hit_rate"] / 5)
    assert (table["n_test"] > 100).all()
    rate = table.set_index("method")["hit_rate"]
    assert all(rate["blend"] >= rate[m] for m in ("rules", "bestsellers", "ease", "itemknn"))
    assert table.loc[table["method"] == "bestsellers", "full_lists"].iloc[0] == 1.0


def test_without_lines_the_run_alone_still_answers(demo):
    rec = Recommender.from_run(demo["run_dir"], catalog=demo["catalog"])
    assoc = _association(demo["truth"], "business shirt")
    assert rec.suggest(assoc["antecedent_skus"], k=5)[0]["item"] == assoc["consequent_skus"][0]
    got = rec.suggest([], k=5, customer="M000001", store="S01")
    assert len(got) == 5 and all(g["reason"] == "best seller" for g in got)
    # Popularity from the run's single-item counts: the most frequent SKU comes first.
    singles = read_run(demo["run_dir"]).itemsets.query("size == 1").sort_values(["count", "items"],
                                                                             ascending=[False, True])
    assert got[0]["item"] == singles["items"].iloc[0][0]


@pytest.mark.parametrize("module", [recommender.suggest, recommender.evaluate])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
