"""Frequent itemsets with Spark's FP-growth, as the mining engine ``"spark"``.

In: the canonical boolean CSR matrix every engine receives (receipts x items)
and an integer ``min_count``. Out: the engine DataFrame of
:mod:`recommender.mining` -- ``items`` (ascending tuples of column indices) and
``count`` -- with exactly the itemsets the embedded engine finds.

Importing this module registers the engine, so that
``frequent_itemsets(matrix, min_count, engine="spark")`` works; it does not
start Spark. The session is started on first use (``local[*]`` unless
``RECOMMENDER_SPARK_MASTER`` or :func:`configure` names another master) and
reused for the life of the process, because a JVM start costs seconds.
Spark logs at ERROR level only and the JVM's start-up chatter is kept off the
terminal (set ``RECOMMENDER_SPARK_VERBOSE=1`` to see it); the driver heap is
``RECOMMENDER_SPARK_DRIVER_MEMORY`` (default 2g).

Exactness. Spark's ``FPGrowth`` keeps an itemset when its count is at least
``ceil(minSupport * n)`` (``mllib.fpm.FPGrowth.run``), ``n`` being the number of
rows it is given. We pass ``minSupport = (min_count - 0.5) / n``, whose ceiling
is ``min_count`` whatever the float rounding, and still filter
``count >= min_count`` afterwards. Receipts reach Spark as arrays of column
indices, already unique per receipt (the CSR matrix is canonical); empty
receipts are left out (they contain no itemset) and ``n`` counts what is sent.

Costs. Spark has no ``maxPatternLength``: with ``max_len`` the whole lattice is
still mined and longer itemsets are dropped afterwards, so ``max_len`` saves
no Spark time (only the transfer back). FP-growth's recursion is deep on long
receipts: the JVM thread stack is raised to 512 MB (without it Spark dies with
``StackOverflowError`` on Online Retail at min_support 0.01).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

import numpy as np
import pandas as pd

from recommender.mining import register_engine

__all__ = ["spark_itemsets", "get_session", "configure", "stop_session", "MASTER_ENV"]

#: Environment variable naming the Spark master (e.g. ``spark://host:7077``).
MASTER_ENV = "RECOMMENDER_SPARK_MASTER"
#: Environment variable for the driver's heap (e.g. ``8g``); Spark's default is 1g.
DRIVER_MEMORY_ENV = "RECOMMENDER_SPARK_DRIVER_MEMORY"

_STACK = "-Xss512m"
_lock = threading.Lock()
_session = None
_settings: dict = {}


def configure(master: str | None = None, driver_memory: str | None = None, **conf) -> None:
    """Choose the master (and extra Spark settings) for the session started next.

    Has no effect on a session already running; call :func:`stop_session` first.

    Examples
    --------
    >>> configure(master="local[2]")
    >>> _settings["master"]
    'local[2]'
    >>> configure()
    """
    _settings.clear()
    if master:
        _settings["master"] = master
    if driver_memory:
        _settings["driver_memory"] = driver_memory
    _settings["conf"] = dict(conf)


def get_session(master: str | None = None):
    """The process's SparkSession, started on first call with quiet logging.

    Parameters
    ----------
    master : str, optional
        Overrides :func:`configure` and ``RECOMMENDER_SPARK_MASTER``; ignored
        once a session runs.
    """
    global _session
    with _lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        if _session is not None and not _session.sparkContext._jsc.sc().isStopped():
            return _session
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (the Spark loader and SON miner run our code in them) use this interpreter, which
        # has pandas/pyarrow and this package; on a cluster, PYSPARK_PYTHON names the executors' own.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        chosen = master or _settings.get("master") or os.environ.get(MASTER_ENV)
        if chosen is None and not os.environ.get("PYSPARK_GATEWAY_PORT"):
            chosen = "local[*]"  # under spark-submit (a gateway is already up) its --master stands
        memory = _settings.get("driver_memory") or os.environ.get(DRIVER_MEMORY_ENV) or "2g"
        builder = SparkSession.builder if chosen is None else SparkSession.builder.master(chosen)
        builder = (builder.appName("recommender")
                   .config("spark.driver.extraJavaOptions", _STACK)
                   .config("spark.executor.extraJavaOptions", _STACK)
                   .config("spark.driver.memory", memory)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .config("spark.sql.shuffle.partitions", str(max(2, 2 * (os.cpu_count() or 2)))))
        for key, value in _settings.get("conf", {}).items():
            builder = builder.config(key, value)
        # The JVM prints its start-up banner and log4j lines to stderr before
        # setLogLevel can act; keep them out of the user's terminal.
        with _quiet_stderr():
            _session = builder.getOrCreate()
            _session.sparkContext.setLogLevel("ERROR")
        return _session


def stop_session() -> None:
    """Stop the process's session (the next use starts a new one)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


class _quiet_stderr:
    """Redirect file descriptor 2 to /dev/null (the JVM child inherits it)."""

    def __enter__(self):
        if os.environ.get("RECOMMENDER_SPARK_VERBOSE"):
            self.saved = None
            return self
        self.saved = os.dup(2)
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 2)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
            os.close(self.null)
        return False


def _transactions(matrix):
    """Non-empty receipts as a two-column Arrow table (row id, array of int32 item indices)."""
    import pyarrow as pa

    sizes = np.diff(matrix.indptr)
    keep = np.flatnonzero(sizes > 0)
    offsets = np.concatenate(([0], np.cumsum(sizes[keep]))).astype(np.int32)
    if len(keep) == matrix.shape[0]:
        values = matrix.indices.astype(np.int32)
    else:
        take = np.repeat(keep, sizes[keep])
        starts = np.repeat(matrix.indptr[keep], sizes[keep])
        within = np.arange(len(take)) - np.repeat(offsets[:-1], sizes[keep])
        values = matrix.indices[starts + within].astype(np.int32)
    items = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
    return pa.table({"items": items}), len(keep)


def spark_itemsets(matrix, min_count: int, max_len: int | None = None, progress=None, master: str | None = None,
                   num_partitions: int | None = None) -> pd.DataFrame:
    """Frequent itemsets of a canonical boolean CSR matrix by Spark FP-growth.

    Parameters
    ----------
    matrix : scipy.sparse.csr_array of bool
        Canonical (sorted unique indices), as :func:`recommender.mining.frequent_itemsets` passes it.
    min_count : int
        Keep itemsets in at least this many receipts.
    max_len : int, optional
        Longest itemset kept (filtered after mining: Spark cannot stop early).
    progress : callable, optional
        ``progress(done, total, message)``.
    master : str, optional
        Spark master for the session, if none runs yet.
    num_partitions : int, optional
        Partitions of the FP-growth shuffle (Spark's default otherwise).

    Returns
    -------
    DataFrame
        ``items`` (tuple of int, ascending), ``count`` (int64), unsorted rows.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool))
    >>> spark_itemsets(m, 2).sort_values("items").to_records(index=False).tolist()  # doctest: +SKIP
    [((0,), 2), ((0, 1), 2), ((1,), 3), ((1, 2), 2), ((2,), 2)]
    """
    say = progress or (lambda done, total, message: None)
    empty = pd.DataFrame({"items": pd.Series([], dtype=object), "count": pd.Series([], dtype=np.int64)})
    table, n = _transactions(matrix)
    if n == 0 or n < min_count:
        return empty
    say(0, 3, "starting Spark")
    with warnings.catch_warnings():
        # pyspark warns about pandas 3 on its Arrow exchanges; nothing here goes through pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        spark = get_session(master)
        from pyspark.ml.fpm import FPGrowth

        say(1, 3, f"Spark FP-growth on {n:,} receipts")
        frame = spark.createDataFrame(table)
        params = {"itemsCol": "items", "minSupport": (min_count - 0.5) / n, "minConfidence": 1.0}
        if num_partitions:
            params["numPartitions"] = int(num_partitions)
        model = FPGrowth(**params).fit(frame)
        freq = model.freqItemsets
        if max_len is not None:
            from pyspark.sql import functions as F

            freq = freq.where(F.size("items") <= max_len)
        out = freq.toArrow()
    say(2, 3, f"{out.num_rows:,} itemsets back from Spark")
    counts = np.asarray(out.column("freq").to_numpy(), dtype=np.int64)
    lists = out.column("items").to_pylist()
    keep = counts >= min_count  # Spark's threshold is ceil(minSupport * n) == min_count; belt and braces
    items = pd.Series([tuple(sorted(x)) for x, k in zip(lists, keep) if k], dtype=object)
    say(3, 3, "done")
    return pd.DataFrame({"items": items, "count": counts[keep]})


def _engine(matrix, min_count, max_len, progress, max_itemsets, memory_budget):
    result = spark_itemsets(matrix, min_count, max_len=max_len, progress=progress)
    if len(result) > max_itemsets:
        from recommender.mining import ThresholdTooLow

        raise ThresholdTooLow(f"Spark found {len(result):,} itemsets, more than the limit of {max_itemsets:,}",
                              suggested_min_count=min_count * 2)
    return result


register_engine("spark", _engine)
