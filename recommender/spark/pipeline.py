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
from dataclasses import asdict, replace

from recommender.pipeline import MiningParams, MiningResult, _sub, _versions, check_rule_count


def mine_spark(receipts, catalog=None, params: MiningParams | None = None, progress=None) -> MiningResult:
    """:func:`recommender.pipeline.mine` with baskets, itemsets and counts computed by Spark."""
    from recommender.mining import min_count_for
    from recommender.rules import association_rules, empty_substitutes, filter_rules, substitutes
    from recommender.runs import itemsets_with_labels
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
    check_rule_count(raw, n, params.max_rules)

    t = time.perf_counter()
    say(2, 5, f"{len(raw):,} itemsets; deriving rules")
    rules = association_rules(raw, baskets, min_confidence=params.min_confidence, min_lift=params.min_lift,
                              fdr=params.fdr, stratify=params.stratify, catalog=catalog, progress=_sub(say, 2, 5))
    rules = filter_rules(rules, prune=params.prune, top_k=params.top_k, by=params.by,
                         lhs=list(params.lhs) or None, rhs=list(params.rhs) or None)
    timings["rules"] = time.perf_counter() - t

    t = time.perf_counter()
    say(3, 5, "looking for substitutes (pairs counted in Spark)")
    if catalog is not None:
        subs = substitutes(baskets, catalog, min_count=min_count, fdr=params.fdr, max_lift=params.substitute_max_lift)
    else:
        subs = empty_substitutes()
    timings["substitutes"] = time.perf_counter() - t
    itemsets = itemsets_with_labels(raw, baskets)
    say(5, 5, f"{len(itemsets):,} itemsets, {len(rules):,} rules, {len(subs):,} substitute pairs")
    manifest = {
        "parameters": {**asdict(params), "min_count_used": int(min_count)},
        "n_receipts": int(n), "n_items": int(baskets.n_items), "level": params.level,
        "n_unmapped_lines": int(baskets.n_unmapped_lines),
        "n_itemsets": int(len(itemsets)), "n_rules": int(len(rules)), "n_substitutes": int(len(subs)),
        "n_significant": int(rules["significant"].sum()) if len(rules) else 0,
        "engine": "spark", "loaded_by": "spark",
        "versions": _versions(), "timings_seconds": {k: round(v, 4) for k, v in timings.items()},
    }
    return MiningResult(baskets=baskets, itemsets=itemsets, rules=rules, substitutes=subs, manifest=manifest)


def mine_to_folder_spark(receipts, out_dir, catalog=None, params: MiningParams | None = None, progress=None,
                         source: dict | None = None):
    """Mine Spark ``receipts`` and write the run folder atomically, as :func:`recommender.pipeline.mine_to_folder`."""
    from recommender.runs import write_run
    from recommender.spark.items import spark_items

    t = time.perf_counter()
    result = mine_spark(receipts, catalog, params, progress)
    acc = receipts.accounting
    items, suspects = spark_items(receipts.lines, receipts.has_name)
    result.manifest.update({
        "input": {"path": acc.path, "sha256": acc.sha256, **(source or {})},
        "accounting": acc.to_dict(),
        "suspected_non_products": suspects["sku"].astype(str).tolist(),
    })
    result.manifest["timings_seconds"]["mine_total"] = round(time.perf_counter() - t, 4)
    path = write_run(out_dir, itemsets_df=result.itemsets, rules_df=result.rules, substitutes_df=result.substitutes,
                     manifest=result.manifest, extra_tables={"items": items})
    return result, path
