"""Chunked loading gives exactly what load_receipts gives: lines, rejects, accounting.

Tiny chunks make every whole-file policy cross chunk boundaries: cancellations
far from their sales, duplicates in another chunk, receipts split across
chunks, malformed rows and quoted newlines at the edges.
"""

from __future__ import annotations

import gzip
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender import ingest
from recommender.ingest import load_receipts_chunked
from recommender.receipts import LoadOptions, load_receipts


def _assert_same(path, opts, chunk_rows, streamed=True):
    whole = load_receipts(path, opts)
    if streamed:  # the file must really be streamed, not handed to load_receipts
        with mock.patch.object(ingest, "load_receipts", side_effect=AssertionError("fell back to load_receipts")):
            chunked = load_receipts_chunked(path, opts, chunk_rows=chunk_rows)
    else:
        chunked = load_receipts_chunked(path, opts, chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(chunked.lines, whole.lines)
    pd.testing.assert_frame_equal(chunked.rejects, whole.rejects)
    assert chunked.accounting.to_dict() == whole.accounting.to_dict()
    assert chunked.accounting.balanced
    return whole


def _dirty_rows(rng: np.random.Generator, n: int, sep: str, dayfirst: bool, decimal: str) -> list[str]:
    skus = ["A1", "B2", "C3", "D4", "POST", "E5", "F6"]
    customers = ["17850", "13047", "", "12583"]
    rows, sales = [], []
    receipt = 1000
    for i in range(n):
        if rng.random() < 0.3:
            receipt += 1
        r = str(receipt)
        sku = skus[rng.integers(len(skus))]
        qty = int(rng.integers(1, 6))
        price = float(rng.choice([0.0, 1.25, 2.5, 10.0, 3.75]))
        cust = customers[rng.integers(len(customers))]
        day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
        date = f"{day:02d}/{month:02d}/2011 10:{i % 60:02d}" if dayfirst else f"{month:02d}/{day:02d}/2011 10:{i % 60:02d}"
        u = rng.random() if i else 0.5  # the first row is a clean sale (load_receipts needs one parsed row)
        if u < 0.05 and sales:  # cancel an earlier sale (maybe many chunks back)
            r0, sku, qty, price, cust, date = sales[rng.integers(len(sales))]
            r, qty = "C" + r0, -qty
        elif u < 0.08 and rows:  # exact duplicate of an earlier row
            rows.append(rows[rng.integers(len(rows))])
            continue
        elif u < 0.10:
            rows.append(sep.join(["x"] * 9))  # malformed: too many fields
            continue
        elif u < 0.12:
            qty = "abc"
        elif u < 0.14:
            r = ""
        elif u < 0.16:
            date = "not a date"
        elif u < 0.18:
            qty = -qty
        elif u < 0.20:
            price = -1.0
        name = f'"Item {sku}\nsecond line"' if u > 0.97 else f"Item {sku}"
        price_text = f"{price:.2f}".replace(".", decimal)
        if decimal == "," and sep == ",":
            price_text = f'"{price_text}"'
        rows.append(sep.join([r, sku, name, str(qty), date, price_text, cust, "UK"]))
        if isinstance(qty, int) and qty > 0 and r and not r.startswith("C"):
            sales.append((r, sku, qty, price, cust, date))
        if rng.random() < 0.03:
            rows.append("")  # blank line
    return rows


def _write(tmp_path, rows, sep, name="r.csv", bom=False, compress=False):
    header = sep.join(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
                       "Country"])
    text = "\n".join([header] + rows) + "\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    path = tmp_path / (name + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 150), chunk_rows=st.integers(1, 40),
       sep=st.sampled_from([",", ";", "\t"]), dayfirst=st.booleans(), decimal=st.sampled_from([".", ","]),
       cancellations=st.sampled_from(["keep-sale", "net"]), duplicates=st.sampled_from(["keep", "reject"]),
       zero_price=st.sampled_from(["keep", "reject"]), max_items=st.sampled_from([None, 2, 3]),
       bom=st.booleans(), compress=st.booleans())
def test_random_dirty_files_load_the_same(tmp_path, seed, n, chunk_rows, sep, dayfirst, decimal, cancellations,
                                          duplicates, zero_price, max_items, bom, compress):
    rng = np.random.default_rng(seed)
    rows = _dirty_rows(rng, n, sep, dayfirst, decimal)
    path = _write(tmp_path, rows, sep, name=f"r{seed}.csv", bom=bom, compress=compress)
    opts = LoadOptions(cancellations=cancellations, duplicates=duplicates, zero_price=zero_price,
                       max_basket_items=max_items, non_products=("POST",), max_rejected_share=1)
    _assert_same(path, opts, chunk_rows)


def test_policies_that_span_chunks_are_applied(tmp_path):
    # A sale in the first chunk, its cancellation and a duplicate of it in the last:
    # with one record per chunk nothing can be decided inside a chunk.
    rows = ["1,A,a,2,2011-01-01 10:00,1.0,7,UK", "2,B,b,1,2011-01-01 11:00,1.0,8,UK",
            "2,C,c,1,2011-01-01 11:00,1.0,8,UK", "2,D,d,1,2011-01-01 11:00,1.0,8,UK",
            "C3,A,a,-2,2011-01-02 10:00,1.0,7,UK", "2,B,b,1,2011-01-01 11:00,1.0,8,UK"]
    path = _write(tmp_path, rows, ",")
    opts = LoadOptions(cancellations="net", duplicates="reject", max_basket_items=2)
    whole = _assert_same(path, opts, chunk_rows=1)
    assert whole.accounting.rows_rejected == {"cancellation": 1, "cancelled sale": 1, "duplicate line": 1,
                                              "oversized basket": 3}


def test_parquet_in_batches(tmp_path):
    rng = np.random.default_rng(7)
    rows = _dirty_rows(rng, 300, ",", False, ".")
    csv_path = _write(tmp_path, rows, ",")
    frame = load_receipts(csv_path, max_rejected_share=1).lines.drop(columns=["line_no"])
    frame["quantity"] = frame["quantity"].where(rng.random(len(frame)) > 0.1, -1.0)
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    _assert_same(path, LoadOptions(duplicates="reject"), chunk_rows=17)


def test_demo_receipts(demo_data):
    _assert_same(demo_data / "receipts.csv", LoadOptions(cancellations="net"), chunk_rows=7_919)


def test_unstreamable_inputs_fall_back_to_the_whole_file_loader(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("小票号,商品编码,数量\n1,甲,2\n1,乙,1\n2,甲,1\n".encode("gb18030"))
    whole = _assert_same(path, LoadOptions(), chunk_rows=1, streamed=False)
    assert whole.accounting.encoding == "gb18030"
    baskets = tmp_path / "b.txt"
    baskets.write_text("milk,bread\nbread\n")
    _assert_same(baskets, LoadOptions(), chunk_rows=1, streamed=False)


def test_chunk_rows_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        load_receipts_chunked(_write(tmp_path, ["1,A,a,1,2011-01-01,1,7,UK"], ","), chunk_rows=0)
