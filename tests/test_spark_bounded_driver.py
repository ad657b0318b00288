"""Issue #15, point 3: on the Spark path the driver never collects receipt lines or baskets.

``recommender mine PATH --engine spark`` runs on a synthetic Parquet file whose lines take tens of times more
memory in pandas than the driver may take back: the session is started with ``spark.driver.maxResultSize``
(:data:`LIMIT`), which makes Spark abort any job whose results reaching the driver add up to more. A
``collect()``, ``toPandas()`` or ``toLocalIterator()`` of the lines or of the baskets anywhere on the path fails
the run (the test proves the limit bites: collecting this run's lines or baskets fails). Only small tables
(accounting, item labels, candidate counts, one row per SKU) get through, and the run folder equals the embedded
engine's on the same file. The driver's own Python may not read the file either: the embedded loaders and the
pandas / pyarrow readers are disabled while Spark runs (the executors' Python workers are other processes).

A heap limit proper (``spark.driver.memory``) needs the executors in their own JVM (``local-cluster``), where
this much data would fit any heap a JVM starts with; that check runs at 10M lines with a 1 GB driver in
``bench/bench_scale.py --engines sparkfull`` (see docs/spark.md).

The test stops the shared session and starts its own (one Spark app at a time); ``spark_session`` starts the
shared one again for the tests after it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (no java on PATH)", allow_module_level=True)

#: What the driver may take back per job: 256 KiB, against about 9 MB of lines in pandas.
LIMIT, LIMIT_BYTES = "256k", 256 * 1024
LINES = 100_000
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bounded_spark(monkeypatch):
    """The Spark engine module with no session running; the session the test starts is stopped afterwards."""
    import recommender.mining.spark as engine

    engine.stop_session()  # maxResultSize is read when the SparkContext starts: a session of its own
    monkeypatch.setenv(engine.MASTER_ENV, "local[2]")
    try:
        yield engine
    finally:
        engine.stop_session()
        engine.configure()
        # If this session was the process's first, pyspark started the JVM with the limit as a --conf, i.e. a
        # system property every later SparkConf loads: clear it, or the next tests' sessions would inherit it.
        from pyspark import SparkContext

        if SparkContext._jvm is not None:
            SparkContext._jvm.java.lang.System.clearProperty("spark.driver.maxResultSize")


def _forbidden(name):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the driver called {name} on the Spark path")

    return refuse


def _no_reading_in_the_driver(m):
    """Disable every way the driver's Python could read receipts whole: the embedded loaders and their readers."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    import recommender.ingest as ingest
    import recommender.receipts as receipts

    for owner, name in [(receipts, "load_receipts"), (ingest, "load_receipts_chunked"), (pd, "read_csv"),
                        (pd, "read_parquet"), (pq, "read_table"), (pq.ParquetFile, "read"),
                        (pq.ParquetFile, "iter_batches"), (pacsv, "read_csv"), (pacsv, "open_csv")]:
        m.setattr(owner, name, _forbidden(f"{getattr(owner, '__name__', owner)}.{name}"))


def test_the_spark_path_runs_with_a_driver_that_cannot_hold_the_lines(tmp_path, bounded_spark, monkeypatch, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import recommender.spark.load as spark_load
    from recommender import cli
    from recommender.receipts import load_receipts
    from recommender.spark.son import build_spark_baskets

    sys.path.insert(0, str(ROOT / "bench"))
    from synth import synthetic_lines

    path = tmp_path / "receipts.parquet"
    pq.write_table(pa.Table.from_pandas(synthetic_lines(LINES, n_skus=300, seed=15), preserve_index=False), path)
    in_pandas = int(load_receipts(path).lines.memory_usage(deep=True).sum())
    assert in_pandas > 30 * LIMIT_BYTES  # the lines cannot pass through the driver

    common = ["mine", str(path), "--min-support", "0.008", "--json"]
    assert cli.main([*common, "--out", str(tmp_path / "embedded")]) == 0

    loaded = []
    real_load = spark_load.load_receipts_spark

    def keep(*args, **kwargs):
        loaded.append(real_load(*args, **kwargs))
        return loaded[-1]

    with monkeypatch.context() as m:
        m.setattr(spark_load, "load_receipts_spark", keep)
        _no_reading_in_the_driver(m)
        code = cli.main([*common, "--engine", "spark", "--spark-conf", f"spark.driver.maxResultSize={LIMIT}",
                         "--out", str(tmp_path / "spark")])
    assert code == 0, capsys.readouterr().err
    session = bounded_spark.get_session()  # the session the run used, still running
    assert session.sparkContext.getConf().get("spark.driver.maxResultSize") == LIMIT

    # The limit bites: this run's lines and its baskets are each more than the driver may take back.
    lines = loaded[0].lines
    for collect in (lines.collect, lines.toPandas, lambda: build_spark_baskets(lines).frame.collect()):
        with pytest.raises(Exception, match="maxResultSize"):
            collect()

    ours = json.loads((tmp_path / "embedded" / "manifest.json").read_text())
    theirs = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert theirs["engine"] == "spark" and theirs["loaded_by"] == "spark"
    assert ours["engine"] != "spark"
    for key in ("accounting", "suspected_non_products", "n_receipts", "n_items", "n_itemsets", "n_rules",
                "n_significant", "n_substitutes", "level"):
        assert theirs[key] == ours[key], key
    for name in ("items.csv", "itemsets.csv", "rules.csv", "substitutes.csv"):
        assert (tmp_path / "spark" / name).read_bytes() == (tmp_path / "embedded" / name).read_bytes(), name
    # a run worth comparing: cancellations matched, itemsets of three, significant rules
    assert ours["accounting"]["rows_rejected"].get("cancellation", 0) > 0
    itemsets = pd.read_csv(tmp_path / "embedded" / "itemsets.csv")
    assert itemsets["size"].max() >= 3 and ours["n_rules"] > 100 and ours["n_significant"] > 0
