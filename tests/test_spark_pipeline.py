"""The whole pipeline on Spark equals the embedded one: accounting, itemsets, counts, rules with every
measure, both significance tests, substitutes and the items table.

One local[2] SparkSession for the module; skipped cleanly without pyspark or Java.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.mining import frequent_itemsets
from recommender.pipeline import MiningParams, mine_to_folder
from recommender.receipts import load_receipts

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (no java on PATH)", allow_module_level=True)


@pytest.fixture
def spark(spark_session):
    return spark_session


def _baskets_frame(spark, matrix, partitions):
    from recommender.spark.son import SparkBaskets, _bands

    rows = [(str(i), matrix.indices[matrix.indptr[i]:matrix.indptr[i + 1]].astype(int).tolist())
            for i in range(matrix.shape[0])]
    frame = spark.createDataFrame(rows, "receipt_id string, items array<int>").repartition(partitions)
    bands, sizes = np.unique(_bands(np.diff(matrix.indptr)), return_counts=True)
    return SparkBaskets(frame, pd.Index([str(i) for i in range(matrix.shape[1])]), "sku", 0, matrix.shape[0],
                        bands, sizes)


def test_son_is_exact_at_every_threshold(spark):
    # Skewed partitions and thresholds down to 1: every itemset and count of the embedded engine, no more.
    from recommender.spark.son import son_itemsets

    rng = np.random.default_rng(7)
    dense = rng.random((240, 9)) < np.linspace(0.05, 0.6, 9)
    dense[:40, :3] = True  # a block only some partitions see
    matrix = sp.csr_array(dense)
    baskets = _baskets_frame(spark, matrix, 3)
    for min_count in (1, 7, 23, 41, 120):
        ours = frequent_itemsets(matrix, min_count)
        theirs = son_itemsets(baskets, min_count)
        assert theirs["items"].tolist() == ours["items"].tolist()
        assert theirs["count"].tolist() == ours["count"].tolist()
    ours = frequent_itemsets(matrix, 7, max_len=2)
    assert son_itemsets(baskets, 7, max_len=2)["items"].tolist() == ours["items"].tolist()


def same_run(path, catalog, params, tmp_path, spark):
    from recommender.spark.load import load_receipts_spark
    from recommender.spark.pipeline import mine_to_folder_spark

    embedded = load_receipts(path)
    ours, ours_dir = mine_to_folder(embedded, tmp_path / "embedded", catalog, params)
    receipts = load_receipts_spark(path, spark=spark)
    theirs, theirs_dir = mine_to_folder_spark(receipts, tmp_path / "spark", catalog, params)
    assert theirs.manifest["accounting"] == ours.manifest["accounting"]
    for table in ("itemsets", "rules", "substitutes"):
        pd.testing.assert_frame_equal(getattr(theirs, table), getattr(ours, table))
    assert theirs.manifest["suspected_non_products"] == ours.manifest["suspected_non_products"]
    for name in ("items.csv", "itemsets.csv", "rules.csv", "substitutes.csv"):
        assert (theirs_dir / name).read_bytes() == (ours_dir / name).read_bytes(), name
    assert theirs.manifest["engine"] == "spark" and theirs.manifest["loaded_by"] == "spark"
    for key in ("n_receipts", "n_items", "n_itemsets", "n_rules", "n_significant", "n_substitutes",
                "n_unmapped_lines", "level"):
        assert theirs.manifest[key] == ours.manifest[key], key
    return ours


def test_demo_subcategory_run_equals_the_embedded_run(demo_data, tmp_path, spark):
    from recommender.catalog import load_catalog

    catalog = load_catalog(demo_data / "catalog.csv")
    ours = same_run(demo_data / "receipts.csv", catalog, MiningParams(level="subcategory", min_support=0.002),
                    tmp_path, spark)
    assert len(ours.rules) > 100 and len(ours.substitutes) > 0 and ours.rules["significant"].any()
    assert ours.itemsets["size"].max() >= 3


def test_online_retail_sample_equals_the_embedded_run(online_retail, tmp_path, spark):
    # The first 20,000 lines (cancellations, fee codes, duplicates, quoted names), mined at 3%.
    with gzip.open(online_retail, "rt", encoding="utf-8") as f:
        head = [next(f) for _ in range(20_001)]
    path = tmp_path / "online_retail_head.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(head)
    ours = same_run(path, None, MiningParams(min_support=0.03), tmp_path, spark)
    acc = ours.manifest["accounting"]
    assert acc["rows_read"] == 20_000 and "cancellation" in acc["rows_rejected"]
    assert ours.itemsets["size"].max() >= 2 and len(ours.rules) > 0
