"""Spark receipts -> the run folder the embedded pipeline writes, mined in the cluster.

In: :class:`recommender.spark.load.SparkReceipts`, an optional catalog and
:class:`recommender.pipeline.MiningParams`. Out: :class:`recommender.pipeline.MiningResult`
and the run folder, with the same tables and manifest keys as
:func:`recommender.pipeline.mine_to_folder`; the manifest says ``"engine": "spark"``
and ``"loaded_by": "spark"``. Baskets are built and itemsets mined and counted
by :mod:`recommender.spark.son`; rules, significance and substitutes are the
embedded functions of :mod:`recommender.rules` over the counts Spark returns.
"""

from __future__ import annotations

import time
from dataclasses import replace

from recommender.pipeline import MiningParams, MiningResult, _sub, result_from_itemsets, write_mined


def mine_spark(receipts, catalog=None, params: MiningParams | None = None, progress=None) -> MiningResult:
    """:func:`recommender.pipeline.mine` with baskets, itemsets and counts computed by Spark."""
    from recommender.mining import min_count_for
    from recommender.spark.son import build_spark_baskets, son_itemsets

    params = replace(params or MiningParams(), engine="spark")
    say = progress or (lambda done, total, message: None)
    timings = {}
    t0 = time.perf_counter()
    say(0, 5, f"building baskets at {params.level} level in Spark")
    baskets = build_spark_baskets(receipts.lines, catalog, params.level)
    timings["baskets"] = time.perf_counter() - t0
    n = baskets.n_receipts
    min_count = params.min_count if params.min_count is not None else min_count_for(params.min_support, n)

    t = time.perf_counter()
    say(1, 5, f"mining itemsets in {n:,} receipts (min count {min_count:,}) with SON on Spark")
    raw = son_itemsets(baskets, min_count, max_len=params.max_len, progress=_sub(say, 1, 5))
    timings["itemsets"] = time.perf_counter() - t
    return result_from_itemsets(raw, baskets, catalog, params, min_count, timings, say,
                                {"engine": "spark", "loaded_by": "spark"},
                                substitutes_note=" (pairs counted in Spark)")


def mine_to_folder_spark(receipts, out_dir, catalog=None, params: MiningParams | None = None, progress=None,
                         source: dict | None = None):
    """Mine Spark ``receipts`` and write the run folder atomically, as :func:`recommender.pipeline.mine_to_folder`."""
    from recommender.spark.items import spark_items

    t = time.perf_counter()
    result = mine_spark(receipts, catalog, params, progress)
    items, suspects = spark_items(receipts.lines, receipts.has_name)
    return write_mined(result, receipts.accounting, items, suspects, out_dir, t, source)
