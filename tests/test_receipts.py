"""Loading receipts: formats, encodings, mapping, and the row accounting."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from recommender.baskets import build_baskets
from recommender.receipts import LoadOptions, load_receipts, resolve_columns


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_online_retail_accounting_matches_independent_pandas(online_retail, cli):
    res = cli("validate", online_retail, "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)

    raw = pd.read_csv(online_retail, dtype={"InvoiceNo": str, "StockCode": str})
    qty, price = raw["Quantity"], raw["UnitPrice"]
    cancelling = raw["InvoiceNo"].str.startswith("C") & (qty < 0)
    nonpos = ~cancelling & (qty <= 0)
    negprice = ~cancelling & ~nonpos & (price < 0)
    used = ~(cancelling | nonpos | negprice)
    assert got["rows_read"] == len(raw) == 541909
    assert got["rows_used"] == int(used.sum())
    assert got["rows_rejected"] == {"cancellation": int(cancelling.sum()), "non-positive quantity": int(nonpos.sum()),
                                    "negative price": int(negprice.sum())}
    assert got["n_receipts"] == raw.loc[used, "InvoiceNo"].nunique()
    assert got["n_items"] == raw.loc[used, "StockCode"].nunique()
    assert got["rows_read"] == got["rows_used"] + sum(got["rows_rejected"].values())


def test_online_retail_rejects_file_has_line_numbers(online_retail, cli, tmp_path):
    out = tmp_path / "rejects.csv"
    res = cli("validate", online_retail, "--rejects", out, "--non-products", "POST,DOT")
    assert res.returncode == 0, res.stderr
    rej = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert set(rej["reason"]) == {"cancellation", "non-positive quantity", "negative price", "non-product code"}
    # Each rejected row's line number points at that very row of the original file.
    with gzip.open(online_retail, "rt", encoding="utf-8") as f:
        physical = f.read().splitlines()
    for _, row in rej.sample(50, random_state=1).iterrows():
        line = physical[int(row["line_no"]) - 1]
        assert line.startswith(row["InvoiceNo"] + ",") and row["StockCode"] in line


def test_auto_recognises_common_export_columns():
    cols = resolve_columns(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                            "CustomerID", "Country"])
    assert cols["receipt_id"] == ["InvoiceNo"] and cols["sku"] == ["StockCode"]
    assert cols["timestamp"] == ["InvoiceDate"] and cols["customer_id"] == ["CustomerID"]
    assert "store_id" not in cols  # a country is not a store


def test_ids_stay_text_with_leading_zeros(tmp_path):
    p = write(tmp_path / "r.csv", "receipt,sku,qty\n0001,000123,1\n0001,85123A,2\n")
    lines = load_receipts(p).lines
    assert lines["receipt_id"].tolist() == ["0001", "0001"]
    assert lines["sku"].tolist() == ["000123", "85123A"]


def test_basket_per_line_file(tmp_path):
    p = write(tmp_path / "b.txt", "bread, milk ,eggs,\n\nmilk;x\nbeer , bread\n  \nmilk,milk\n")
    r = load_receipts(p, sep=",")
    acc = r.accounting
    assert acc.format == "baskets"
    b = build_baskets(r.lines)
    sets = b.as_sets()
    assert sets == [frozenset({"bread", "milk", "eggs"}), frozenset({"milk;x"}), frozenset({"beer", "bread"}),
                    frozenset({"milk"})]
    assert acc.rows_read == 4 and acc.rows_used == 4
    assert r.lines["line_no"].drop_duplicates().tolist() == [1, 3, 4, 6]


def test_basket_per_line_separator_sniffed(tmp_path):
    p = write(tmp_path / "b.basket", "a;b;c\nb;c\nd\n")
    r = load_receipts(p)
    assert [sorted(s) for s in build_baskets(r.lines).as_sets()] == [["a", "b", "c"], ["b", "c"], ["d"]]


def test_composite_receipt_key(tmp_path):
    p = write(tmp_path / "g.csv", "Member_number,Date,itemDescription\n1808,21-07-2015,tropical fruit\n"
                                  "1808,21-07-2015,whole milk\n1808,22-07-2015,whole milk\n2552,21-07-2015,whole milk\n")
    r = load_receipts(p, mapping={"receipt_id": "Member_number+Date", "sku": "itemDescription"})
    assert r.accounting.n_receipts == 3
    assert sorted(r.lines["receipt_id"].unique()) == ["1808|21-07-2015", "1808|22-07-2015", "2552|21-07-2015"]


def test_gbk_file_with_chinese_headers_and_map(tmp_path, cli):
    text = "小票号,门店,商品,数量,单价,日期\nA001,北京一店,感冒灵,1,19.9,2025-07-01 10:00\n" \
           "A001,北京一店,维生素C,2,25,2025-07-01 10:00\nA002,上海店,钙片,1,58,2025-07-02 11:30\n"
    p = write(tmp_path / "gbk.csv", text, "gbk")
    res = cli("validate", p, "--json", "--map", "receipt_id=小票号", "--map", "sku=商品", "--map", "store_id=门店")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["encoding"] == "gb18030"
    assert got["rows_used"] == 3 and got["n_receipts"] == 2 and got["n_items"] == 3
    r = load_receipts(p, mapping={"receipt_id": "小票号", "sku": "商品", "store_id": "门店"})
    assert set(r.lines["sku"]) == {"感冒灵", "维生素C", "钙片"}
    assert set(r.lines["store_id"]) == {"北京一店", "上海店"}
    assert r.lines["line_amount"].tolist() == [19.9, 50.0, 58.0]


def test_chinese_headers_recognised_without_map(tmp_path):
    p = write(tmp_path / "zh.csv", "小票号,商品编码,数量\n1,001,2\n", "gb18030")
    assert load_receipts(p).lines["sku"].tolist() == ["001"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_encodings_detected(tmp_path, encoding):
    p = write(tmp_path / "e.txt", "小票号\t商品\t数量\n1\t牛奶\t1\n2\t面包\t3\n", encoding)
    r = load_receipts(p, mapping={"sku": "商品"})
    assert r.lines["sku"].tolist() == ["牛奶", "面包"] and r.lines["quantity"].tolist() == [1.0, 3.0]


def test_semicolon_decimal_comma_dayfirst(tmp_path):
    p = write(tmp_path / "eu.csv", "Beleg;Artikel;Menge;Preis;Datum\n1;A;2;1.234,50;03-02-2025 10:00\n"
                                   "1;B;1;0,99;03-02-2025 10:00\n2;A;1;2,5;25-12-2025 09:15\n")
    r = load_receipts(p, mapping={"receipt_id": "Beleg", "sku": "Artikel", "quantity": "Menge",
                                  "unit_price": "Preis", "timestamp": "Datum"})
    assert r.accounting.decimal == "," and r.accounting.sep == ";"
    assert r.lines["unit_price"].tolist() == [1234.5, 0.99, 2.5]
    assert r.lines["line_amount"].tolist() == [2469.0, 0.99, 2.5]
    # 25-12 can only be day first, so 03-02 is 3 February.
    assert r.lines["timestamp"].dt.month.tolist() == [2, 2, 12]


def test_explicit_date_format_and_dayfirst_flag(tmp_path):
    p = write(tmp_path / "d.csv", "receipt,sku,date\n1,a,01/02/2025\n")
    assert load_receipts(p).lines["timestamp"].dt.month.tolist() == [1]
    assert load_receipts(p, dayfirst=True).lines["timestamp"].dt.month.tolist() == [2]
    assert load_receipts(p, date_format="%d/%m/%Y").lines["timestamp"].dt.month.tolist() == [2]


def test_dirty_rows_rejected_with_reasons(tmp_path):
    p = write(tmp_path / "dirty.csv",
              "InvoiceNo,StockCode,Quantity,UnitPrice,InvoiceDate\n"
              "1,A,1,2.0,2025-01-01 10:00\n"        # 2 used
              "1,A,1,2.0,2025-01-01 10:00\n"        # 3 exact duplicate (kept by default)
              ",B,1,2.0,2025-01-01 10:00\n"         # 4 missing receipt id
              "2,,1,2.0,2025-01-01 10:00\n"         # 5 missing sku
              "2,B,abc,2.0,2025-01-01 10:00\n"      # 6 unparsable quantity
              "2,B,1,2.0,not a date\n"              # 7 unparsable timestamp
              "C3,A,-1,2.0,2025-01-02 10:00\n"      # 8 cancellation
              "4,A,-2,2.0,2025-01-02 10:00\n"       # 9 non-positive quantity
              "5,POST,1,18,2025-01-02 10:00\n"      # 10 non-product code
              "6,A,1,2.0\n"                         # 11 malformed (too few fields)
              "7,A,1,-5,2025-01-02 10:00\n")        # 12 negative price
    r = load_receipts(p, non_products=("post",), max_rejected_share=1)
    acc = r.accounting
    assert acc.rows_read == 11 and acc.rows_used == 2
    assert acc.rows_rejected == {"malformed line": 1, "missing receipt id": 1, "missing sku": 1,
                                 "unparsable quantity": 1, "unparsable timestamp": 1, "cancellation": 1,
                                 "non-positive quantity": 1, "negative price": 1, "non-product code": 1}
    assert acc.warnings["exact duplicate lines kept"] == 1
    assert dict(zip(r.rejects["line_no"], r.rejects["reason"])) == {
        4: "missing receipt id", 5: "missing sku", 6: "unparsable quantity", 7: "unparsable timestamp",
        8: "cancellation", 9: "non-positive quantity", 10: "non-product code", 11: "malformed line",
        12: "negative price"}
    assert r.rejects.set_index("line_no").loc[6, "column"] == "Quantity"

    strict = load_receipts(p, non_products=("POST",), duplicates="reject", max_basket_items=None,
                           max_rejected_share=1)
    assert strict.accounting.rows_rejected["duplicate line"] == 1 and strict.accounting.rows_used == 1


def test_oversized_baskets_and_net_cancellations(tmp_path):
    rows = ["InvoiceNo,StockCode,Quantity,InvoiceDate,CustomerID"]
    rows += [f"1,S{i},1,2025-01-01 10:00,7" for i in range(5)]
    rows += ["2,A,3,2025-01-01 11:00,8", "C9,A,-3,2025-01-03 11:00,8"]
    p = write(tmp_path / "big.csv", "\n".join(rows) + "\n")
    r = load_receipts(p, max_basket_items=4)
    assert r.accounting.rows_rejected == {"cancellation": 1, "oversized basket": 5}
    assert r.accounting.warnings["cancelled sales kept (their cancelling lines were rejected)"] == 1
    net = load_receipts(p, cancellations="net")
    assert net.accounting.rows_rejected == {"cancellation": 1, "cancelled sale": 1}
    assert net.accounting.rows_used == 5


def test_slices_since_until_stores(tmp_path):
    p = write(tmp_path / "s.csv", "receipt,sku,date,store\n1,a,2025-01-01,S1\n2,a,2025-06-01,S1\n3,a,2025-06-02,S2\n")
    r = load_receipts(p, since="2025-05-01", until="2025-06-01", stores=("S1",))
    assert r.lines["receipt_id"].tolist() == ["2"]
    assert r.accounting.rows_rejected == {"outside date range": 2}


def test_same_sku_twice_is_one_basket_item_with_summed_value(tmp_path):
    p = write(tmp_path / "t.csv", "receipt,sku,qty,price\n1,a,1,2\n1,a,2,2\n1,b,1,1\n")
    r = load_receipts(p)
    b = build_baskets(r.lines)
    assert b.matrix.sum() == 2
    assert r.lines.groupby("sku")["quantity"].sum().to_dict() == {"a": 3.0, "b": 1.0}


def test_xlsx_and_parquet(tmp_path):
    frame = pd.DataFrame({"InvoiceNo": ["001", "001", "002"], "StockCode": ["A", "B", "A"],
                          "Quantity": [1, 2, 1], "UnitPrice": [1.5, 2.0, 1.5]})
    frame.to_excel(tmp_path / "r.xlsx", index=False)
    frame.to_parquet(tmp_path / "r.parquet")
    for name in ("r.xlsx", "r.parquet"):
        r = load_receipts(tmp_path / name)
        assert r.lines["receipt_id"].tolist() == ["001", "001", "002"], name
        assert r.lines["line_amount"].tolist() == [1.5, 4.0, 1.5], name
        assert r.accounting.rows_read == 3


def test_gzip_csv(tmp_path):
    p = tmp_path / "r.csv.gz"
    p.write_bytes(gzip.compress(b"receipt,sku\n1,a\n2,b\n"))
    assert load_receipts(p).accounting.rows_used == 2


def test_quoted_newlines_keep_line_numbers(tmp_path):
    p = write(tmp_path / "q.csv", 'receipt,sku,name\n1,a,"two\nlines"\n2,,x\n')
    r = load_receipts(p)
    assert r.rejects["line_no"].tolist() == [4]


def test_options_validated():
    with pytest.raises(ValueError, match="duplicates"):
        LoadOptions(duplicates="drop")
    with pytest.raises(ValueError, match="map field"):
        LoadOptions(mapping={"colour": "x"})


def test_no_row_with_a_readable_date(tmp_path):
    """A timestamp column whose every row is malformed or empty must not crash the date parser."""
    p = write(tmp_path / "t.csv", "receipt,sku,date,d,e,f,g,h\nx,x,x,x,x,x,x,x,x\n")
    r = load_receipts(p, max_rejected_share=1)
    assert r.accounting.rows_rejected == {"malformed line": 1} and r.lines.empty
    p2 = write(tmp_path / "t2.csv", "receipt,sku,date\n1,a,\n")
    assert load_receipts(p2).lines["timestamp"].isna().all()
