"""Ticket counts: a receipt counts once per store and once per value it contains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.tickets import (UNMAPPED, attach_rate, overlap_report, store_totals, ticket_metrics)

ONLINE_RETAIL = Path(__file__).resolve().parents[1].parent / "shared/datasets/online_retail.csv.gz"

CATALOG = pd.DataFrame({
    "sku": ["milk", "bread", "cola", "chips", "soap"],
    "department": ["food", "food", "drinks", "food", "home"],
    "category": ["dairy", "bakery", "soda", "snacks", "care"],
    "brand": ["A", "B", "C", "C", "A"],
})


def _lines(rows):
    """rows: (receipt, store, day, sku, quantity, amount)."""
    df = pd.DataFrame(rows, columns=["receipt_id", "store_id", "timestamp", "sku", "quantity", "line_amount"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["quantity"] = df["quantity"].astype("float64")
    df["line_amount"] = df["line_amount"].astype("float64")
    for c in ("receipt_id", "store_id", "sku"):
        df[c] = df[c].astype("string")
    return df


@pytest.fixture
def small():
    return _lines([
        # r1: 3 units of milk on two lines -> one milk ticket, one food ticket
        ("r1", "s1", "2024-01-01", "milk", 2, 4.0),
        ("r1", "s1", "2024-01-01", "milk", 1, 2.0),
        # r2: food and drinks -> counts once in each department, once for the store
        ("r2", "s1", "2024-01-02", "bread", 1, 3.0),
        ("r2", "s1", "2024-01-02", "cola", 2, 5.0),
        # r3: food (two SKUs), drinks, home -> three departments
        ("r3", "s2", "2024-01-09", "milk", 1, 2.0),
        ("r3", "s2", "2024-01-09", "chips", 1, 1.5),
        ("r3", "s2", "2024-01-09", "cola", 1, 2.5),
        ("r3", "s2", "2024-01-09", "soap", 1, 3.0),
        # r4: an SKU the catalog does not know
        ("r4", "s2", "2024-02-01", "mystery", 1, 9.0),
    ])


def _row(df, value, **group):
    mask = df["level_value"] == value
    for k, v in group.items():
        mask &= df[k] == v
    assert mask.sum() == 1
    return df[mask].iloc[0]


def test_units_of_one_sku_count_once(small):
    sku = ticket_metrics(small, level="sku")
    milk = _row(sku, "milk")
    assert milk["tickets"] == 2  # r1 (3 units, 2 lines) and r3
    assert milk["units"] == 4.0
    assert milk["sales"] == 8.0
    assert milk["atv"] == 4.0
    assert milk["upt"] == 2.0


def test_receipt_counts_once_in_each_department(small):
    dept = ticket_metrics(small, CATALOG, level="department")
    assert dict(zip(dept["level_value"], dept["tickets"])) == {"food": 3, "drinks": 2, "home": 1, UNMAPPED: 1}
    assert _row(dept, "food")["penetration"] == pytest.approx(3 / 4)
    assert _row(dept, "food")["sales"] == pytest.approx(4 + 2 + 3 + 2 + 1.5)
    # the sum over departments exceeds the store's 4 tickets by r2's extra 1 and r3's extra 2
    report = overlap_report(small, CATALOG, level="department")
    assert report.loc[0, "store_tickets"] == 4
    assert report.loc[0, "sum_of_value_tickets"] == 7
    assert report.loc[0, "excess"] == 3
    assert report.loc[0, "excess_pct"] == pytest.approx(75.0)


def test_store_totals_and_groups(small):
    total = store_totals(small)
    assert total.loc[0, "tickets"] == 4
    assert total.loc[0, "sales"] == pytest.approx(32.0)
    assert total.loc[0, "units"] == 11.0
    per_store = store_totals(small, by="store").set_index("store_id")
    assert per_store.loc["s1", "tickets"] == 2 and per_store.loc["s2", "tickets"] == 2
    assert per_store.loc["s2", "atv"] == pytest.approx((9.0 + 9.0) / 2)
    weekly = store_totals(small, by="week")
    assert list(weekly["period"].dt.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-08", "2024-01-29"]
    assert list(weekly["tickets"]) == [2, 1, 1]
    monthly = ticket_metrics(small, CATALOG, level="department", by="month")
    jan_food = _row(monthly, "food", period=pd.Timestamp("2024-01-01"))
    assert jan_food["tickets"] == 3 and jan_food["penetration"] == 1.0
    by_store = ticket_metrics(small, CATALOG, level="department", by="store")
    assert _row(by_store, "drinks", store_id="s1")["penetration"] == pytest.approx(0.5)
    store_level = ticket_metrics(small, level="store", by="store")
    assert list(store_level["tickets"]) == list(per_store["tickets"])


def test_attach_rate_before_and_after(small):
    # anchor milk: r1 (before), r3 (after); bundle milk+chips only in r3
    out = attach_rate(small, ["milk"], ["milk", "chips"], launch="2024-01-05")
    assert out.loc["before", "anchor_tickets"] == 1 and out.loc["before", "bundle_tickets"] == 0
    assert out.loc["after", "anchor_tickets"] == 1 and out.loc["after", "attach_rate"] == 1.0
    dept = attach_rate(small, "food", ["food", "drinks"], level="department", catalog=CATALOG, stores=["s1"])
    assert dept.loc["all", "anchor_tickets"] == 2 and dept.loc["all", "bundle_tickets"] == 1


def _naive(rows, sku_to_dept, by_store):
    """Independent count with python sets."""
    seen, store_seen, first_store = {}, {}, {}
    for receipt, store, sku in rows:
        first_store.setdefault(receipt, store)
    for receipt, store, sku in rows:
        key = (sku_to_dept.get(sku, UNMAPPED), first_store[receipt] if by_store else None)
        seen.setdefault(key, set()).add(receipt)
        store_seen.setdefault(first_store[receipt] if by_store else None, set()).add(receipt)
    return {k: len(v) for k, v in seen.items()}, {k: len(v) for k, v in store_seen.items()}


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 15), st.sampled_from(["s1", "s2", "s3"]),
                               st.sampled_from(["milk", "bread", "cola", "chips", "soap", "mystery"]),
                               st.integers(1, 5)), min_size=1, max_size=60),
       by_store=st.booleans())
def test_counts_match_naive_distinct_count(rows, by_store):
    lines = _lines([(f"r{r}", s, "2024-01-01", sku, q, float(q)) for r, s, sku, q in rows])
    expected, expected_store = _naive([(f"r{r}", s, sku) for r, s, sku, _ in rows],
                                      dict(zip(CATALOG["sku"], CATALOG["department"])), by_store)
    by = "store" if by_store else None
    got = ticket_metrics(lines, CATALOG, level="department", by=by)
    keys = zip(got["level_value"], got["store_id"] if by_store else [None] * len(got))
    assert dict(zip(keys, got["tickets"])) == expected
    assert got["units"].sum() == sum(q for *_, q in rows)
    report = overlap_report(lines, CATALOG, level="department", by=by)
    stores = report["store_id"] if by_store else [None] * len(report)
    assert dict(zip(stores, report["store_tickets"])) == expected_store
    summed = {}
    for (_, s), n in expected.items():
        summed[s] = summed.get(s, 0) + n
    assert dict(zip(stores, report["sum_of_value_tickets"])) == summed
    assert (report["excess"] >= 0).all()


@pytest.fixture(scope="module")
def online_retail():
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"{ONLINE_RETAIL} not present")
    raw = pd.read_csv(ONLINE_RETAIL, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str},
                      encoding="latin-1")
    raw = raw[~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0)]
    lines = pd.DataFrame({
        "receipt_id": raw["InvoiceNo"].astype("string"),
        "sku": raw["StockCode"].astype("string").str.strip(),
        "quantity": raw["Quantity"].astype("float64"),
        "unit_price": raw["UnitPrice"].astype("float64"),
        "timestamp": pd.to_datetime(raw["InvoiceDate"]),
        "store_id": raw["Country"].astype("string"),  # a country plays the store
    }).reset_index(drop=True)
    lines["line_amount"] = lines["quantity"] * lines["unit_price"]
    skus = lines["sku"].drop_duplicates()
    # deterministic made-up hierarchy: department = kind of the code's first character,
    # category = first two characters; a few SKUs left out to exercise "(unmapped)"
    first = skus.str[0]
    dept = np.where(first.str.isdigit(), "digit-" + first.str.slice(0, 1), "letter")
    catalog = pd.DataFrame({"sku": skus.to_numpy(), "department": dept, "category": skus.str[:2].to_numpy()})
    catalog = catalog[~catalog["sku"].str.endswith("7")].reset_index(drop=True)
    return lines, catalog


@pytest.mark.slow
@pytest.mark.parametrize("level", ["sku", "category", "department"])
def test_online_retail_counts_equal_independent_distinct_count(online_retail, level):
    lines, catalog = online_retail
    got = ticket_metrics(lines, catalog, level=level).set_index("level_value")["tickets"]
    mapping = dict(zip(catalog["sku"], catalog[level])) if level != "sku" else None
    values = lines["sku"] if mapping is None else lines["sku"].map(mapping).fillna(UNMAPPED)
    expected = (pd.DataFrame({"v": values.to_numpy(), "r": lines["receipt_id"].to_numpy()})
                .drop_duplicates()["v"].value_counts())
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    n_receipts = lines["receipt_id"].nunique()
    report = overlap_report(lines, catalog, level=level)
    assert report.loc[0, "store_tickets"] == n_receipts
    assert report.loc[0, "sum_of_value_tickets"] == expected.sum()
    assert report.loc[0, "excess"] == expected.sum() - n_receipts
    if level == "department":
        assert report.loc[0, "excess"] > 0


@pytest.mark.slow
def test_online_retail_per_store_on_a_sample(online_retail):
    lines, catalog = online_retail
    receipts = lines["receipt_id"].drop_duplicates().sample(500, random_state=1)
    sample = lines[lines["receipt_id"].isin(receipts)]
    dept = dict(zip(catalog["sku"], catalog["department"]))
    expected = {}
    for receipt, store, sku in zip(sample["receipt_id"], sample["store_id"], sample["sku"]):
        expected.setdefault((dept.get(sku, UNMAPPED), store), set()).add(receipt)
    got = ticket_metrics(sample, catalog, level="department", by="store")
    assert dict(zip(zip(got["level_value"], got["store_id"]), got["tickets"])) == {
        k: len(v) for k, v in expected.items()}
    totals = store_totals(sample, by="store")
    assert totals["tickets"].sum() == 500
