"""Receipt lines -> the items table of a run: what each SKU is called, costs to buy, and whether it is a product.

In: clean receipt lines (``sku``; optional ``name``, ``unit_price``,
``quantity``, ``timestamp``, ``receipt_id``). Out: one row per SKU
(:data:`ITEM_COLUMNS`), stored in the run folder as ``items.csv`` /
``items.parquet`` by :func:`recommender.pipeline.mine_to_folder`, so that
rules, bundles, charts and exports show names without a catalog.

``regular_price`` is the *recent median* unit price: the median over the SKU's
lines dated in the last :data:`RECENT_WEEKS` weeks before its own last sale
(every line when nothing is dated). Recent, because prices move; the median,
because a few discounted or mis-keyed lines do not move it. Zero and missing
prices are left out; a SKU without any price has none.

``suspected_non_product`` and ``non_product_reasons`` come from
:func:`recommender.nonproducts.detect_non_products`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ITEM_COLUMNS", "RECENT_WEEKS", "item_table", "recent_median_prices", "empty_items"]

ITEM_COLUMNS = ("sku", "name", "regular_price", "lines", "receipts", "units", "first_sold", "last_sold",
                "suspected_non_product", "non_product_reasons")
#: Weeks before a SKU's last sale whose prices make its regular price.
RECENT_WEEKS = 8


def empty_items() -> pd.DataFrame:
    """An items table with no rows and the right columns."""
    return pd.DataFrame({"sku": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                         "regular_price": pd.Series(dtype=float), "lines": pd.Series(dtype=np.int64),
                         "receipts": pd.Series(dtype=np.int64), "units": pd.Series(dtype=float),
                         "first_sold": pd.Series(dtype=object), "last_sold": pd.Series(dtype=object),
                         "suspected_non_product": pd.Series(dtype=bool),
                         "non_product_reasons": pd.Series(dtype=object)})


def recent_median_prices(lines: pd.DataFrame, weeks: float = RECENT_WEEKS) -> pd.Series:
    """Median positive unit price per SKU over its last ``weeks`` weeks of sales.

    >>> lines = pd.DataFrame({"sku": ["a", "a", "a", "b"], "unit_price": [2.0, 3.0, 3.0, 0.0],
    ...                       "timestamp": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-06-02", "2024-06-02"])})
    >>> recent_median_prices(lines).to_dict()  # a's January price is too old; b has no positive price
    {'a': 3.0}
    """
    if "unit_price" not in lines.columns or len(lines) == 0:
        return pd.Series(dtype=float)
    price = pd.to_numeric(lines["unit_price"], errors="coerce").to_numpy(dtype=float)
    if not (price > 0).any():  # e.g. a basket-per-line file: nothing to take a median of
        return pd.Series(dtype=float)
    frame = pd.DataFrame({"sku": lines["sku"].astype(str), "p": price})
    if "timestamp" in lines.columns:
        ts = pd.to_datetime(lines["timestamp"], errors="coerce")
        frame["t"] = ts.to_numpy()
        last = frame.groupby("sku")["t"].transform("max")
        recent = frame["t"].isna() | last.isna() | (frame["t"] > last - pd.Timedelta(weeks=float(weeks)))
        frame = frame[recent.to_numpy(dtype=bool)]
    frame = frame[frame["p"] > 0]
    return frame.groupby("sku")["p"].median().astype(float)


def item_table(lines: pd.DataFrame, suspects: pd.DataFrame | None = None) -> pd.DataFrame:
    """The items table of a run (see the module docstring).

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines.
    suspects : DataFrame, optional
        Output of :func:`recommender.nonproducts.detect_non_products` (computed when None).

    Returns
    -------
    DataFrame
        :data:`ITEM_COLUMNS`, one row per SKU, sorted by SKU.

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2"], "sku": ["10001", "10002", "10001"],
    ...                       "name": ["MUG", "TEA", "MUG"], "unit_price": [2.0, 1.0, 2.5], "quantity": [1, 2, 1]})
    >>> item_table(lines)[["sku", "name", "regular_price", "receipts", "units"]].values.tolist()
    [['10001', 'MUG', 2.25, 2, 2.0], ['10002', 'TEA', 1.0, 1, 2.0]]
    """
    from recommender.nonproducts import _names, detect_non_products

    if lines is None or len(lines) == 0:
        return empty_items()
    skus = lines["sku"].astype(str)
    qty = pd.to_numeric(lines["quantity"], errors="coerce").fillna(1.0) if "quantity" in lines.columns else \
        pd.Series(1.0, index=lines.index)
    # Integer codes: grouping a million text cells by text costs a second; by codes, a few hundredths.
    sku_code, sku_names = pd.factorize(skus, sort=True)
    receipt = pd.factorize(lines["receipt_id"])[0] if "receipt_id" in lines.columns else np.arange(len(lines))
    n_skus = len(sku_names)
    pairs = pd.unique(sku_code.astype(np.int64) * (int(receipt.max(initial=0)) + 1) + receipt)  # distinct (sku, receipt)
    out = pd.DataFrame({"sku": pd.Index(sku_names, dtype=object),
                        "lines": np.bincount(sku_code, minlength=n_skus),
                        "receipts": np.bincount(pairs // (int(receipt.max(initial=0)) + 1), minlength=n_skus),
                        "units": np.bincount(sku_code, weights=qty.to_numpy(dtype=float), minlength=n_skus)})
    names = _names(lines)
    out["name"] = [names.get(s) if "name" in lines.columns else None for s in out["sku"]]
    out["regular_price"] = out["sku"].map(recent_median_prices(lines)).astype(float)
    ts = pd.to_datetime(lines["timestamp"], errors="coerce") if "timestamp" in lines.columns else None
    if ts is not None and ts.notna().any():  # a basket-per-line file has no dates: nothing to group
        span = pd.DataFrame({"c": sku_code, "t": ts.to_numpy()}).groupby("c")["t"].agg(["min", "max"])
        span = span.reindex(range(n_skus))  # rows in the order of out["sku"]
        out["first_sold"] = [None if pd.isna(v) else str(v) for v in span["min"]]
        out["last_sold"] = [None if pd.isna(v) else str(v) for v in span["max"]]
    else:
        out["first_sold"], out["last_sold"] = None, None
    suspects = detect_non_products(lines) if suspects is None else suspects
    why = dict(zip(suspects["sku"].astype(str), suspects["reasons"]))
    out["suspected_non_product"] = out["sku"].isin(list(why)).astype(bool)
    out["non_product_reasons"] = [why.get(s) for s in out["sku"]]
    out["lines"] = out["lines"].astype(np.int64)
    out["receipts"] = out["receipts"].astype(np.int64)
    out = out.astype({"sku": object, "name": object})
    return out[list(ITEM_COLUMNS)].sort_values("sku", kind="stable").reset_index(drop=True)
