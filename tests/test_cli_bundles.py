"""bundles, export and suggest commands on a copy of the demo run."""

from __future__ import annotations

import json
import shutil

import openpyxl
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def priced_run(demo_run, tmp_path_factory):
    from tests.conftest import run_cli

    run = tmp_path_factory.mktemp("priced") / "run"
    shutil.copytree(demo_run, run)
    res = run_cli("bundles", run)
    assert res.returncode == 0, res.stderr
    return run


def test_bundles_written_into_the_run(priced_run):
    bundles = pd.read_csv(priced_run / "bundles.csv", encoding="utf-8-sig", dtype={"store": str})
    for col in ("bundle_id", "items", "names", "anchor", "store", "regular_price", "bundle_price", "discount_type",
                "saving", "binding_constraint", "expected_profit", "break_even_take_rate", "recommended",
                "reason_en", "reason_zh"):
        assert col in bundles.columns, col
    assert (bundles["bundle_price"] <= bundles["regular_price"] + 1e-9).all()
    assert bundles["recommended"].any()
    assert (priced_run / "bundles.parquet").exists()


def table_store(run):
    bundles = pd.read_csv(run / "bundles.csv", encoding="utf-8-sig", dtype={"store": str})
    return bundles.loc[bundles["recommended"].astype(bool), "store"].iloc[0]


def test_exports_read_back(priced_run, tmp_path, cli):
    csv = tmp_path / "b.csv"
    assert cli("export", priced_run, "--format", "csv", "--lang", "zh", "--out", csv).returncode == 0
    table = pd.read_csv(csv, encoding="utf-8-sig", dtype=str)
    assert len(table) > 0 and table.apply(lambda c: c.str.contains("[\u4e00-\u9fff]", regex=True)).any().any()
    xlsx = tmp_path / "b.xlsx"
    # a store with recommended offers (the demo's test stores are still promoted in December: none there)
    store = str(table_store(priced_run))
    assert cli("export", priced_run, "--format", "xlsx", "--store", store, "--out", xlsx).returncode == 0
    ws = openpyxl.load_workbook(xlsx).active
    assert ws.max_row >= 2 and ws.cell(1, 1).font.bold
    pos = tmp_path / "till.csv"
    assert cli("export", priced_run, "--format", "pos", "--out", pos).returncode == 0
    till = pd.read_csv(pos, dtype={"promotion_id": str, "sku": str})
    bundles = pd.read_csv(priced_run / "bundles.csv", encoding="utf-8-sig", dtype={"bundle_id": str})
    price = bundles.set_index("bundle_id")["bundle_price"]
    sums = till.groupby("promotion_id")["promotion_price"].sum().round(2)
    assert all(abs(sums[p] - price[p]) < 0.005 for p in sums.index if p in price.index)
    assert not any("customer" in c.lower() for c in till.columns)


def test_export_approved_only_without_decisions_is_a_clear_error(priced_run, tmp_path, cli):
    res = cli("export", priced_run, "--format", "csv", "--approved-only", "--db", tmp_path / "none.sqlite",
              "--out", tmp_path / "x.csv")
    assert res.returncode == 2 and "no approved bundles" in res.stderr
    assert not (tmp_path / "x.csv").exists()


def test_suggest_json_contract(priced_run, demo_data, cli):
    truth = json.loads((demo_data / "ground_truth.json").read_text())
    shirt = next(a for a in truth["associations"] if a["antecedent"] == ["business shirt"] and a["consequent"] == ["tie"])
    lines = pd.read_csv(demo_data / "receipts.csv", dtype=str)
    # A customer who never bought the tie: apparel is durable, so a tie already bought is not offered again.
    bought_tie = set(lines.loc[lines["sku"].isin(shirt["consequent_skus"]), "customer_id"].dropna())
    customer = next(c for c in lines["customer_id"].dropna() if c not in bought_tie)
    res = cli("suggest", priced_run, "--basket", shirt["antecedent_skus"][0], "--customer", customer, "--k", "5",
              "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["basket"] == shirt["antecedent_skus"]
    assert [s["rank"] for s in out["suggestions"]] == [1, 2, 3, 4, 5]
    first = out["suggestions"][0]
    assert {"rank", "item", "name", "score", "source", "reason", "rules", "bundle"} <= set(first)
    assert first["item"] in shirt["consequent_skus"] and first["source"] == "rule"
    assert customer not in res.stdout
