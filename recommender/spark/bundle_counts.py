"""The counts `bundles` reads from receipt lines, as Spark aggregations.

In: the clean lines of :func:`recommender.spark.load.load_receipts_spark` (never
collected) and small driver-side tables (catalog, eligible SKUs, candidate
sets). Out: what :mod:`recommender.bundles` computes from pandas lines, as small
tables: lines per (SKU, price), SKUs sold lately, units and receipts per (store,
label, SKU), receipts per presence pattern of each candidate set (all dates, for
the trip gate; per store in the counting window, for gap and set tickets), the
tickets of each set's trip and the margin of the substitutes' lines the gap
tickets hold (an exact sum, :mod:`recommender.spark.counts`). Every number the
bundles use comes from these, so a run made in Spark gets the same bundles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.spark.counts import _ts, exact_frame, exact_sum_columns

__all__ = ["as_of", "stores", "exclude_launches", "price_counts", "recent_skus", "seller_counts", "trip_patterns",
           "size_patterns", "family_counts",
           "SparkTickets"]


def _F():
    from pyspark.sql import functions as F

    return F


def _time_range(lines):
    """(earliest, latest) timestamp of ``lines`` as pandas Timestamps, or (None, None) when none is dated."""
    F = _F()
    row = lines.agg(F.min("timestamp").alias("lo"), F.max("timestamp").alias("hi")).collect()[0]
    if row["hi"] is None:
        return None, None
    return pd.Timestamp(row["lo"]), pd.Timestamp(row["hi"])


def _window(lines, weeks):
    """:func:`recommender.bundles._window` in Spark: (lines of the last ``weeks`` weeks, start, end)."""
    F = _F()
    lo, hi = _time_range(lines)
    if hi is None:
        return lines, None, None
    if weeks is None:
        return lines, lo, hi
    start = hi - pd.Timedelta(weeks=float(weeks))
    return lines.where(F.col("timestamp") > _ts(start)), start, hi


def as_of(lines, day):
    """:func:`recommender.bundles._as_of` in Spark: lines up to the end of ``day`` (default: all) and the day."""
    F = _F()
    lo, hi = _time_range(lines)
    if hi is None:
        return lines, None
    if day is None:
        return lines, str(hi.date())
    try:
        day = pd.Timestamp(day).normalize()
    except (TypeError, ValueError):
        raise InputError(f"--as-of {day!r} is not a date", hint="use YYYY-MM-DD") from None
    if day < lo.normalize():
        raise InputError(f"--as-of {day.date()} is before the first receipt ({lo.date()})")
    return lines.where(F.col("timestamp") < _ts(day + pd.Timedelta(days=1))), str(day.date())


def stores(lines) -> set:
    """Every store named by the lines."""
    F = _F()
    return {str(r["store_id"]) for r in lines.where(F.col("store_id").isNotNull()).select("store_id").distinct()
            .collect()}


def exclude_launches(lines, launches):
    """:func:`recommender.launch.exclude_launches` in Spark: (lines outside promoted store-periods, lines left out)."""
    F = _F()
    promoted = F.lit(False)
    for rec in launches:
        sel = F.col("store_id").isin([str(s) for s in rec.get("stores", [])]) & (F.col("timestamp") >= _ts(rec["from"]))
        if rec.get("to"):
            sel = sel & (F.col("timestamp") < _ts(pd.Timestamp(rec["to"]) + pd.Timedelta(days=1)))
        promoted = promoted | F.coalesce(sel, F.lit(False))
    flagged = lines.withColumn("_promoted", promoted)
    n = flagged.where("_promoted").count()
    return flagged.where(~F.col("_promoted")).drop("_promoted"), int(n)


def price_counts(lines) -> pd.DataFrame:
    """:func:`recommender.bundles._price_counts` in Spark (numpy's rounding to cents: x 100, rint, / 100)."""
    F = _F()
    price = F.rint(F.col("unit_price") * 100.0) / 100.0
    rows = lines.select("sku", price.alias("price")).where(F.col("price") > 0).groupBy("sku", "price").count() \
        .collect()
    return pd.DataFrame({"sku": pd.array([r["sku"] for r in rows], dtype="string"),
                         "price": np.array([r["price"] for r in rows], dtype="float64"),
                         "n": np.array([r["count"] for r in rows], dtype=np.int64)})


def recent_skus(lines, weeks) -> set:
    """SKUs sold in the last ``weeks`` weeks of the data (all when nothing is dated)."""
    recent, _, _ = _window(lines, weeks)
    return {str(r["sku"]) for r in recent.select("sku").distinct().collect()}


def _labelled(lines, catalog, level: str, name: str = "_lab", keep_unlabelled: bool = False):
    """``lines`` with the label at ``level`` of each line (:func:`recommender.bundles._labels`); lines whose SKU
    has none are dropped unless ``keep_unlabelled`` (then the label is null)."""
    F = _F()
    from recommender.catalog import level_map

    if level == "sku":
        return lines.withColumn(name, F.col("sku"))
    mapping = level_map(catalog, level)
    mapping = mapping[~mapping.index.duplicated()].dropna()
    table = lines.sparkSession.createDataFrame(list(zip(mapping.index.astype(str), mapping.astype(str))),
                                               f"_lsku string, {name} string")
    out = lines.join(F.broadcast(table), lines["sku"] == table["_lsku"], "left" if keep_unlabelled else "inner")
    return out.drop("_lsku")


def _sku_table(spark, values: dict, name: str, kind: str):
    """A small SKU -> value table for a broadcast join."""
    return spark.createDataFrame(list(values.items()), f"_ksku string, {name} {kind}")


def seller_counts(lines, catalog, level, usable_skus, weeks) -> pd.DataFrame:
    """:func:`recommender.bundles._seller_counts` in Spark: per (store, label, usable SKU) in the last ``weeks``
    weeks, exact units and distinct receipts."""
    F = _F()
    from recommender.bundles import _NO_STORE

    recent, _, _ = _window(lines, weeks)
    usable = _sku_table(lines.sparkSession, {str(s): True for s in usable_skus}, "_usable", "boolean")
    recent = recent.join(F.broadcast(usable), recent["sku"] == usable["_ksku"]).drop("_ksku", "_usable")
    recent = _labelled(recent, catalog, level).withColumn("_store", F.coalesce(F.col("store_id"), F.lit(_NO_STORE)))
    rows = recent.groupBy("_store", "_lab", "sku").agg(F.countDistinct("receipt_id").alias("receipts"),
                                                      *exact_sum_columns(F.col("quantity"), "units")).collect()
    frame = exact_frame(rows, ["_store", "_lab", "sku", "receipts"], ["units"])
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("store", "label", "sku")} |
                            {"units": pd.Series(dtype="float64"), "receipts": pd.Series(dtype=np.int64)})
    frame = frame.rename(columns={"_store": "store", "_lab": "label"})
    for col in ("store", "label", "sku"):
        frame[col] = frame[col].astype(object)
    frame["receipts"] = frame["receipts"].astype(np.int64)
    return frame[["store", "label", "sku", "units", "receipts"]]


def _with_dept(lines, dept):
    """``lines`` with ``_dept``, the SKU's department of the trip (null without one)."""
    F = _F()
    if dept is None:
        return lines.withColumn("_dept", F.lit(None).cast("string"))
    table = _sku_table(lines.sparkSession, {str(k): str(v) for k, v in dept.items()}, "_dept", "string")
    return lines.join(F.broadcast(table), lines["sku"] == table["_ksku"], "left").drop("_ksku")


def _label_departments(lines) -> dict:
    """:func:`recommender.bundles._label_departments` from Spark lines with ``_lab`` and ``_dept``."""
    F = _F()
    from recommender.bundles import _most_common_dept

    rows = lines.where(F.col("_lab").isNotNull() & F.col("_dept").isNotNull()).groupBy("_lab", "_dept").count() \
        .collect()
    counts = pd.DataFrame({"label": [r["_lab"] for r in rows], "dept": [r["_dept"] for r in rows],
                           "n": np.array([r["count"] for r in rows], dtype=np.int64)})
    return _most_common_dept(counts)


def _item_table(spark, items_of: list):
    """(cid, label, bit) for every label of every set: bit j is the set's j-th label."""
    rows = [(cid, str(x), 1 << j) for cid, items in enumerate(items_of) for j, x in enumerate(items)]
    return spark.createDataFrame(rows or [(0, "", 0)], "_cid int, _item string, _bit long").where("_bit > 0")


def _masks(labelled, items_of: list):
    """Per (receipt, set) holding any of the set's labels: ``_cid`` and ``_mask`` (the bits of the labels held)."""
    F = _F()
    items = _item_table(labelled.sparkSession, items_of)
    held = labelled.select("receipt_id", "_lab").where(F.col("_lab").isNotNull()).distinct()
    return held.join(F.broadcast(items), held["_lab"] == items["_item"]).groupBy("receipt_id", "_cid").agg(
        F.sum("_bit").alias("_mask"))


def _trip_tickets(labelled, items_of: list, label_dept: dict) -> dict:
    """Per set with departments: receipts holding one of its labels or visiting one of its departments."""
    F = _F()
    rows = []
    for cid, items in enumerate(items_of):
        depts = {label_dept.get(x) for x in items} - {None}
        if depts:
            rows += [(cid, "L\x00" + str(x)) for x in items] + [(cid, "D\x00" + d) for d in sorted(depts)]
    if not rows:
        return {}
    tokens = labelled.sparkSession.createDataFrame(rows, "_cid int, _tok string")
    held = labelled.select("receipt_id", F.concat(F.lit("L\x00"), F.col("_lab")).alias("_tok")).unionByName(
        labelled.select("receipt_id", F.concat(F.lit("D\x00"), F.col("_dept")).alias("_tok"))).where(
        F.col("_tok").isNotNull()).distinct()
    hit = held.join(F.broadcast(tokens), "_tok").select("receipt_id", "_cid").distinct()
    return {int(r["_cid"]): int(r["count"]) for r in hit.groupBy("_cid").count().collect()}


def trip_patterns(items_of: list, lines, catalog, level: str, dept) -> list:
    """:func:`recommender.bundles._trip_patterns` in Spark: per set, receipts per presence pattern (all dates)
    and the tickets of its trip."""
    F = _F()
    if not items_of:
        return []
    labelled = _with_dept(_labelled(lines, catalog, level, keep_unlabelled=True), dept).persist()
    try:
        n = labelled.select(F.countDistinct("receipt_id").alias("n")).collect()[0]["n"]
        patterns: dict = {cid: {} for cid in range(len(items_of))}
        for r in _masks(labelled, items_of).groupBy("_cid", "_mask").count().collect():
            patterns[int(r["_cid"])][int(r["_mask"])] = int(r["count"])
        label_dept = _label_departments(labelled)
        trips = _trip_tickets(labelled, items_of, label_dept)
        out = []
        for cid, items in enumerate(items_of):
            depts = {label_dept.get(x) for x in items} - {None}
            out.append((patterns[cid], trips.get(cid, 0) if depts else int(n)))
        return out
    finally:
        labelled.unpersist()


class SparkTickets:
    """:class:`recommender.bundles._Tickets` with the counts made by Spark: receipts of the counting window,
    their stores, and per candidate set and store the gap, set and lacking tickets and the substitutes' margin."""

    def __init__(self, lines, catalog, level, info, weeks, dept=None):
        F = _F()
        period, self.start, self.end = _window(lines, weeks)
        period = _labelled(period, catalog, level)
        margin = {str(s): float(m) for s, m in info["margin"].items() if np.isfinite(m)}
        table = _sku_table(lines.sparkSession, margin, "_unit_margin", "double")
        period = period.join(F.broadcast(table), period["sku"] == table["_ksku"], "left").drop("_ksku")
        period = period.withColumn("_m", F.coalesce(F.col("_unit_margin"), F.lit(0.0)) * F.col("quantity"))
        self.period = _with_dept(period, dept).persist()
        self.has_dept = dept is not None
        first = F.min(F.struct(F.col("store_id").isNull().alias("n"), F.col("line_no"), F.col("store_id").alias("s")))
        self.receipts = self.period.groupBy("receipt_id").agg(first.getField("s").alias("_store")).persist()
        counted = {r["_store"]: int(r["count"]) for r in self.receipts.groupBy("_store").count().collect()}
        self.stores = sorted(counted, key=lambda s: ("" if s is None else "\x01" + str(s)))
        self.store_tickets = np.array([counted[s] for s in self.stores], dtype=np.int64)
        self._index = {s: i for i, s in enumerate(self.stores)}
        self.dept_of = _label_departments(self.period) if self.has_dept else {}
        self._counts: dict = {}

    def prepare(self, sets, subs_of) -> None:
        """Count every candidate set at once: (labels, add-ons) pairs, anchor first."""
        F = _F()
        sets = [(tuple(str(x) for x in labels), tuple(str(x) for x in addons)) for labels, addons in sets]
        if not sets:
            return
        items_of = [labels for labels, _ in sets]
        masks = _masks(self.period, items_of).join(self.receipts, "receipt_id").persist()
        try:
            k_stores = len(self.stores)
            pat: dict = {}
            for r in masks.groupBy("_cid", "_store", "_mask").count().collect():
                pat.setdefault(int(r["_cid"]), []).append((self._index[r["_store"]], int(r["_mask"]), int(r["count"])))
            trips = _trip_tickets(self.period, items_of, self.dept_of) if self.has_dept else {}
            # the substitutes' lines held by gap tickets lacking the add-on they substitute
            subs = [(cid, 1 << (j + 1), str(o)) for cid, (labels, addons) in enumerate(sets)
                    for j, addon in enumerate(addons) for o in sorted(subs_of.get(addon, ()))]
            loss: dict = {}
            if subs:
                table = self.period.sparkSession.createDataFrame(subs, "_cid int, _bitval long, _sub string")
                full = F.pow(F.lit(2), F.size(F.col("_items"))).cast("long") - 1
                sizes = self.period.sparkSession.createDataFrame(
                    [(cid, list(labels)) for cid, (labels, _) in enumerate(sets)], "_cid int, _items array<string>")
                gap = masks.join(F.broadcast(sizes), "_cid").where(
                    (F.col("_mask").bitwiseAND(F.lit(1)) == 1) & (F.col("_mask") != full))
                lacking = gap.join(F.broadcast(table), "_cid").where(
                    F.col("_mask").bitwiseAND(F.col("_bitval")) == 0)
                lines = self.period.select("receipt_id", F.col("_lab").alias("_sub"), "_m")
                rows = lacking.join(lines, ["receipt_id", "_sub"]).groupBy("_cid", "_store").agg(
                    *exact_sum_columns(F.col("_m"), "loss")).collect()
                for r, v in zip(rows, exact_frame(rows, [], ["loss"])["loss"]):
                    loss[(int(r["_cid"]), self._index[r["_store"]])] = float(v)
        finally:
            masks.unpersist()
        total = int(self.store_tickets.sum())
        for cid, (labels, addons) in enumerate(sets):
            k = len(labels)
            full_mask = (1 << k) - 1
            addon_bits = full_mask & ~1
            gap = np.zeros(k_stores, np.int64)
            whole = np.zeros(k_stores, np.int64)
            lack = [np.zeros(k_stores, np.int64) for _ in addons]
            sets_n = anchor_n = addons_n = held = 0
            for si, mask, n in pat.get(cid, []):
                held += n
                if mask & addon_bits == addon_bits:
                    addons_n += n
                if not mask & 1:
                    continue
                anchor_n += n
                if mask == full_mask:
                    whole[si] += n
                    sets_n += n
                    continue
                gap[si] += n
                for j in range(len(addons)):
                    if not mask >> (j + 1) & 1:
                        lack[j][si] += n
            if not self.has_dept:
                n_trip = total
            elif {self.dept_of.get(x) for x in labels} - {None}:
                n_trip = trips.get(cid, 0)
            else:
                n_trip = held  # no department: the trip is the tickets holding one of the labels
            loss_s = np.array([loss.get((cid, si), 0.0) for si in range(k_stores)], dtype="float64")
            units = np.sum(lack, axis=0) if lack else np.zeros(k_stores, np.int64)
            self._counts[labels] = {"gap": gap, "set": whole, "lack": lack, "loss": loss_s, "units": units,
                                    "season": (sets_n, anchor_n, addons_n, n_trip)}

    def offer_counts(self, labels, addons, subs_of) -> dict:
        return self._counts[tuple(str(x) for x in labels)]

    def close(self) -> None:
        self.period.unpersist()
        self.receipts.unpersist()


def size_patterns(items_of: list, lines, catalog, level: str) -> list:
    """:func:`recommender.bundles._size_patterns` in Spark: per set, receipts per (presence pattern, basket size)."""
    F = _F()
    if not items_of:
        return []
    labelled = _labelled(lines, catalog, level).persist()
    try:
        sizes = lines.select("receipt_id").distinct().join(
            labelled.groupBy("receipt_id").agg(F.countDistinct("_lab").alias("_size")), "receipt_id", "left") \
            .select("receipt_id", F.coalesce(F.col("_size"), F.lit(0)).alias("_size")).persist()
        by_size = {int(r["_size"]): int(r["count"]) for r in sizes.groupBy("_size").count().collect()}
        rows = _masks(labelled, items_of).join(sizes, "receipt_id").groupBy("_cid", "_mask", "_size").count().collect()
        sizes.unpersist()
    finally:
        labelled.unpersist()
    held: dict = {}
    for r in rows:
        held.setdefault(int(r["_cid"]), []).append((int(r["_mask"]), int(r["_size"]), int(r["count"])))
    out = []
    for cid in range(len(items_of)):
        got = held.get(cid, [])
        left = dict(by_size)
        for _, size, n in got:
            left[size] -= n
        got = got + [(0, size, n) for size, n in left.items() if n]
        got.sort()
        out.append(tuple(np.array([g[i] for g in got], dtype=np.int64) for i in range(3)))
    return out


def family_counts(lines, member_lists: list, stores: list, weeks) -> dict:
    """Mix & match counts (:func:`recommender.mix_match.mix_match_offers`) in Spark: per (family, store index),
    the units sold per member (above 0) and the family's receipts holding exactly one unit and two or more."""
    F = _F()
    period, _, _ = _window(lines, weeks)
    index = {s: i for i, s in enumerate(stores)}
    out = {(fi, si): (pd.Series(dtype="float64"), (0, 0)) for fi in range(len(member_lists))
           for si in range(len(stores))}
    rows = [(fi, str(m)) for fi, members in enumerate(member_lists) for m in members]
    if not rows:
        return out
    first = F.min(F.struct(F.col("store_id").isNull().alias("n"), F.col("line_no"), F.col("store_id").alias("s")))
    receipts = period.groupBy("receipt_id").agg(first.getField("s").alias("_store"))
    table = lines.sparkSession.createDataFrame(rows, "_fi int, _ksku string")
    part = period.join(F.broadcast(table), period["sku"] == table["_ksku"]).drop("_ksku").join(receipts, "receipt_id")
    part = part.persist()
    try:
        sold = part.groupBy("_fi", "_store", "sku").agg(*exact_sum_columns(F.col("quantity"), "units")).collect()
        units = part.groupBy("_fi", "_store", "receipt_id").agg(F.sum("quantity").alias("_u"))
        takes = units.groupBy("_fi", "_store").agg(F.sum((F.col("_u") == 1).cast("long")).alias("g"),
                                                   F.sum((F.col("_u") >= 2).cast("long")).alias("s")).collect()
    finally:
        part.unpersist()
    per: dict = {}
    for r, v in zip(sold, exact_frame(sold, [], ["units"])["units"] if sold else []):
        if v > 0:
            per.setdefault((int(r["_fi"]), index[r["_store"]]), {})[str(r["sku"])] = float(v)
    for key, got in per.items():
        out[key] = (pd.Series(got, dtype="float64").sort_index(), out[key][1])
    for r in takes:
        key = (int(r["_fi"]), index[r["_store"]])
        out[key] = (out[key][0], (int(r["g"]), int(r["s"])))
    return out
