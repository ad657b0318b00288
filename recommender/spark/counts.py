"""The counts `tickets`, `uplift` and `bundles` read from receipt lines, as Spark aggregations.

In: the clean lines of :func:`recommender.spark.load.load_receipts_spark` (a
Spark DataFrame, never collected) and small driver-side tables (the catalog).
Out: the same small pandas tables the embedded functions compute from pandas
lines -- counts per store, period, level value, (candidate, store) -- so the
reports are built by the same code and are equal value by value.

Sums are exact: a float sum depends on the order of its terms and Spark adds
in no fixed order, so each term ``x`` is split into integers ``a = trunc(x
2^20)`` and ``b = (x - a 2^-20) 2^72`` (both exact for ``2^-20 <= |x| <
2^33``), Spark sums them as decimals, and the driver rounds ``a 2^-20 + b
2^-72`` once: the correctly rounded sum, equal to :func:`math.fsum` of the
terms (:mod:`recommender.sums`). A term outside that range stops with an
error that says so rather than rounding differently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.errors import InputError

__all__ = ["exact_sum_columns", "exact_value", "receipt_groups", "group_counts", "value_counts", "line_values",
           "ticket_values", "panel_sums", "weekly_sums"]

_A = float(1 << 20)
_B = float(1 << 72)


def exact_sum_columns(column, name: str) -> list:
    """Aggregate expressions whose results :func:`exact_value` turns into the exact sum of ``column`` (NaN/null = 0)."""
    from pyspark.sql import functions as F

    x = F.coalesce(F.when(F.isnan(column), F.lit(0.0)).otherwise(column), F.lit(0.0)).cast("double")
    a = F.when(F.abs(x) < 2.0 ** 33, (x * _A).cast("long")).otherwise(F.lit(0))
    rest = (x - a.cast("double") / _A) * _B
    bad = (F.abs(x) >= 2.0 ** 33) | (rest != F.floor(rest))
    return [F.sum(a.cast("decimal(38,0)")).alias(f"{name}__a"),
            F.sum(F.when(bad, F.lit(0)).otherwise(rest.cast("long")).cast("decimal(38,0)")).alias(f"{name}__b"),
            F.sum(bad.cast("long")).alias(f"{name}__bad")]


def exact_value(row, name: str) -> float:
    """The correctly rounded sum from a row holding :func:`exact_sum_columns` ``name``."""
    if row[f"{name}__bad"]:
        raise InputError(f"{int(row[f'{name}__bad']):,} {name} value(s) are below 1e-6 or above 8.6e9 in size; "
                         "Spark sums them exactly only within that range",
                         hint="check the amounts and quantities, or run the command with the embedded engine")
    a, b = row[f"{name}__a"], row[f"{name}__b"]
    total = (int(a or 0) << 52) + int(b or 0)
    return total / (1 << 72) + 0.0


def exact_frame(rows, keys: list, sums: list) -> pd.DataFrame:
    """Collected rows -> a frame of ``keys`` and the exact ``sums``."""
    data = {k: [r[k] for r in rows] for k in keys}
    for s in sums:
        data[s] = np.array([exact_value(r, s) for r in rows], dtype="float64")
    return pd.DataFrame(data)


def line_values(lines, catalog, level: str, name: str = "level_value"):
    """``lines`` with the value at ``level`` of each line (SKUs without one: "(unmapped)"), as
    :func:`recommender.tickets.line_values`; the SKU -> value map is a broadcast of the catalog's."""
    from pyspark.sql import functions as F

    from recommender.catalog import level_map
    from recommender.tickets import UNMAPPED

    mapping = level_map(catalog, level)
    if mapping is None:
        return lines.withColumn(name, F.col("sku"))
    mapping = mapping[~mapping.index.duplicated()].dropna()
    spark = lines.sparkSession
    table = spark.createDataFrame(list(zip(mapping.index.astype(str), mapping.astype(str))),
                                  f"_vsku string, {name} string")
    out = lines.join(F.broadcast(table), lines["sku"] == table["_vsku"], "left").drop("_vsku")
    return out.withColumn(name, F.coalesce(F.col(name), F.lit(UNMAPPED)))


def receipt_groups(lines, by):
    """One row per receipt: ``receipt_id`` and ``_g``, its group -- the store of its first line, or the
    day / week (Monday) / month of its earliest timestamp -- as :func:`recommender.tickets._receipt_groups`."""
    from pyspark.sql import functions as F

    if by is None:
        return lines.select("receipt_id").distinct().withColumn("_g", F.lit("(all)"))
    if by == "store":
        if "store_id" not in lines.columns:
            return lines.select("receipt_id").distinct().withColumn("_g", F.lit(None).cast("string"))
        first = F.min(F.struct(F.col("line_no"), F.col("store_id").alias("s")))
        return lines.groupBy("receipt_id").agg(first.getField("s").alias("_g"))
    unit = {"day": "day", "week": "week", "month": "month"}[by]
    earliest = F.min(F.col("timestamp"))
    return lines.groupBy("receipt_id").agg(F.date_trunc(unit, earliest).cast("timestamp_ntz").alias("_g"))


def _labels(values: list, by) -> pd.Index:
    """Collected group values -> the labels :func:`recommender.tickets._receipt_groups` makes."""
    from recommender.tickets import group_labels

    if by is None:
        return pd.Index(["(all)"])
    if by == "store":
        return group_labels(pd.Series(pd.array(values, dtype="string").to_numpy()))
    stamps = pd.Series(pd.to_datetime(pd.Series(values, dtype=object))).astype("datetime64[ns]")
    return group_labels(pd.Series(stamps.to_numpy()))


def _with_labels(frame: pd.DataFrame, by) -> pd.DataFrame:
    labels = _labels(frame["_g"].tolist(), by)
    if by is None or by == "store":
        frame["group"] = labels.to_numpy()[pd.Index(labels).get_indexer(
            pd.array(frame["_g"].tolist(), dtype="string").to_numpy())] if len(frame) else labels.to_numpy()[:0]
    else:
        stamps = pd.Series(pd.to_datetime(pd.Series(frame["_g"].tolist(), dtype=object))).astype("datetime64[ns]")
        frame["group"] = labels.to_numpy()[labels.get_indexer(stamps.to_numpy())] if len(frame) else \
            labels.to_numpy()[:0]
    return frame.drop(columns="_g")


def group_counts(lines, by) -> pd.DataFrame:
    """:func:`recommender.tickets._group_counts` in Spark: per group tickets, exact sales and units."""
    from pyspark.sql import functions as F

    groups = receipt_groups(lines, by)
    amount = F.col("line_amount") if "line_amount" in lines.columns else F.lit(None).cast("double")
    per = lines.join(groups, "receipt_id").groupBy("_g").agg(
        F.countDistinct("receipt_id").alias("tickets"), *exact_sum_columns(amount, "sales"),
        *exact_sum_columns(F.col("quantity"), "units"))
    frame = exact_frame(per.collect(), ["_g", "tickets"], ["sales", "units"])
    if frame.empty:
        return pd.DataFrame(columns=["group", "tickets", "sales", "units"])
    frame["tickets"] = frame["tickets"].astype(np.int64)
    return _with_labels(frame, by)[["group", "tickets", "sales", "units"]]


def value_counts(lines, catalog, level: str, by) -> pd.DataFrame:
    """:func:`recommender.tickets._value_counts` in Spark: per (value, group) tickets, exact sales and units,
    and the group's tickets."""
    from pyspark.sql import functions as F

    groups = receipt_groups(lines, by)
    valued = line_values(lines, catalog, level)
    amount = F.col("line_amount") if "line_amount" in lines.columns else F.lit(None).cast("double")
    per = valued.join(groups, "receipt_id").groupBy("level_value", "_g").agg(
        F.countDistinct("receipt_id").alias("tickets"), *exact_sum_columns(amount, "sales"),
        *exact_sum_columns(F.col("quantity"), "units"))
    totals = groups.groupBy(F.col("_g").alias("_g2")).agg(F.count(F.lit(1)).alias("group_tickets"))
    per = per.join(F.broadcast(totals), per["_g"].eqNullSafe(totals["_g2"]), "left").drop("_g2")
    frame = exact_frame(per.collect(), ["level_value", "_g", "tickets", "group_tickets"], ["sales", "units"])
    if frame.empty:
        return pd.DataFrame(columns=["level_value", "group", "tickets", "sales", "units", "group_tickets"])
    frame["tickets"] = frame["tickets"].astype(np.int64)
    frame["group_tickets"] = frame["group_tickets"].astype(np.int64)
    frame["level_value"] = frame["level_value"].astype(object)
    return _with_labels(frame, by)[["level_value", "group", "tickets", "sales", "units", "group_tickets"]]


# ---------------------------------------------------------------------------------------------- uplift

def _ts(value):
    """A pandas Timestamp as a Spark timestamp_ntz literal (the lines' type)."""
    from pyspark.sql import functions as F

    return F.lit(pd.Timestamp(value).isoformat(sep=" ")).cast("timestamp_ntz")


def ticket_values(lines, metric: str, bundle, catalog, store_ids=None):
    """:func:`recommender.uplift._ticket_values` in Spark: one row per ticket (kept in the cluster) with
    store_id, timestamp and value.

    A ticket's store is its first line's, its time the earliest; its amount is its lines' amounts added in
    line order (as :func:`recommender.tickets.receipt_table` adds them), unknown when one is unknown.
    """
    from pyspark.sql import functions as F

    from recommender.tickets import _as_list
    from recommender.uplift import METRICS, _bundle_parts

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if store_ids is not None:
        lines = lines.where(F.col("store_id").isin([str(s) for s in store_ids]))
    amount = F.col("line_amount") if "line_amount" in lines.columns else F.lit(None).cast("double")
    unknown = amount.isNull() | F.isnan(amount)
    parts = F.array_sort(F.collect_list(F.struct(F.col("line_no"), F.when(unknown, F.lit(0.0)).otherwise(amount)
                                                 .alias("a"), F.col("quantity").cast("double").alias("q"))))
    aggs = [F.min(F.struct(F.col("line_no"), F.col("store_id").alias("s"))).getField("s").alias("store_id"),
            F.min("timestamp").alias("timestamp"), F.max(unknown.cast("int")).alias("_unknown"),
            parts.alias("_parts")]
    if metric == "attach":
        if isinstance(bundle, dict) and bundle.get("min_units"):
            raise InputError("a mix & match offer's attach rate is measured by the embedded engine only",
                             hint="run the command without --engine spark")
        anchor, items, level = _bundle_parts(bundle)
        anchors = sorted({str(a) for a in _as_list(anchor)})
        whole = sorted({str(b) for b in _as_list(items)})
        if not anchors or not whole:
            raise ValueError("anchor_items and bundle_items must each name at least one item")
        lines = line_values(lines, catalog, level, "_v")
        aggs += [F.max(F.col("_v").isin(anchors).cast("int")).alias("_anchor"),
                 F.size(F.collect_set(F.when(F.col("_v").isin(whole), F.col("_v")))).alias("_held")]
    per = lines.groupBy("receipt_id").agg(*aggs)
    if metric == "atv":
        per = per.where(F.col("_unknown") == 0).withColumn(
            "value", F.aggregate("_parts", F.lit(0.0), lambda acc, x: acc + x["a"]))
    elif metric == "upt":
        per = per.withColumn("value", F.aggregate("_parts", F.lit(0.0), lambda acc, x: acc + x["q"]))
    else:
        per = per.where(F.col("_anchor") == 1).withColumn(
            "value", (F.col("_held") == len(whole)).cast("double"))
    per = per.where(F.col("store_id").isNotNull() & F.col("timestamp").isNotNull())
    return per.select("receipt_id", "store_id", "timestamp", "value")


def _order_stat(frame, n: int):
    """k -> the k-th smallest ``value`` of ``frame`` (0-based), by Spark's exact discrete percentile."""
    from pyspark.sql import functions as F

    def stat(k: int) -> float:
        p = (k + 0.5) / n  # the smallest value whose rank reaches (k + 1) / n, with half a rank to spare
        return frame.agg(F.expr(f"percentile_disc({p!r}) WITHIN GROUP (ORDER BY value)").alias("v")).collect()[0]["v"]
    return stat


def panel_sums(lines, metric, launch, pre_days, post_days, bundle, winsorize, store_ids, catalog):
    """:func:`recommender.uplift._panel_sums` in Spark: per period and store the exact sum and number of
    ticket values, and the winsorising cap (numpy's quantile from two order statistics Spark finds)."""
    from pyspark.sql import functions as F

    from recommender.sums import linear_quantile

    tickets = ticket_values(lines, metric, bundle, catalog, store_ids)
    launch = pd.Timestamp(launch)
    ts = F.col("timestamp")
    pre, post = ts < _ts(launch), ts >= _ts(launch)
    if pre_days is not None:
        pre = pre & (ts >= _ts(launch - pd.Timedelta(days=pre_days)))
    if post_days is not None:
        post = post & (ts < _ts(launch + pd.Timedelta(days=post_days)))
    tickets = tickets.select("store_id", "value", pre.alias("_pre"), post.alias("_post")).persist()
    try:
        cap = None
        if winsorize is not None and metric != "attach":
            before = tickets.where("_pre")
            n = before.count()
            if n:
                cap = linear_quantile(n, 1.0 - winsorize, _order_stat(before, n))
                tickets = tickets.withColumn("value", F.least(F.col("value"), F.lit(float(cap))))
        out = {}
        for flag in ("pre", "post"):
            rows = tickets.where(f"_{flag}").groupBy("store_id").agg(
                F.count(F.lit(1)).alias("size"), *exact_sum_columns(F.col("value"), "sum")).collect()
            frame = exact_frame(rows, ["store_id", "size"], ["sum"])
            if frame.empty:
                frame = pd.DataFrame({"store_id": pd.Series(dtype=object), "size": pd.Series(dtype=np.int64),
                                      "sum": pd.Series(dtype="float64")})
            out[flag] = frame[["store_id", "sum", "size"]]
        return out, cap
    finally:
        tickets.unpersist()


def weekly_sums(lines, metric, bundle=None, catalog=None, before=None):
    """:func:`recommender.uplift._weekly_sums` in Spark: per (store, week) the exact sum and number of ticket
    values, and per week the days with tickets."""
    from pyspark.sql import functions as F

    tickets = ticket_values(lines, metric, bundle, catalog)
    if before is not None:
        tickets = tickets.where(F.col("timestamp") < _ts(before))
    day = F.date_trunc("day", F.col("timestamp")).cast("timestamp_ntz")
    tickets = tickets.select("store_id", "value", day.alias("_day"),
                             F.date_trunc("week", F.col("timestamp")).cast("timestamp_ntz").alias("week"))
    rows = tickets.groupBy("store_id", "week").agg(F.count(F.lit(1)).alias("den"),
                                                   *exact_sum_columns(F.col("value"), "num")).collect()
    sums = exact_frame(rows, ["store_id", "week", "den"], ["num"])
    sums["week"] = pd.to_datetime(pd.Series(sums["week"].tolist(), dtype=object)).astype("datetime64[ns]")
    sums["store_id"] = sums["store_id"].astype(object)
    days_rows = tickets.groupBy("week").agg(F.countDistinct("_day").alias("days")).collect()
    days = pd.Series([int(r["days"]) for r in days_rows],
                     index=pd.DatetimeIndex(pd.to_datetime(pd.Series([r["week"] for r in days_rows], dtype=object))
                                            .astype("datetime64[ns]")), dtype=np.int64).sort_index()
    return sums[["store_id", "week", "num", "den"]], days
