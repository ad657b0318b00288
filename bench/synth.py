"""Synthetic receipt exports of any size, for the scale benchmark.

In: a number of lines and a seed. Out: a receipts-lines DataFrame in the shape
of a real till export (``InvoiceNo, StockCode, Quantity, InvoiceDate,
UnitPrice, CustomerID, StoreID``) and helpers writing it as CSV and Parquet.

The basket structure is the mining benchmark's (:func:`bench.bench_mining.synthetic`:
a long-tailed, Zipf-like catalogue with co-purchased "missions"); this module
only dresses it as lines: a price per SKU, 1-3 units, one timestamp, store and
(70% of the time) customer per receipt, and about 1% cancellations (an
``C``-prefixed invoice taking back an earlier sale line, as UCI Online Retail
has them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mining import synthetic  # noqa: E402  (the same basket generator as the mining benchmark)


def synthetic_lines(n_lines: int, n_skus: int = 20_000, mean_size: float = 8.0, seed: int = 0,
                    n_stores: int = 40) -> pd.DataFrame:
    """About ``n_lines`` receipt lines (whole receipts, cancellations included).

    Examples
    --------
    >>> df = synthetic_lines(2_000, n_skus=500)
    >>> abs(len(df) - 2_000) < 100, df["InvoiceNo"].str.startswith("C").any()
    (True, True)
    """
    rng = np.random.default_rng(seed)
    # about 8.4 distinct items per receipt (mean_size 8 plus missions, less repeats)
    n_receipts = max(10, int(n_lines / (mean_size + 0.4)))
    m = synthetic(n_receipts, n_skus, mean_size, seed)
    sizes = np.diff(m.indptr)
    n_sales = int(n_lines / 1.01)
    last = min(int(np.searchsorted(np.cumsum(sizes), n_sales)) + 1, m.shape[0])
    rows = np.repeat(np.arange(last), sizes[:last])
    items = m.indices[: m.indptr[last]]
    n = len(rows)
    price = np.round(np.exp(rng.normal(1.0, 0.8, n_skus)), 2) + 0.05
    start = np.datetime64("2024-01-01T08:00:00")
    when = start + (np.sort(rng.integers(0, 365 * 24 * 3600, last))).astype("timedelta64[s]")
    store = rng.integers(1, n_stores + 1, last)
    customer = np.where(rng.random(last) < 0.7, rng.integers(10_000, 10_000 + last // 3 + 1, last), -1)
    receipt_ids = np.char.add("R", np.char.zfill(np.arange(1, last + 1).astype(str), 8))
    sku_ids = np.char.add("SKU", np.char.zfill(np.arange(n_skus).astype(str), 5))
    qty = rng.choice([1, 1, 1, 2, 2, 3], n)
    cust_text = np.where(customer >= 0, customer.astype(str), "")
    df = pd.DataFrame({
        "InvoiceNo": receipt_ids[rows], "StockCode": sku_ids[items], "Quantity": qty,
        "InvoiceDate": pd.DatetimeIndex(when[rows]).strftime("%Y-%m-%d %H:%M:%S"),
        "UnitPrice": np.round(price[items], 2), "CustomerID": cust_text[rows], "StoreID": np.char.add("S", store.astype(str))[rows],
    })
    # ~1% cancellations: a later C-invoice taking back a sale line of a customer
    pick = rng.choice(n, size=max(1, n // 100), replace=False)
    canc = df.iloc[pick].copy()
    canc["InvoiceNo"] = "C" + canc["InvoiceNo"].str[1:]
    canc["Quantity"] = -canc["Quantity"]
    canc["InvoiceDate"] = (pd.to_datetime(canc["InvoiceDate"]) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d %H:%M:%S")
    return pd.concat([df, canc], ignore_index=True)


def write_files(df: pd.DataFrame, stem: Path) -> dict:
    """Write ``df`` as ``stem.csv`` and ``stem.parquet`` (what a till system would export)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    # prices as decimals print as a till prints them (3.91, not 3.9099999999999997)
    i = table.schema.get_field_index("UnitPrice")
    as_text = table.set_column(i, "UnitPrice", table.column(i).cast(pa.decimal128(12, 2)))
    pacsv.write_csv(as_text, csv_path, pacsv.WriteOptions(quoting_style="none"))
    pq.write_table(table, pq_path)
    return {"csv": csv_path, "parquet": pq_path}


def synthetic_catalog(n_skus: int = 20_000, prices=None) -> pd.DataFrame:
    """A catalog for the synthetic SKUs: 8 departments, 80 categories, 800 subcategories, 150 brands.

    ``prices`` (Series sku -> unit price, e.g. the first price seen in the lines)
    gives the shelf price; the unit cost is 60% of it.

    >>> synthetic_catalog(20)[["sku", "department", "price", "unit_cost"]].iloc[1].tolist()
    ['SKU00001', 'D1', 5.0, 3.0]
    """
    k = np.arange(n_skus)
    skus = np.char.add("SKU", np.char.zfill(k.astype(str), 5))
    cat = pd.DataFrame({"sku": skus, "name": np.char.add("Item ", skus),
                        "department": np.char.add("D", (k % 8).astype(str)),
                        "category": np.char.add("C", (k % 80).astype(str)),
                        "subcategory": np.char.add("S", (k % 800).astype(str)),
                        "brand": np.char.add("B", (k % 150).astype(str))})
    price = pd.Series(5.0, index=skus) if prices is None else pd.Series(prices).reindex(skus).fillna(5.0)
    cat["price"] = np.asarray(price, dtype=float)
    cat["unit_cost"] = (cat["price"] * 0.6).round(2)
    return cat
