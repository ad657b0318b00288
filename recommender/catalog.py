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
