"""What else to offer: ranked add-ons for a basket in progress.

In: a run folder (rules and substitutes at the run's level, optional bundles
table), optionally the catalog and the clean receipt lines the run was mined
from. Out: for a basket of SKUs, ``k`` suggested SKUs, best first, each with
its score, the source that put it there, a short reason true to the counts,
the rules behind it and the live bundle offer that covers it.

:class:`Recommender` does the slow work once (rule indexes keyed by antecedent,
store and segment best sellers, attribute groups, customer histories); each
:meth:`Recommender.suggest` call is then a handful of dictionary look-ups.

Blend
-----
Every source estimates the chance that the shopper adds item ``y``; the score
is the weighted sum ::

    score(y) = W_RULE * r(y) + W_HISTORY * h(y) + W_ATTRIBUTE * a(y) * p(y) + W_BESTSELLER * p(y)

``r``  confidence of the most specific rule whose antecedent the basket
       contains (longest antecedent first, then confidence, then lift), shrunk
       towards the base rate by :data:`PRIOR_RECEIPTS` pseudo-receipts so a rule
       seen 12 times does not outrank one seen 1,200 times; at a level above SKU
       the rule's item is the store's best-selling SKU of that group and ``r``
       is the rule confidence times that SKU's share of its group's receipts.
``h``  the customer's earlier receipts that contain ``y`` divided by their
       receipts plus :data:`PRIOR_VISITS` (only with a customer id and lines).
``a``  1 when ``y`` shares a need tag or a category (but not the subcategory:
       those are alternatives, not add-ons) with a basket item, else 0.
``p``  share of the store's receipts that contain ``y`` (all stores when no
       store is given); with a known customer, the mean of that and the share
       among receipts of the customer's value tier (recency, frequency, spend).

:data:`WEIGHTS` holds ``W_*``: rule 1, history 0.5, attribute 1, best seller
0.05 -- the *fixed* blend, used when no blend was learned for the run.
Popularity alone is a tie-breaker and a filler there. The source shown is the
largest term. Best sellers fill the list, so any basket (also an empty one)
gets ``k`` suggestions while the catalog has that many items left.

Learned blend
-------------
``recommender blend RUN_DIR`` (and every ``recommender evaluate``) learns one
weight per source on a validation period inside the training data (see
:mod:`recommender.blend`), including two item-to-item sources:

``e``  EASE^R scores (:func:`recommender.similarity.ease`), reason "often bought with X";
``s``  cosine item-kNN scores, same reason.

Each source is divided by its best allowed item for the basket
(:func:`normalise`) and the weighted sum ranks; a source whose weight is zero
does not join. ``rank_by="margin"`` orders by probability (the share of
validation baskets whose wanted item sat at that score rank) x unit margin (catalog price - unit cost, else
:data:`DEFAULT_MARGIN_RATE` x the median price paid).

Never suggested: items in the basket, substitutes of basket items
(``run.substitutes``), suspected non-products (the run's items table, else
:func:`recommender.nonproducts.detect_non_products` on the lines) and
non-consumables the customer already bought (see :func:`is_consumable`). Customer ids never appear in any output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Recommender", "suggest", "normalise", "SOURCES", "WEIGHTS", "PRIOR_RECEIPTS", "CONSUMABLE", "DURABLE", "is_consumable",
           "value_tiers", "PRIOR_VISITS"]

#: Weights of the blend (see the module docstring), chosen on a validation month inside the training data.
WEIGHTS = {"rule": 1.0, "history": 0.5, "attribute": 1.0, "bestseller": 0.05}
#: Pseudo-receipts at the base rate added to every rule's counts before its confidence is used as a score.
PRIOR_RECEIPTS = 5.0
#: Pseudo-visits without the item added to a customer's history: one purchase in one visit is weak evidence.
PRIOR_VISITS = 5.0
#: Departments / categories whose goods are used up and bought again (matched case-insensitively).
CONSUMABLE = frozenset({"pharmacy", "grocery", "food", "fresh", "beverages", "drinks", "dairy", "bakery", "snacks",
                        "staples", "supplements", "remedies", "first aid", "health", "beauty", "personal care",
                        "household", "cleaning", "baby", "pet", "tobacco", "alcohol", "basics", "socks",
                        "stationery"})
#: Departments / categories of durable goods: one is enough, so a customer who bought it is not offered it again.
DURABLE = frozenset({"apparel", "clothing", "fashion", "shoes", "footwear", "outerwear", "shirts", "trousers",
                     "accessories", "electronics", "appliances", "furniture", "home", "jewellery", "jewelry",
                     "toys", "books", "sports"})
SOURCES = ("rule", "history", "attribute", "bestseller", "ease", "itemknn")
#: The sources of the fixed blend (used when no blend was learned for the run).
FIXED_SOURCES = ("rule", "history", "attribute", "bestseller")
#: Files a learned blend adds to a run folder (see :mod:`recommender.blend`).
BLEND_FILE, SIMILARITY_FILE = "blend.json", "similarity.npz"
#: Unit margin as a share of the price when the catalog has no cost (only for ``rank_by="margin"``).
DEFAULT_MARGIN_RATE = 0.3
TIERS = ("high", "middle", "low")


def is_consumable(row: dict) -> bool:
    """Whether a catalog row is a consumable (bought again and again).

    The most specific known level decides: the category, then the department,
    is looked up in :data:`CONSUMABLE` and :data:`DURABLE`; socks are a
    consumable even in apparel. Unknown goods count as consumables, so a
    customer's history never hides an item for lack of a catalog.

    >>> is_consumable({"department": "apparel", "category": "shirts"})
    False
    >>> is_consumable({"department": "apparel", "category": "basics"})
    True
    >>> is_consumable({"department": "pharmacy"}), is_consumable({})
    (True, True)
    """
    for level in ("subcategory", "category", "department"):
        value = row.get(level)
        if isinstance(value, str):
            v = value.strip().lower()
            if v in CONSUMABLE:
                return True
            if v in DURABLE:
                return False
    return True


def value_tiers(lines: pd.DataFrame) -> pd.Series:
    """Customer value tier (high, middle, low) from recency, frequency and spend.

    Each customer gets the percentile rank of days since the last receipt
    (fewer is better), number of receipts and total spend; the tier is the
    third of the mean rank. Lines without a customer id are ignored.

    >>> lines = pd.DataFrame({"receipt_id": ["1", "2", "3", "4"], "customer_id": ["a", "a", "b", "c"],
    ...                       "timestamp": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-01-01", "2025-02-01"]),
    ...                       "line_amount": [10.0, 20.0, 5.0, 1.0]})
    >>> value_tiers(lines).to_dict()
    {'a': 'high', 'b': 'middle', 'c': 'middle'}
    """
    known = lines[lines["customer_id"].notna()]
    if known.empty:
        return pd.Series(dtype=object)
    amount = known["line_amount"] if "line_amount" in known.columns else pd.Series(np.nan, index=known.index)
    ts = known["timestamp"] if "timestamp" in known.columns else pd.Series(pd.NaT, index=known.index)
    per = pd.DataFrame({"c": known["customer_id"].astype(str), "r": known["receipt_id"], "t": ts,
                        "m": amount.fillna(0.0)}).groupby("c").agg(last=("t", "max"), freq=("r", "nunique"),
                                                                   spend=("m", "sum"))
    recency = per["last"].rank(pct=True) if per["last"].notna().any() else pd.Series(0.5, index=per.index)
    score = (recency.fillna(0.0) + per["freq"].rank(pct=True) + per["spend"].rank(pct=True)) / 3
    tier = np.where(score > 2 / 3, "high", np.where(score > 1 / 3, "middle", "low"))
    return pd.Series(tier, index=per.index, dtype=object)


def _as_tuple(value) -> tuple:
    if isinstance(value, tuple):
        return value
    if isinstance(value, (list, np.ndarray)):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return tuple(str(v) for v in json.loads(text))
        return tuple(s.strip() for s in text.split(",") if s.strip())
    return ()


def normalise(terms: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Each source's positive scores divided by its largest among the allowed SKUs.

    Scales differ (a confidence, a share of receipts, a regression weight), so
    the learned blend weighs scores relative to the best candidate of each source.

    >>> normalise(np.array([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0]]), np.array([True, True, True])).tolist()
    [[1.0, 0.5, 0.0], [0.0, 0.0, 0.0]]
    """
    t = np.clip(terms, 0.0, None)
    top = np.where(allowed, t, 0.0).max(axis=1) if t.shape[1] else np.zeros(len(t))
    return t / np.where(top > 0, top, 1.0)[:, None]


def _floor_percent(count: int, of: int) -> str:
    pct = 100 * int(count) // int(of) if of else 0
    return "under 1%" if pct < 1 else f"{pct}%"


def _clean_text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


class Recommender:
    """Suggest add-ons for baskets; build once with :meth:`from_run`, then call :meth:`suggest`.

    Items are coded once; each suggestion is a few numpy operations over the
    rules whose antecedent the basket contains and dense per-SKU score vectors.

    Examples
    --------
    >>> from recommender.pipeline import mine, MiningParams
    >>> lines = pd.DataFrame({"receipt_id": list("11223344"), "sku": list("abababcd")})
    >>> rec = Recommender.from_run(mine(lines, params=MiningParams(min_count=2)), lines=lines)
    >>> [(s["item"], s["source"]) for s in rec.suggest(["a"], k=2)]
    [('b', 'rule'), ('c', 'bestseller')]
    """

    def __init__(self, rules: pd.DataFrame, substitutes: pd.DataFrame, manifest: dict, catalog=None, lines=None,
                 bundles: pd.DataFrame | None = None, itemsets: pd.DataFrame | None = None):
        self.level = manifest.get("level", "sku") or "sku"
        rules = rules if rules is not None else pd.DataFrame()
        self._expand_rules(rules)
        self._index_catalog(catalog, lines, itemsets)
        self._index_rules()
        self._index_substitutes(substitutes)
        self._index_sales(lines, itemsets, catalog)
        self._index_bundles(bundles)
        self._index_margins(catalog, lines)
        #: Suspected non-products (fees, postage...): never suggested.
        self.excluded = np.zeros(len(self.skus), bool)
        #: Item-to-item weights by source ("ease", "itemknn"), SKU codes x SKU codes (see :mod:`recommender.similarity`).
        self.similarity: dict = {}
        #: Learned blend weights by source (None: the fixed :data:`WEIGHTS`), and the score -> probability map.
        self.weights: dict | None = None
        self.calibration: tuple | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_run(cls, run, catalog=None, lines=None) -> "Recommender":
        """Build from a run folder path, a :class:`recommender.runs.Run` or a mining result.

        Parameters
        ----------
        run : path, Run or MiningResult
            Anything with ``rules``, ``substitutes`` and ``manifest``.
        catalog : DataFrame or path, optional
            Names, levels, need tags; required when the run is above SKU level.
        lines : DataFrame or path, optional
            Clean receipt lines: store and segment best sellers, customer history.
        """
        if isinstance(run, (str, Path)):
            from recommender.runs import read_run

            run = read_run(run)
        if isinstance(catalog, (str, Path)):
            from recommender.catalog import load_catalog

            catalog = load_catalog(catalog)
        if isinstance(lines, (str, Path)):
            from recommender.receipts import load_receipts

            lines = load_receipts(lines).lines
        tables = getattr(run, "tables", None) or {}
        rec = cls(run.rules, run.substitutes, dict(run.manifest), catalog=catalog, lines=lines,
                  bundles=tables.get("bundles"), itemsets=getattr(run, "itemsets", None))
        items = tables.get("items")
        if items is not None and "suspected_non_product" in items.columns:
            flagged = items["suspected_non_product"].fillna(False).astype(bool)
            rec.exclude(items.loc[flagged, "sku"])
        elif lines is not None and len(lines):
            from recommender.nonproducts import detect_non_products

            rec.exclude(detect_non_products(lines)["sku"])
        folder = getattr(run, "path", None)
        if folder is not None and (Path(folder) / BLEND_FILE).exists():
            from recommender.blend import load_blend

            load_blend(rec, folder)
        return rec

    def exclude(self, skus) -> "Recommender":
        """Never suggest these SKUs (suspected non-products: fees, postage, adjustments); returns ``self``."""
        codes = [self.code[s] for s in map(str, skus) if s in self.code]
        self.excluded[codes] = True
        return self

    def use_blend(self, weights: dict | None, similarity: dict, calibration=None) -> "Recommender":
        """Use learned ``weights`` (by source; None keeps the fixed ones) and ``similarity`` matrices (by source)."""
        self.weights = None if weights is None else {s: float(weights.get(s, 0.0)) for s in SOURCES}
        self.similarity = dict(similarity)
        self.calibration = None if calibration is None else np.asarray(calibration, float)
        return self

    def _index_margins(self, catalog, lines):
        """Unit margin per SKU: catalog price - unit cost, else :data:`DEFAULT_MARGIN_RATE` x the price."""
        n = len(self.skus)
        price = np.full(n, np.nan)
        cost = np.full(n, np.nan)
        if lines is not None and len(lines) and "unit_price" in lines.columns:
            med = lines.groupby(lines["sku"].astype(str))["unit_price"].median().dropna()
            codes = med.index.map(self.code)
            ok = ~pd.isna(codes)
            price[np.asarray(codes[ok], np.int64)] = med.to_numpy(float)[ok]
        if catalog is not None:
            cat = catalog.assign(sku=catalog["sku"].astype(str))
            codes = cat["sku"].map(self.code).to_numpy(np.int64)
            for col, target in (("price", price), ("unit_cost", cost)):
                if col in cat.columns:
                    v = pd.to_numeric(cat[col], errors="coerce").to_numpy(float)
                    ok = ~np.isnan(v)
                    target[codes[ok]] = v[ok]
        margin = np.where(np.isnan(cost), DEFAULT_MARGIN_RATE * price, price - cost)
        self.unit_margin = np.nan_to_num(margin, nan=0.0)
        self.margin_basis = "price - unit_cost" if not np.isnan(cost).all() else f"{DEFAULT_MARGIN_RATE} x price"

    def _expand_rules(self, rules: pd.DataFrame):
        """One row per (rule, consequent item); per (antecedent, item) the single-item rule, else the most confident."""
        if not len(rules):
            self._rules = pd.DataFrame({"ante": [], "item": [], "ncons": []})
            return
        ante = [_as_tuple(a) for a in rules["antecedents"]]
        cons = [_as_tuple(c) for c in rules["consequents"]]
        if "consequent_count" in rules.columns and "n_receipts" in rules.columns:
            base = rules["consequent_count"].to_numpy(float) / rules["n_receipts"].to_numpy(float)
        else:
            base = rules["confidence"].to_numpy(float) / rules["lift"].to_numpy(float)
        frame = pd.DataFrame({"ante": ante, "cons": cons, "count": rules["count"].to_numpy(np.int64),
                              "acount": rules["antecedent_count"].to_numpy(np.int64),
                              "conf": rules["confidence"].to_numpy(float), "lift": rules["lift"].to_numpy(float),
                              "base": base, "ncons": [len(c) for c in cons], "alen": [len(a) for a in ante]})
        frame["item"] = frame["cons"]
        if (frame["ncons"] > 1).any():
            frame = frame.explode("item", ignore_index=True)
        else:
            frame["item"] = [c[0] for c in frame["cons"]]
        frame["akey"] = ["\x1f".join(sorted(a)) for a in frame["ante"]]
        frame = frame.sort_values(["akey", "item", "ncons", "conf"], ascending=[True, True, True, False],
                                  kind="stable").drop_duplicates(["akey", "item"]).reset_index(drop=True)
        self._rules = frame

    def _index_catalog(self, catalog, lines, itemsets):
        """Code every SKU once (sorted, so code order is text order) and the run's labels."""
        from recommender.errors import InputError

        skus: set[str] = set()
        if catalog is not None:
            cat = catalog.assign(sku=catalog["sku"].astype(str))
            skus.update(cat["sku"])
        if lines is not None and len(lines):
            skus.update(lines["sku"].astype(str).unique())
        if self.level == "sku":
            skus.update(self._rules["item"])
            for a in self._rules["ante"]:
                skus.update(a)
            if itemsets is not None and len(itemsets) and not (lines is not None and len(lines)):
                skus.update(x for t in itemsets["items"] for x in _as_tuple(t))
        self.skus = sorted(skus)
        self.code = {s: i for i, s in enumerate(self.skus)}
        n = len(self.skus)
        self.names: dict[str, str] = {}
        if lines is not None and "name" in lines.columns:
            named = lines[["sku", "name"]].dropna().drop_duplicates("sku", keep="first")
            self.names.update(zip(named["sku"].astype(str), named["name"].astype(str)))
        self.durable = np.zeros(n, bool)
        self.subcat = np.full(n, -1, np.int64)
        self.groups_of: dict[int, list[tuple[str, str]]] = {}
        self.group_members: dict[tuple[str, str], np.ndarray] = {}
        if self.level == "sku":
            self.labels, self.label_code = self.skus, self.code
            self.label_of_sku = np.arange(n, dtype=np.int64)
        elif catalog is None:
            raise InputError(f"the run is at {self.level} level: suggestions need the catalog to map SKUs",
                             hint="pass --catalog PATH")
        elif self.level not in catalog.columns:
            raise InputError(f"the catalog has no {self.level!r} column for this {self.level}-level run",
                             hint="pass the catalog the run was mined with")
        if catalog is None:
            return
        codes = cat["sku"].map(self.code).to_numpy(np.int64)
        if "name" in cat.columns:
            self.names.update({s: n_ for s, n_ in zip(cat["sku"], cat["name"]) if _clean_text(n_)})
        if self.level != "sku":
            label = cat[self.level].map(_clean_text)
            self.labels = sorted(set(label.dropna()) | set(self._rules["item"]) |
                                 {x for a in self._rules["ante"] for x in a})
            self.label_code = {lab: i for i, lab in enumerate(self.labels)}
            self.label_of_sku = np.full(n, -1, np.int64)
            known = label.notna().to_numpy()
            self.label_of_sku[codes[known]] = label[known].map(self.label_code).to_numpy(np.int64)
        if "subcategory" in cat.columns:
            sub = cat["subcategory"].map(_clean_text)
            sub_codes = {v: i for i, v in enumerate(sorted(set(sub.dropna())))}
            known = sub.notna().to_numpy()
            self.subcat[codes[known]] = sub[known].map(sub_codes).to_numpy(np.int64)
        cols = [c for c in ("subcategory", "category", "department", "need") if c in cat.columns]
        members: dict[tuple[str, str], list[int]] = {}
        for code, row in zip(codes, cat[cols].to_dict("records")):
            if not is_consumable(row):
                self.durable[code] = True
            groups = []
            need = _clean_text(row.get("need"))
            if need:
                groups += [("need", t.strip()) for t in need.split(";") if t.strip()]
            category = _clean_text(row.get("category"))
            if category:
                groups.append(("category", category))
            self.groups_of[int(code)] = groups
            for g in groups:
                members.setdefault(g, []).append(int(code))
        self.group_members = {g: np.asarray(m, np.int64) for g, m in members.items()}
        self.group_sets = {g: set(m) for g, m in members.items()}

    def _index_rules(self):
        """Rule arrays grouped by antecedent: antecedent frozenset -> slice; label -> multi-item antecedents.

        Each distinct antecedent has an id (its rules are ``key_start[id]:key_end[id]``); ``single_key[label]``
        is the id of the antecedent that is that label alone (-1: none); ``item_rules[item_ptr[y]:item_ptr[y + 1]]``
        are the rules for item ``y`` in rule order.
        """
        frame = self._rules
        self.by_antecedent: dict[frozenset, tuple[int, int]] = {}
        self.key_id: dict[frozenset, int] = {}
        self.multi: dict[int, list[frozenset]] = {}
        self.single_key = np.full(len(self.labels), -1, np.int64)
        if not len(frame):
            self.r_item = np.zeros(0, np.int64)
            return
        self.r_item = frame["item"].map(self.label_code).to_numpy(np.int64)
        self.r_count = frame["count"].to_numpy(np.int64)
        self.r_acount = frame["acount"].to_numpy(np.int64)
        self.r_conf = frame["conf"].to_numpy(float)
        self.r_lift = frame["lift"].to_numpy(float)
        self.r_base = frame["base"].to_numpy(float)
        self.r_alen = frame["alen"].to_numpy(np.int64)
        self.r_ante, self.r_cons = frame["ante"].tolist(), frame["cons"].tolist()
        # One number orders a basket's rules for an item: longer antecedent, then confidence, then lift.
        self.r_prio = self.r_alen + 0.999 * self.r_conf + 1e-7 * (self.r_lift / (1.0 + self.r_lift))
        # The same order as whole numbers (0 = first; equal priorities: the rule seen on more receipts, then the
        # earlier rule), so picking a basket's best rule per item is an integer minimum.at, about 8x faster than a
        # float maximum.at on 10^4 rules.
        self.r_order = np.lexsort((np.arange(len(self.r_prio)), -self.r_count, -self.r_prio))
        self.r_rank = np.empty(len(self.r_order), np.int64)
        self.r_rank[self.r_order] = np.arange(len(self.r_order))
        keys = frame["akey"].to_numpy(object)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)]
        self.key_start, self.key_end = starts.astype(np.int64), ends.astype(np.int64)
        self.r_key = np.repeat(np.arange(len(starts), dtype=np.int64), ends - starts)
        for j, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            key = frozenset(self.label_code[x] for x in self.r_ante[s])
            self.by_antecedent[key] = (s, e)
            self.key_id[key] = j
            if len(key) > 1:
                for x in key:
                    self.multi.setdefault(x, []).append(key)
            else:
                self.single_key[next(iter(key))] = j
        self.item_rules = np.argsort(self.r_item, kind="stable")
        self.item_ptr = np.searchsorted(self.r_item[self.item_rules], np.arange(len(self.labels) + 1))

    def _index_substitutes(self, subs: pd.DataFrame):
        self.substitutes: dict[str, set[str]] = {}  # by label text, for callers and tests
        if subs is not None and len(subs):
            for a, b in zip(subs["item_a"].astype(str), subs["item_b"].astype(str)):
                self.substitutes.setdefault(a, set()).add(b)
                self.substitutes.setdefault(b, set()).add(a)
        self.sub_codes = {self.label_code[a]: np.asarray([self.label_code[b] for b in bs if b in self.label_code],
                                                         np.int64)
                          for a, bs in self.substitutes.items() if a in self.label_code}

    def _dense(self, shares: pd.Series):
        """(SKU codes by share descending then text, dense share vector)."""
        vec = np.zeros(len(self.skus))
        if len(shares):
            codes = shares.index.astype(str).map(self.code)
            ok = ~pd.isna(codes)
            vec[np.asarray(codes[ok], np.int64)] = shares.to_numpy(float)[ok]
        order = np.lexsort((np.arange(len(vec)), -vec))
        return order, vec

    def _index_sales(self, lines, itemsets, catalog):
        """Base rates per store and per value tier; customer histories (kept by id, never output)."""
        self.pop: dict = {}  # None = all stores, ("store", s), ("tier", t) -> (order, shares)
        self.customers: dict[str, tuple[np.ndarray, np.ndarray, int, str]] = {}
        self._cache: dict = {}
        self.has_sales = lines is not None and len(lines) > 0
        if not self.has_sales:
            shares = pd.Series(dtype=float)
            if itemsets is not None and len(itemsets):
                single = itemsets[itemsets["size"] == 1]
                label_share = pd.Series(single["support"].to_numpy(float),
                                        index=[_as_tuple(t)[0] for t in single["items"]])
                if self.level == "sku":
                    shares = label_share
                else:  # no sales by SKU: a group's share split evenly among its SKUs
                    lab = pd.Series(self.label_of_sku, index=self.skus)
                    lab = lab[lab >= 0].map(lambda c: self.labels[c])
                    size = lab.value_counts()
                    shares = lab.map(label_share).fillna(0.0) / lab.map(size)
            self.pop[None] = self._dense(shares)
            return
        used = pd.DataFrame({"receipt_id": lines["receipt_id"].astype(str).to_numpy(object),
                             "sku": lines["sku"].astype(str).to_numpy(object)})
        store = lines["store_id"].astype("string") if "store_id" in lines.columns else None
        used["store"] = store.fillna("").to_numpy(object) if store is not None else ""
        cust = lines["customer_id"].astype("string") if "customer_id" in lines.columns else None
        used["customer"] = cust.to_numpy(object) if cust is not None else None
        pairs = used.drop_duplicates(["receipt_id", "sku"])
        receipts = used.drop_duplicates("receipt_id")
        self.pop[None] = self._dense(pairs["sku"].value_counts() / len(receipts))
        if store is not None:
            n_by_store = receipts["store"].value_counts()
            for s, grp in pairs.groupby("store", sort=False):
                if s:
                    self.pop[("store", s)] = self._dense(grp["sku"].value_counts() / n_by_store[s])
        known = pairs[pairs["customer"].notna()] if cust is not None else pairs.iloc[:0]
        if len(known):
            tiers = value_tiers(lines)
            known = known.assign(tier=known["customer"].map(tiers), code=known["sku"].map(self.code))
            n_by_tier = known.drop_duplicates("receipt_id")["tier"].value_counts()
            for t, grp in known.groupby("tier", sort=False):
                self.pop[("tier", t)] = self._dense(grp["sku"].value_counts() / n_by_tier[t])
            visits = known.groupby("customer", sort=False)["receipt_id"].nunique()
            counts = known.groupby(["customer", "code"], sort=True).size()
            cust_index = counts.index.get_level_values(0).to_numpy(object)
            code_arr = counts.index.get_level_values(1).to_numpy(np.int64)
            n_arr = counts.to_numpy(np.int64)
            bounds = np.flatnonzero(np.r_[True, cust_index[1:] != cust_index[:-1], True])
            for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                c = cust_index[s]
                self.customers[c] = (code_arr[s:e], n_arr[s:e], int(visits[c]), tiers.get(c, "middle"))

    def _index_bundles(self, bundles):
        self.bundles_of: dict[str, list[dict]] = {}
        if bundles is None or not len(bundles):
            return
        for row in bundles.to_dict("records"):
            items = _as_tuple(row.get("items"))
            rec = row.get("recommended")
            offer = {"bundle_id": str(row.get("bundle_id")), "items": frozenset(items),
                     "store": _clean_text(row.get("store")),
                     "recommended": True if rec is None or (isinstance(rec, float) and math.isnan(rec)) else bool(rec)}
            for key in ("bundle_price", "regular_price", "saving"):
                v = row.get(key)
                offer[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
            for key in ("reason_en", "reason_zh"):
                offer[key] = _clean_text(row.get(key))
            for sku in items:
                self.bundles_of.setdefault(sku, []).append(offer)

    # ------------------------------------------------------------------ answering
    def _label_best(self, store_key):
        """Per label: the store's best-selling SKU code (-1 if none) and its share of the label's receipts."""
        hit = self._cache.get(("best", store_key))
        if hit is None:
            share = self.pop[store_key][1]
            best = np.full(len(self.labels), -1, np.int64)
            within = np.zeros(len(self.labels))
            lab = self.label_of_sku
            ok = np.flatnonzero(lab >= 0)
            if len(ok):
                order = ok[np.lexsort((ok, -share[ok], lab[ok]))]
                first = np.r_[True, lab[order][1:] != lab[order][:-1]]
                best[lab[order][first]] = order[first]
                total = np.bincount(lab[ok], weights=share[ok], minlength=len(self.labels))
                size = np.bincount(lab[ok], minlength=len(self.labels))
                top = share[order[first]]
                tot = total[lab[order][first]]
                within[lab[order][first]] = np.where(tot > 0, top / np.where(tot > 0, tot, 1),
                                                     1.0 / size[lab[order][first]])
            hit = (best, within)
            self._cache[("best", store_key)] = hit
        return hit

    def _matched_keys(self, labels: set) -> np.ndarray:
        """Ids of the antecedents that the basket's ``labels`` contain."""
        keys = self.single_key[list(labels)]
        keys = keys[keys >= 0]
        multi = {self.key_id[a] for x in labels for a in self.multi.get(x, ()) if a <= labels}
        return np.concatenate([keys, np.fromiter(multi, np.int64, len(multi))]) if multi else keys

    def _matched_rules(self, keys: np.ndarray) -> np.ndarray:
        """The rules of the antecedents ``keys``, as one array of rule indices."""
        if not len(keys):
            return np.zeros(0, np.int64)
        starts = self.key_start[keys]
        lens = self.key_end[keys] - starts
        return np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(lens.sum())

    def components(self, basket, customer=None, store=None, sources=SOURCES, scored=None):
        """Each source's raw score for every SKU, and which SKUs may be suggested.

        ``scored`` (default ``sources``) names the sources whose scores are
        computed; the others stay zero, which is all a zero blend weight makes
        of them anyway. The matched rules (shown with every suggestion) follow
        ``sources``.

        Returns
        -------
        terms : ndarray, shape (len(SOURCES), n_skus)
            ``r``, ``h``, ``a x p``, ``p``, EASE and item-kNN scores (zero for a
            source not in ``sources`` or not fitted).
        allowed : ndarray of bool
            False for basket items, their substitutes, durables the customer
            already bought and suspected non-products.
        context : dict
            What reasons and bundles need (basket codes, matched rules, store, history).
        """
        scored = sources if scored is None else scored
        basket = list(dict.fromkeys(str(s).strip() for s in basket if str(s).strip()))
        bcodes = [self.code[s] for s in basket if s in self.code]
        labels = {int(x) for x in self.label_of_sku[bcodes] if x >= 0} if bcodes else set()
        store_key = ("store", str(store)) if store is not None and ("store", str(store)) in self.pop else None
        share = self.pop[store_key][1]
        # The product rules (what may be suggested) are the same for every source, so baselines
        # and the blend compete on ranking alone; history and value tier only feed the blend.
        customer_row = self.customers.get(str(customer)) if customer is not None else None
        known = customer_row if "history" in sources else None
        tier_share = self.pop.get(("tier", known[3]), (None, None))[1] if known else None
        p = 0.5 * (share + tier_share) if tier_share is not None else share
        n = len(self.skus)

        allowed = ~self.excluded
        allowed[bcodes] = False
        banned = [self.sub_codes[x] for x in labels if x in self.sub_codes]
        if banned:
            allowed &= ~np.isin(self.label_of_sku, np.concatenate(banned))
        if customer_row:
            codes = customer_row[0]
            allowed[codes[self.durable[codes]]] = False
        h = np.zeros(n)
        if known and "history" in scored:
            codes, counts, visits, _tier = known
            h[codes] = counts / (visits + PRIOR_VISITS)

        r = np.zeros(n)
        keys = np.zeros(0, np.int64)
        if "rule" in sources and labels and len(self.r_item):
            keys = self._matched_keys(labels)
        if "rule" in scored and len(keys):
            # The most specific rule per item without sorting every matched rule (large baskets match 10^5);
            # no rule for an item already in the basket.
            idx = self._matched_rules(keys)
            none = len(self.r_rank)
            best = np.full(len(self.labels), none, np.int64)
            np.minimum.at(best, self.r_item[idx], self.r_rank[idx])
            best[list(labels)] = none
            top = self.r_order[best[best < none]]
            shrunk = ((self.r_count[top] + PRIOR_RECEIPTS * self.r_base[top])
                      / (self.r_acount[top] + PRIOR_RECEIPTS))
            if self.level == "sku":
                target, within = self.r_item[top], 1.0
            else:
                best, within_all = self._label_best(store_key)
                target, within = best[self.r_item[top]], within_all[self.r_item[top]]
                keep = target >= 0
                target, shrunk, within = target[keep], shrunk[keep], within[keep]
            r[target] = shrunk * within

        a = np.zeros(n, bool)
        if "attribute" in scored:
            for x in bcodes:
                for g in self.groups_of.get(x, ()):
                    m = self.group_members[g]
                    if self.subcat[x] >= 0:
                        m = m[self.subcat[m] != self.subcat[x]]
                    a[m] = True
            a[bcodes] = False

        sims, blocks = [], {}
        for name in ("ease", "itemknn"):
            w = self.similarity.get(name)
            if name in scored and w is not None and bcodes:
                # The basket items' rows straight from the CSR arrays (scipy's row indexing costs ~100x more).
                rows = np.asarray(bcodes, np.int64)
                starts, ends = w.indptr[rows], w.indptr[rows + 1]
                lens = ends - starts
                idx = np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(lens.sum())
                cols, vals = w.indices[idx], w.data[idx]
                blocks[name] = (np.repeat(rows, lens), cols, vals)
                sims.append(np.bincount(cols, weights=vals, minlength=n))
            else:
                sims.append(np.zeros(n))
        terms = np.vstack([r, h, a * p, p if "bestseller" in scored else np.zeros(n), *sims])
        context = {"basket": basket, "bcodes": bcodes, "store_key": store_key, "known": known, "keys": keys,
                   "labels": labels,
                   "p": p, "blocks": blocks}
        return terms, allowed, context

    def _combine(self, terms, allowed, sources):
        """(score, valid, weighted terms): the blend's score and the SKUs it may rank."""
        if sources is None and self.weights is not None:
            w = np.array([self.weights.get(s, 0.0) for s in SOURCES])
            # Only the sources with a weight: a zero row adds nothing to the sum (and costs a pass over every SKU).
            used = np.flatnonzero(w)
            weighted = np.zeros_like(terms)
            weighted[used] = w[used, None] * normalise(terms[used], allowed)
            return weighted[used].sum(axis=0), allowed, weighted
        used = FIXED_SOURCES if sources is None else sources
        w = np.array([WEIGHTS.get(s, 1.0) if s in used else 0.0 for s in SOURCES])
        weighted = w[:, None] * terms
        score = weighted.sum(axis=0)
        # Best sellers fill the list; a similarity model ranks every item (negative EASE scores included).
        fills = "bestseller" in used or any(s in used for s in ("ease", "itemknn"))
        return score, allowed if fills else allowed & (score > 0), weighted

    def suggest(self, basket, k: int = 5, customer=None, store=None, sources=None, rank_by: str = "score"
                ) -> list[dict]:
        """Ranked add-ons for ``basket`` (SKUs).

        Parameters
        ----------
        basket : iterable of str
            SKUs in the basket (unknown SKUs are kept out of the suggestions, nothing else).
        k : int
            How many suggestions.
        customer : str, optional
            Customer id: history and value tier (used, never returned).
        store : str, optional
            Store id: its best sellers.
        sources : tuple of str, optional
            None for the blend (learned weights when the run has them); a tuple of
            :data:`SOURCES` for one baseline, e.g. ``("rule",)`` for rules alone.
        rank_by : {"score", "margin"}
            ``"margin"`` orders by expected margin: probability x unit margin.

        Returns
        -------
        list of dict
            ``rank``, ``item``, ``name``, ``score``, ``source``, ``reason``, ``rules``, ``bundle``;
            with ``rank_by="margin"`` also ``probability``, ``unit_margin`` and ``expected_margin``.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, not {k}")
        if rank_by not in ("score", "margin"):
            raise ValueError(f"rank_by must be 'score' or 'margin', not {rank_by!r}")
        scored = None
        if sources is None and self.weights is not None:  # a source with weight zero cannot change the answer
            scored = tuple(s for s in SOURCES if self.weights.get(s, 0.0) != 0.0)
        terms, allowed, ctx = self.components(basket, customer, store, SOURCES if sources is None else sources,
                                              scored)
        score, valid, weighted = self._combine(terms, allowed, sources)
        key = score
        if rank_by == "margin":
            prob = self.probability(score, valid)
            key = prob * self.unit_margin
        cand = np.flatnonzero(valid)
        if len(cand) > k:
            cut = np.partition(key[cand], len(cand) - k)[len(cand) - k] if k else np.inf
            cand = cand[key[cand] >= cut]
        # Equal expected margins (e.g. no prices at all) fall back to the score's order.
        ranked = cand[np.lexsort((cand, -score[cand], -key[cand]))][:k]
        in_basket = set(ctx["basket"])
        matched = None
        if len(ctx["keys"]):
            matched = np.zeros(len(self.key_start), bool)
            matched[ctx["keys"]] = True
        out = []
        top_terms = weighted[:, ranked]
        largest = top_terms.argmax(axis=0).tolist() if len(ranked) else []
        positive = (top_terms.max(axis=0) > 0).tolist() if len(ranked) else []
        for rank, code in enumerate(ranked.tolist(), start=1):
            source = SOURCES[largest[rank - 1]] if positive[rank - 1] else "bestseller"
            rules = self._rules_for(code, matched, ctx["labels"])
            if source == "rule" and not rules:
                source = "bestseller"
            sku = self.skus[code]
            item = {"rank": rank, "item": sku, "name": self.names.get(sku, sku),
                    "score": round(float(score[code]), 6), "source": source,
                    "reason": self._reason(source, code, rules, ctx["bcodes"], ctx["store_key"] is not None,
                                           ctx["known"], ctx["blocks"]),
                    "rules": [self._rule_dict(i) for i in rules[:3]],
                    "bundle": self._bundle(sku, in_basket, store)}
            if rank_by == "margin":
                item.update(probability=round(float(prob[code]), 6),
                            unit_margin=round(float(self.unit_margin[code]), 4),
                            expected_margin=round(float(key[code]), 6))
            out.append(item)
        return out

    def probability(self, score: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Chance that each SKU is the one wanted: by its rank among ``valid`` SKUs when the blend was
        learned (the share of validation baskets whose wanted item sat at that rank), else the score itself."""
        if self.weights is None or self.calibration is None:
            return np.clip(score, 0.0, 1.0)
        prob = np.zeros(len(score))
        cand = np.flatnonzero(valid)
        depth = len(self.calibration)
        if len(cand) > depth:
            cut = np.partition(score[cand], len(cand) - depth)[len(cand) - depth]
            cand = cand[score[cand] >= cut]
        top = cand[np.lexsort((cand, -score[cand]))][:depth]
        prob[top] = self.calibration[:len(top)]
        return prob

    def _rules_for(self, code, matched, labels) -> list[int]:
        """The basket's rules for ``code``'s label (none for a basket label), the reason's rule first.

        ``matched`` flags the antecedents the basket contains (None: no rule applies). Order: longer antecedent,
        then confidence, then lift, then the rule seen on more receipts, then rule order.
        """
        if matched is None:
            return []
        label = int(self.label_of_sku[code])
        if label < 0 or label in labels:
            return []
        cand = self.item_rules[self.item_ptr[label]:self.item_ptr[label + 1]]
        mine = cand[matched[self.r_key[cand]]]
        return mine[np.lexsort((-self.r_count[mine], -self.r_lift[mine], -self.r_conf[mine],
                                -self.r_alen[mine]))].tolist()

    def _display(self, label: str) -> str:
        return self.names.get(label, label) if self.level == "sku" else label

    def _reason(self, source, code, rules, bcodes, in_store, known, blocks=None) -> str:
        if source == "rule":
            i = rules[0]
            with_ = " and ".join(self._display(x) for x in self.r_ante[i])
            count, of = int(self.r_count[i]), int(self.r_acount[i])
            text = f"bought together in {_floor_percent(count, of)} of receipts with {with_} ({count:,} of {of:,})"
            if self.level != "sku":
                group = self.labels[self.label_of_sku[code]]
                text = f"{group} {text}; best seller among {group}" + (" in this store" if in_store else "")
            return text
        if source == "history":
            codes, counts, visits, _tier = known
            n = int(counts[np.searchsorted(codes, code)])
            return f"bought before on {n} of {visits} visits"
        if source == "attribute":
            shared = [g for x in bcodes for g in self.groups_of.get(x, ())
                      if code in self.group_sets[g] and (self.subcat[x] < 0 or self.subcat[x] != self.subcat[code])]
            if shared:
                kind, value = min(shared, key=lambda g: g[0] != "need")
                return f"same {kind}: {value}"
        if source in ("ease", "itemknn") and blocks and source in blocks:
            rows, cols, vals = blocks[source]
            mine = cols == code
            if mine.any() and vals[mine].max() > 0:
                x = self.skus[int(rows[mine][np.argmax(vals[mine])])]
                return f"often bought with {self.names.get(x, x)}"
        return "best seller in this store" if in_store else "best seller"

    def _rule_dict(self, i: int) -> dict:
        return {"antecedents": list(self.r_ante[i]), "consequents": list(self.r_cons[i]),
                "count": int(self.r_count[i]), "antecedent_count": int(self.r_acount[i]),
                "confidence": round(float(self.r_conf[i]), 6), "lift": round(float(self.r_lift[i]), 6)}

    def _bundle(self, sku, in_basket, store):
        # Bundles are priced per store: the store's own offer first, then a chain-wide one; a store's
        # offer stands in for an unknown store only when no store was given.
        best = None
        for offer in self.bundles_of.get(sku, ()):
            if not (offer["items"] & in_basket):
                continue
            chain_wide = offer["store"] in (None, "all", "*")
            if store is not None and not chain_wide and offer["store"] != str(store):
                continue
            fit = 2 if (store is not None and offer["store"] == str(store)) else (1 if chain_wide else 0)
            key = (fit, offer["recommended"], offer["saving"] or 0.0)
            if best is None or key > best[0]:
                best = (key, offer)
        if best is None:
            return None
        offer = best[1]
        return {k: offer[k] for k in ("bundle_id", "bundle_price", "regular_price", "saving", "reason_en",
                                      "reason_zh")}


def suggest(run_dir, basket, k: int = 5, customer=None, store=None, catalog=None, lines=None,
            rank_by: str = "score", recommender: Recommender | None = None) -> dict:
    """Suggestions for one basket, as the JSON-ready dict of ``recommender suggest``.

    Parameters
    ----------
    run_dir : path or Run
        The run folder.
    basket : str or iterable of str
        SKUs; a string is split on commas.
    k, customer, store, catalog, lines, rank_by
        See :meth:`Recommender.suggest` and :meth:`Recommender.from_run`.
    recommender : Recommender, optional
        Already built (the service builds it once); ``run_dir``, ``catalog`` and ``lines`` are then ignored.

    Returns
    -------
    dict
        ``{"basket": [SKUs], "suggestions": [...]}`` (no customer id anywhere).

    Examples
    --------
    >>> import tempfile
    >>> from recommender.pipeline import mine, MiningParams
    >>> from recommender.runs import write_run
    >>> lines = pd.DataFrame({"receipt_id": list("11223344"), "sku": list("abababcd")})
    >>> res = mine(lines, params=MiningParams(min_count=2))
    >>> out = write_run(Path(tempfile.mkdtemp()) / "run", itemsets_df=res.itemsets, rules_df=res.rules,
    ...                 manifest=res.manifest)
    >>> [s["item"] for s in suggest(out, "a", k=1)["suggestions"]]
    ['b']
    """
    if isinstance(basket, str):
        basket = [s for s in basket.split(",")]
    items = list(dict.fromkeys(str(s).strip() for s in basket if str(s).strip()))
    rec = recommender or Recommender.from_run(run_dir, catalog=catalog, lines=lines)
    return {"basket": items, "suggestions": rec.suggest(items, k=k, customer=customer, store=store,
                                                        rank_by=rank_by)}
