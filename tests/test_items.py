"""Names travel with the run: the items table, names found on the lines, names as items."""

from __future__ import annotations

import pandas as pd

from recommender.items import ITEM_COLUMNS, item_table, recent_median_prices
from recommender.receipts import LoadOptions, load_receipts
from recommender.runs import item_names, read_run


def test_recent_median_ignores_old_and_zero_prices():
    lines = pd.DataFrame({"sku": ["a"] * 5 + ["b"], "unit_price": [1.0, 4.0, 5.0, 6.0, 0.0, 2.0],
                          "timestamp": pd.to_datetime(["2024-01-01", "2024-05-01", "2024-05-20", "2024-06-01",
                                                       "2024-06-01", "2024-06-01"])})
    assert recent_median_prices(lines).to_dict() == {"a": 5.0, "b": 2.0}
    assert recent_median_prices(lines.drop(columns="timestamp")).to_dict() == {"a": 4.5, "b": 2.0}


def test_item_table_counts_equal_a_direct_count():
    lines = pd.DataFrame({"receipt_id": ["1", "1", "2", "3", "3"], "sku": ["x", "y", "x", "x", "x"],
                          "name": ["Mug", "Tea", "Mug", "MUG", "Mug"], "quantity": [1, 2, 1, 3, 1],
                          "unit_price": [2.0, 1.0, 2.0, 3.0, 2.0]})
    t = item_table(lines).set_index("sku")
    assert list(t.reset_index().columns) == list(ITEM_COLUMNS)
    assert t.loc["x", "name"] == "Mug" and t.loc["x", "receipts"] == 3 and t.loc["x", "lines"] == 4
    assert t.loc["x", "units"] == 6 and t.loc["x", "regular_price"] == 2.0
    assert not t["suspected_non_product"].any()


def test_names_only_export_makes_the_name_the_item(tmp_path):
    path = tmp_path / "gbk.csv"
    pd.DataFrame({"小票号": ["1", "1", "2"], "商品名称": ["衬衫", "领带", "衬衫"], "单价": ["99", "39", "99"]}).to_csv(
        path, index=False, encoding="gbk")
    r = load_receipts(path)
    assert r.lines["sku"].tolist() == ["衬衫", "领带", "衬衫"]
    assert r.lines["name"].tolist() == r.lines["sku"].tolist()


def test_map_name_picks_any_column(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame({"Invoice": ["1", "2"], "Code": ["A1", "B2"], "Label": ["Mug", "Tea"]}).to_csv(path, index=False)
    r = load_receipts(path, LoadOptions(mapping={"sku": "Code", "name": "Label"}))
    assert r.lines["name"].tolist() == ["Mug", "Tea"]
    assert load_receipts(path, LoadOptions(mapping={"sku": "Code"})).accounting.columns.get("name") is None


def test_item_name_column_is_recognised(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame({"OrderID": ["1", "2"], "SKU": ["A1", "B2"], "ItemName": ["Mug", "Tea"]}).to_csv(path, index=False)
    assert load_receipts(path).lines["name"].tolist() == ["Mug", "Tea"]


def test_mined_run_carries_names_and_marks_non_products(cli, tmp_path):
    rows = []
    for i in range(60):
        rows += [(f"r{i}", "10001", "WHITE MUG", 2.5), (f"r{i}", "10002", "TEA TOWEL", 3.0)]
        if i % 3 == 0:
            rows.append((f"r{i}", "POST", "POSTAGE", 18.0))
    for i in range(30):
        rows.append((f"s{i}", str(10100 + i % 25), f"THING {i % 25}", 1.0))
    path = tmp_path / "r.csv"
    pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "UnitPrice"]).to_csv(path, index=False)
    res = cli("mine", path, "--min-count", "5", "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    run = read_run(tmp_path / "run")
    assert item_names(run)["10001"] == "WHITE MUG"
    items = run.items.set_index("sku")
    assert bool(items.loc["POST", "suspected_non_product"]) and "POSTAGE" in items.loc["POST", "non_product_reasons"]
    assert not bool(items.loc["10001", "suspected_non_product"])
    assert run.manifest["suspected_non_products"] == ["POST"]
    assert any("POST" in r for r in run.rules["antecedents"]) or any("POST" in r for r in run.rules["consequents"])
