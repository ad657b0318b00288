"""Ticket counts (客单量) per store, department, category, brand or SKU.

In: the clean ``lines`` DataFrame of :func:`recommender.receipts.load_receipts`
(receipt_id, sku, quantity, line_amount, timestamp, store_id), optionally a
catalog. Out: DataFrames of counts and the measures derived from them.

A receipt (ticket) counts once for the store, and once for every department /
category / brand / SKU value it contains, however many units or lines of it.
So the ticket counts of different values do **not** add up to the store's: a
receipt with a drink and a snack counts once for drinks, once for snacks and
once for the store. :func:`overlap_report` shows by how much the sum exceeds
the store's count, so nobody adds them up by mistake.

Each receipt belongs to exactly one group (its first store_id, the period of
its earliest timestamp), so within a group penetration = value tickets / group
tickets is a true share. Lines whose amount is unknown (NaN) count as tickets
and units but add no sales. SKUs absent from the catalog go into the value
``"(unmapped)"`` at non-SKU levels, so nothing vanishes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recommender.catalog import LEVELS, level_map

UNMAPPED = "(unmapped)"
BY = (None, "store", "day", "week", "month")
_PERIOD_BY = ("day", "week", "month")


def _check_by(by):
    if by not in BY:
        raise ValueError(f"by must be one of None, 'store', 'day', 'week', 'month', not {by!r}")


def _group_column(by) -> str | None:
    if by is None:
        return None
    return "store_id" if by == "store" else "period"


def period_start(ts: pd.Series, by: str) -> pd.Series:
    """Return the start date of the day / week (Monday) / month of each timestamp.

    >>> s = pd.Series(pd.to_datetime(["2024-05-08 13:00", "2024-05-12 09:00"]))
    >>> [str(d.date()) for d in period_start(s, "week")]
    ['2024-05-06', '2024-05-06']
    >>> [str(d.date()) for d in period_start(s, "month")]
    ['2024-05-01', '2024-05-01']
    """
    day = ts.dt.normalize()
    if by == "day":
        return day
    if by == "week":
        return day - pd.to_timedelta(ts.dt.day_of_week, unit="D")
    if by == "month":
        return day - pd.to_timedelta(ts.dt.day - 1, unit="D")
    raise ValueError(f"unknown period {by!r}")


def line_values(lines: pd.DataFrame, catalog: pd.DataFrame | None, level: str) -> np.ndarray:
    """Return the value at ``level`` of each line (object array of str).

    SKUs without a value in the catalog get ``"(unmapped)"``.

    >>> lines = pd.DataFrame({"sku": ["a", "b", "z"]})
    >>> cat = pd.DataFrame({"sku": ["a", "b"], "department": ["food", None]})
    >>> line_values(lines, cat, "department").tolist()
    ['food', '(unmapped)', '(unmapped)']
    """
    codes, skus = pd.factorize(lines["sku"].astype("string"), use_na_sentinel=False)
    mapping = level_map(catalog, level)
    if mapping is None:
        values = pd.Series(skus, dtype="string")
    else:
        mapping = mapping[~mapping.index.duplicated()]
        values = mapping.reindex(pd.Index(skus, dtype="string"))
    values = values.astype(object).where(values.notna(), UNMAPPED).to_numpy(dtype=object)
    return values[codes] if len(codes) else np.array([], dtype=object)


def _receipt_groups(lines: pd.DataFrame, by):
    """Return (receipt code per line, group code per receipt, group labels)."""
    r, _ = pd.factorize(lines["receipt_id"].astype("string"), use_na_sentinel=False)
    n_receipts = int(r.max()) + 1 if len(r) else 0
    if by is None:
        return r, np.zeros(n_receipts, dtype=np.int64), pd.Index(["(all)"])
    if by == "store":
        key = lines["store_id"].astype("string") if "store_id" in lines else pd.Series(pd.NA, index=lines.index,
                                                                                       dtype="string")
        # first store of the receipt: a receipt belongs to one group only
        first = pd.Series(np.arange(len(r)), index=lines.index).groupby(r, sort=True).min().to_numpy()
        per_receipt = key.to_numpy()[first]
    else:
        ts = pd.to_datetime(lines["timestamp"])
        earliest = pd.Series(ts.to_numpy(), index=lines.index).groupby(r, sort=True).min()
        per_receipt = period_start(earliest.reset_index(drop=True), by).to_numpy()
    g, labels = pd.factorize(pd.Series(per_receipt), use_na_sentinel=False)
    return r, g.astype(np.int64), pd.Index(labels)


def _amounts(lines: pd.DataFrame) -> np.ndarray:
    if "line_amount" in lines:
        return lines["line_amount"].to_numpy(dtype="float64", na_value=np.nan)
    return np.full(len(lines), np.nan)


def _with_ratios(out: pd.DataFrame) -> pd.DataFrame:
    t = out["tickets"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["atv"] = out["sales"].to_numpy(dtype="float64") / t
        out["upt"] = out["units"].to_numpy(dtype="float64") / t
    return out


def _validate(lines: pd.DataFrame, by):
    _check_by(by)
    missing = {"receipt_id", "sku", "quantity"} - set(lines.columns)
    if missing:
        raise ValueError(f"lines lack column(s) {sorted(missing)}")
    if by in _PERIOD_BY and "timestamp" not in lines.columns:
        raise ValueError(f"by={by!r} needs a timestamp column")


def _is_spark(lines) -> bool:
    """Lines held by Spark (a pyspark DataFrame): the counts are then Spark aggregations."""
    return type(lines).__module__.startswith("pyspark")


def group_labels(values: pd.Series) -> pd.Index:
    """Group labels as the reports carry them (str or NA for stores, timestamps for periods)."""
    return pd.Index(pd.factorize(values, use_na_sentinel=False)[1])


def _group_counts(lines, by) -> pd.DataFrame:
    """Per group (any order): group, tickets, sales, units -- the raw counts of :func:`store_totals`.

    Sales and units are exact sums (:mod:`recommender.sums`); a Spark DataFrame of lines is counted by
    :func:`recommender.spark.counts.group_counts`.
    """
    if _is_spark(lines):
        from recommender.spark.counts import group_counts

        return group_counts(lines, by)
    from recommender.sums import group_sum

    r, g, labels = _receipt_groups(lines, by)
    n_groups = len(labels)
    g_line = g[r] if len(r) else np.array([], dtype=np.int64)
    return pd.DataFrame({"group": labels.to_numpy(), "tickets": np.bincount(g, minlength=n_groups),
                         "sales": group_sum(g_line, _amounts(lines), n_groups),
                         "units": group_sum(g_line, lines["quantity"].to_numpy(dtype="float64"), n_groups)})


def _value_counts(lines, catalog, level, by) -> pd.DataFrame:
    """Per (value, group) with tickets (any order): level_value, group, tickets, sales, units, group_tickets.

    A receipt counts once per value it holds; sales and units are exact sums. A Spark DataFrame of lines
    is counted by :func:`recommender.spark.counts.value_counts`.
    """
    if _is_spark(lines):
        from recommender.spark.counts import value_counts

        return value_counts(lines, catalog, level, by)
    from recommender.sums import group_sum

    values = line_values(lines, catalog, level)
    v, value_labels = pd.factorize(values, use_na_sentinel=False)
    r, g, labels = _receipt_groups(lines, by)
    n_groups = len(labels)
    if len(r) == 0:
        return pd.DataFrame(columns=["level_value", "group", "tickets", "sales", "units", "group_tickets"])
    key = v.astype(np.int64) * n_groups + g[r]
    n_keys = len(value_labels) * n_groups
    pairs = np.unique(v.astype(np.int64) * (int(r.max()) + 1) + r)  # one (value, receipt) pair per ticket
    tickets = np.bincount(pairs // (int(r.max()) + 1) * n_groups + g[pairs % (int(r.max()) + 1)],
                          minlength=n_keys)
    seen = np.flatnonzero(tickets)
    sales = group_sum(key, _amounts(lines), n_keys)[seen]
    units = group_sum(key, lines["quantity"].to_numpy(dtype="float64"), n_keys)[seen]
    group_tickets = np.bincount(g, minlength=n_groups)
    return pd.DataFrame({"level_value": np.asarray(value_labels, dtype=object)[seen // n_groups],
                         "group": labels.to_numpy()[seen % n_groups], "tickets": tickets[seen],
                         "sales": sales, "units": units, "group_tickets": group_tickets[seen % n_groups]})


def store_totals(lines: pd.DataFrame, by=None) -> pd.DataFrame:
    """Return tickets, sales, units, ATV and UPT of the whole store per group.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines.
    by : {None, "store", "day", "week", "month"}
        Grouping: one row overall, per store, or per period (start date).

    Returns
    -------
    DataFrame
        Columns: [store_id | period,] tickets, sales, units, atv, upt.

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2"], "sku": ["a", "b", "a"],
    ...                       "quantity": [3.0, 1.0, 1.0], "line_amount": [6.0, 4.0, 2.0]})
    >>> store_totals(lines).to_dict("records")
    [{'tickets': 2, 'sales': 12.0, 'units': 5.0, 'atv': 6.0, 'upt': 2.5}]
    """
    _validate(lines, by)
    raw = _group_counts(lines, by)
    out = pd.DataFrame({"tickets": raw["tickets"].to_numpy(dtype=np.int64), "sales": raw["sales"].to_numpy(),
                        "units": raw["units"].to_numpy()})
    col = _group_column(by)
    if col is not None:
        out.insert(0, col, raw["group"].to_numpy())
        out = out.sort_values(col, na_position="last", kind="stable").reset_index(drop=True)
    return _with_ratios(out)


def ticket_metrics(lines: pd.DataFrame, catalog: pd.DataFrame | None = None, level: str = "department",
                   by=None, period=None) -> pd.DataFrame:
    """Return ticket counts and derived measures per value at ``level``.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines.
    catalog : DataFrame, optional
        Needed for every level except ``"sku"`` and ``"store"``.
    level : str
        One of :data:`recommender.catalog.LEVELS`, or ``"store"`` for the store
        total (one value, ``"(store)"``, penetration 1).
    by : {None, "store", "day", "week", "month"}
        Grouping; ``period`` is accepted as an alias for the period choices.
    period : {None, "day", "week", "month"}
        Alias: ``ticket_metrics(..., period="week")`` is ``by="week"``.

    Returns
    -------
    DataFrame
        Columns: level_value, [store_id | period,] tickets (distinct receipts
        containing the value), sales, units, atv (= sales / tickets), upt
        (= units / tickets), penetration (= tickets / all tickets of the group).
        Sorted by group, then tickets descending.

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "1", "2"], "sku": ["a", "a", "b", "a"],
    ...                       "quantity": [2.0, 1.0, 1.0, 1.0], "line_amount": [4.0, 2.0, 5.0, 2.0]})
    >>> cat = pd.DataFrame({"sku": ["a", "b"], "department": ["food", "drink"]})
    >>> ticket_metrics(lines, cat)[["level_value", "tickets", "units", "penetration"]].to_dict("records")
    [{'level_value': 'food', 'tickets': 2, 'units': 4.0, 'penetration': 1.0}, \
{'level_value': 'drink', 'tickets': 1, 'units': 1.0, 'penetration': 0.5}]
    """
    if period is not None:
        if by is not None and by != period:
            raise ValueError("give either by or period, not both")
        by = period
    _validate(lines, by)
    if level == "store":
        out = store_totals(lines, by=by)
        out.insert(0, "level_value", "(store)")
        out["penetration"] = 1.0
        return out
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)} or 'store', not {level!r}")
    col = _group_column(by)
    raw = _value_counts(lines, catalog, level, by)
    if raw.empty:
        cols = ["level_value"] + ([col] if col else []) + ["tickets", "sales", "units", "atv", "upt", "penetration"]
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({"level_value": raw["level_value"].to_numpy(dtype=object),
                        "tickets": raw["tickets"].to_numpy(dtype=np.int64), "sales": raw["sales"].to_numpy(),
                        "units": raw["units"].to_numpy()})
    out["penetration"] = out["tickets"].to_numpy() / raw["group_tickets"].to_numpy()
    if col is not None:
        out.insert(1, col, raw["group"].to_numpy())
        out = out.sort_values([col, "tickets", "level_value"], ascending=[True, False, True],
                              na_position="last", kind="stable")
    else:
        out = out.sort_values(["tickets", "level_value"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out = _with_ratios(out)
    return out[[c for c in out.columns if c != "penetration"] + ["penetration"]]


def overlap_report(lines: pd.DataFrame, catalog: pd.DataFrame | None = None, level: str = "department",
                   by=None) -> pd.DataFrame:
    """Show how far the sum of per-value tickets exceeds the store's tickets.

    A receipt with items from k values at ``level`` counts k times in the sum
    and once for the store, so the sum overstates traffic by the excess.

    Returns
    -------
    DataFrame
        Columns: [store_id | period,] store_tickets, sum_of_value_tickets,
        excess (= sum - store), excess_pct (= excess / store_tickets * 100),
        values_per_ticket (= sum / store), n_values.

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2"], "sku": ["a", "b", "a"],
    ...                       "quantity": [1.0, 1.0, 1.0]})
    >>> cat = pd.DataFrame({"sku": ["a", "b"], "department": ["food", "drink"]})
    >>> overlap_report(lines, cat)[["store_tickets", "sum_of_value_tickets", "excess", "excess_pct"]].to_dict("records")
    [{'store_tickets': 2, 'sum_of_value_tickets': 3, 'excess': 1, 'excess_pct': 50.0}]
    """
    per_value = ticket_metrics(lines, catalog, level=level, by=by)
    totals = store_totals(lines, by=by)
    col = _group_column(by)
    if col is None:
        summed = pd.DataFrame({"sum_of_value_tickets": [int(per_value["tickets"].sum())],
                               "n_values": [int(len(per_value))]})
        out = pd.concat([totals[["tickets"]].rename(columns={"tickets": "store_tickets"}), summed], axis=1)
    else:
        summed = per_value.groupby(col, dropna=False).agg(sum_of_value_tickets=("tickets", "sum"),
                                                          n_values=("level_value", "size")).reset_index()
        out = totals[[col, "tickets"]].rename(columns={"tickets": "store_tickets"}).merge(summed, on=col, how="left")
    out["sum_of_value_tickets"] = out["sum_of_value_tickets"].fillna(0).astype(np.int64)
    out["n_values"] = out["n_values"].fillna(0).astype(np.int64)
    out["excess"] = out["sum_of_value_tickets"] - out["store_tickets"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["excess_pct"] = 100.0 * out["excess"] / out["store_tickets"]
        out["values_per_ticket"] = out["sum_of_value_tickets"] / out["store_tickets"]
    keep = ([col] if col else []) + ["store_tickets", "sum_of_value_tickets", "excess", "excess_pct",
                                     "values_per_ticket", "n_values"]
    return out[keep]


def receipt_table(lines: pd.DataFrame) -> pd.DataFrame:
    """Return one row per receipt: receipt_id, store_id, timestamp, amount, units.

    store_id is the receipt's first store, timestamp its earliest; amount is NaN
    when any of its lines has an unknown amount (a partial sum would understate
    the ticket).

    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2"], "sku": ["a", "b", "a"],
    ...                       "quantity": [3.0, 1.0, 1.0], "line_amount": [6.0, 4.0, float("nan")]})
    >>> receipt_table(lines)[["receipt_id", "amount", "units"]].to_dict("records")
    [{'receipt_id': '1', 'amount': 10.0, 'units': 4.0}, {'receipt_id': '2', 'amount': nan, 'units': 1.0}]
    """
    r, receipts = pd.factorize(lines["receipt_id"].astype("string"), use_na_sentinel=False)
    n = len(receipts)
    amount = _amounts(lines)
    unknown = np.bincount(r, weights=np.isnan(amount), minlength=n) > 0
    total = np.bincount(r, weights=np.nan_to_num(amount), minlength=n)
    total[unknown] = np.nan
    units = np.bincount(r, weights=lines["quantity"].to_numpy(dtype="float64"), minlength=n)
    first = pd.Series(np.arange(len(r))).groupby(r, sort=True).min().to_numpy() if n else np.array([], dtype=int)
    store = (lines["store_id"].astype("string").to_numpy()[first] if "store_id" in lines
             else pd.array([pd.NA] * n, dtype="string"))
    if "timestamp" in lines:
        ts = pd.Series(pd.to_datetime(lines["timestamp"]).to_numpy()).groupby(r, sort=True).min().to_numpy()
    else:
        ts = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    return pd.DataFrame({"receipt_id": pd.array(receipts, dtype="string"), "store_id": pd.array(store, dtype="string"),
                         "timestamp": ts, "amount": total, "units": units})


def bundle_flags(lines: pd.DataFrame, anchor_items: Iterable, bundle_items: Iterable, *, level: str = "sku",
                 catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return per receipt whether it holds any anchor item and the whole bundle.

    Columns: receipt_id, has_anchor, has_bundle (same row order as
    :func:`receipt_table`).

    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2"], "sku": ["tea", "cup", "tea"]})
    >>> bundle_flags(lines, "tea", ["tea", "cup"])[["has_anchor", "has_bundle"]].values.tolist()
    [[True, True], [True, False]]
    """
    anchors = {str(a) for a in _as_list(anchor_items)}
    bundle = {str(b) for b in _as_list(bundle_items)}
    if not anchors or not bundle:
        raise ValueError("anchor_items and bundle_items must each name at least one item")
    values = line_values(lines, catalog, level)
    r, receipts = pd.factorize(lines["receipt_id"].astype("string"), use_na_sentinel=False)
    n = len(receipts)
    has_anchor = np.bincount(r, weights=np.isin(values, list(anchors)), minlength=n) > 0
    in_bundle = np.isin(values, list(bundle))
    pairs = pd.DataFrame({"r": r[in_bundle], "v": values[in_bundle]}).drop_duplicates()
    distinct = np.bincount(pairs["r"].to_numpy(dtype=np.int64), minlength=n)
    return pd.DataFrame({"receipt_id": pd.array(receipts, dtype="string"), "has_anchor": has_anchor,
                         "has_bundle": distinct == len(bundle)})


def family_flags(lines: pd.DataFrame, family_items: Iterable, *, min_units: float = 2, level: str = "sku",
                 catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return per receipt whether it holds the family (any member) and ``min_units`` or more units of it.

    The take of a mix & match offer ("any 2 of a family", :mod:`recommender.mix_match`): units are the
    summed quantity of the family's lines, in any mix of members. Same columns and row order as
    :func:`bundle_flags` (``has_anchor``: holds the family; ``has_bundle``: holds 2+ units).

    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2", "3", "4"], "sku": ["red", "blue", "red", "red", "tea"],
    ...                       "quantity": [1.0, 1.0, 1.0, 2.0, 1.0]})
    >>> family_flags(lines, ["red", "blue"])[["has_anchor", "has_bundle"]].values.tolist()
    [[True, True], [True, False], [True, True], [False, False]]
    """
    family = {str(b) for b in _as_list(family_items)}
    if not family:
        raise ValueError("family_items must name at least one item")
    values = line_values(lines, catalog, level)
    r, receipts = pd.factorize(lines["receipt_id"].astype("string"), use_na_sentinel=False)
    n = len(receipts)
    member = np.isin(values, list(family))
    has_family = np.bincount(r, weights=member, minlength=n) > 0
    units = np.bincount(r, weights=np.where(member, lines["quantity"].to_numpy(dtype="float64"), 0.0), minlength=n)
    return pd.DataFrame({"receipt_id": pd.array(receipts, dtype="string"), "has_anchor": has_family,
                         "has_bundle": has_family & (units >= min_units)})


def _as_list(items) -> list:
    return [items] if isinstance(items, str) else list(items)


def attach_rate(lines: pd.DataFrame, anchor_items, bundle_items, *, level: str = "sku",
                catalog: pd.DataFrame | None = None, launch=None, stores=None) -> pd.DataFrame:
    """Among tickets containing any anchor item, the share containing the whole bundle.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines.
    anchor_items : str or iterable of str
        Item labels at ``level``; a ticket is an anchor ticket if it has any.
    bundle_items : str or iterable of str
        The whole bundle (include the anchor if it is part of it); an anchor
        ticket "attaches" if it holds every one of them.
    level : str
        Catalog level of the labels (``catalog`` needed unless ``"sku"``).
    launch : date-like, optional
        Split tickets into ``before`` (earliest timestamp < launch) and
        ``after``; tickets without a timestamp are left out of both.
    stores : iterable of str, optional
        Only tickets of these stores.

    Returns
    -------
    DataFrame
        Index ``period`` ("all", or "before" and "after"); columns tickets,
        anchor_tickets, bundle_tickets, attach_rate (= bundle / anchor tickets).

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2", "3"], "sku": ["tea", "cup", "tea", "cup"],
    ...                       "quantity": [1.0, 1.0, 1.0, 1.0]})
    >>> attach_rate(lines, ["tea"], ["tea", "cup"]).to_dict("records")
    [{'tickets': 3, 'anchor_tickets': 2, 'bundle_tickets': 1, 'attach_rate': 0.5}]
    """
    if stores is not None:
        keep = lines["store_id"].astype("string").isin([str(s) for s in _as_list(stores)]).fillna(False)
        lines = lines[keep.to_numpy(dtype=bool)]
    flags = bundle_flags(lines, anchor_items, bundle_items, level=level, catalog=catalog)
    if launch is None:
        parts = {"all": np.ones(len(flags), dtype=bool)}
    else:
        ts = receipt_table(lines)["timestamp"]
        launch = pd.Timestamp(launch)
        parts = {"before": (ts < launch).to_numpy(), "after": (ts >= launch).to_numpy()}
    rows = []
    for name, mask in parts.items():
        a = int(flags["has_anchor"].to_numpy()[mask].sum())
        b = int((flags["has_anchor"] & flags["has_bundle"]).to_numpy()[mask].sum())
        rows.append({"period": name, "tickets": int(mask.sum()), "anchor_tickets": a, "bundle_tickets": b,
                     "attach_rate": b / a if a else float("nan")})
    return pd.DataFrame(rows).set_index("period")
