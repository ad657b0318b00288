"""Rules -> priced bundles with a reason to buy, per store ("turn rules into offers").

In: a run folder read back by :func:`recommender.runs.read_run`, the clean
receipt lines the run was mined from, the catalog and a pricing
:class:`~recommender.policy.Policy`. Out: a DataFrame, one row per bundle and
store (columns :data:`BUNDLE_COLUMNS`), best first within each store;
:func:`bundles_for_run` also stores it in the run folder as ``bundles.csv`` /
``bundles.parquet``.

How a bundle is made
--------------------
1. **Candidates.** An itemset of 2..``max_items`` labels at the run's level is a
   candidate when *every item earns its place*: for each item ``j`` the rule
   ``(set - j) -> j`` is in the run, significant (the run's FDR), not
   redundant and has lift >= ``min_lift`` (default 1: a positive
   association). Significance is the gate, not the size of the lift: grocery
   and gift shops' real associations sit at lifts 1.5 to 3, and a fixed
   ``lift >= 3`` threw them away (``bench/bundle_gate.py`` and the README
   give the trade-off on four data shapes). Then each set is re-judged
   *within its shopping trip* (:func:`trip_gate`): against the tickets that
   visit its items' departments rather than all tickets, so that pharmacy
   items are not a bundle merely because pharmacy visitors buy pharmacy
   items (gate ``same_trip_only``). And against *receipts of the same basket
   size* (:func:`size_gate`): a wholesaler's 25-line basket holds most best
   sellers, so two best sellers meet often without one saying anything of the
   other; every rule of the set must be bought ``min_size_lift`` (default 1.5)
   times as often as basket size alone predicts, significantly (gate
   ``basket_size_explains``). What a merchandiser sees first is ranked by
   expected incremental value (step 6). Non-redundancy
   drops two bundles glued together (shirt + tie + jeans where jeans only go
   with the shirt). Sets holding both items of a substitute pair
   (``run.substitutes``) or a suspected non-product are dropped; each gate's
   count is reported.
2. **Anchor.** The item customers already pick up: among the *triggers* (items
   ``a`` with a significant rule ``a -> rest of the set``) the one in the most
   receipts; a tie goes to the more confident rule, then the label. With no
   trigger, the most frequent item. The other items are the add-ons.
3. **Concrete SKUs per store.** A label above SKU level becomes, in each store,
   its best seller by units in the last 8 weeks of the data (ties: more
   receipts, then the smaller SKU code) among *eligible* SKUs: sold somewhere
   in the last ``inactive_weeks`` weeks (not discontinued), with a regular
   price and a unit cost. A store that sold no eligible SKU of a label in those
   8 weeks does not stock it: the bundle is not offered there. At SKU level the
   label is the SKU, under the same rules.
4. **Counts per store and period** (default the last ``weeks=8`` weeks of the
   data, ``weeks=None`` for all of it; lines without a timestamp only count
   when no line has one), at the mined level (a ticket "has" a label when it
   holds any of its SKUs): gap tickets ``G`` (the anchor and not every
   add-on), set tickets ``S`` (every item), the added margin ``M`` (mean over
   gap tickets of the margins of the store's add-on SKUs they lack) and the
   substitute margin loss ``L`` (mean over gap tickets of the margin of the
   lines of substitutes of the add-ons they lack: a taker swaps those for the
   add-on).
5. **Price.** :func:`recommender.pricing.best_offer` with every discount type
   the policy allows, and for kits (reason type ``need_kit`` or
   ``seasonal_kit``) a gift with purchase: ``gift_sku``, else the cheapest
   (unit cost) item of the anchor's department whose name or subcategory says
   bag or pouch. E[profit] = q G (M - c - L) - c S (see :mod:`recommender.pricing`).
6. **Choose.** Rank by (recommended, incremental value): the expected profit
   times the share of the set's receipts that basket size does not explain,
   ``1 - expected / observed`` (``incremental_value``; ``size_adjusted_lift`` is
   observed / expected). A best-seller pair that basket size nearly explains
   ranks below a true pair of the same profit. Per store and anchor the best
   ``max_per_anchor`` bundles; per store the best ``top``. Candidates whose
   bound ``q_max G max(M - L, 0)`` times that share cannot beat those already
   kept are not priced (the result is the same, only faster).

Regular prices come from the catalog's ``price``, else from the most common
unit price of the SKU in the receipts (the higher on a tie; discounted sales
are the rarer prices). Margins use regular price minus ``unit_cost``.

Uplift ranges per store: with ``q`` the take rate at the chosen offer, from
``q / 2`` to ``min(1, 3q / 2)`` (the response curves are assumptions, so +-50%):
ATV uplift = (takers x (revenue of the add-ons they lack - revenue given up)
- S x revenue given up) / store tickets, where revenue given up is the saving
(0 for a gift); UPT uplift = takers x add-on units they lack / store tickets
(a free gift is handed out, not sold: it is not a unit of UPT).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.catalog import level_map
from recommender.errors import InputError
from recommender.money import resolve_currency
from recommender.policy import Policy
from recommender.pricing import best_offer, named_label
from recommender.reasons import evidence_line, reason_type, reasons_for
from recommender.significance import fisher_greater
from recommender.variants import Vocabulary

__all__ = ["BUNDLE_COLUMNS", "CANDIDATE_GATES", "trip_departments", "trip_gate", "size_gate", "MIN_SIZE_LIFT",
           "variant_gate", "OFFER_GATES", "KIT_TYPES", "build_bundles", "bundles_for_run",
           "candidate_itemsets", "bundle_id", "regular_prices", "eligible_skus", "store_best_sellers", "find_gift",
           "receipts_notices"]

#: Reason types that get a gift-with-purchase option.
KIT_TYPES = ("need_kit", "seasonal_kit")
#: Words that make a catalog item a gift candidate (name or subcategory, any case).
GIFT_WORDS = ("bag", "pouch", "袋")
#: Weeks of recent sales that pick a store's best seller of a label.
BEST_SELLER_WEEKS = 8
_NO_STORE = "\x01no store\x01"  # a group key for receipts without a store (groupby drops None)
_ALL_YEAR = {"all", "all year", "all-year", "year-round", "any", "全年", "四季"}

BUNDLE_COLUMNS = (
    "bundle_id", "rank", "store", "level", "items", "level_items", "names", "names_zh", "anchor", "anchor_label",
    "addons", "regular_price", "bundle_price", "discount_type", "discount_label", "saving", "discount_pct",
    "binding_constraint", "expected_profit", "break_even_take_rate", "expected_take_rate", "recommended",
    "reason_not_recommended", "reason_type", "reason_en", "reason_zh", "evidence_en", "evidence_zh", "gap_tickets",
    "set_tickets", "anchor_tickets", "store_tickets", "added_margin", "count", "antecedent_count", "confidence",
    "lift", "p_value", "q_value", "substitute_warning", "substitute_margin_loss", "expected_atv_uplift_low",
    "expected_atv_uplift_high", "expected_upt_uplift_low", "expected_upt_uplift_high", "gift_sku", "components",
    "guardrails", "offers", "period_start", "period_end", "gift_name", "gift_name_zh", "gift_value",
    "cost_source", "currency", "size_adjusted_expected", "size_adjusted_lift", "incremental_value",
)
#: Why a candidate makes no offer in a store, after the candidate gates (counted in the summary).
OFFER_GATES = ("no_price", "not_stocked", "other_season", "no_gap_tickets", "not_recommended")


# --------------------------------------------------------------------------- small helpers


def bundle_id(level_items, store=None, level: str = "") -> str:
    """Stable id of a bundle: a short hash of the level, the sorted labels and the store.

    The concrete SKUs may change between runs (a new best seller); the id does
    not, so approvals keyed by it survive re-runs.

    >>> bundle_id(("tie", "business shirt"), "S01", "subcategory") == bundle_id(("business shirt", "tie"), "S01",
    ...                                                                            "subcategory")
    True
    >>> bundle_id(("a", "b"), "S01") != bundle_id(("a", "b"), "S02")
    True
    """
    key = "\x1f".join([str(level), *sorted(str(x) for x in level_items), "" if store is None else str(store)])
    return "B" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


def _text(v):
    if v is None:
        return None
    try:
        if v != v:  # NaN
            return None
    except TypeError:  # pd.NA
        return None
    s = str(v).strip()
    return s or None


def _tags(v) -> list:
    t = _text(v)
    if t is None:
        return []
    for sep in ("；", "|"):
        t = t.replace(sep, ";")
    return [x.strip().lower() for x in t.split(";") if x.strip()]


def _window(ts: pd.Series, weeks) -> tuple[np.ndarray, pd.Timestamp | None, pd.Timestamp | None]:
    """Mask of lines in the last ``weeks`` weeks of the data (all lines when weeks is None or nothing is dated)."""
    known = ts.notna().to_numpy()
    if not known.any():
        return np.ones(len(ts), bool), None, None
    end = ts.max()
    if weeks is None:
        return np.ones(len(ts), bool), ts.min(), end
    start = end - pd.Timedelta(weeks=float(weeks))
    return (known & (ts > start).fillna(False).to_numpy(dtype=bool)), start, end


def _check_lines(lines: pd.DataFrame) -> pd.DataFrame:
    if _is_spark(lines):
        return lines  # the Spark loader's canonical columns
    missing = [c for c in ("receipt_id", "sku") if c not in lines.columns]
    if missing:
        raise InputError(f"the receipt lines have no {', '.join(missing)} column(s)",
                         hint="pass the lines of recommender.receipts.load_receipts(path)")
    out = lines.copy()
    for col, default in (("quantity", 1.0), ("unit_price", np.nan)):
        if col not in out.columns:
            out[col] = default
    out["quantity"] = pd.to_numeric(out["quantity"], errors="coerce").fillna(1.0).astype("float64")
    out["unit_price"] = pd.to_numeric(out["unit_price"], errors="coerce").astype("float64")
    if "timestamp" not in out.columns:
        out["timestamp"] = pd.NaT
    out["timestamp"] = pd.to_datetime(out["timestamp"], errors="coerce")
    if "store_id" not in out.columns:
        out["store_id"] = pd.NA
    out["sku"] = out["sku"].astype("string")
    out["receipt_id"] = out["receipt_id"].astype("string")
    out["store_id"] = out["store_id"].astype("string")
    return out


def _is_spark(lines) -> bool:
    from recommender.tickets import _is_spark as spark

    return spark(lines)


def _price_counts(lines) -> pd.DataFrame:
    """Lines per (SKU, unit price rounded to cents), prices above 0: sku, price, n (any order)."""
    if _is_spark(lines):
        from recommender.spark.bundle_counts import price_counts

        return price_counts(lines)
    seen = pd.DataFrame({"sku": lines["sku"].astype("string"),
                         "price": pd.to_numeric(lines["unit_price"], errors="coerce").round(2)})
    seen = seen[seen["price"] > 0]
    return seen.groupby(["sku", "price"], sort=True).size().rename("n").reset_index()


def regular_prices(lines: pd.DataFrame, catalog: pd.DataFrame) -> pd.Series:
    """Regular unit price per SKU: the catalog's ``price``, else the most common price in the receipts.

    The most common unit price is taken as the undiscounted one (promotions are
    the rarer prices); on a tie the higher price wins.

    >>> cat = pd.DataFrame({"sku": ["a", "b"], "price": [10.0, None]})
    >>> lines = pd.DataFrame({"sku": ["b", "b", "b", "a"], "unit_price": [4.0, 5.0, 5.0, 9.0]})
    >>> regular_prices(lines, cat).to_dict()
    {'a': 10.0, 'b': 5.0}
    """
    counts = _price_counts(lines)
    counts = counts.sort_values(["sku", "n", "price"], ascending=[True, False, False], kind="stable")
    observed = counts.drop_duplicates("sku").set_index("sku")["price"]
    out = observed.copy()
    if "price" in catalog.columns:
        listed = pd.Series(pd.to_numeric(catalog["price"], errors="coerce").to_numpy(),
                           index=catalog["sku"].astype("string"))
        listed = listed[listed > 0]
        out = listed.combine_first(observed)
    out.index = out.index.astype(str)
    return out.astype("float64").sort_index()


def eligible_skus(lines: pd.DataFrame, catalog: pd.DataFrame, inactive_weeks=8) -> pd.DataFrame:
    """SKUs a bundle may use: still selling, with a regular price and a unit cost.

    Returns a frame indexed by SKU with ``price``, ``unit_cost``, ``margin`` and
    ``active`` (sold in the last ``inactive_weeks`` weeks of the data; every
    SKU seen counts as active when no line is dated) and ``usable``.

    >>> cat = pd.DataFrame({"sku": ["a", "b", "c"], "price": [10.0, 8.0, 5.0], "unit_cost": [4.0, None, 2.0]})
    >>> lines = pd.DataFrame({"receipt_id": ["1", "2", "3"], "sku": ["a", "b", "c"],
    ...                       "timestamp": pd.to_datetime(["2025-01-01", "2025-06-01", "2025-06-02"])})
    >>> eligible_skus(lines, cat, inactive_weeks=8)["usable"].to_dict()  # a: not sold lately, b: no cost
    {'a': False, 'b': False, 'c': True}
    """
    lines = _check_lines(lines)
    price = regular_prices(lines, catalog)
    cat = catalog.drop_duplicates("sku").set_index(catalog.drop_duplicates("sku")["sku"].astype(str))
    cost = pd.to_numeric(cat["unit_cost"], errors="coerce") if "unit_cost" in cat.columns else pd.Series(
        np.nan, index=cat.index)
    if _is_spark(lines):
        from recommender.spark.bundle_counts import recent_skus

        recent = recent_skus(lines, inactive_weeks)
    else:
        mask, _, _ = _window(lines["timestamp"], inactive_weeks)
        recent = set(lines.loc[mask, "sku"].astype(str))
    frame = pd.DataFrame({"price": price}).join(pd.DataFrame({"unit_cost": cost}), how="outer")
    frame["margin"] = frame["price"] - frame["unit_cost"]
    frame["active"] = frame.index.isin(list(recent))
    frame["usable"] = (frame["price"] > 0) & (frame["unit_cost"] >= 0) & frame["active"]
    return frame


def store_best_sellers(lines: pd.DataFrame, catalog: pd.DataFrame, level: str, usable_skus,
                       weeks=BEST_SELLER_WEEKS) -> pd.DataFrame:
    """Each store's best-selling usable SKU of every label, by units in the last ``weeks`` weeks.

    Returns ``store``, ``label``, ``sku``, ``units``, ``receipts``; ties go to
    more receipts, then the smaller SKU code. Stores are ``None`` when the
    lines name none.

    >>> cat = pd.DataFrame({"sku": ["t1", "t2"], "subcategory": ["tie", "tie"]})
    >>> lines = pd.DataFrame({"receipt_id": ["1", "2", "3"], "sku": ["t1", "t2", "t2"],
    ...                       "store_id": ["S1", "S1", "S2"], "quantity": [3, 1, 1]})
    >>> store_best_sellers(lines, cat, "subcategory", ["t1", "t2"])[["store", "label", "sku"]].values.tolist()
    [['S1', 'tie', 't1'], ['S2', 'tie', 't2']]
    """
    lines = _check_lines(lines)
    agg = _seller_counts(lines, catalog, level, usable_skus, weeks)
    agg = agg.sort_values(["store", "label", "units", "receipts", "sku"],
                          ascending=[True, True, False, False, True], kind="stable")
    best = agg.drop_duplicates(["store", "label"]).reset_index(drop=True)
    stores = np.empty(len(best), dtype=object)
    stores[:] = [None if s == _NO_STORE else str(s) for s in best["store"]]
    best["store"] = stores
    return best


def _seller_counts(lines, catalog, level, usable_skus, weeks) -> pd.DataFrame:
    """Per (store, label, usable SKU) in the last ``weeks`` weeks: exact units and distinct receipts (any order)."""
    if _is_spark(lines):
        from recommender.spark.bundle_counts import seller_counts

        return seller_counts(lines, catalog, level, usable_skus, weeks)
    from recommender.sums import group_sum

    mask, _, _ = _window(lines["timestamp"], weeks)
    recent = lines.loc[mask & lines["sku"].astype(str).isin(set(usable_skus)).to_numpy()]
    labels = _labels(recent["sku"], catalog, level)
    frame = pd.DataFrame({"store": recent["store_id"].astype(object).where(recent["store_id"].notna(), None),
                          "label": labels, "sku": recent["sku"].astype(str), "units": recent["quantity"],
                          "receipt_id": recent["receipt_id"]})
    frame = frame[frame["label"].notna()]
    frame["store"] = frame["store"].fillna(_NO_STORE)
    keys = ["store", "label", "sku"]
    agg = frame.groupby(keys, sort=True).agg(receipts=("receipt_id", "nunique")).reset_index()
    codes = agg.set_index(keys).index.get_indexer(pd.MultiIndex.from_frame(frame[keys]))
    agg.insert(3, "units", group_sum(codes, frame["units"].to_numpy(dtype="float64"), len(agg)))
    return agg


def _labels(skus: pd.Series, catalog, level) -> pd.Series:
    if level == "sku":
        return skus.astype(str).astype(object).set_axis(skus.index)
    mapping = level_map(catalog, level)
    mapping = mapping[~mapping.index.duplicated()]
    out = skus.astype(str).map(mapping)
    return out.astype(object).where(out.notna(), None)


def _gift_candidates(catalog: pd.DataFrame, eligible: pd.DataFrame, gift_sku=None) -> dict:
    """Department (lower case; None for ``gift_sku``) -> gift rows, cheapest unit cost first."""
    cat = catalog.assign(sku=catalog["sku"].astype(str)).drop_duplicates("sku")
    if gift_sku is not None:
        rows = cat[cat["sku"] == str(gift_sku)]
        if rows.empty:
            raise InputError(f"gift SKU {gift_sku!r} is not in the catalog", hint="check --gift-sku")
    else:
        if "department" not in cat.columns:
            return {}
        text = pd.Series("", index=cat.index, dtype="string")
        for col in ("name", "name_zh", "subcategory"):
            if col in cat.columns:
                text = text + " " + cat[col].astype("string").fillna("").str.lower()
        rows = cat[text.str.contains("|".join(GIFT_WORDS), regex=True).fillna(False).to_numpy(dtype=bool)]
    info = eligible.reindex(rows["sku"])
    ok = ((info["price"] > 0) & (info["unit_cost"] >= 0)).to_numpy(dtype=bool)
    rows, info = rows[ok], info[ok]
    if rows.empty and gift_sku is not None:
        raise InputError(f"gift SKU {gift_sku!r} has no price or unit cost", hint="complete the catalog")
    out: dict = {}
    order = np.lexsort((rows["sku"].to_numpy(), info["unit_cost"].to_numpy()))
    for i in order.tolist():
        row = rows.iloc[i].to_dict()
        row["price"], row["unit_cost"] = float(info["price"].iloc[i]), float(info["unit_cost"].iloc[i])
        dept = None if gift_sku is not None else (_text(row.get("department")) or "").lower()
        out.setdefault(dept, []).append(row)
    return out


def _pick_gift(table: dict, department, exclude, gift_sku=None):
    key = None if gift_sku is not None else (_text(department) or "").lower()
    return next((r for r in table.get(key, []) if r["sku"] not in set(exclude)), None)


def find_gift(catalog: pd.DataFrame, department, eligible: pd.DataFrame, exclude=(), gift_sku=None) -> dict | None:
    """The gift-with-purchase item for a kit: ``gift_sku``, else the department's cheapest bag or pouch.

    Candidates are catalog items of ``department`` whose name, Chinese name or
    subcategory contains one of :data:`GIFT_WORDS`, with a price and a unit
    cost (``eligible`` from :func:`eligible_skus`), not in ``exclude``; the
    cheapest unit cost wins (then the SKU code). A gift need not be selling
    (gifts are often promotional stock). Returns the catalog row as a dict
    (``price`` the regular price) or None.

    >>> cat = pd.DataFrame({"sku": ["1", "2", "3"], "name": ["Medicine pouch", "Gift bag", "Tablets"],
    ...                     "department": ["pharmacy"] * 3, "unit_cost": [1.5, 1.0, 2.0], "price": [5.0, 4.0, 9.0]})
    >>> lines = pd.DataFrame({"receipt_id": ["r"], "sku": ["3"]})
    >>> find_gift(cat, "Pharmacy", eligible_skus(lines, cat))["sku"]
    '2'
    """
    return _pick_gift(_gift_candidates(catalog, eligible, gift_sku), department, exclude, gift_sku)


# --------------------------------------------------------------------------- candidates


def _q_columns(run):
    stratified = bool(run.manifest.get("parameters", {}).get("stratify", True))
    rules = run.rules
    if stratified and "q_value_cmh" in rules.columns and rules["q_value_cmh"].notna().any():
        return "p_value_cmh", "q_value_cmh"
    return "p_value", "q_value"


#: Why a set of items is not a candidate, in the order checked (counted in ``attrs["gates"]``).
CANDIDATE_GATES = ("not_significant", "lift_below_min", "redundant", "pair_not_associated", "substitutes",
                   "suspected_non_product", "same_trip_only", "same_product_variants", "basket_size_explains")


def candidate_itemsets(run, *, max_items: int = 4, min_lift: float = 1.0, allow_redundant: bool = False,
                       exclude=()) -> pd.DataFrame:
    """Itemsets at the run's level that make a bundle, each with its anchor and evidence.

    See the module docstring (steps 1 and 2) for the rules.

    Returns
    -------
    DataFrame
        ``level_items`` (anchor first, then the add-ons sorted), ``anchor``,
        ``addons``, ``count`` (receipts with the whole set), ``antecedent_count``
        (receipts with the anchor), ``confidence``, ``lift``, ``p_value``,
        ``q_value``: the rule anchor -> add-ons when the run has it, else the
        weakest (largest p) of the supporting rules. ``attrs["gates"]``
        counts the sets each gate of :data:`CANDIDATE_GATES` removed (a set
        whose item has no rule at all, below the run's minimum confidence,
        counts as not significant); ``exclude`` labels (suspected
        non-products) remove the sets holding them.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from recommender.pipeline import mine, MiningParams
    >>> from recommender.runs import write_run, read_run
    >>> lines = pd.DataFrame({"receipt_id": [str(i) for i in range(60) for _ in range(2)],
    ...                       "sku": ["a", "b"] * 20 + ["c", "d"] * 20 + ["e", "f"] * 20})
    >>> res = mine(lines, params=MiningParams(min_count=5))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> _ = write_run(out, itemsets_df=res.itemsets, rules_df=res.rules, manifest=res.manifest)
    >>> candidate_itemsets(read_run(out))[["level_items", "anchor", "count"]].values.tolist()
    [[('a', 'b'), 'a', 20], [('c', 'd'), 'c', 20], [('e', 'f'), 'e', 20]]
    """
    if max_items < 2:
        raise ValueError("a bundle has at least 2 items (max_items >= 2)")
    rules = run.rules
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ("level_items", "anchor", "addons")}).assign(
        count=pd.Series(dtype=np.int64), antecedent_count=pd.Series(dtype=np.int64),
        confidence=pd.Series(dtype=float), lift=pd.Series(dtype=float), p_value=pd.Series(dtype=float),
        q_value=pd.Series(dtype=float))
    gates = dict.fromkeys(CANDIDATE_GATES, 0)
    empty.attrs["gates"] = gates
    if rules.empty:
        return empty
    p_col, q_col = _q_columns(run)
    sig = rules["significant"].astype(bool).to_numpy()
    lift_ok = rules["lift"].to_numpy(dtype=float) >= min_lift
    fresh = np.ones(len(rules), bool) if allow_redundant else ~rules["redundant"].astype(bool).to_numpy()
    keep = sig & lift_ok & fresh
    # The first rule-level gate each rule fails (0 = passes), in the order of CANDIDATE_GATES.
    fails = np.where(~sig, 1, np.where(~lift_ok, 2, np.where(~fresh, 3, 0)))
    ante, cons = rules["antecedents"].tolist(), rules["consequents"].tolist()
    support: dict = {}
    worst: dict = {}
    weakest: dict = {}
    for i in np.flatnonzero(rules["consequents"].map(len).to_numpy() == 1).tolist():
        union = frozenset(ante[i]) | frozenset(cons[i])
        if 2 <= len(union) <= max_items:
            support.setdefault(union, set())
            if fails[i]:
                worst[union] = min(worst.get(union, 9), int(fails[i]))
            if keep[i]:
                support[union].add(cons[i][0])
                p = float(rules[p_col].iat[i])
                if union not in weakest or p > weakest[union][0]:
                    weakest[union] = (p, float(rules[q_col].iat[i]))
    # Every pair of the set must be associated on its own: large baskets alone lift bigger sets.
    single = keep & (rules["antecedents"].map(len).to_numpy() == 1) & (rules["consequents"].map(len).to_numpy() == 1)
    pairs = {frozenset((ante[i][0], cons[i][0])) for i in np.flatnonzero(single).tolist()}
    subs = {frozenset((str(a), str(b))) for a, b in zip(run.substitutes.get("item_a", []),
                                                       run.substitutes.get("item_b", []))}
    excluded = {str(x) for x in exclude}
    sets = []
    for s, supported in support.items():
        if len(supported) < len(s):  # an item without a kept rule: the first gate its rules fail (none: weak)
            gate = CANDIDATE_GATES[worst.get(s, 1) - 1]
        elif not all(frozenset(p) in pairs for p in _pairs(s)):
            gate = "pair_not_associated"
        elif any(pair <= s for pair in subs):
            gate = "substitutes"
        elif s & excluded:
            gate = "suspected_non_product"
        else:
            sets.append(s)
            continue
        gates[gate] += 1
    if not sets:
        return empty
    counts = {frozenset(t): int(c) for t, c in zip(run.itemsets["items"], run.itemsets["count"])}
    n = int(run.manifest.get("n_receipts", 0) or 0)
    by_rule = {(frozenset(a), frozenset(c)): i for i, (a, c) in enumerate(zip(ante, cons))}
    rows = []
    for s in sets:
        triggers = []
        for a in s:
            i = by_rule.get((frozenset([a]), s - {a}))
            if i is not None and sig[i]:
                triggers.append((-counts.get(frozenset([a]), 0), -float(rules["confidence"].iat[i]), a))
        if triggers:
            anchor = min(triggers)[2]
        else:
            anchor = min((-counts.get(frozenset([a]), 0), a) for a in s)[1]
        addons = tuple(sorted(s - {anchor}))
        count, a_count = counts.get(s), counts.get(frozenset([anchor]))
        if count is None or not a_count:
            continue  # a rule without its itemsets (an edited run): no evidence to quote
        i = by_rule.get((frozenset([anchor]), frozenset(addons)))
        rest = counts.get(frozenset(addons))
        if i is not None:
            lift, p, q = float(rules["lift"].iat[i]), float(rules[p_col].iat[i]), float(rules[q_col].iat[i])
        else:
            lift = count * n / (a_count * rest) if rest and n else math.nan
            p, q = weakest[s]
        rows.append({"level_items": (anchor, *addons), "anchor": anchor, "addons": addons, "count": count,
                     "antecedent_count": a_count, "confidence": count / a_count, "lift": lift, "p_value": p,
                     "q_value": q})
    if not rows:
        return empty
    out = pd.DataFrame(rows)
    out = out.sort_values(["count", "level_items"], ascending=[False, True], kind="stable").reset_index(drop=True)
    for col in ("level_items", "addons"):
        values = np.empty(len(out), dtype=object)
        values[:] = list(out[col])
        out[col] = values
    out.attrs["gates"] = gates
    return out


def trip_departments(catalog: pd.DataFrame | None, level: str) -> pd.Series | None:
    """SKU -> department that defines a set's shopping trip, or None when the whole file is the trip.

    The trip is a department when the catalog names departments and the run's
    level is finer than them (sku, subcategory, category); at department level
    or coarser, by brand, or without a department column, every ticket is part
    of the trip.

    >>> cat = pd.DataFrame({"sku": ["a", "b"], "department": ["pharmacy", "grocery"]})
    >>> trip_departments(cat, "sku").to_dict(), trip_departments(cat, "department")
    ({'a': 'pharmacy', 'b': 'grocery'}, None)
    """
    if catalog is None or "department" not in catalog.columns or level not in ("sku", "subcategory", "category"):
        return None
    dept = catalog.drop_duplicates("sku").set_index(catalog.drop_duplicates("sku")["sku"].astype(str))["department"]
    dept = dept.astype("string").str.strip().str.lower()
    dept = dept[dept.notna() & (dept != "")]
    return dept if len(dept) else None


def _label_departments(labels: pd.Series, depts: pd.Series) -> dict:
    """Label -> its most common department over the lines (labels above SKU level may span several)."""
    pairs = pd.DataFrame({"label": labels.to_numpy(), "dept": depts.to_numpy()}).dropna()
    if pairs.empty:
        return {}
    return _most_common_dept(pairs.groupby(["label", "dept"], sort=True).size().rename("n").reset_index())


def _most_common_dept(counts: pd.DataFrame) -> dict:
    """Label -> its department with the most lines (ties: the first department by name); counts: label, dept, n."""
    if counts.empty:
        return {}
    counts = counts.sort_values(["label", "n", "dept"], ascending=[True, False, True], kind="stable")
    return dict(zip(counts.drop_duplicates("label")["label"].astype(str), counts.drop_duplicates("label")["dept"]))


def trip_gate(cands: pd.DataFrame, lines: pd.DataFrame, catalog: pd.DataFrame | None, level: str, *,
              min_lift: float = 1.0, fdr: float = 0.05) -> pd.DataFrame:
    """Keep the candidates whose items go together *within the shopping trip*, not merely on the same trip.

    A pharmacy ticket holds pharmacy items: calcium, cold remedy and
    multivitamin are all "lifted" against every ticket of the shop simply
    because people who visit the pharmacy buy pharmacy items. The trip of a
    set is the tickets that visit one of its items' departments
    (:func:`trip_departments`; without departments, every ticket). For each
    item ``j`` of the set, the rule ``(set - j) -> j`` is re-judged on the
    trip's tickets: lift ``n_set * N_trip / (n_{set-j} * n_j)`` >= ``min_lift``
    and one-sided Fisher exact test within the trip, Benjamini-Hochberg over
    every test at ``fdr``; the same for every pair of a larger set (two
    same-trip pairs glued together are not one set). Counts are over ``lines`` (all
    their dates). Adds ``trip_tickets`` and ``trip_lift`` (of anchor ->
    add-ons); ``attrs["gates"]["same_trip_only"]`` counts the sets removed.
    When the whole file is the trip the run's own gate already judged them and
    nothing is removed.

    Pharmacy visitors take a and b independently (lift 1 within the trip),
    yet against every ticket of the shop, grocery included, a + b has lift 2:

    >>> baskets = [["a", "b"]] * 25 + [["a"]] * 25 + [["b"]] * 25 + [["c"]] * 25 + [["x", "y"]] * 100
    >>> lines = pd.DataFrame([{"receipt_id": str(i), "sku": s} for i, b in enumerate(baskets) for s in b])
    >>> cat = pd.DataFrame({"sku": ["a", "b", "c", "x", "y"], "department": ["ph"] * 3 + ["gr"] * 2})
    >>> c = pd.DataFrame({"level_items": [("a", "b")], "anchor": ["a"], "addons": [("b",)]})
    >>> kept = trip_gate(c, lines, cat, "sku")
    >>> len(kept), kept.attrs["gates"]["same_trip_only"]
    (0, 1)
    >>> len(trip_gate(c, lines, None, "sku"))  # no departments: the whole file is the trip
    1
    """
    from recommender.significance import bh_qvalues, fisher_greater

    gates = dict(cands.attrs.get("gates", {}))
    gates.setdefault("same_trip_only", 0)
    dept = trip_departments(catalog, level)
    out = cands.copy()
    out.attrs["gates"] = gates
    if dept is None or cands.empty:
        out["trip_tickets"], out["trip_lift"] = np.nan, np.nan
        return out
    tests, per_set = [], []
    items_of = [tuple(c) for c in cands["level_items"]]
    for items, (pat, n_trip) in zip(items_of, _trip_patterns(items_of, lines, catalog, level, dept)):
        k = len(items)
        full = (1 << k) - 1

        def cnt(required, pat=pat):
            return sum(n for mask, n in pat.items() if mask & required == required)

        n_set = cnt(full)
        first = len(tests)
        for j in range(k):
            tests.append((n_set, cnt(full & ~(1 << j)), cnt(1 << j), n_trip))
        if k > 2:  # and every pair on its own: two same-trip pairs glued together are not one set
            for a, b in _pairs(range(k)):
                tests.append((cnt((1 << a) | (1 << b)), cnt(1 << a), cnt(1 << b), n_trip))
        lift = n_set * n_trip / max(cnt(1) * cnt(full & ~1), 1)
        per_set.append((first, len(tests), n_trip, lift))
    t = np.asarray(tests, dtype=float)
    lifts = t[:, 0] * t[:, 3] / np.maximum(t[:, 1] * t[:, 2], 1.0)
    q = bh_qvalues(fisher_greater(t[:, 0], t[:, 1], t[:, 2], t[:, 3]))
    ok = (lifts >= min_lift) & (q <= fdr)
    keep = np.array([bool(ok[a:b].all()) for a, b, _, _ in per_set])
    out["trip_tickets"] = [x[2] for x in per_set]
    out["trip_lift"] = [x[3] for x in per_set]
    gates["same_trip_only"] += int((~keep).sum())
    out = out[keep].reset_index(drop=True)
    out.attrs["gates"] = gates
    return out


def _trip_patterns(items_of: list, lines, catalog, level: str, dept) -> list:
    """Per set of labels (all lines, all dates): receipts per presence pattern and the tickets of its trip.

    Returns one ``(patterns, n_trip)`` per set: ``patterns`` maps a bit mask (bit j: the receipt holds the
    set's j-th label; receipts holding none are left out) to its receipts; ``n_trip`` counts the receipts
    that visit one of the set's departments or hold one of its labels (every receipt when no label has a
    department). Spark lines are counted by :func:`recommender.spark.bundle_counts.trip_patterns`.
    """
    if _is_spark(lines):
        from recommender.spark.bundle_counts import trip_patterns

        return trip_patterns(items_of, lines, catalog, level, dept)
    lines = _check_lines(lines)
    sku = lines["sku"].astype(str)
    labels = _labels(lines["sku"], catalog, level)
    r_codes, receipts = pd.factorize(lines["receipt_id"], sort=True)
    n = len(receipts)

    def presence(values):
        known = values.notna().to_numpy()
        codes, uniq = pd.factorize(values[known].astype(str), sort=True)
        mat = sp.coo_array((np.ones(int(known.sum()), bool), (r_codes[known], codes)), shape=(n, len(uniq)))
        return sp.csc_array(mat.tocsc().astype(bool)), {u: i for i, u in enumerate(uniq)}

    has_label, label_col = presence(labels)
    has_dept, dept_col = presence(sku.map(dept))
    label_dept = _label_departments(labels, sku.map(dept))

    def column(mat, col, key):
        j = col.get(key)
        return np.zeros(n, bool) if j is None else mat[:, [j]].toarray()[:, 0]

    out = []
    for items in items_of:
        has = np.column_stack([column(has_label, label_col, x) for x in items])
        depts = {label_dept.get(x) for x in items} - {None}
        trip = np.zeros(n, bool) if depts else np.ones(n, bool)
        for d in depts:
            trip |= column(has_dept, dept_col, d)
        trip |= has.any(axis=1)  # an item without a department still belongs to its own trip
        masks = has.astype(np.int64) @ (np.int64(1) << np.arange(len(items), dtype=np.int64))
        counts = np.bincount(masks, minlength=1 << len(items))
        out.append(({int(m): int(v) for m, v in enumerate(counts) if m and v}, int(trip.sum())))
    return out


#: Default smallest size-adjusted lift of a bundle (:func:`size_gate`): at least a third of the receipts holding the
#: set hold it beyond what their basket sizes predict. Chosen by ``bench/bundle_gate.py`` (see the README).
MIN_SIZE_LIFT = 1.5


def _presence(lines: pd.DataFrame, catalog, level):
    """Receipts x labels presence (CSC, bool), label -> column, and each receipt's distinct labels."""
    labels = _labels(lines["sku"], catalog, level)
    known = labels.notna().to_numpy()
    r_codes, receipts = pd.factorize(lines["receipt_id"], sort=True)
    l_codes, uniq = pd.factorize(labels[known].astype(str), sort=True)
    mat = sp.coo_array((np.ones(int(known.sum()), bool), (r_codes[known], l_codes)),
                       shape=(len(receipts), len(uniq))).tocsr()
    mat.sum_duplicates()
    sizes = np.diff(mat.indptr).astype(np.int64)
    return sp.csc_array(mat.astype(bool)), {u: i for i, u in enumerate(uniq)}, sizes


def _size_patterns(items_of: list, lines, catalog, level: str) -> list:
    """Per set of labels: receipts per (presence pattern, basket size), every receipt counted once.

    Returns one ``(masks, sizes, counts)`` triple of int arrays per set: bit j of a mask says the receipts hold the
    set's j-th label; sizes are distinct labels per receipt (0 for a receipt with none). Spark lines are counted
    by :func:`recommender.spark.bundle_counts.size_patterns`.
    """
    if _is_spark(lines):
        from recommender.spark.bundle_counts import size_patterns

        return size_patterns(items_of, lines, catalog, level)
    has_label, col, sizes = _presence(_check_lines(lines), catalog, level)
    n = has_label.shape[0]
    top = int(sizes.max(initial=0)) + 1

    def column(label):
        j = col.get(label)
        return np.zeros(n, bool) if j is None else has_label[:, [j]].toarray()[:, 0]

    out = []
    for items in items_of:
        has = np.column_stack([column(x) for x in items])
        masks = has.astype(np.int64) @ (np.int64(1) << np.arange(len(items), dtype=np.int64))
        counts = np.bincount(masks * top + sizes, minlength=(1 << len(items)) * top)
        seen = np.flatnonzero(counts)
        out.append((seen // top, seen % top, counts[seen]))
    return out


def size_gate(cands: pd.DataFrame, lines: pd.DataFrame, catalog: pd.DataFrame | None, level: str, *,
              min_size_lift: float = MIN_SIZE_LIFT, fdr: float = 0.05) -> pd.DataFrame:
    """Keep the candidates bought together clearly more often than their receipts' basket sizes predict.

    A wholesaler's 25-line basket holds most best sellers, so any two best
    sellers meet often and pass a test against all receipts. Each rule
    ``(set - j) -> j`` of a set (and, in a larger set, every pair both ways)
    is judged against the receipts of the same basket size instead
    (:mod:`recommender.size_adjusted`): its size-adjusted lift, observed over
    expected receipts, must be at least ``min_size_lift``, and its one-sided
    Cochran-Mantel-Haenszel test significant (Benjamini-Hochberg over every
    test at ``fdr``). Counts are over ``lines`` (all their dates) at the run's
    ``level``. Adds ``size_adjusted_expected`` (the receipts with the whole set
    basket size predicts: the largest expectation of the set's rules) and
    ``size_adjusted_lift`` (receipts with the set over it);
    ``attrs["gates"]["basket_size_explains"]`` counts the sets removed.

    Two best sellers of big baskets are independent basket by basket; the
    shirt and tie go together whatever the basket size (raw lifts 4.75 and 6.3):

    >>> big = [[s for s, on in (("a", p < 2), ("b", p % 2 == 0)) if on] + [f"x{j}" for j in range(14 + i % 20)]
    ...        for p in range(4) for i in range(20)]  # 14 to 33 other items, a and b on half of them each
    >>> big += [["y"]] * 200 + [["shirt", "tie"]] * 30 + [["shirt", "y"]] * 30 + [["z", "y"]] * 40
    >>> lines = pd.DataFrame([{"receipt_id": str(i), "sku": s} for i, b in enumerate(big) for s in b])
    >>> c = pd.DataFrame({"level_items": [("a", "b"), ("shirt", "tie")], "anchor": ["a", "shirt"],
    ...                   "addons": [("b",), ("tie",)]})
    >>> kept = size_gate(c, lines, None, "sku")
    >>> kept["level_items"].tolist(), kept.attrs["gates"]["basket_size_explains"]
    ([('shirt', 'tie')], 1)
    """
    from recommender.size_adjusted import size_adjusted_tables, size_adjusted_test
    from recommender.significance import bh_qvalues

    gates = dict(cands.attrs.get("gates", {}))
    gates.setdefault("basket_size_explains", 0)
    out = cands.copy()
    out.attrs["gates"] = gates
    if cands.empty:
        out["size_adjusted_expected"], out["size_adjusted_lift"] = pd.Series(dtype=float), pd.Series(dtype=float)
        return out
    items_of = [tuple(c) for c in cands["level_items"]]
    tables, spans = [], []
    for items, (masks, sizes, weights) in zip(items_of, _size_patterns(items_of, lines, catalog, level)):
        k = len(items)

        def holds(bits, masks=masks):
            return masks & bits == bits

        first = len(tables)
        full = (1 << k) - 1
        for j in range(k):  # every item earns its place: (set - j) -> j
            tables.append(size_adjusted_tables(holds(full & ~(1 << j)), holds(1 << j), sizes, weights))
        n_rules = len(tables) - first
        if k > 2:  # and every pair on its own, both ways: two pairs glued together are not one set
            for a in range(k):
                for b in range(k):
                    if a != b:
                        tables.append(size_adjusted_tables(holds(1 << a), holds(1 << b), sizes, weights))
        spans.append((first, first + n_rules, len(tables)))
    observed, expected, p, _ = size_adjusted_test(tables)
    q = bh_qvalues(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (observed >= float(min_size_lift) * expected) & (observed > 0) & (q <= fdr)
    keep = np.array([bool(ok[a:c].all()) for a, _, c in spans])
    worst = [float(expected[a:b].max()) for a, b, _ in spans]
    seen = [float(observed[a]) for a, _, _ in spans]
    out["size_adjusted_expected"] = worst
    out["size_adjusted_lift"] = [o / e if e > 0 else math.inf for o, e in zip(seen, worst)]
    gates["basket_size_explains"] += int((~keep).sum())
    out = out[keep].reset_index(drop=True)
    out.attrs["gates"] = gates
    return out


def variant_gate(cands: pd.DataFrame, names: dict, *prices, vocabulary=None) -> pd.DataFrame:
    """Drop SKU sets holding two variants of one product (:func:`recommender.variants.are_variants`).

    ``prices`` are one or more SKU -> price mappings; two items are variants
    when any of them says so. ``vocabulary`` (a
    :class:`recommender.variants.Vocabulary`; default: every item of ``names``
    at the first mapping's price) tells variants at different prices.

    Colours or designs of one product bought together are an assortment, not a
    cross-sell: one does not complete the other, and a discount on "any two"
    is a different offer. ``attrs["gates"]["same_product_variants"]`` counts them.

    >>> c = pd.DataFrame({"level_items": [("g", "o"), ("g", "b")], "anchor": ["g", "g"], "addons": [("o",), ("b",)]})
    >>> names = {"g": "ALARM CLOCK GREEN", "o": "ALARM CLOCK ORANGE", "b": "BATTERY PACK"}
    >>> out = variant_gate(c, names, {"g": 3.75, "o": 3.75, "b": 3.75})
    >>> out["level_items"].tolist(), out.attrs["gates"]["same_product_variants"]
    ([('g', 'b')], 1)
    """
    from recommender.variants import Vocabulary, are_variants

    gates = dict(cands.attrs.get("gates", {}))
    gates.setdefault("same_product_variants", 0)
    maps = [dict(p.items()) for p in prices]
    if vocabulary is None and maps:
        # every named item of the file at its (first) regular price: which shared words name a product
        vocabulary = Vocabulary(list(names.values()), [maps[0].get(s) for s in names])
    found = {(a, b) for t in cands["level_items"] for a, b in _pairs(t)
             if any(are_variants(names.get(a), names.get(b), m.get(a), m.get(b), vocabulary) for m in maps)}
    keep = np.array([not any(p in found for p in _pairs(t)) for t in cands["level_items"]], dtype=bool)
    out = cands[keep].reset_index(drop=True) if len(cands) else cands.copy()
    gates["same_product_variants"] += int((~keep).sum())
    out.attrs["gates"] = gates
    # what the gate found is a mix & match family, not nothing (recommender.mix_match)
    out.attrs["variant_pairs"] = sorted(set(cands.attrs.get("variant_pairs", ())) | found)
    return out


def _pairs(items):
    items = sorted(items)
    return [(a, b) for i, a in enumerate(items) for b in items[i + 1:]]


# --------------------------------------------------------------------------- counts


class _Tickets:
    """Receipts of the period as a receipts x labels presence matrix, with margins and stores."""

    def __init__(self, lines, catalog, level, info, weeks, dept=None):
        mask, self.start, self.end = _window(lines["timestamp"], weeks)
        period = lines.loc[mask]
        labels = _labels(period["sku"], catalog, level)
        known = labels.notna().to_numpy()
        period, labels = period.loc[known], labels[known]
        r_codes, receipts = pd.factorize(period["receipt_id"], sort=True)
        l_codes, self.labels = pd.factorize(labels.astype(str), sort=True)
        self.col = {lab: j for j, lab in enumerate(self.labels)}
        n, k = len(receipts), len(self.labels)
        ones = np.ones(len(period), bool)
        self.has = sp.csc_array(sp.coo_array((ones, (r_codes, l_codes)), shape=(n, k)).tocsc().astype(bool))
        margin = info["margin"].reindex(period["sku"].astype(str)).to_numpy(dtype=float)
        margin = np.where(np.isfinite(margin), margin, 0.0) * period["quantity"].to_numpy(dtype=float)
        self.margin = sp.csc_array(sp.coo_array((margin, (r_codes, l_codes)), shape=(n, k)).tocsc())
        self.line_r, self.line_l, self.line_margin = r_codes, l_codes, margin
        # Departments visited, for the trip of a set (see trip_gate); None: the whole file is the trip.
        self.dept_of, self.has_dept, self.dept_col = {}, None, {}
        if dept is not None:
            d = period["sku"].astype(str).map(dept)
            self.dept_of = _label_departments(labels, d)
            ok = d.notna().to_numpy()
            d_codes, d_uniq = pd.factorize(d[ok].astype(str), sort=True)
            self.dept_col = {u: i for i, u in enumerate(d_uniq)}
            self.has_dept = sp.csc_array(sp.coo_array((np.ones(int(ok.sum()), bool), (r_codes[ok], d_codes)),
                                                      shape=(n, len(d_uniq))).tocsc().astype(bool))
        store = period["store_id"].groupby(r_codes).first().reindex(range(n))
        store_values = [None if pd.isna(x) else str(x) for x in store]
        self.stores = sorted(set(store_values), key=lambda s: ("" if s is None else "\x01" + str(s)))
        index = {s: i for i, s in enumerate(self.stores)}
        self.store_code = np.array([index[s] for s in store_values], dtype=np.int64)
        self.store_tickets = np.bincount(self.store_code, minlength=len(self.stores))

    def columns(self, labels) -> np.ndarray:
        idx = [self.col.get(lab, -1) for lab in labels]
        out = np.zeros((self.has.shape[0], len(labels)), bool)
        for j, c in enumerate(idx):
            if c >= 0:
                out[:, j] = self.has[:, [c]].toarray()[:, 0]
        return out

    def trip(self, labels, has) -> np.ndarray | None:
        """Tickets on the shopping trip of ``labels`` (``has``: their columns), None when every ticket is."""
        if self.has_dept is None:
            return None
        trip = has.any(axis=1)
        for d in {self.dept_of.get(x) for x in labels} - {None}:
            j = self.dept_col.get(d)
            if j is not None:
                trip = trip | self.has_dept[:, [j]].toarray()[:, 0]
        return trip

    def by_store(self, mask, weights=None) -> np.ndarray:
        return np.bincount(self.store_code[mask], weights=None if weights is None else weights[mask],
                           minlength=len(self.stores))

    def prepare(self, sets, subs_of) -> None:
        """Nothing to do ahead here (:class:`recommender.spark.bundle_counts.SparkTickets` counts every set at once)."""

    def offer_counts(self, labels, addons, subs_of) -> dict:
        """Per store: gap and set tickets, gap tickets lacking each add-on, the margin of the lines of the
        lacking add-ons' substitutes (exact sum), add-on units lacking; and the in-season counts."""
        from recommender.sums import group_sum

        has = self.columns(labels)
        has_anchor, lack = has[:, 0], ~has[:, 1:]
        gap = has_anchor & lack.any(axis=1)
        full = has_anchor & ~lack.any(axis=1)
        lack_n = [self.by_store(gap & lack[:, j]) for j in range(len(addons))]
        codes, values = [], []
        for j, addon in enumerate(addons):
            cols = [self.col[x] for x in sorted(subs_of.get(addon, ())) if x in self.col]
            if cols:
                sel = np.isin(self.line_l, cols) & (gap & lack[:, j])[self.line_r]
                codes.append(self.store_code[self.line_r[sel]])
                values.append(self.line_margin[sel])
        loss = group_sum(np.concatenate(codes) if codes else [], np.concatenate(values) if values else [],
                         len(self.stores))
        addons_all = has[:, 1:].all(axis=1)
        trip = self.trip(labels, has)
        on_trip = addons_all if trip is None else addons_all[trip]
        season = (int((has_anchor & addons_all).sum()), int(has_anchor.sum()), int(on_trip.sum()), len(on_trip))
        units = np.sum(lack_n, axis=0) if lack_n else np.zeros(len(self.stores), np.int64)
        return {"gap": self.by_store(gap), "set": self.by_store(full), "lack": lack_n, "loss": loss,
                "units": units, "season": season}

    def margin_of(self, labels) -> np.ndarray:
        """Per receipt, the margin of its lines with any of ``labels``."""
        idx = [self.col[lab] for lab in labels if lab in self.col]
        if not idx:
            return np.zeros(self.has.shape[0])
        return np.asarray(self.margin[:, idx].sum(axis=1)).ravel()


# --------------------------------------------------------------------------- the pipeline


#: An offer is in season only when at least this many tickets of the counting window hold the whole set.
SEASON_MIN_SETS = 5


def _as_of(lines: pd.DataFrame, as_of):
    """Lines up to the end of day ``as_of`` (default: all) and the day as text."""
    if "timestamp" not in lines or not lines["timestamp"].notna().any():
        return lines, None
    ts = pd.to_datetime(lines["timestamp"])
    if as_of is None:
        return lines, str(ts.max().date())
    try:
        day = pd.Timestamp(as_of).normalize()
    except (TypeError, ValueError):
        raise InputError(f"--as-of {as_of!r} is not a date", hint="use YYYY-MM-DD") from None
    if day < ts.min().normalize():
        raise InputError(f"--as-of {day.date()} is before the first receipt ({ts.min().date()})")
    return lines[(ts < day + pd.Timedelta(days=1)).to_numpy(dtype=bool)], str(day.date())


def _in_season(has: np.ndarray, min_lift: float, trip: np.ndarray | None = None, alpha: float = 0.05) -> tuple:
    """(ok, why not): do the window's anchor tickets hold the add-ons ``min_lift`` times as often as all tickets
    of the set's shopping trip (``trip``, a ticket mask; None: every ticket) do, significantly (one-sided
    Fisher exact test on the trip's tickets, p <= ``alpha``), with at least :data:`SEASON_MIN_SETS` set tickets?

    >>> has = np.array([[1, 1], [1, 1], [1, 0], [0, 0]] * 5, bool)
    >>> _in_season(has, 1.2)[0], _in_season(has[:, [0, 1]][[2, 3]], 1.2)[0]
    (True, False)
    >>> _in_season(has, 1.2, trip=has.any(axis=1))[0]  # on the trip, the add-on is no likelier with the anchor
    False
    """
    anchor, addons = has[:, 0], has[:, 1:].all(axis=1)
    on_trip = addons if trip is None else addons[trip]
    return _season_verdict(int((anchor & addons).sum()), int(anchor.sum()), int(on_trip.sum()), len(on_trip),
                           min_lift, alpha)


def _season_verdict(sets: int, n_anchor: int, n_addons: int, n_trip: int, min_lift: float, alpha: float) -> tuple:
    """:func:`_in_season` from its counts: set tickets, anchor tickets, and the trip's tickets holding every
    add-on and in all."""
    rate, base = sets / max(n_anchor, 1), (np.float64(n_addons) / n_trip if n_trip else 0.0)
    lift = rate / base if base > 0 else 0.0
    # A handful of set tickets in the window is chance, not a season: the lift must also be significant.
    p = float(fisher_greater(sets, n_anchor, n_addons, n_trip))
    if sets >= SEASON_MIN_SETS and lift >= min_lift and p <= alpha:
        return True, None
    return False, (f"not bought together in the season it would run: {sets} set ticket(s), lift {lift:.1f} "
                   f"(p = {p:.2g}) in the counting window (needs {SEASON_MIN_SETS}, {min_lift:g} and p <= {alpha:g})")


def _no_stacking(rows: list) -> tuple[list, dict]:
    """Per store, the recommended offers priced as one portfolio: the most expected profit, no shared item.

    Overlapping offers compete for the same tickets (a ticket takes one of them, not both, and the till
    would stack their discounts), so their profits cannot be added. :func:`recommender.portfolio.choose_offers`
    picks, per store, the set of offers with no item in common whose summed expected profit is largest
    (exact up to :data:`recommender.portfolio.MAX_EXACT` clashing offers, greedy above, reported); the
    others are flagged. The policy's ``allow_stacking`` switches this off. Returns the rows and, per store,
    the portfolio's offers, total, method and what greedy would have kept.
    """
    from recommender.portfolio import choose_offers

    by_store: dict = {}
    for row in rows:
        if row["recommended"]:
            by_store.setdefault(row["store"], []).append(row)
    summary = {}
    for store, offers in sorted(by_store.items(), key=lambda kv: str(kv[0])):
        offers.sort(key=lambda r: r["bundle_id"])
        p = choose_offers([float(r["expected_profit"]) for r in offers], [r["items"] for r in offers],
                          names=[r["bundle_id"] for r in offers])
        keep = set(p.chosen)
        kept = [offers[i] for i in p.chosen]
        for i, row in enumerate(offers):
            if i in keep:
                continue
            clash = next(k for k in kept if set(k["items"]) & set(row["items"])) if kept else None
            with_ = f" ({' + '.join(clash['level_items'])})" if clash is not None else ""
            row.update(recommended=False, _key=(False, row["_key"][1]),
                       reason_not_recommended=f"shares an item with an offer in this store's best portfolio{with_}: "
                                              f"the offers chosen earn more together; the policy does not allow "
                                              f"stacking")
        key = "(all stores)" if store is None else str(store)
        summary[key] = {"offers": len(offers), "chosen": len(p.chosen), "expected_profit": p.total,
                        "greedy_expected_profit": p.greedy_total, "method": p.method}
    return rows, summary


def _season_of(rows, season):
    """The campaign season for a bundle's reason, or False when an item belongs to another season."""
    if season is None:
        return None
    want = str(season).strip().lower()
    tags = [set(_tags(r.get("season"))) - _ALL_YEAR for r in rows]
    if any(t and want not in t for t in tags):
        return False
    return season if any(want in t for t in tags) else None


def _catalog_rows(catalog: pd.DataFrame) -> dict:
    cat = catalog.drop_duplicates("sku")
    return {str(s): r for s, r in zip(cat["sku"].astype(str), cat.to_dict("records"))}


def _name(row, lang):
    if lang == "zh":
        return _text(row.get("name_zh")) or _text(row.get("name")) or str(row.get("sku"))
    return _text(row.get("name")) or str(row.get("sku"))


def _label_names(catalog, level, labels, rows_by_sku):
    """English and Chinese names of the mined labels (``<level>_zh`` column when the catalog has one)."""
    if level == "sku":
        return ({x: _name(rows_by_sku.get(x, {"sku": x}), "en") for x in labels},
                {x: _name(rows_by_sku.get(x, {"sku": x}), "zh") for x in labels})
    zh = {}
    col = f"{level}_zh"
    if col in catalog.columns:
        pairs = catalog[[level, col]].dropna().drop_duplicates(level)
        zh = dict(zip(pairs[level].astype(str), pairs[col].astype(str)))
    return {x: x for x in labels}, {x: zh.get(x, x) for x in labels}


def _offers_json(decisions) -> str:
    out = []
    for d in decisions:
        out.append({"discount_type": d.discount_type, "label": d.label, "bundle_price": d.bundle_price,
                    "saving": d.saving, "discount_cost": d.discount_cost, "expected_take_rate": d.expected_take_rate,
                    "expected_profit": d.expected_profit,
                    "break_even_take_rate": None if math.isinf(d.break_even_take_rate) else d.break_even_take_rate,
                    "recommended": d.recommended, "binding_constraint": d.binding_constraint,
                    "reason_not_recommended": d.reason_not_recommended, "discounted_sku": d.discounted_sku,
                    "guardrails": {k: {"limit": v["limit"], "value": v["value"], "holds": bool(v["holds"])}
                                   for k, v in d.guardrails.items()}})
    return json.dumps(out, ensure_ascii=False)


def build_bundles(run, lines: pd.DataFrame, catalog: pd.DataFrame | None = None, *, policy: Policy | None = None,
                  top=None, max_per_anchor=1, max_items: int = 4, inactive_weeks=8, season=None, gift_sku=None,
                  weeks=8, min_lift: float = 1.0, allow_redundant: bool = False, as_of=None,
                  season_min_lift: float | None = None, known_launches=(), currency=None,
                  progress=None, mix_match: bool = True, min_size_lift: float = MIN_SIZE_LIFT) -> pd.DataFrame:
    """Priced bundles per store, with reasons, from a run and the receipts it was mined from.

    Parameters
    ----------
    run : recommender.runs.Run
        A run folder read back by :func:`~recommender.runs.read_run`; its
        manifest names the level.
    lines : DataFrame
        Clean receipt lines (``recommender.receipts.load_receipts(path).lines``).
    catalog : DataFrame, optional
        The catalog (levels, ``price``, ``unit_cost``, names, tags). What it
        lacks, or all of it when None, is filled from the receipts by
        :func:`recommender.catalog.complete_catalog` (names, recent median
        prices, costs at the policy's ``assume_margin``); each row's
        ``cost_source`` says "catalog" or "assumed".
    policy : Policy, optional
        Guardrails and response curves (default :class:`~recommender.policy.Policy`).
    top : int, optional
        Keep the best ``top`` bundles per store.
    max_per_anchor : int or None
        Offers per anchor per store (None: every candidate).
    max_items : int
        Largest bundle (2 or more items).
    inactive_weeks : float
        A SKU not sold in the last this many weeks of the data is not used.
    season : str, optional
        Campaign season: bundles with an item of another season are left out;
        the reason line names the season for bundles with an item of it.
    gift_sku : str, optional
        Gift for kits instead of the department's cheapest bag or pouch.
    weeks : float or None
        Period of the counts: the last ``weeks`` weeks of the data (None: all).
    min_lift : float
        Lift every supporting rule needs (see the module docstring).
    min_size_lift : float
        Size-adjusted lift every rule of a set needs (:func:`size_gate`;
        default :data:`MIN_SIZE_LIFT`, 1 keeps every significant set).
    allow_redundant : bool
        Accept redundant supporting rules.
    as_of : date-like, optional
        Judge offers as of this day: later lines are ignored, the counting
        window ends here (default: the last date in the data).
    season_min_lift : float, optional
        In-season gate (default 1): an offer is recommended only when, in the
        counting window before ``as_of`` (the season it would run in), its
        anchor tickets hold the add-ons at least this many times as often as
        the tickets of the set's shopping trip do (:func:`trip_gate`),
        significantly (Fisher exact, p <= the run's FDR level), and at least
        :data:`SEASON_MIN_SETS` tickets hold the whole set. A summer kit mined
        over a year is not offered in December, nor is its sub-kit on the
        handful of December tickets that happen to hold it.
    known_launches : iterable of launch records
        Their promoted store-periods are left out of every count
        (:func:`recommender.launch.exclude_launches`): a promotion's takers are
        not "customers who already buy the set".
    currency : str, optional
        ISO 4217 code for the copy; default from the catalog, the policy or
        the run manifest (:func:`recommender.money.resolve_currency`), else none.
    progress : callable, optional
        ``progress(done, total, message)``.
    mix_match : bool
        At SKU level, offer "any 2 for X" on the variant families the
        variants gate found (``discount_type = "mix_match"``, see
        :mod:`recommender.mix_match`); ``attrs["summary"]["mix_match"]``
        counts families and offers.

    Returns
    -------
    DataFrame
        :data:`BUNDLE_COLUMNS`, sorted by store, then rank (1 = best);
        ``attrs["summary"]`` counts candidates, offers and what each gate
        removed (``gates``: :data:`CANDIDATE_GATES` then :data:`OFFER_GATES`),
        what was filled from the receipts (``catalog``), the ``currency`` and
        plain ``notices`` (e.g. that costs are assumed). Suspected
        non-products (the run's items table, else detected on ``lines``) are
        never offered unless the policy's ``keep_non_products`` names them.

    Examples
    --------
    Tea is bought with cups by 30 customers and with bread by 50: the cup has
    the larger gap (50 tea tickets without it) and the smaller giveaway (30
    tickets already with both), so it makes the better offer.

    >>> import pathlib, tempfile
    >>> from recommender.pipeline import mine, MiningParams
    >>> from recommender.runs import write_run, read_run
    >>> baskets = [("tea", "cup")] * 30 + [("tea", "bread")] * 50 + [("x", "y")] * 320
    >>> lines = pd.DataFrame([{"receipt_id": str(i), "sku": s} for i, b in enumerate(baskets) for s in b])
    >>> cat = pd.DataFrame({"sku": ["tea", "cup", "bread", "x", "y"], "department": "grocery",
    ...                     "price": [20.0, 10, 5, 1, 1], "unit_cost": [10.0, 4, 2, 0.5, 0.5]})
    >>> res = mine(lines, cat, MiningParams(min_count=10))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> _ = write_run(out, itemsets_df=res.itemsets, rules_df=res.rules, manifest=res.manifest)
    >>> b = build_bundles(read_run(out), lines, cat, max_per_anchor=None)
    >>> b[["items", "gap_tickets", "set_tickets"]].values.tolist()  # x and y always together: no gap, no offer
    [[('tea', 'cup'), 50, 30], [('tea', 'bread'), 30, 50]]
    >>> bool(b.loc[0, "expected_profit"] > b.loc[1, "expected_profit"])
    True

    (With the default 5% smallest noticeable saving neither offer pays in so
    small a shop, so neither is recommended; the cup still ranks first.)
    """
    t0 = time.perf_counter()
    say = progress or (lambda done, total, message: None)
    policy = policy or Policy()
    if max_per_anchor is not None and int(max_per_anchor) < 1:
        raise ValueError("max_per_anchor must be >= 1 or None")
    if top is not None and int(top) < 1:
        raise ValueError("top must be >= 1 or None")
    if not float(min_size_lift) >= 0:
        raise InputError(f"--min-size-lift {min_size_lift} must be a number >= 0", hint="the default is 1.5")
    level = run.manifest.get("level", "sku")
    lines = _check_lines(lines)
    n_promoted = 0
    if _is_spark(lines):
        from recommender.spark import bundle_counts

        lines, as_of_day = bundle_counts.as_of(lines, as_of)
        all_stores = bundle_counts.stores(lines)
        if known_launches:
            lines, n_promoted = bundle_counts.exclude_launches(lines, list(known_launches))
        lines = lines.persist()
    else:
        lines, as_of_day = _as_of(lines, as_of)
        all_stores = set(lines["store_id"].dropna().astype(str)) if "store_id" in lines else set()
        if known_launches:
            from recommender.launch import exclude_launches

            lines = exclude_launches(lines, list(known_launches))
            n_promoted = int(lines.attrs.get("excluded_lines", 0))
    season_min_lift = 1.0 if season_min_lift is None else float(season_min_lift)
    if catalog is not None and "sku" not in catalog.columns:
        raise InputError("the catalog has no sku column")
    currency = resolve_currency(currency, catalog, policy, run.manifest)
    catalog, filled, excluded = _receipts_catalog(run, lines, catalog, policy)
    say(0, 1, "finding candidate bundles")
    cands = candidate_itemsets(run, max_items=max_items, min_lift=min_lift, allow_redundant=allow_redundant,
                               exclude=excluded if level == "sku" else ())
    fdr = float(run.manifest.get("parameters", {}).get("fdr", 0.05) or 0.05)
    cands = trip_gate(cands, lines, catalog, level, fdr=fdr)
    rows_by_sku = _catalog_rows(catalog)
    info = eligible_skus(lines, catalog, inactive_weeks)
    if not (info["price"] > 0).any():
        raise InputError("bundles need a regular price per item: the receipts have no unit price or line amount "
                         "and no catalog gives a price",
                         hint="map the price column (--map unit_price=COLUMN or line_amount=COLUMN) or pass "
                              "--catalog with a price column; rules and suggestions work without prices")
    info.loc[info.index.isin(list(excluded)), "usable"] = False  # never a fee as a label's best seller
    sku_names = {s: _name(r, "en") for s, r in rows_by_sku.items()}
    # the file's names at their regular prices: which shared words name a product (variants, theme copy)
    vocabulary = Vocabulary(list(sku_names.values()), [info["price"].get(s) for s in sku_names])
    if level == "sku":
        # the regular price, or the most common till price (a regular price from a few recent lines can stray)
        cands = variant_gate(cands, sku_names, info["price"],
                             regular_prices(lines, pd.DataFrame({"sku": pd.Series(dtype="string")})),
                             vocabulary=vocabulary)
    cands = size_gate(cands, lines, catalog, level, min_size_lift=min_size_lift, fdr=fdr)
    no_price = set(_labels(pd.Series(info.index[~(info["price"] > 0).to_numpy(dtype=bool)], dtype="string"),
                           catalog, level).dropna().astype(str))
    usable = info.index[info["usable"].to_numpy(dtype=bool)]
    best = store_best_sellers(lines, catalog, level, usable, BEST_SELLER_WEEKS)
    best_sku = {(s, lab): sku for s, lab, sku in zip(best["store"], best["label"], best["sku"])}
    if _is_spark(lines):
        from recommender.spark.bundle_counts import SparkTickets

        tickets = SparkTickets(lines, catalog, level, info, weeks, trip_departments(catalog, level))
    else:
        tickets = _Tickets(lines, catalog, level, info, weeks, trip_departments(catalog, level))
    gifts = _gift_candidates(catalog, info, gift_sku)
    all_labels = {x for t in cands["level_items"] for x in t}
    names_en, names_zh = _label_names(catalog, level, all_labels, rows_by_sku)
    subs_of: dict = {}
    for a, b in zip(run.substitutes.get("item_a", []), run.substitutes.get("item_b", [])):
        subs_of.setdefault(str(a), set()).add(str(b))
        subs_of.setdefault(str(b), set()).add(str(a))

    # Count every candidate in every store first (cheap), then price (costly) best-bound first.
    tickets.prepare([(c.level_items, c.addons) for c in cands.itertuples(index=False)], subs_of)
    jobs = []
    skipped = {"no_price": 0, "not_stocked": 0, "other_season": 0, "no_gap_tickets": 0}
    for c in cands.itertuples(index=False):
        labels = c.level_items
        counts = tickets.offer_counts(labels, c.addons, subs_of)
        g_s, s_s, lack_n, loss_total, units = (counts[k] for k in ("gap", "set", "lack", "loss", "units"))
        in_season = _season_verdict(*counts["season"], season_min_lift, fdr)
        warn = [(addon, sorted(subs_of[addon])) for addon in c.addons if subs_of.get(addon)]
        for si, store in enumerate(tickets.stores):
            skus = [best_sku.get((store, lab)) for lab in labels]
            if any(s is None for s in skus) or len(set(skus)) < len(skus):
                # not every item sells there (or one SKU stands for two labels), or it has no price to offer at
                lacking = [lab for lab, s in zip(labels, skus) if s is None]
                skipped["no_price" if any(lab in no_price for lab in lacking) else "not_stocked"] += 1
                continue
            rows = [rows_by_sku.get(s, {"sku": s}) for s in skus]
            season_here = _season_of(rows, season)
            if season_here is False:
                skipped["other_season"] += 1
                continue
            G, S = int(g_s[si]), int(s_s[si])
            if G == 0:
                skipped["no_gap_tickets"] += 1  # every anchor ticket already holds the set: nobody to win
                continue
            prices = [float(info.at[s, "price"]) for s in skus]
            margins = [float(info.at[s, "margin"]) for s in skus]
            M = (sum(margins[j + 1] * lack_n[j][si] for j in range(len(c.addons))) / G) if G else sum(margins[1:])
            L = loss_total[si] / G if G else 0.0
            revenue = (sum(prices[j + 1] * lack_n[j][si] for j in range(len(c.addons))) / G) if G else 0.0
            u_add = float(units[si]) / G if G else 0.0
            dept = rows[0].get("department")
            # the ranking value is the profit times the share of the pairing beyond basket size (<= 1)
            bound = policy.curve_for(dept).q_max * G * max(M - L, 0.0) * _beyond_size(c.size_adjusted_lift)
            jobs.append({"c": c, "store": store, "si": si, "skus": skus, "rows": rows, "season": season_here,
                         "G": G, "S": S, "M": M, "L": L, "revenue": revenue, "units": u_add, "prices": prices,
                         "bound": bound, "warn": warn, "dept": dept, "in_season": in_season})
    say(0, max(1, len(jobs)), f"pricing up to {len(jobs):,} bundle offers")

    groups: dict = {}
    for j in jobs:
        groups.setdefault((j["si"], j["c"].anchor), []).append(j)
    out, done, priced = [], 0, 0
    for key in sorted(groups, key=lambda k: (k[0], k[1])):
        group = sorted(groups[key], key=lambda j: (-j["bound"], j["c"].level_items))
        kept = []
        for j in group:
            if max_per_anchor is not None and len(kept) >= max_per_anchor:
                floor = sorted((r["_key"] for r in kept), reverse=True)[max_per_anchor - 1]
                if floor[0] and j["bound"] <= floor[1]:
                    done += 1
                    continue  # cannot beat the offers already kept
            row = _price(j, policy, gifts, gift_sku, info, level, names_en, names_zh, tickets, currency,
                         vocabulary=vocabulary)
            if row["recommended"] and not j["in_season"][0]:
                row.update(recommended=False, reason_not_recommended=j["in_season"][1],
                           _key=(False, row["_key"][1]))
            priced += 1
            kept.append(row)
            done += 1
            if done % 200 == 0:
                say(done, len(jobs), f"priced {done:,} of {len(jobs):,} offers")
        kept.sort(key=lambda r: r["_key"], reverse=True)
        out.extend(kept if max_per_anchor is None else kept[:max_per_anchor])
    say(len(jobs), max(1, len(jobs)), f"{len(out):,} bundles")
    mix_summary = {"families": 0, "offers": 0}
    if mix_match and level == "sku":
        from recommender.mix_match import mix_match_offers

        mixed, mix_summary = mix_match_offers(
            cands.attrs.get("variant_pairs", ()), lines, info, rows_by_sku, policy, level=level,
            weeks=weeks, currency=currency, stores=tickets.stores, store_tickets=tickets.store_tickets,
            excluded=excluded, vocabulary=vocabulary)
        out.extend(r for r in mixed if season is None or _season_of([rows_by_sku.get(x, {"sku": x})
                                                                         for x in r["items"]], season) is not False)
    portfolio = None
    if not getattr(policy, "allow_stacking", False):
        out, portfolio = _no_stacking(out)
    frame = _frame(out, tickets, top)
    if hasattr(tickets, "close"):
        tickets.close()  # Spark: release the counting window's cached lines
    gates = {**cands.attrs.get("gates", {}), **skipped,
             "not_recommended": int((~frame["recommended"].astype(bool)).sum()) if len(frame) else 0}
    sources = frame["cost_source"].value_counts().to_dict() if len(frame) else {}
    frame.attrs["summary"] = {"candidates": int(len(cands)), "stores": len(tickets.stores),
                              "offers_counted": len(jobs), "offers_priced": priced,
                              "skipped_not_stocked": skipped["not_stocked"],
                              "skipped_other_season": skipped["other_season"], "rows": int(len(frame)),
                              "as_of": as_of_day, "out_of_season": int(sum(not j["in_season"][0] for j in jobs)),
                              "known_launches": [r.get("launch_id") for r in known_launches or ()],
                              "promoted_lines_left_out": n_promoted,
                              "stores_without_clean_counts": sorted(all_stores - {str(x) for x in tickets.stores}),
                              "counting_note": ("promoted store-periods of known launches left out" if known_launches
                                                else "no launch known: counts may include promoted store-periods"),
                              "gates": gates, "catalog": filled, "currency": currency, "mix_match": mix_summary,
                              "portfolio": _portfolio_summary(portfolio),
                              "cost_source": {k: int(v) for k, v in sources.items()},
                              "suspected_non_products_excluded": sorted(excluded),
                              "notices": receipts_notices(filled, currency, excluded),
                              "seconds": round(time.perf_counter() - t0, 4)}
    return frame


def _portfolio_summary(per_store):
    """How the stores' offers were chosen, for the manifest: per store and in total."""
    if per_store is None:
        return {"method": "stacking allowed", "stores": {}}
    methods = {v["method"] for v in per_store.values()}
    return {"method": "greedy" if "greedy" in methods else "exact",
            "expected_profit": float(sum(v["expected_profit"] for v in per_store.values())),
            "greedy_expected_profit": float(sum(v["greedy_expected_profit"] for v in per_store.values())),
            "stores": per_store}


def _receipts_catalog(run, lines, catalog, policy):
    """The catalog completed from the receipts, the fill report, and the non-product SKUs to leave out."""
    from recommender.catalog import clean_catalog, complete_catalog
    from recommender.items import item_table

    if len(run.items):
        items = run.items
    elif _is_spark(lines):
        from recommender.spark.items import spark_items

        items = spark_items(lines, "name" in lines.columns)[0]
    else:
        items = item_table(lines)
    if catalog is not None:
        catalog = clean_catalog(catalog)
    completed, filled = complete_catalog(catalog, items, policy)
    keep = {str(x).upper() for x in policy.keep_non_products}
    flagged = completed.loc[completed["suspected_non_product"].astype(bool), "sku"].astype(str)
    excluded = {s for s in flagged if s.upper() not in keep}
    filled["suspected_non_products"] = int(len(flagged))
    filled["non_products_kept"] = sorted(set(flagged) - excluded)
    return completed, filled, excluded


def receipts_notices(filled: dict, currency=None, excluded=()) -> list[str]:
    """Plain sentences on what the bundles assumed, for the CLI, the exports and the dashboard.

    >>> receipts_notices({"catalog_given": False, "skus": 10, "filled": {"name": 10, "price": 10, "unit_cost": 10},
    ...                   "assume_margin": 0.35}, None, ["POST"])[0]
    'Costs are assumed: 10 of 10 items have no unit cost in a catalog, so a 35% gross margin was assumed (--assume-margin). Check the offers against real costs before launch.'
    """
    out = []
    n, got = int(filled.get("skus", 0)), filled.get("filled", {})
    if got.get("unit_cost"):
        out.append(f"Costs are assumed: {got['unit_cost']:,} of {n:,} items have no unit cost in a catalog, so a "
                   f"{100 * float(filled.get('assume_margin', 0)):.0f}% gross margin was assumed (--assume-margin). "
                   "Check the offers against real costs before launch.")
    if got.get("price"):
        out.append(f"Regular prices of {got['price']:,} items are the recent median unit price on the receipts.")
    if got.get("name"):
        out.append(f"Names of {got['name']:,} items are the names on the receipts.")
    if currency is None:
        out.append("No currency known: amounts carry no symbol (pass --currency CODE).")
    if excluded:
        out.append(f"{len(excluded):,} suspected non-products (fees, postage, adjustments) are never offered; "
                   "keep one with --keep-non-products CODE.")
    return out


def _price(j, policy, gifts, gift_sku, info, level, names_en, names_zh, tickets, currency=None, *,
           vocabulary=None) -> dict:
    c, rows, skus = j["c"], j["rows"], j["skus"]
    items = [{"sku": s, "price": p, "unit_cost": float(info.at[s, "unit_cost"]),
              "role": "anchor" if k == 0 else "addon", "department": r.get("department")}
             for k, (s, p, r) in enumerate(zip(skus, j["prices"], rows))]
    kind = reason_type(rows, season=j["season"], vocabulary=vocabulary)
    gift = None
    if kind in KIT_TYPES:
        gift = _pick_gift(gifts, j["dept"], skus, gift_sku)
    gift_item = None if gift is None else {"sku": str(gift["sku"]), "price": gift["price"],
                                           "unit_cost": gift["unit_cost"]}
    offer = best_offer(items, j["G"], j["S"], policy, substitute_margin_loss=j["L"], gift=gift_item,
                       added_margin=j["M"] if j["G"] else None)
    d = offer.best
    is_gift = d.discount_type == "gift"
    why = reasons_for(rows, d, season=j["season"], gift=gift if is_gift else None, currency=currency,
                      vocabulary=vocabulary)
    a_en, a_zh = names_en[c.anchor], names_zh[c.anchor]
    evidence = {lang: evidence_line(a, [n[x] for x in c.addons], c.count, c.antecedent_count, lang)
                for lang, a, n in (("en", a_en, names_en), ("zh", a_zh, names_zh))}
    q = d.expected_take_rate
    given_up = 0.0 if is_gift else d.saving
    n_tickets = max(int(tickets.store_tickets[j["si"]]), 1)
    atv, upt = [], []
    for qq in (0.5 * q, min(1.0, 1.5 * q)):
        takers = qq * j["G"]
        atv.append((takers * (j["revenue"] - given_up) - j["S"] * given_up) / n_tickets)
        # units sold: a free gift is handed out, not sold, so it does not count in UPT
        upt.append(takers * j["units"] / n_tickets)
    warning = None
    if j["warn"]:
        parts = [f"{a} may replace {', '.join(o)}" for a, o in j["warn"]]
        warning = "; ".join(parts) + f" (margin lost per taker about {j['L']:.2f})"
    flat = d.to_row()
    value = float(d.expected_profit) * _beyond_size(c.size_adjusted_lift)
    return {
        "bundle_id": bundle_id(c.level_items, j["store"], level), "store": j["store"], "level": level,
        "items": tuple(skus), "level_items": tuple(c.level_items),
        "names": tuple(_name(r, "en") for r in rows), "names_zh": tuple(_name(r, "zh") for r in rows),
        "anchor": skus[0], "anchor_label": c.anchor, "addons": tuple(skus[1:]),
        "regular_price": d.regular_price, "bundle_price": d.bundle_price, "discount_type": d.discount_type,
        "discount_label": named_label(d, _offer_item_name(d, gift, skus, rows)), "saving": d.saving, "discount_pct": d.discount_pct,
        "binding_constraint": d.binding_constraint, "expected_profit": d.expected_profit,
        "break_even_take_rate": d.break_even_take_rate, "expected_take_rate": q, "recommended": bool(d.recommended),
        "reason_not_recommended": d.reason_not_recommended, **why,
        "evidence_en": evidence["en"], "evidence_zh": evidence["zh"],
        "gap_tickets": j["G"], "set_tickets": j["S"], "anchor_tickets": j["G"] + j["S"],
        "store_tickets": int(tickets.store_tickets[j["si"]]), "added_margin": float(j["M"]),
        "count": int(c.count), "antecedent_count": int(c.antecedent_count), "confidence": float(c.confidence),
        "lift": float(c.lift), "p_value": float(c.p_value), "q_value": float(c.q_value),
        "substitute_warning": warning, "substitute_margin_loss": float(j["L"]),
        "expected_atv_uplift_low": min(atv), "expected_atv_uplift_high": max(atv),
        "expected_upt_uplift_low": min(upt), "expected_upt_uplift_high": max(upt),
        "gift_sku": None if gift is None else str(gift["sku"]),
        "components": flat["components"], "guardrails": flat["guardrails"], "offers": _offers_json(offer.decisions),
        "period_start": None if tickets.start is None else str(tickets.start),
        "period_end": None if tickets.end is None else str(tickets.end),
        # what a shelf card says of a gift offer: "free GIFT NAME (worth X)"
        "gift_name": _text(gift.get("name")) or str(gift["sku"]) if is_gift else None,
        "gift_name_zh": _text(gift.get("name_zh")) or _text(gift.get("name")) or str(gift["sku"]) if is_gift else None,
        "gift_value": float(gift["price"]) if is_gift else None,
        "cost_source": "assumed" if any(r.get("cost_source") == "assumed" for r in rows) else "catalog",
        "currency": currency, "size_adjusted_expected": float(c.size_adjusted_expected),
        "size_adjusted_lift": float(c.size_adjusted_lift), "incremental_value": value,
        "_key": (bool(d.recommended), value),
    }


def _beyond_size(size_adjusted_lift) -> float:
    """Share of the set's receipts that basket size does not explain: 1 - expected / observed, in [0, 1].

    >>> _beyond_size(4.0), _beyond_size(0.8), _beyond_size(math.inf)
    (0.75, 0.0, 1.0)
    """
    x = float(size_adjusted_lift)
    return 1.0 if math.isinf(x) else min(max(1.0 - 1.0 / x, 0.0), 1.0) if x > 0 else 0.0


def _offer_item_name(d, gift, skus, rows):
    """The name of the item an offer discounts or gives away: labels say "free First-aid pouch", not a SKU."""
    if d.discount_type == "gift" and gift is not None:
        return _text(gift.get("name")) or None
    if d.discounted_sku in skus:
        return _text(rows[skus.index(d.discounted_sku)].get("name")) or None
    return None


def _frame(rows, tickets, top) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in BUNDLE_COLUMNS})
    frame = pd.DataFrame(rows)
    frame["_rec"] = frame["_key"].map(lambda k: k[0])
    order = {s: i for i, s in enumerate(tickets.stores)}
    frame["_store"] = frame["store"].map(lambda s: order[s])
    # mix & match offers (variants of one product, recommender.mix_match) have no size-adjusted evidence of a
    # pairing: they rank by their expected profit
    for col in ("size_adjusted_expected", "size_adjusted_lift", "incremental_value"):
        if col not in frame:
            frame[col] = np.nan
    frame["incremental_value"] = frame["incremental_value"].astype(float).fillna(frame["expected_profit"].astype(float))
    frame = frame.sort_values(["_store", "_rec", "incremental_value", "bundle_id"],
                              ascending=[True, False, False, True], kind="stable")
    frame["rank"] = frame.groupby("_store").cumcount() + 1
    if top is not None:
        frame = frame[frame["rank"] <= int(top)]
    frame = frame.drop(columns=["_key", "_rec", "_store"]).reset_index(drop=True)
    for col in ("items", "level_items", "names", "names_zh", "addons"):
        values = np.empty(len(frame), dtype=object)
        values[:] = list(frame[col])
        frame[col] = values
    frame["store"] = frame["store"].astype(object)
    return frame[list(BUNDLE_COLUMNS)]


def _plain(value):
    """A parameter as the manifest stores it (a policy as its fields)."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return repr(value)


def _load_options(manifest: dict):
    """LoadOptions recorded by the run (``input.load_options``), if any, so the bundles see the same receipts."""
    from dataclasses import fields

    from recommender.receipts import LoadOptions

    recorded = manifest.get("input", {}).get("load_options")
    if not isinstance(recorded, dict):
        return None
    known = {f.name for f in fields(LoadOptions)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in known}
    return LoadOptions(**kwargs)


def bundles_for_run(run_dir, receipts, catalog, *, load_options=None, **kwargs) -> tuple[pd.DataFrame, Path]:
    """Build the bundles of a run folder and store them in it (``bundles.csv`` / ``bundles.parquet``).

    Parameters
    ----------
    run_dir : path
        A run folder written by ``recommender mine``.
    receipts : path, DataFrame or None
        The receipts file (loaded with ``load_options``) or clean lines; None:
        the run manifest's input path (``input.path``).
    catalog : path, DataFrame or None
        None: the manifest's ``input.catalog`` path, if any; without one the
        catalog is built from the receipts (see :func:`build_bundles`).
    load_options : recommender.receipts.LoadOptions, optional
        How to read a receipts path (e.g. the months the run was mined on);
        default: the manifest's ``input.load_options`` when recorded, else the
        loader's defaults.
    **kwargs
        Passed to :func:`build_bundles`.

    Returns
    -------
    (DataFrame, Path)
        The bundles and the run folder, re-written atomically with its tables
        and a ``bundles`` section in the manifest.
    """
    from recommender.runs import read_run, write_run

    run = read_run(run_dir)
    if catalog is None:
        catalog = run.manifest.get("input", {}).get("catalog")
    if isinstance(catalog, (str, Path)):
        from recommender.catalog import load_catalog

        catalog = load_catalog(catalog)
    if receipts is None:
        receipts = run.manifest.get("input", {}).get("path")
        if not receipts:
            raise InputError("the run manifest names no receipts file", path=run.path, hint="pass --receipts PATH")
    if isinstance(receipts, (str, Path)):
        from recommender.receipts import load_receipts

        lines = load_receipts(receipts, load_options or _load_options(run.manifest)).lines
    else:
        lines = receipts
    t = time.perf_counter()
    frame = build_bundles(run, lines, catalog, **kwargs)
    manifest = {k: v for k, v in run.manifest.items() if k not in ("files", "tables")}
    manifest.setdefault("mined_at", manifest.get("created_at"))
    params = {k: _plain(v) for k, v in kwargs.items() if k != "known_launches"}  # ids are in the summary
    manifest["bundles"] = {"parameters": params, **frame.attrs.get("summary", {}),
                           "recommended": int(frame["recommended"].astype(bool).sum()) if len(frame) else 0,
                           "seconds": round(time.perf_counter() - t, 4)}
    tables = {**run.tables, "bundles": frame}
    path = write_run(run.path, itemsets_df=run.itemsets, rules_df=run.rules, substitutes_df=run.substitutes,
                     manifest=manifest, extra_tables=tables)
    return frame, path
