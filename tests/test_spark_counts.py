"""`tickets` and `uplift` counted by Spark equal the embedded counts value by value, and the driver collects
only the small tables (never lines).

One local[2] SparkSession for the whole test run (``spark_session`` in conftest); skipped cleanly without
pyspark or Java. The data are slices (the demo's first 8,000 lines, Online Retail's first 20,000 lines) so
the module stays fast.
"""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from recommender.cli import main
from recommender.receipts import load_receipts

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (no java on PATH)", allow_module_level=True)


def _head(src, dst, n, opener=open):
    with opener(src, "rt", encoding="utf-8") as f:
        head = [line for _, line in zip(range(n + 1), f)]
    with opener(dst, "wt", encoding="utf-8") as f:
        f.writelines(head)
    return dst


@pytest.fixture(scope="module")
def demo_slice(demo_data, tmp_path_factory):
    return _head(demo_data / "receipts.csv", tmp_path_factory.mktemp("slice") / "demo_head.csv", 8_000)


@pytest.fixture
def retail_slice(online_retail, tmp_path):
    return _head(online_retail, tmp_path / "retail_head.csv.gz", 20_000, gzip.open)


class Collected:
    """Rows every DataFrame.collect / toPandas brought to the driver while counting."""

    def __init__(self, monkeypatch, frame):
        DataFrame = type(frame)  # pyspark's classic DataFrame, not the abstract one
        self.sizes = []
        collect, to_pandas = DataFrame.collect, DataFrame.toPandas

        def counted_collect(df):
            rows = collect(df)
            self.sizes.append(len(rows))
            return rows

        def counted_pandas(df):
            out = to_pandas(df)
            self.sizes.append(len(out))
            return out

        monkeypatch.setattr(DataFrame, "collect", counted_collect)
        monkeypatch.setattr(DataFrame, "toPandas", counted_pandas)


@pytest.fixture(scope="module")
def demo_receipts(demo_slice, spark_module_session):
    """(embedded receipts, Spark receipts) of the demo slice, read once for the module."""
    from recommender.spark.load import load_receipts_spark

    theirs = load_receipts_spark(str(demo_slice), spark=spark_module_session)
    theirs.lines = theirs.lines.persist()
    yield load_receipts(demo_slice), theirs
    theirs.lines.unpersist()


@pytest.fixture
def demo_lines(demo_receipts):
    return demo_receipts[0].lines, demo_receipts[1].lines


def test_ticket_counts_equal_on_the_demo(demo_data, demo_lines, monkeypatch):
    from recommender.catalog import load_catalog
    from recommender.tickets import overlap_report, store_totals, ticket_metrics

    catalog = load_catalog(demo_data / "catalog.csv")
    ours, theirs = demo_lines
    seen = Collected(monkeypatch, theirs)
    pd.testing.assert_frame_equal(store_totals(theirs, "week"), store_totals(ours, "week"), check_exact=True)
    expected = ticket_metrics(ours, catalog, "sku", "week")
    pd.testing.assert_frame_equal(ticket_metrics(theirs, catalog, "sku", "week"), expected, check_exact=True)
    assert len(expected) > 100
    pd.testing.assert_frame_equal(overlap_report(theirs, catalog, "category", "store"),
                                  overlap_report(ours, catalog, "category", "store"), check_exact=True)
    # only per-group rows came back: at most one per (SKU, week), far fewer than the lines
    assert seen.sizes and max(seen.sizes) <= len(expected) < len(ours)


def test_exact_sums_are_order_free(spark_session):
    # 0.1 ten times is 1.0 exactly rounded, whatever the partitions; the embedded sum agrees
    from pyspark.sql import functions as F

    from recommender.spark.counts import exact_sum_columns, exact_value
    from recommender.sums import exact_sum

    rng = np.random.default_rng(3)
    values = np.concatenate([np.full(10, 0.1), rng.gamma(2.0, 30.0, 500).round(2), -rng.random(50),
                             [1e9, -1e9, 2.0 ** -20, np.nan]])
    df = spark_session.createDataFrame(pd.DataFrame({"x": values})).repartition(4)
    got = exact_value(df.agg(*exact_sum_columns(F.col("x"), "x")).collect()[0], "x")
    assert got == exact_sum(values)
    from fractions import Fraction

    exact = sum((Fraction(v) for v in values if v == v), Fraction(0))
    assert got == float(exact)
    from recommender.errors import InputError

    tiny = spark_session.createDataFrame(pd.DataFrame({"x": [1e-9]}))
    with pytest.raises(InputError, match="exactly only within"):
        exact_value(tiny.agg(*exact_sum_columns(F.col("x"), "x")).collect()[0], "x")


def _cli_json(capsys, *args):
    assert main([str(a) for a in args]) == 0
    return json.loads(capsys.readouterr().out)


def test_online_retail_tickets_and_bundles_equal_the_embedded_ones(retail_slice, spark_session, tmp_path,
                                                                    monkeypatch):
    # no catalog, fee codes, cancellations, countries as stores; SKU-level bundles with variant families made
    # mix & match offers: the same tables and bundles.csv byte for byte
    from recommender.bundles import bundles_for_run
    from recommender.pipeline import MiningParams, mine_to_folder
    from recommender.receipts import LoadOptions
    from recommender.spark.load import load_receipts_spark
    from recommender.tickets import store_totals, ticket_metrics

    opts = LoadOptions(mapping={"store_id": "Country"})
    ours = load_receipts(retail_slice, opts)
    theirs = load_receipts_spark(str(retail_slice), opts, spark=spark_session)
    theirs.lines = theirs.lines.persist()
    try:
        seen = Collected(monkeypatch, theirs.lines)
        expected = ticket_metrics(ours.lines, None, "sku", "month")
        pd.testing.assert_frame_equal(ticket_metrics(theirs.lines, None, "sku", "month"), expected, check_exact=True)
        pd.testing.assert_frame_equal(store_totals(theirs.lines, "store"), store_totals(ours.lines, "store"),
                                      check_exact=True)
        assert len(expected) > 1000
        _, ours_dir = mine_to_folder(ours, tmp_path / "embedded", None, MiningParams(min_support=0.03, max_len=3),
                                     source={"load_options": {"mapping": {"store_id": "Country"}}, "catalog": None})
        theirs_dir = _as_spark_run(ours_dir, tmp_path / "spark")
        bundles, _ = bundles_for_run(ours_dir, ours.lines, None, max_per_anchor=None)
        got, _ = bundles_for_run(theirs_dir, theirs.lines, None, max_per_anchor=None)
        pd.testing.assert_frame_equal(got, bundles, check_exact=True)
        assert (theirs_dir / "bundles.csv").read_bytes() == (ours_dir / "bundles.csv").read_bytes()
        assert (bundles["discount_type"] == "mix_match").any() and (bundles["discount_type"] != "mix_match").any()
        # the largest tables are per (SKU, month) and per (SKU, price): never the lines
        largest = max(len(expected), len(ours.lines.drop_duplicates(["sku", "unit_price"])))
        assert max(seen.sizes) <= largest < len(ours.lines) / 4
    finally:
        theirs.lines.unpersist()


def test_uplift_on_the_demo_equals_the_embedded_measure(demo_data, demo_lines, monkeypatch):
    # every metric, winsorised (the cap is numpy's quantile from two order statistics found by Spark), CUPED,
    # windows; control matching and the minimum detectable effect from the weekly sums
    from recommender.catalog import load_catalog
    from recommender.uplift import match_control_stores, measure_uplift, minimum_detectable_effect

    catalog = load_catalog(demo_data / "catalog.csv")
    ours, theirs = demo_lines
    launch = ours["timestamp"].min() + (ours["timestamp"].max() - ours["timestamp"].min()) / 2
    test, control = ["S01", "S02", "S03"], ["S04", "S05", "S06"]
    bundle = {"anchor": ["beverages"], "items": ["beverages", "snacks"], "level": "category"}
    seen = Collected(monkeypatch, theirs)
    for kw in (dict(metric="atv", winsorize=0.0137, cuped=True), dict(metric="upt", pre_days=20, post_days=10),
               dict(metric="attach", bundle=bundle)):
        expected = measure_uplift(ours, launch, test, control, catalog=catalog, min_tickets=5, **kw)
        got = measure_uplift(theirs, launch, test, control, catalog=catalog, min_tickets=5, **kw)
        assert json.dumps(got, default=str) == json.dumps(expected, default=str)
        assert expected["n_tickets"] > 100
    assert expected["estimate"] != 0
    pd.testing.assert_frame_equal(match_control_stores(theirs, test, launch, n=3),
                                  match_control_stores(ours, test, launch, n=3), check_exact=True)
    mde = minimum_detectable_effect(ours, test, control, 1, launch="2025-01-20")  # two whole weeks before it
    assert minimum_detectable_effect(theirs, test, control, 1, launch="2025-01-20") == mde
    assert seen.sizes and max(seen.sizes) < 500 < len(ours)


def test_linear_quantile_is_numpys():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from recommender.sums import linear_quantile

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60), st.floats(0.5, 1.0))
    def check(values, q):
        v = np.array(values)
        s = np.sort(v)
        assert linear_quantile(len(v), q, lambda k: s[k]) == np.quantile(v, q)

    check()


def test_uplift_command_on_a_spark_run_folder(demo_slice, spark_session, tmp_path, capsys, monkeypatch):
    # a run made in Spark: uplift given the run folder reads its receipts in Spark (counted there) and prints what
    # the embedded engine prints for the same file
    from recommender.pipeline import MiningParams, mine_to_folder

    _, run = mine_to_folder(load_receipts(demo_slice), tmp_path / "embedded", None, MiningParams(min_support=0.01),
                            source={"load_options": {}, "catalog": None})
    run = _as_spark_run(run, tmp_path / "run")
    args = ["--launch", "2025-01-12", "--test-stores", "S01,S02,S03", "--control-stores", "S04,S05,S06",
            "--metric", "upt", "--winsorize", "0.01", "--json"]
    expected = _cli_json(capsys, "uplift", demo_slice, *args)
    import recommender.spark.counts as counts

    calls, real = [], counts.panel_sums
    monkeypatch.setattr(counts, "panel_sums", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert _cli_json(capsys, "uplift", run, *args) == expected
    assert calls and expected["n_tickets"] > 100


def _as_spark_run(run_dir, out):
    """A copy of an embedded run folder that says it was read by Spark: the run tables of the two engines are
    equal (tests/test_spark_pipeline.py), so this is a Spark-made run without mining twice."""
    shutil.copytree(run_dir, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update({"engine": "spark", "loaded_by": "spark"})
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_bundles_of_a_spark_run_equal_the_embedded_bundles(demo_data, demo_receipts, tmp_path, monkeypatch):
    # per-store gap and set tickets, lacking add-ons, substitutes' margin, trip and season gates, prices and
    # best sellers all counted by Spark: the same bundles.csv byte for byte
    from recommender.bundles import bundles_for_run
    from recommender.catalog import load_catalog
    from recommender.pipeline import MiningParams, mine_to_folder

    catalog = load_catalog(demo_data / "catalog.csv")
    ours, theirs = demo_receipts
    _, ours_dir = mine_to_folder(ours, tmp_path / "embedded", catalog,
                                 MiningParams(level="subcategory", min_support=0.002))
    theirs_dir = _as_spark_run(ours_dir, tmp_path / "spark")
    expected, _ = bundles_for_run(ours_dir, ours.lines, catalog, max_per_anchor=None)
    seen = Collected(monkeypatch, theirs.lines)
    got, _ = bundles_for_run(theirs_dir, theirs.lines, catalog, max_per_anchor=None)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert (theirs_dir / "bundles.csv").read_bytes() == (ours_dir / "bundles.csv").read_bytes()
    summary = expected.attrs["summary"]
    assert got.attrs["summary"]["gates"] == summary["gates"] and summary["gates"]["same_trip_only"] > 0
    assert len(expected) > 10 and expected["recommended"].any() and expected["gap_tickets"].gt(0).all()
    # per-SKU, per-price and per-(set, store, pattern) tables: fewer rows than there are baskets
    assert max(seen.sizes) < ours.accounting.n_receipts
