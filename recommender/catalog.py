"""Products and their levels.

In: a catalog file (CSV, XLSX or Parquet; any encoding :mod:`recommender.readers`
understands) or a DataFrame. Out: a clean catalog DataFrame, one row per SKU.

Columns (only ``sku`` is required; names are matched case-insensitively and a
few common aliases are recognised):

========== ================================================================
sku        product code, always text (leading zeros kept)
name       product name; ``name_zh`` the Chinese name where known
department top of the hierarchy: sku < subcategory < category < department
category   ...
subcategory ...
brand      a level of its own, outside the hierarchy
unit_cost  cost of one unit (for margins)
price      regular selling price of one unit
need       tag: the problem a product solves ("cold relief")
season     tag: when it sells ("summer")
========== ================================================================

Any other column is kept as an extra tag.
"""

from __future__ import annotations

import pandas as pd

from recommender.errors import InputError

#: Product levels, finest first. ``brand`` sits outside the hierarchy.
LEVELS = ("sku", "subcategory", "category", "department", "brand")
#: The hierarchy used to filter rules that relate an item to its own ancestor.
HIERARCHY = ("sku", "subcategory", "category", "department")
TEXT_COLUMNS = ("sku", "name", "name_zh", "department", "category", "subcategory", "brand", "need", "season")
NUMBER_COLUMNS = ("unit_cost", "price")

_ALIASES = {
    "sku": ("sku", "stockcode", "stock_code", "item", "item_id", "itemid", "product_id", "product", "article",
            "商品编码", "商品代码", "货号", "编码"),
    "name": ("name", "description", "product_name", "item_name", "名称", "商品名称", "品名"),
    "name_zh": ("name_zh", "chinese_name", "中文名", "中文名称"),
    "department": ("department", "dept", "部门", "大类"),
    "category": ("category", "cat", "类别", "品类", "中类"),
    "subcategory": ("subcategory", "sub_category", "subcat", "小类", "子类"),
    "brand": ("brand", "品牌"),
    "unit_cost": ("unit_cost", "cost", "成本", "进价"),
    "price": ("price", "regular_price", "unit_price", "售价", "零售价", "价格"),
    "need": ("need", "需求", "功效"),
    "season": ("season", "季节"),
}


def _canonical_names(columns) -> dict:
    lookup = {}
    for field, aliases in _ALIASES.items():
        for alias in aliases:
            lookup.setdefault(alias.lower(), field)
    rename, taken = {}, set()
    for col in columns:
        field = lookup.get(str(col).strip().lower())
        if field and field not in taken:
            rename[col] = field
            taken.add(field)
    return rename


def clean_catalog(frame: pd.DataFrame, path=None) -> pd.DataFrame:
    """Return a canonical catalog from a raw table.

    Parameters
    ----------
    frame : DataFrame
        Raw catalog; column names are matched to the canonical ones.
    path : str, optional
        Source file, for error messages.

    Returns
    -------
    DataFrame
        One row per SKU (first occurrence wins), text columns as strings,
        ``unit_cost`` and ``price`` as floats (NaN where missing).

    Examples
    --------
    >>> raw = pd.DataFrame({"StockCode": ["001", "002"], "Dept": ["a", "b"], "Cost": ["1.5", ""]})
    >>> cat = clean_catalog(raw)
    >>> list(cat["sku"]), list(cat["department"]), cat["unit_cost"].tolist()[0]
    (['001', '002'], ['a', 'b'], 1.5)
    """
    out = frame.rename(columns=_canonical_names(frame.columns)).copy()
    if "sku" not in out.columns:
        raise InputError("the catalog has no sku column", path=path,
                         hint="name the product code column 'sku' (or StockCode, item, 商品编码)")
    for col in TEXT_COLUMNS:
        if col in out.columns:
            s = out[col].astype("string").str.strip()
            out[col] = s.mask(s == "")
    for col in NUMBER_COLUMNS:
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out = out[out["sku"].notna()].drop_duplicates("sku", keep="first").reset_index(drop=True)
    return out


def load_catalog(path, encoding=None) -> pd.DataFrame:
    """Read a catalog file (CSV, XLSX, Parquet) and return :func:`clean_catalog` of it."""
    from recommender.readers import read_table

    table = read_table(path, encoding=encoding)
    return clean_catalog(table.frame.drop(columns=["_line"], errors="ignore"), path=path)


def level_map(catalog: pd.DataFrame | None, level: str) -> pd.Series | None:
    """Return a Series mapping SKU -> value at ``level`` (None for ``sku``).

    >>> cat = pd.DataFrame({"sku": ["a", "b"], "category": ["tea", None]})
    >>> level_map(cat, "category").to_dict()
    {'a': 'tea', 'b': None}
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if level == "sku":
        return None
    if catalog is None or level not in catalog.columns:
        raise InputError(f"mining at level {level!r} needs a catalog with a {level!r} column",
                         hint="pass --catalog PATH")
    return catalog.set_index("sku")[level].astype("string")


def ancestors(catalog: pd.DataFrame, level: str) -> dict:
    """Map each value at ``level`` to the set of its values at coarser hierarchy levels.

    Used to drop rules that only relate an item to its own parent (at a mixed-level
    mining run). Brand has no ancestors.
    """
    if level not in HIERARCHY:
        return {}
    coarser = [lv for lv in HIERARCHY[HIERARCHY.index(level) + 1:] if lv in catalog.columns]
    col = level if level in catalog.columns else "sku"
    out: dict = {}
    for row in catalog[[col, *coarser]].dropna(subset=[col]).itertuples(index=False):
        # A label is never its own ancestor, even where a category shares its name.
        out.setdefault(row[0], set()).update(v for v in row[1:] if isinstance(v, str) and v != row[0])
    return out


#: Columns :func:`complete_catalog` may fill from the receipts.
FILLED_FIELDS = ("name", "price", "unit_cost")


def complete_catalog(catalog: pd.DataFrame | None, items: pd.DataFrame, policy=None) -> tuple[pd.DataFrame, dict]:
    """Fill what a catalog lacks (or build one) from a run's items table: names, prices, costs.

    Till exports come long before a clean product master. Per SKU sold:

    * ``name``: the catalog's, else the name on the lines (``items.name``);
    * ``price``: the catalog's, else the recent median unit price (``items.regular_price``);
    * ``unit_cost``: the catalog's, else ``price x (1 - assume_margin)`` with the
      policy's assumed margin (per department when the policy overrides it);
      ``cost_source`` says which ("catalog" or "assumed");
    * ``suspected_non_product``: from the items table (False where unknown).

    Parameters
    ----------
    catalog : DataFrame or None
        A clean catalog (:func:`clean_catalog`), possibly partial; None for none.
    items : DataFrame
        The run's items table (:func:`recommender.items.item_table`).
    policy : recommender.policy.Policy, optional
        Gives ``assume_margin`` (default :data:`recommender.policy.DEFAULT_ASSUMED_MARGIN`).

    Returns
    -------
    (DataFrame, dict)
        The completed catalog (a new frame) and a report: ``catalog_given``,
        ``skus``, ``filled`` (field -> how many SKUs got it from the receipts),
        ``missing`` (field -> SKUs still without it), ``assume_margin``.

    Examples
    --------
    >>> items = pd.DataFrame({"sku": ["1", "2"], "name": ["MUG", "TEA"], "regular_price": [2.0, 10.0],
    ...                       "suspected_non_product": [False, False]})
    >>> cat, report = complete_catalog(None, items)
    >>> cat[["sku", "name", "price", "unit_cost", "cost_source"]].values.tolist()
    [['1', 'MUG', 2.0, 1.3, 'assumed'], ['2', 'TEA', 10.0, 6.5, 'assumed']]
    >>> report["filled"]
    {'name': 2, 'price': 2, 'unit_cost': 2}
    >>> partial = pd.DataFrame({"sku": ["1"], "unit_cost": [0.5]})
    >>> complete_catalog(partial, items)[0]["cost_source"].tolist()
    ['catalog', 'assumed']
    """
    from recommender.policy import Policy

    policy = policy or Policy()
    given = catalog is not None
    base = catalog.copy() if given else pd.DataFrame({"sku": pd.Series(dtype="string")})
    base["sku"] = base["sku"].astype(str)
    info = items.assign(sku=items["sku"].astype(str)).drop_duplicates("sku").set_index("sku")
    missing_skus = [s for s in info.index if s not in set(base["sku"])]
    if missing_skus:
        base = pd.concat([base, pd.DataFrame({"sku": missing_skus})], ignore_index=True)
    out = base.reset_index(drop=True)
    filled, missing = {}, {}
    for col, source in (("name", "name"), ("price", "regular_price")):
        have = out[col] if col in out.columns else pd.Series(pd.NA, index=out.index, dtype=object)
        if col == "price":
            have = pd.to_numeric(have, errors="coerce").astype("float64")
            have = have.where(have > 0)
        fill = out["sku"].map(info[source]) if source in info.columns else pd.Series(pd.NA, index=out.index)
        take = have.isna() & fill.notna()
        filled[col] = int(take.sum())
        out[col] = have.astype(object).where(~take, fill) if col == "name" else have.where(~take, fill).astype(float)
    cost = pd.to_numeric(out["unit_cost"], errors="coerce").astype("float64") if "unit_cost" in out.columns else \
        pd.Series(float("nan"), index=out.index)
    known = cost.notna() & (cost >= 0)
    dept = out["department"] if "department" in out.columns else pd.Series(None, index=out.index, dtype=object)
    margin = pd.Series([policy.for_department(d).assume_margin for d in dept], index=out.index, dtype=float)
    assumed = out["price"] * (1.0 - margin)
    take = ~known & assumed.notna()
    out["unit_cost"] = cost.where(known, assumed.round(4))
    out["cost_source"] = pd.Series(None, index=out.index, dtype=object).mask(known, "catalog").mask(take, "assumed")
    filled["unit_cost"] = int(take.sum())
    flag = out["sku"].map(info["suspected_non_product"]) if "suspected_non_product" in info.columns else None
    out["suspected_non_product"] = False if flag is None else flag.fillna(False).astype(bool)
    for col in FILLED_FIELDS:
        missing[col] = int(out[col].isna().sum())
    report = {"catalog_given": given, "skus": int(len(out)), "filled": filled, "missing": missing,
              "assume_margin": float(policy.assume_margin)}
    return out, report
