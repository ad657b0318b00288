"""Baskets, exact frequent itemsets (SON) and the counts the statistics need, all in Spark.

In: clean lines as a Spark DataFrame (:mod:`recommender.spark.load`), an
optional catalog and a level. Out: :class:`SparkBaskets` (the baskets stay in
the cluster; the driver holds the item labels and per-band receipt counts) and,
from :func:`son_itemsets`, the frequent itemsets with their counts -- the
DataFrame :func:`recommender.mining.frequent_itemsets` returns, equal to it.

SON (Savasere, Omiecinski and Navathe, 1995). Each partition of ``n_p`` of the
``n`` receipts is mined by the embedded engine at ``ceil(min_count * n_p / n)``
(integer arithmetic, no float). An itemset below that in every partition has
``count_p < min_count * n_p / n`` everywhere, so a total below ``min_count``:
every frequent itemset is a candidate. The candidates are broadcast and counted
exactly in every partition, per basket-size band (the CMH strata of
:func:`recommender.significance.size_strata`), and the counts are summed by
Spark. Only the candidates and their counts reach the driver.

:class:`SparkBaskets` answers what :func:`recommender.rules.association_rules`
and :func:`recommender.rules.substitutes` ask of baskets: the per-band counts
of the frequent itemsets (``stratum_counter``) and the co-occurrence of
candidate substitute pairs (``pair_counts``, a Spark job).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.significance import StratumCounter, _fibonacci_bounds

#: Basket-size band upper bounds (1, 2, 3, 5, 8, ...) far beyond any receipt.
_BOUNDS = _fibonacci_bounds(1 << 40)
#: Receipts per partition when mining and counting (a partition's bitsets must fit a worker).
RECEIPTS_PER_PARTITION = 200_000
#: Fewer receipts than this per partition are not split further for parallelism: SON's local threshold
#: falls with the partition, and a few hundred long receipts at a threshold of 2 hold millions of candidates.
MIN_RECEIPTS_PER_PARTITION = 50_000


def _bands(sizes: np.ndarray) -> np.ndarray:
    """Global band index of each receipt size (size 0 shares the first band, as in ``size_strata``)."""
    return np.searchsorted(_BOUNDS, np.maximum(np.asarray(sizes, dtype=np.int64), 1), side="left")


def _matrix(pdf: pd.DataFrame, n_items: int) -> sp.csr_array:
    """The partition's receipts as a canonical boolean CSR matrix (item codes arrive sorted and unique)."""
    arrays = pdf["items"].tolist()
    sizes = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    indices = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays]) if len(arrays) and sizes.sum() \
        else np.zeros(0, dtype=np.int64)
    return sp.csr_array((np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(arrays), n_items))


def _whole_partition(batches) -> pd.DataFrame | None:
    frames = [b for b in batches if len(b)]
    return pd.concat(frames, ignore_index=True) if frames else None


class _StrataLookup:
    """``StratumCounter``'s interface over per-band counts already summed by Spark."""

    def __init__(self, items: list[tuple], table: np.ndarray, stratum_sizes: np.ndarray):
        self._row = {t: i for i, t in enumerate(items)}
        self._table = table
        self.stratum_sizes = stratum_sizes

    def counts(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        return self._table[[self._row[tuple(int(x) for x in r)] for r in rows]].reshape(len(rows), -1)


class SparkBaskets:
    """Receipts as item-code arrays in the cluster; labels and band sizes on the driver.

    Attributes
    ----------
    frame : pyspark DataFrame
        ``items`` (sorted unique item codes) per receipt, persisted.
    items : pandas.Index
        Item labels in code order (sorted), as :class:`recommender.baskets.Baskets`.
    level : str
    n_unmapped_lines : int
    n_receipts : int
    stratum_sizes : ndarray
        Receipts per basket-size band that occurs, in increasing size.
    """

    def __init__(self, frame, items, level, n_unmapped_lines, n_receipts, bands, stratum_sizes):
        self.frame = frame
        self.items = items
        self.level = level
        self.n_unmapped_lines = int(n_unmapped_lines)
        self.n_receipts = int(n_receipts)
        self.bands = np.asarray(bands, dtype=np.int64)
        self.stratum_sizes = np.asarray(stratum_sizes, dtype=np.int64)
        self._item_counts = np.zeros(len(items), dtype=np.int64)
        self._lookup: _StrataLookup | None = None

    @property
    def n_items(self) -> int:
        return len(self.items)

    def item_counts(self) -> pd.Series:
        """Receipts per item: exact for every candidate item (so for every frequent one), 0 for the rest."""
        return pd.Series(self._item_counts, index=self.items, name="count")

    def stratum_counter(self, columns=None) -> _StrataLookup:
        if self._lookup is None:
            raise ValueError("mine the baskets with son_itemsets first: the per-band counts come from it")
        return self._lookup

    def pair_counts(self, pairs) -> np.ndarray:
        """Receipts holding both items of each pair (column indices), counted by Spark."""
        from pyspark.sql import functions as F

        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if not len(pairs):
            return np.zeros(0, dtype=np.int64)
        sc = self.frame.sparkSession.sparkContext
        shared = sc.broadcast(pairs)
        n_items = self.n_items

        def count(batches):
            pdf = _whole_partition(batches)
            if pdf is None:
                return
            pairs = shared.value
            cols = np.unique(pairs)
            slot = np.full(n_items, -1, dtype=np.int64)
            slot[cols] = np.arange(len(cols))
            x = sp.csc_array(_matrix(pdf, n_items)[:, cols], dtype=np.int64)
            co = sp.csr_array(x.T @ x)
            got = np.asarray(co[slot[pairs[:, 0]], slot[pairs[:, 1]]]).ravel().astype(np.int64)
            keep = np.flatnonzero(got)
            yield pd.DataFrame({"pair": keep.astype(np.int64), "count": got[keep]})

        rows = self.frame.mapInPandas(count, "pair long, count long").groupBy("pair").agg(
            F.sum("count").alias("count")).collect()
        out = np.zeros(len(pairs), dtype=np.int64)
        for r in rows:
            out[int(r["pair"])] = int(r["count"])
        shared.unpersist()
        return out


def _band_expr(size_col):
    """Spark expression: the global band of a receipt of ``size_col`` items (searchsorted, side left)."""
    from pyspark.sql import functions as F

    clamped = F.greatest(size_col, F.lit(1))
    expr = F.lit(0)
    for bound in _BOUNDS[:-1].tolist():
        expr = expr + (clamped > F.lit(int(bound))).cast("int")
    return expr


def build_spark_baskets(lines, catalog: pd.DataFrame | None = None, level: str = "sku") -> SparkBaskets:
    """The receipts of ``lines`` (a Spark DataFrame) as item-code arrays at ``level``, as ``build_baskets`` does.

    Receipts with no item at the level keep an empty row; lines whose SKU has
    no value at the level are counted in ``n_unmapped_lines``.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from recommender.catalog import level_map

    spark = lines.sparkSession
    mapping = level_map(catalog, level)
    base = lines.select(F.col("receipt_id").cast("string").alias("receipt_id"), F.col("sku").cast("string"))
    if mapping is None:
        mapped = base.withColumn("item", F.col("sku"))
        n_unmapped = 0
    else:
        table = pd.DataFrame({"sku": pd.Index(mapping.index).astype("str"), "item": mapping.to_numpy(dtype=object)})
        table = table[table["item"].notna()].astype({"item": "str"}).drop_duplicates("sku")
        mapped = base.join(F.broadcast(spark.createDataFrame(table, "sku string, item string")), "sku", "left")
        n_unmapped = mapped.where(F.col("item").isNull()).count()
    labels = sorted(r["item"] for r in mapped.where(F.col("item").isNotNull()).select("item").distinct().collect())
    codes = spark.createDataFrame(pd.DataFrame({"item": pd.Series(labels, dtype=object),
                                                "code": np.arange(len(labels), dtype=np.int32)}),
                                  "item string, code int")
    coded = mapped.join(F.broadcast(codes), "item", "left")
    n_parts = max(spark.sparkContext.defaultParallelism, 1)
    frame = coded.groupBy("receipt_id").agg(F.array_sort(F.collect_set("code")).alias("items"))
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    per_band = frame.groupBy(_band_expr(F.size("items")).alias("band")).count().collect()
    per_band = sorted((int(r["band"]), int(r["count"])) for r in per_band)
    n = sum(c for _, c in per_band)
    wanted = max(1, math.ceil(n / RECEIPTS_PER_PARTITION), min(n_parts, n // MIN_RECEIPTS_PER_PARTITION))
    have = frame.rdd.getNumPartitions()
    if have != wanted:
        resized = frame.repartition(wanted) if have < wanted else frame.coalesce(wanted)
        frame = resized.persist(StorageLevel.MEMORY_AND_DISK)
    return SparkBaskets(frame, pd.Index(labels, dtype="string"), level, n_unmapped, n,
                        [b for b, _ in per_band], [c for _, c in per_band])


def son_itemsets(baskets: SparkBaskets, min_count: int, max_len: int | None = None,
                 max_itemsets: int | None = None, progress=None) -> pd.DataFrame:
    """Every itemset in at least ``min_count`` receipts, with its exact count, by SON on Spark.

    Also leaves on ``baskets`` the per-band counts of the frequent itemsets
    (for the CMH test) and the counts of every candidate single item.

    Returns
    -------
    DataFrame
        ``items`` (ascending tuples of item codes) and ``count`` (int64), sorted
        by ``(len(items), items)`` -- what ``frequent_itemsets`` returns.
    """
    from pyspark.sql import functions as F

    from recommender.mining import DEFAULT_MAX_ITEMSETS, ThresholdTooLow, frequent_itemsets, sort_itemsets

    say = progress or (lambda done, total, message: None)
    n, n_items = baskets.n_receipts, baskets.n_items
    max_itemsets = max_itemsets or DEFAULT_MAX_ITEMSETS
    empty = pd.DataFrame({"items": pd.Series([], dtype=object), "count": pd.Series([], dtype=np.int64)})
    if n == 0 or n_items == 0:
        return empty

    def local(batches):
        pdf = _whole_partition(batches)
        if pdf is None:
            return
        n_p = len(pdf)
        threshold = max(1, -(-min_count * n_p // n))  # ceil(min_count * n_p / n), exactly
        got = frequent_itemsets(_matrix(pdf, n_items), threshold, max_len=max_len, engine="fast",
                                max_itemsets=max_itemsets)
        yield pd.DataFrame({"items": [list(t) for t in got["items"]]})

    say(0, 3, "SON: mining every partition at its share of the threshold")
    rows = baskets.frame.mapInPandas(local, "items array<int>").distinct().collect()
    candidates = sorted((tuple(int(i) for i in r["items"]) for r in rows), key=lambda t: (len(t), t))
    if not candidates:
        return empty
    by_size: dict = {}
    for cid, t in enumerate(candidates):
        by_size.setdefault(len(t), []).append(cid)
    groups = {k: (np.asarray(ids, dtype=np.int64), np.asarray([candidates[i] for i in ids], dtype=np.int64))
              for k, ids in by_size.items()}
    columns = np.unique(np.concatenate([rows_.ravel() for _, rows_ in groups.values()]))
    shared = baskets.frame.sparkSession.sparkContext.broadcast((groups, columns))

    def count(batches):
        pdf = _whole_partition(batches)
        if pdf is None:
            return
        groups, columns = shared.value
        m = _matrix(pdf, n_items)
        used, codes = np.unique(_bands(np.diff(m.indptr)), return_inverse=True)
        counter = StratumCounter(m, codes, columns=columns)
        for ids, rows_ in groups.values():
            c = counter.counts(rows_)
            i, j = np.nonzero(c)
            yield pd.DataFrame({"cand": ids[i], "band": used[j].astype(np.int32), "count": c[i, j]})

    say(1, 3, f"SON: counting {len(candidates):,} candidates exactly in every partition")
    counted = baskets.frame.mapInPandas(count, "cand long, band int, count long").groupBy("cand", "band").agg(
        F.sum("count").alias("count")).collect()
    shared.unpersist()
    slot = {b: s for s, b in enumerate(baskets.bands.tolist())}
    table = np.zeros((len(candidates), len(slot)), dtype=np.int64)
    for r in counted:
        table[int(r["cand"]), slot[int(r["band"])]] = int(r["count"])
    totals = table.sum(axis=1)
    for cid, t in enumerate(candidates):
        if len(t) == 1:
            baskets._item_counts[t[0]] = totals[cid]
    keep = np.flatnonzero(totals >= min_count)
    if len(keep) > max_itemsets:
        raise ThresholdTooLow(f"SON found {len(keep):,} itemsets, more than the limit of {max_itemsets:,}",
                              suggested_min_count=min_count * 2)
    items = [candidates[i] for i in keep]
    baskets._lookup = _StrataLookup(items, table[keep], baskets.stratum_sizes)
    say(3, 3, f"{len(items):,} frequent itemsets of {len(candidates):,} candidates")
    return sort_itemsets(pd.DataFrame({"items": pd.Series(items, dtype=object),
                                       "count": totals[keep].astype(np.int64)}))
