"""The run's items table and suspected non-products, aggregated per SKU by Spark.

In: clean lines as a Spark DataFrame. Out: the same two tables as
:func:`recommender.items.item_table` and
:func:`recommender.nonproducts.detect_non_products` give for the lines in
pandas. Both are per-SKU computations except the shape and price-level tests
of non-products, which look across SKUs: Spark hands each SKU's lines (in file
order) to those very functions, and the cross-SKU decision runs on the driver
over one summary row per SKU (:func:`recommender.nonproducts.suspects_from_summary`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.items import ITEM_COLUMNS, item_table
from recommender.nonproducts import SUMMARY_COLUMNS, _empty_suspects, sku_summary, suspects_from_summary

_ITEM_TYPES = {"sku": "string", "name": "string", "regular_price": "double", "lines": "bigint",
               "receipts": "bigint", "units": "double", "first_sold": "string", "last_sold": "string"}
_SUMMARY_TYPES = {"sku": "string", "name": "string", "lines": "bigint", "receipts": "bigint", "n_priced": "bigint",
                  "p10": "double", "p50": "double", "p90": "double"}


def spark_items(lines, has_name: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (items table, suspected non-products) of Spark ``lines``; one row per SKU reaches the driver."""
    item_cols = [c for c in ITEM_COLUMNS if c in _ITEM_TYPES]
    schema = ", ".join([f"i_{c} {_ITEM_TYPES[c]}" for c in item_cols]
                       + [f"s_{c} {_SUMMARY_TYPES[c]}" for c in SUMMARY_COLUMNS])

    def per_sku(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.sort_values("line_no", kind="stable").reset_index(drop=True)  # file order, as in pandas
        items = item_table(pdf, suspects=_empty_suspects())
        summary = sku_summary(pdf)
        out = {f"i_{c}": items[c].tolist() for c in item_cols}
        out.update({f"s_{c}": summary[c].tolist() for c in SUMMARY_COLUMNS})
        return pd.DataFrame(out)

    got = lines.groupBy("sku").applyInPandas(per_sku, schema).toPandas()
    summary = pd.DataFrame({c: got[f"s_{c}"] for c in SUMMARY_COLUMNS})
    summary["name"] = summary["name"].astype(object).where(summary["name"].notna(), None)
    suspects = suspects_from_summary(summary, has_name=has_name)
    items = pd.DataFrame({c: got[f"i_{c}"] for c in item_cols})
    for c in ("sku", "name"):
        items[c] = items[c].astype(object).where(items[c].notna(), None)
    for c in ("first_sold", "last_sold"):  # built from a list, as item_table builds them (same Arrow type)
        items[c] = [None if pd.isna(v) else str(v) for v in items[c]]
    items["lines"] = items["lines"].astype(np.int64)
    items["receipts"] = items["receipts"].astype(np.int64)
    why = dict(zip(suspects["sku"].astype(str), suspects["reasons"]))
    items["suspected_non_product"] = items["sku"].isin(list(why)).astype(bool)
    items["non_product_reasons"] = [why.get(s) for s in items["sku"]]
    items = items[list(ITEM_COLUMNS)].sort_values("sku", kind="stable").reset_index(drop=True)
    return items, suspects
