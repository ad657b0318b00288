"""Bundles from what real till exports contain: no catalog, no stores, no costs, fees, any currency."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.runs import read_run

FEES = {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "CRUK"}


def small_shop(path, seed=7, n=600, with_store=False):
    """600 receipts in 8 weeks: a shirt on 40%, a tie on 35% of them and never alone (lift about 2.5)."""
    rng = np.random.default_rng(seed)
    prices = {"shirt": 40.0, "tie": 20.0, "socks": 5.0, "belt": 25.0, "scarf": 15.0, "jeans": 50.0, "cap": 12.0,
              "gloves": 10.0}
    others = ["socks", "belt", "scarf", "jeans", "cap", "gloves"]
    rows = []
    for r in range(n):
        items = []
        if rng.random() < 0.4:
            items.append("shirt")
            if rng.random() < 0.35:
                items.append("tie")
        items += [o for o in others if rng.random() < 0.2] or [others[r % len(others)]]
        ts = pd.Timestamp("2025-03-01") + pd.Timedelta(minutes=int(rng.integers(0, 8 * 7 * 24 * 60)))
        for i in items:
            row = {"receipt": f"R{r:04d}", "time": ts, "item": i, "price": prices[i]}
            if with_store:
                row["Country"] = "France" if r % 2 else "Spain"
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _mine(cli, path, out, *extra):
    res = cli("mine", path, "--out", out, *extra)
    assert res.returncode == 0, res.stderr
    return out


def _bundles(cli, run, *extra):
    res = cli("bundles", run, *extra)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res, read_run(run).tables["bundles"]


def _sets(frame):
    return frame["level_items"].map(frozenset)


def test_small_shop_without_catalog_or_stores_gets_the_shirt_and_tie(cli, tmp_path):
    run = _mine(cli, small_shop(tmp_path / "shop.csv"), tmp_path / "run", "--min-count", "10")
    res, b = _bundles(cli, run, "--currency", "GBP")
    pair = b[_sets(b) == frozenset({"shirt", "tie"})]
    assert len(pair) == 1  # one store: the whole file
    row = pair.iloc[0]
    assert pd.isna(row["store"]) and row["anchor"] == "shirt"
    assert row["cost_source"] == "assumed" and row["currency"] == "GBP"
    assert 2.0 < row["lift"] < 3.0  # the association a fixed lift >= 3 used to throw away
    # recommended: a shelf discount would be paid to every shirt + tie ticket, so the tie is offered at the
    # till to shirt baskets without one, and the projection charges no set ticket
    assert bool(row["recommended"]) and row["discount_type"] == "till_addon" and row["expected_profit"] > 0
    shelf = [o for o in json.loads(row["offers"]) if o["discount_type"] != "till_addon"]
    assert shelf and not any(o["recommended"] for o in shelf)
    assert row["reason_en"].startswith("At the till: add tie to your shirt")
    assert "Costs are assumed" in res.stdout
    summary = read_run(run).manifest["bundles"]
    assert summary["catalog"]["filled"]["unit_cost"] == 8 and summary["catalog"]["catalog_given"] is False
    assert summary["currency"] == "GBP"


def test_assumed_cost_follows_the_margin_flag(cli, tmp_path):
    run = _mine(cli, small_shop(tmp_path / "shop.csv"), tmp_path / "run", "--min-count", "10")
    _bundles(cli, run, "--assume-margin", "0.5", "--max-per-anchor", "5")
    offers = json.loads(read_run(run).tables["bundles"]["offers"].iloc[0])
    comps = json.loads(read_run(run).tables["bundles"]["components"].iloc[0])
    assert offers and comps
    b = read_run(run).tables["bundles"].iloc[0]
    # margin per unit at 50%: the added margin is half the add-on's regular price
    assert b["added_margin"] == pytest.approx(0.5 * {"tie": 20.0, "shirt": 40.0}[b["addons"][0]], rel=1e-6)


def test_stores_from_any_column(cli, tmp_path):
    path = small_shop(tmp_path / "shop.csv", with_store=True)
    run = _mine(cli, path, tmp_path / "run", "--min-count", "10", "--map", "store_id=Country")
    _, b = _bundles(cli, run)
    pair = b[_sets(b) == frozenset({"shirt", "tie"})]
    assert sorted(pair["store"]) == ["France", "Spain"]


def test_partial_catalog_without_costs(cli, tmp_path):
    path = small_shop(tmp_path / "shop.csv")
    cat = tmp_path / "catalog.csv"
    pd.DataFrame({"sku": ["shirt", "tie", "socks"], "name": ["Oxford shirt", "Silk tie", "Socks"],
                  "department": ["apparel"] * 3}).to_csv(cat, index=False)
    run = _mine(cli, path, tmp_path / "run", "--min-count", "10", "--catalog", cat)
    _, b = _bundles(cli, run)
    pair = b[_sets(b) == frozenset({"shirt", "tie"})].iloc[0]
    assert list(pair["names"]) == ["Oxford shirt", "Silk tie"]  # the catalog's names win
    assert pair["cost_source"] == "assumed" and pair["reason_type"] == "complete_the_look"
    filled = read_run(run).manifest["bundles"]["catalog"]
    # no name column on these lines: nothing to fill names from; prices and costs for all 8 items
    assert filled["filled"] == {"name": 0, "price": 8, "unit_cost": 8} and filled["catalog_given"] is True


def test_catalog_costs_are_used_where_given(cli, tmp_path):
    path = small_shop(tmp_path / "shop.csv")
    cat = tmp_path / "catalog.csv"
    pd.DataFrame({"sku": ["shirt", "tie"], "unit_cost": [20.0, 8.0]}).to_csv(cat, index=False)
    run = _mine(cli, path, tmp_path / "run", "--min-count", "10")
    _, b = _bundles(cli, run, "--catalog", cat)
    pair = b[_sets(b) == frozenset({"shirt", "tie"})].iloc[0]
    assert pair["cost_source"] == "catalog"
    assert pair["added_margin"] == pytest.approx(20.0 - 8.0)


def test_currency_precedence_and_no_symbol_when_unknown(cli, tmp_path):
    from recommender.money import resolve_currency
    from recommender.policy import Policy

    assert resolve_currency("GBP", pd.DataFrame({"currency": ["EUR"]}), Policy(currency="USD")) == "GBP"
    assert resolve_currency(None, pd.DataFrame({"currency": ["EUR"]}), Policy(currency="USD")) == "EUR"
    assert resolve_currency(None, None, Policy(currency="USD"), {"currency": "CNY"}) == "USD"
    assert resolve_currency(None, None, Policy(), {"currency": "CNY"}) == "CNY"
    run = _mine(cli, small_shop(tmp_path / "shop.csv"), tmp_path / "run", "--min-count", "10")
    _, b = _bundles(cli, run, "--assume-margin", "0.6", "--min-saving", "0")
    assert b["currency"].isna().all()
    html = tmp_path / "cards.html"
    assert cli("export", run, "--format", "html", "--out", html, "--all").returncode == 0
    text = html.read_text(encoding="utf-8")
    for symbol in ("¥", "元", "£", "$", "€"):
        assert symbol not in text
    assert cli("export", run, "--format", "html", "--out", html, "--all", "--currency", "GBP").returncode == 0
    assert "£" in html.read_text(encoding="utf-8")
    bad = cli("bundles", run, "--currency", "XXQ")
    assert bad.returncode == 2 and "unknown currency" in bad.stderr and "Traceback" not in bad.stderr


def test_a_shop_without_associations_gets_an_empty_table_and_the_gate_counts(cli, tmp_path):
    rng = np.random.default_rng(3)
    rows = [{"receipt": f"R{r}", "item": f"item{i}", "price": 10.0 + i}
            for r in range(800) for i in range(8) if rng.random() < 0.3]
    path = tmp_path / "indep.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    run = _mine(cli, path, tmp_path / "run", "--min-count", "20")
    res, b = _bundles(cli, run)
    assert len(b) == 0
    header = (run / "bundles.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(header) == 1 and header[0].startswith("bundle_id,rank,store")
    assert "removed by gate" in res.stdout and "not significant" in res.stdout
    gates = read_run(run).manifest["bundles"]["gates"]
    assert set(gates) >= {"not_significant", "lift_below_min", "substitutes", "suspected_non_product", "no_price",
                          "not_recommended"}
    js = cli("bundles", run, "--json")
    assert js.returncode == 0 and json.loads(js.stdout) == []


def test_no_price_on_the_lines_rules_work_and_bundles_say_what_they_need(cli, tmp_path):
    path = small_shop(tmp_path / "shop.csv")
    frame = pd.read_csv(path).drop(columns="price")
    frame.to_csv(path, index=False)
    run = _mine(cli, path, tmp_path / "run", "--min-count", "10")
    assert len(read_run(run).rules) > 0
    sug = cli("suggest", run, "--basket", "shirt", "--json")
    assert sug.returncode == 0 and "tie" in [s["item"] for s in json.loads(sug.stdout)["suggestions"]]
    res = cli("bundles", run)
    assert res.returncode == 2 and "regular price" in res.stderr and "--catalog" in res.stderr
    assert "Traceback" not in res.stderr


def test_non_products_are_mined_marked_and_never_offered_unless_kept(cli, tmp_path):
    rows = []
    rng = np.random.default_rng(5)
    for r in range(800):
        items = [f"{20000 + i}" for i in range(25) if rng.random() < 0.06]
        if rng.random() < 0.5:
            items += ["10001"] + (["POST"] if rng.random() < 0.7 else [])
        for s in items or ["20000"]:
            rows.append({"InvoiceNo": f"{r}", "StockCode": s, "Description": "POSTAGE" if s == "POST" else f"ITEM {s}",
                         "UnitPrice": 18.0 if s == "POST" else 30.0})
    path = tmp_path / "fees.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    run = _mine(cli, path, tmp_path / "run", "--min-count", "20")
    r = read_run(run)
    assert any("POST" in set(a) | set(c) for a, c in zip(r.rules["antecedents"], r.rules["consequents"]))
    res, b = _bundles(cli, run, "--max-per-anchor", "5")
    assert not any("POST" in t for t in b["items"])
    assert read_run(run).manifest["bundles"]["gates"]["suspected_non_product"] >= 1
    sug = cli("suggest", run, "--basket", "10001", "--k", "30", "--json")
    assert sug.returncode == 0 and "POST" not in [s["item"] for s in json.loads(sug.stdout)["suggestions"]]
    _, kept = _bundles(cli, run, "--max-per-anchor", "5", "--keep-non-products", "POST")
    assert any("POST" in t for t in kept["items"])


def test_chinese_gbk_export_names_as_items_gets_chinese_bundles_in_yuan(cli, tmp_path):
    rng = np.random.default_rng(11)
    prices = {"大米": 89.0, "食用油": 69.0, "牛奶": 6.5, "面包": 8.0, "纸巾": 9.0, "牙膏": 15.0, "牙刷": 8.0}
    rows = []
    for r in range(3000):
        items = {n for n in prices if rng.random() < 0.12}
        if "大米" in items and rng.random() < 0.4:
            items.add("食用油")
        if rng.random() < 0.05:
            items.add("运费")
        for n in sorted(items) or ["纸巾"]:
            rows.append({"小票号": f"{r:06d}", "销售时间": f"2025-05-{1 + r % 28:02d} 10:00", "商品名称": n,
                         "数量": 1, "单价": 10.0 if n == "运费" else prices[n]})
    path = tmp_path / "zh.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    run = _mine(cli, path, tmp_path / "run", "--min-support", "0.01")
    assert read_run(run).manifest["suspected_non_products"] == ["运费"]
    res, b = _bundles(cli, run, "--currency", "CNY", "--max-per-anchor", "3", "--assume-margin", "0.5")
    pair = b[_sets(b) == frozenset({"大米", "食用油"})].iloc[0]
    assert list(pair["names_zh"]) == ["大米", "食用油"] or list(pair["names_zh"]) == ["食用油", "大米"]
    # a shelf value pack, or (when the set's buyers would sink a shelf discount) the till's add-on offer
    head = "结账加购：" if pair["discount_type"] == "till_addon" else "超值组合："
    assert pair["reason_zh"].startswith(head) and "大米" in pair["reason_zh"] and "食用油" in pair["reason_zh"]
    if pair["saving"] > 0 and pair["discount_type"] != "gift":
        assert pair["reason_zh"].endswith("元") or pair["reason_zh"].endswith("%")
    assert not any("运费" in t for t in b["items"])
    html = tmp_path / "cards.html"
    assert cli("export", run, "--format", "html", "--out", html, "--all", "--lang", "zh").returncode == 0
    text = html.read_text(encoding="utf-8")
    assert "大米" in text and "¥" in text and "£" not in text


def test_online_retail_must_show(cli, online_retail, tmp_path):
    from recommender.variants import Vocabulary, are_variants

    run = _mine(cli, online_retail, tmp_path / "R", "--min-support", "0.01")
    res, b = _bundles(cli, run, "--currency", "GBP")
    rec = b[b["recommended"].astype(bool)]
    assert len(rec) >= 10
    # colours and designs of one product are an assortment, not a cross-sell
    assert read_run(run).manifest["bundles"]["gates"]["same_product_variants"] > 0
    table = read_run(run).items
    prices = table.set_index("sku")["regular_price"]
    vocab = Vocabulary(table["name"], table["regular_price"])  # variants at different prices too
    mixed = b["discount_type"] == "mix_match"  # "any 2" of a variant family: variants by design
    assert mixed.sum() == read_run(run).manifest["bundles"]["mix_match"]["offers"] > 0
    families = read_run(run).manifest["bundles"]["mix_match"]["families"]
    n_rec = int((mixed & b["recommended"].astype(bool)).sum())
    assert f"mix & match: {families} variant families, {mixed.sum()} 'any 2' offers ({n_rec} recommended)" in res.stdout
    assert b.loc[mixed, "reason_en"].str.match(r"Mix & match: any 2 .+ for £\d+\.\d\d").all()
    for items, shown in zip(b.loc[~mixed, "items"], b.loc[~mixed, "names"]):
        assert not any(are_variants(shown[i], shown[j], prices[items[i]], prices[items[j]], vocab)
                       for i in range(len(items)) for j in range(i + 1, len(items)))
    shown = b.loc[~mixed, "names"].map(frozenset)
    assert frozenset({"HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE"}) not in set(shown)  # 4.95 vs 5.95
    assert frozenset({"REGENCY CAKESTAND 3 TIER", "REGENCY TEAPOT ROSES"}) in set(shown)  # one design, two products
    assert not any(set(t) & FEES for t in b["items"])
    names = read_run(run).items.set_index("sku")["name"]
    for items, shown in zip(rec["items"], rec["names"]):
        assert list(shown) == [names[s] for s in items]  # the descriptions on the lines
    assert (b["cost_source"] == "assumed").all() and (b["currency"] == "GBP").all()
    text = " ".join(b["reason_en"].tolist() + b["reason_zh"].tolist())
    assert "¥" not in text and "元" not in text
    assert "Costs are assumed" in res.stdout
    html = tmp_path / "cards.html"
    assert cli("export", run, "--format", "html", "--out", html).returncode == 0
    page = html.read_text(encoding="utf-8")
    assert "£" in page and "¥" not in page and "Costs are assumed" in page


def test_a_partial_catalog_wins_where_it_says_something():
    from recommender.catalog import complete_catalog
    from recommender.policy import DEFAULT_ASSUMED_MARGIN, Policy

    catalog = pd.DataFrame({"sku": ["a", "b", "d"], "name": ["Shirt", None, "Old stock"], "price": [30.0, 0.0, 9.0],
                            "unit_cost": [0.0, None, None], "department": ["apparel", "grocery", "grocery"]})
    items = pd.DataFrame({"sku": ["a", "b", "c"], "name": ["SHIRT", "TEA", "MUG"], "regular_price": [28.0, 12.0, 5.0],
                          "suspected_non_product": [False, False, True]})
    policy = Policy(departments={"grocery": {"assume_margin": 0.2}})
    cat, report = complete_catalog(catalog, items, policy)
    got = cat.set_index("sku")
    # a: the catalog's name, price and cost (a free sample costs 0, and says so); b: a price of 0 is no price, so
    # the lines' median, and a grocery cost at grocery's assumed margin; c: not in the catalog, from the lines at
    # the shop's assumed margin; d: in the catalog, never sold
    assert got["name"].tolist() == ["Shirt", "TEA", "Old stock", "MUG"]
    assert got["price"].tolist() == [30.0, 12.0, 9.0, 5.0]
    assert got["unit_cost"].tolist() == pytest.approx([0.0, 12.0 * 0.8, 9.0 * 0.8, 5.0 * (1 - DEFAULT_ASSUMED_MARGIN)])
    assert got["cost_source"].tolist() == ["catalog", "assumed", "assumed", "assumed"]
    assert got["suspected_non_product"].tolist() == [False, False, False, True]
    assert report["filled"] == {"name": 2, "price": 2, "unit_cost": 3} and report["catalog_given"] is True
