"""Property tests: for random dirty exports the accounting balances and baskets are exact."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.baskets import build_baskets
from recommender.receipts import load_receipts

receipt_ids = st.sampled_from(["1", "2", "003", "C4", "C5", "", "6"])
skus = st.sampled_from(["A", "b", "007", "85123A", "POST", "", " x "])
quantities = st.sampled_from(["1", "2", "-1", "0", "", "abc", "3.5", " 4 "])
prices = st.sampled_from(["1.5", "0", "-2", "", "£3", "x"])
row = st.tuples(receipt_ids, skus, quantities, prices)


def naive_reason(rid, sku, qty, price, non_products):
    """The documented policy, written the slow obvious way."""
    rid, sku = rid.strip(), sku.strip()
    if not rid:
        return "missing receipt id"
    if not sku:
        return "missing sku"
    q = qty.strip()
    try:
        qv = float(q) if q else 1.0
    except ValueError:
        return "unparsable quantity"
    p = price.strip().replace("£", "")
    try:
        pv = float(p) if p else None
    except ValueError:
        return "unparsable unit_price"
    if rid.startswith("C") and qv < 0:
        return "cancellation"
    if qv <= 0:
        return "non-positive quantity"
    if pv is not None and pv < 0:
        return "negative price"
    if sku.upper() in non_products:
        return "non-product code"
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=40), dup_policy=st.sampled_from(["keep", "reject"]))
def test_accounting_identity_and_exact_baskets(tmp_path_factory, rows, dup_policy):
    path = tmp_path_factory.mktemp("p") / "r.csv"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["InvoiceNo", "StockCode", "Quantity", "UnitPrice"])
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")

    r = load_receipts(path, non_products=("POST",), duplicates=dup_policy, max_rejected_share=1)
    acc = r.accounting
    assert acc.rows_read == len(rows)
    assert acc.rows_read == acc.rows_used + sum(acc.rows_rejected.values())
    assert len(r.rejects) == sum(acc.rows_rejected.values())

    expected, seen = [], set()
    for i, (rid, sku, qty, price) in enumerate(rows):
        why = naive_reason(rid, sku, qty, price, {"POST"})
        if why is None and dup_policy == "reject":
            if (rid, sku, qty, price) in seen:
                why = "duplicate line"
            seen.add((rid, sku, qty, price))
        expected.append(why)
    used_lines = [i + 2 for i, why in enumerate(expected) if why is None]
    assert r.lines["line_no"].tolist() == used_lines
    got_reasons = dict(zip(r.rejects["line_no"], r.rejects["reason"]))
    assert got_reasons == {i + 2: why for i, why in enumerate(expected) if why is not None}

    # The basket matrix equals the naive set-of-items construction from the used rows.
    naive: dict = {}
    for i, (rid, sku, *_rest) in enumerate(rows):
        if expected[i] is None:
            naive.setdefault(rid.strip(), set()).add(sku.strip())
    b = build_baskets(r.lines)
    assert dict(zip(b.receipts, b.as_sets())) == {k: frozenset(v) for k, v in naive.items()}
    assert b.matrix.dtype == bool and b.matrix.nnz == sum(len(v) for v in naive.values())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=0, max_size=6), min_size=1, max_size=25),
       st.sampled_from(["receipt_id", "sku"]))
def test_baskets_match_sets_at_sku_and_category_level(baskets, _unused):
    lines = pd.DataFrame([(f"r{i}", item) for i, items in enumerate(baskets) for item in items],
                         columns=["receipt_id", "sku"])
    if lines.empty:
        return
    catalog = pd.DataFrame({"sku": list("abcde"), "category": ["x", "x", "y", "y", "z"]})
    for level, mapper in (("sku", lambda s: s), ("category", dict(zip(catalog.sku, catalog.category)).get)):
        b = build_baskets(lines, catalog, level)
        naive = {}
        for rid, sku in lines.itertuples(index=False):
            naive.setdefault(rid, set()).add(mapper(sku))
        assert dict(zip(b.receipts, b.as_sets())) == {k: frozenset(v) for k, v in naive.items()}
