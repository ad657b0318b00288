"""The Spark engine finds exactly the embedded engine's itemsets, counts and rules.

One SparkSession serves the whole module (starting the JVM costs tens of
seconds); everything is skipped cleanly without pyspark or Java.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.baskets import build_baskets
from recommender.mining import frequent_itemsets, min_count_for
from recommender.rules import association_rules

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (no java on PATH)", allow_module_level=True)


@pytest.fixture(scope="module")
def spark_engine():
    import recommender.mining.spark as spark

    spark.get_session("local[2]")
    yield spark
    spark.stop_session()


def _same(matrix, min_count, max_len=None):
    ours = frequent_itemsets(matrix, min_count, max_len=max_len)
    theirs = frequent_itemsets(matrix, min_count, max_len=max_len, engine="spark")
    assert theirs["items"].tolist() == ours["items"].tolist()
    assert theirs["count"].tolist() == ours["count"].tolist()
    assert theirs["count"].dtype == np.int64
    return ours, theirs


def _same_rules(ours, theirs, baskets):
    a = association_rules(ours, baskets, min_confidence=0.0)
    b = association_rules(theirs, baskets, min_confidence=0.0)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_threshold_is_exact_at_the_boundary(spark_engine):
    # Counts 3, 3, 2 over 7 receipts: min_count 3 must keep exactly the two items
    # counted 3, whatever float rounding does to 3/7.
    m = sp.csr_array(np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
                              dtype=bool))
    for min_count in (1, 2, 3, 4):
        _same(m, min_count)
    got = frequent_itemsets(m, 3, engine="spark")
    assert got["items"].tolist() == [(0,), (1,)]


def test_max_len_filters_longer_itemsets(spark_engine):
    rng = np.random.default_rng(3)
    m = sp.csr_array(rng.random((300, 12)) < 0.4)
    ours, theirs = _same(m, 20, max_len=2)
    assert theirs["items"].map(len).max() == 2


def test_demo_subcategory_and_sku_levels(spark_engine, demo_data):
    from recommender.catalog import load_catalog
    from recommender.receipts import load_receipts

    lines = load_receipts(demo_data / "receipts.csv").lines
    catalog = load_catalog(demo_data / "catalog.csv")
    for level, support in (("subcategory", 0.002), ("sku", 0.001)):
        baskets = build_baskets(lines, catalog, level)
        ours, theirs = _same(baskets.matrix, min_count_for(support, baskets.n_receipts))
        assert (ours["items"].map(len) >= 2).any()
        _same_rules(ours, theirs, baskets)


def test_online_retail_sample_needs_the_large_stack(spark_engine, online_retail):
    # Long invoices make Spark's FP-growth recurse deeply: at min_support 0.01
    # the default JVM stack overflows; the engine raises it.
    with gzip.open(online_retail, "rt", encoding="latin-1") as f:
        df = pd.read_csv(f, usecols=["InvoiceNo", "StockCode", "Quantity"], dtype=str)
    df = df[~df["InvoiceNo"].str.startswith("C") & (df["Quantity"].astype(float) > 0)]
    first = pd.unique(df["InvoiceNo"])[:3000]
    lines = df[df["InvoiceNo"].isin(first)].rename(columns={"InvoiceNo": "receipt_id", "StockCode": "sku"})
    baskets = build_baskets(lines)
    ours, theirs = _same(baskets.matrix, min_count_for(0.01, baskets.n_receipts))
    assert ours["items"].map(len).max() >= 3
    _same_rules(ours, theirs, baskets)
