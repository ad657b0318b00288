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
``h``  share of the customer's earlier receipts that contain ``y`` (only with
       a customer id and lines).
``a``  1 when ``y`` shares a need tag or a category (but not the subcategory:
       those are alternatives, not add-ons) with a basket item, else 0.
``p``  share of the store's receipts that contain ``y`` (all stores when no
       store is given); with a known customer, the mean of that and the share
       among receipts of the customer's value tier (recency, frequency, spend).

:data:`WEIGHTS` holds ``W_*``. The source shown is the largest term. Best
sellers fill the list, so any basket (also an empty one) gets ``k``
suggestions while the catalog has that many items left.

Never suggested: items in the basket, substitutes of basket items
(``run.substitutes``), and non-consumables the customer already bought (see
:func:`is_consumable`). Customer ids never appear in any output.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Recommender", "suggest", "WEIGHTS", "PRIOR_RECEIPTS", "CONSUMABLE", "DURABLE", "is_consumable",
           "value_tiers"]

#: Weights of the blend (see the module docstring).
WEIGHTS = {"rule": 1.0, "history": 0.5, "attribute": 1.0, "bestseller": 1.0}
#: Pseudo-receipts at the base rate added to every rule's counts before its confidence is used as a score.
PRIOR_RECEIPTS = 5.0
#: Departments / categories whose goods are used up and bought again (matched case-insensitively).
CONSUMABLE = frozenset({"pharmacy", "grocery", "food", "fresh", "beverages", "drinks", "dairy", "bakery", "snacks",
                        "staples", "supplements", "remedies", "first aid", "health", "beauty", "personal care",
                        "household", "cleaning", "baby", "pet", "tobacco", "alcohol", "basics", "socks",
                        "stationery"})
#: Departments / categories of durable goods: one is enough, so a customer who bought it is not offered it again.
DURABLE = frozenset({"apparel", "clothing", "fashion", "shoes", "footwear", "outerwear", "shirts", "trousers",
                     "accessories", "electronics", "appliances", "furniture", "home", "jewellery", "jewelry",
                     "toys", "books", "sports"})
SOURCES = ("rule", "history", "attribute", "bestseller")
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


@dataclass(frozen=True)
class _Rule:
    antecedent: tuple
    item: str
    count: int
    antecedent_count: int
    confidence: float
    lift: float
    consequents: tuple
    base_rate: float  # share of all receipts holding the consequent(s)


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
        self.n_receipts = int(manifest.get("n_receipts") or 0)
        self.catalog = catalog
        self._index_catalog(catalog, lines)
        self._index_rules(rules)
        self._index_substitutes(substitutes)
        self._index_sales(lines, itemsets)
        self._index_bundles(bundles)

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
        return cls(run.rules, run.substitutes, dict(run.manifest), catalog=catalog, lines=lines,
                   bundles=tables.get("bundles"), itemsets=getattr(run, "itemsets", None))

    def _index_catalog(self, catalog, lines):
        self.names: dict[str, str] = {}
        self.label_of: dict[str, str] = {}  # SKU -> label at the run's level
        self.members: dict[str, list[str]] = {}  # label -> SKUs
        self.subcat: dict[str, str] = {}
        self.groups_of: dict[str, list[tuple[str, str]]] = {}  # SKU -> [("need", tag), ("category", c)]
        self.group_members: dict[tuple[str, str], list[str]] = {}
        self.durable: set[str] = set()
        if lines is not None and "name" in lines.columns:
            named = lines[["sku", "name"]].dropna().drop_duplicates("sku", keep="first")
            self.names.update(zip(named["sku"].astype(str), named["name"].astype(str)))
        if catalog is None:
            if self.level != "sku":
                from recommender.errors import InputError

                raise InputError(f"the run is at {self.level} level: suggestions need the catalog to map SKUs",
                                 hint="pass --catalog PATH")
            return
        cat = catalog.copy()
        cat["sku"] = cat["sku"].astype(str)
        if "name" in cat.columns:
            self.names.update({s: n for s, n in zip(cat["sku"], cat["name"]) if _clean_text(n)})
        if self.level != "sku":
            if self.level not in cat.columns:
                from recommender.errors import InputError

                raise InputError(f"the catalog has no {self.level!r} column for this {self.level}-level run")
            for sku, label in zip(cat["sku"], cat[self.level]):
                label = _clean_text(label)
                if label is not None:
                    self.label_of[sku] = label
                    self.members.setdefault(label, []).append(sku)
        if "subcategory" in cat.columns:
            self.subcat = {s: v for s, v in zip(cat["sku"], cat["subcategory"]) if _clean_text(v)}
        cols = [c for c in ("subcategory", "category", "department") if c in cat.columns]
        for row in cat[["sku", *cols, *(["need"] if "need" in cat.columns else [])]].to_dict("records"):
            sku = row["sku"]
            if not is_consumable(row):
                self.durable.add(sku)
            groups = []
            need = _clean_text(row.get("need"))
            if need:
                groups += [("need", t.strip()) for t in need.split(";") if t.strip()]
            category = _clean_text(row.get("category"))
            if category:
                groups.append(("category", category))
            self.groups_of[sku] = groups
            for g in groups:
                self.group_members.setdefault(g, []).append(sku)

    def _label(self, sku: str) -> str | None:
        return sku if self.level == "sku" else self.label_of.get(sku)

    def _index_rules(self, rules: pd.DataFrame):
        """antecedent frozenset -> {item: best rule}; item -> multi-item antecedents containing it."""
        best: dict[frozenset, dict[str, _Rule]] = {}
        if rules is not None and len(rules):
            cols = [rules[c].tolist() for c in ("antecedents", "consequents", "count", "antecedent_count",
                                               "confidence", "lift")]
            if "consequent_count" in rules.columns and "n_receipts" in rules.columns:
                base = (rules["consequent_count"].to_numpy(float) / rules["n_receipts"].to_numpy(float)).tolist()
            else:
                base = (rules["confidence"].to_numpy(float) / rules["lift"].to_numpy(float)).tolist()
            for ante, cons, count, a_count, conf, lift, p in zip(*cols, base):
                ante, cons = _as_tuple(ante), _as_tuple(cons)
                key = frozenset(ante)
                slot = best.setdefault(key, {})
                for item in cons:
                    # A multi-item consequent's counts bound each item's from below; keep the best.
                    old = slot.get(item)
                    if old is None or (len(old.consequents), -old.confidence) > (len(cons), -float(conf)):
                        slot[item] = _Rule(ante, item, int(count), int(a_count), float(conf), float(lift), cons, float(p))
        self.rules_by_antecedent = {k: tuple(v.values()) for k, v in best.items()}
        self.multi: dict[str, list[frozenset]] = {}
        for key in self.rules_by_antecedent:
            if len(key) > 1:
                for x in key:
                    self.multi.setdefault(x, []).append(key)

    def _index_substitutes(self, subs: pd.DataFrame):
        self.substitutes: dict[str, set[str]] = {}
        if subs is not None and len(subs):
            for a, b in zip(subs["item_a"].astype(str), subs["item_b"].astype(str)):
                self.substitutes.setdefault(a, set()).add(b)
                self.substitutes.setdefault(b, set()).add(a)

    def _index_sales(self, lines, itemsets):
        """Base rates per store and per value tier; customer histories (by customer, never output)."""
        self.pop: dict = {}  # key (None = all, ("store", s), ("tier", t)) -> (sorted SKUs, {sku: share})
        self.customers: dict[str, tuple[dict, int, str]] = {}
        self._store_best: dict = {}
        if lines is None or lines.empty:
            self.has_sales = False
            shares = pd.Series(dtype=float)
            if itemsets is not None and len(itemsets):
                single = itemsets[itemsets["size"] == 1]
                label_share = pd.Series(single["support"].to_numpy(float),
                                        index=[_as_tuple(t)[0] for t in single["items"]])
                if self.level == "sku":
                    shares = label_share
                else:
                    shares = pd.Series({sku: label_share.get(lab, 0.0) / len(self.members[lab])
                                        for lab in label_share.index for sku in self.members.get(lab, [])})
            if self.catalog is not None:  # every catalog item can still be offered, after the known ones
                rest = [s for s in self.catalog["sku"].astype(str) if s not in shares.index]
                shares = pd.concat([shares, pd.Series(0.0, index=rest)]) if rest else shares
            self.pop[None] = self._ranked(shares)
            self.store_names = set()
            return
        self.has_sales = True
        used = lines[["receipt_id", "sku"]].astype({"receipt_id": str, "sku": str})
        store = lines["store_id"].astype("string") if "store_id" in lines.columns else None
        used = used.assign(store=store.fillna("").to_numpy(object) if store is not None else "")
        cust = lines["customer_id"] if "customer_id" in lines.columns else pd.Series(pd.NA, index=lines.index)
        used = used.assign(customer=cust.astype("string").to_numpy(object))
        pairs = used.drop_duplicates(["receipt_id", "sku"])
        receipts = used.drop_duplicates("receipt_id")
        self.pop[None] = self._ranked(pairs["sku"].value_counts() / len(receipts))
        self.store_names = set()
        if store is not None:
            n_by_store = receipts["store"].value_counts()
            for s, grp in pairs.groupby("store", sort=False):
                if s:
                    self.store_names.add(s)
                    self.pop[("store", s)] = self._ranked(grp["sku"].value_counts() / n_by_store[s])
        known = pairs[pairs["customer"].notna()]
        if len(known):
            tiers = value_tiers(lines)
            known = known.assign(tier=known["customer"].map(tiers))
            n_by_tier = known.drop_duplicates("receipt_id")["tier"].value_counts()
            for t, grp in known.groupby("tier", sort=False):
                self.pop[("tier", t)] = self._ranked(grp["sku"].value_counts() / n_by_tier[t])
            counts = known.groupby(["customer", "sku"], sort=False).size()
            n_receipts = known.groupby("customer", sort=False)["receipt_id"].nunique()
            hist: dict[str, dict] = {}
            for (c, sku), n in zip(counts.index, counts.to_numpy()):
                hist.setdefault(c, {})[sku] = int(n)
            self.customers = {c: (hist[c], int(n_receipts[c]), tiers.get(c, "middle")) for c in hist}

    @staticmethod
    def _ranked(shares: pd.Series):
        shares = shares[~shares.index.duplicated()]
        order = sorted(shares.index.astype(str), key=lambda s: (-float(shares[s]), s))
        return order, {s: float(shares[s]) for s in order}

    def _index_bundles(self, bundles):
        self.bundles_of: dict[str, list[dict]] = {}
        if bundles is None or not len(bundles):
            return
        for row in bundles.to_dict("records"):
            items = _as_tuple(row.get("items"))
            offer = {"bundle_id": str(row.get("bundle_id")), "items": frozenset(items),
                     "store": _clean_text(row.get("store")),
                     "recommended": bool(row.get("recommended", True)) if row.get("recommended") is not None
                     else True}
            for key in ("bundle_price", "regular_price", "saving"):
                v = row.get(key)
                offer[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
            for key in ("reason_en", "reason_zh"):
                offer[key] = _clean_text(row.get(key))
            for sku in items:
                self.bundles_of.setdefault(sku, []).append(offer)

    # ------------------------------------------------------------------ answering
    def _base(self, store, tier):
        """The popularity table to use: store (or all), mixed with the customer's tier when known."""
        store_key = ("store", store) if store is not None and ("store", store) in self.pop else None
        order, share = self.pop[store_key]
        tier_pop = self.pop.get(("tier", tier)) if tier else None
        return store_key is not None, order, share, tier_pop

    def _best_in_label(self, label, store_key_present, store):
        """The store's best-selling SKU of a group (run level above SKU) and its share of the group."""
        cache_key = (store if store_key_present else None, label)
        hit = self._store_best.get(cache_key)
        if hit is None:
            share = self.pop[("store", store) if store_key_present else None][1]
            members = self.members.get(label, [])
            if not members:
                hit = (None, 0.0)
            else:
                sku = min(members, key=lambda s: (-share.get(s, 0.0), s))
                total = sum(share.get(s, 0.0) for s in members)
                hit = (sku, share.get(sku, 0.0) / total if total > 0 else 1.0 / len(members))
            self._store_best[cache_key] = hit
        return hit

    def _matching_rules(self, labels: set) -> list:
        keys = {frozenset((x,)) for x in labels}
        for x in labels:
            keys.update(a for a in self.multi.get(x, ()) if a <= labels)
        return [self.rules_by_antecedent[a] for a in keys if a in self.rules_by_antecedent]

    def suggest(self, basket, k: int = 5, customer=None, store=None, sources=SOURCES) -> list[dict]:
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
        sources : tuple of str
            Sources to use, for evaluation (e.g. ``("rule",)`` for rules alone).

        Returns
        -------
        list of dict
            ``rank``, ``item``, ``name``, ``score``, ``source``, ``reason``, ``rules``, ``bundle``.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, not {k}")
        basket = [str(s).strip() for s in basket if str(s).strip()]
        in_basket = set(basket)
        labels = {lab for lab in (self._label(s) for s in basket) if lab is not None}
        store = None if store is None or (isinstance(store, float) and math.isnan(store)) else str(store)
        hist, n_hist, tier = self.customers.get(str(customer), (None, 0, None)) if customer is not None else (
            None, 0, None)
        if "history" not in sources:
            hist, tier = None, None
        in_store, order, share, tier_pop = self._base(store, tier)

        def p_of(sku):
            p = share.get(sku, 0.0)
            return 0.5 * (p + tier_pop[1].get(sku, 0.0)) if tier_pop else p

        banned_labels = set()
        for lab in labels:
            banned_labels |= self.substitutes.get(lab, set())

        def allowed(sku):
            if sku in in_basket:
                return False
            lab = self._label(sku)
            if lab is not None and lab in banned_labels:
                return False
            return not (hist and sku in hist and sku in self.durable)

        cands: dict[str, dict] = {}

        def slot(sku):
            c = cands.get(sku)
            if c is None:
                c = cands[sku] = {"r": 0.0, "h": 0.0, "a": None, "rules": [], "share": 1.0}
            return c

        if "rule" in sources and labels:
            found: dict[str, list] = {}
            for group in self._matching_rules(labels):
                for rule in group:
                    if rule.item not in labels:
                        found.setdefault(rule.item, []).append(rule)
            for item, rules in found.items():
                rules.sort(key=lambda r: (-len(r.antecedent), -r.confidence, -r.lift))
                if self.level == "sku":
                    sku, within = item, 1.0
                else:
                    sku, within = self._best_in_label(item, in_store, store)
                if sku is None or not allowed(sku):
                    continue
                top = rules[0]
                shrunk = (top.count + PRIOR_RECEIPTS * top.base_rate) / (top.antecedent_count + PRIOR_RECEIPTS)
                c = slot(sku)
                c["r"], c["rules"], c["share"] = shrunk * within, rules, within
        if hist and "history" in sources:
            for sku, n in hist.items():
                if allowed(sku):
                    slot(sku)["h"] = n / n_hist
        if "attribute" in sources:
            for x in basket:
                for group in self.groups_of.get(x, ()):
                    taken = 0
                    for sku in self._group_ranked(group, in_store, store):
                        if taken >= k:
                            break
                        if sku == x or not allowed(sku) or (
                                self.subcat.get(sku) is not None and self.subcat.get(sku) == self.subcat.get(x)):
                            continue
                        c = slot(sku)
                        if c["a"] is None or (group[0] == "need" and c["a"][0] != "need"):
                            c["a"] = group
                        taken += 1
        if "bestseller" in sources:
            # Only the k most popular allowed items can win on popularity alone (per table used).
            for table in ([order] + ([tier_pop[0]] if tier_pop else [])):
                taken = 0
                for sku in table:
                    if taken >= k:
                        break
                    if allowed(sku):
                        slot(sku)
                        taken += 1
        scored = []
        for sku, c in cands.items():
            p = p_of(sku)
            terms = {"rule": WEIGHTS["rule"] * c["r"], "history": WEIGHTS["history"] * c["h"],
                     "attribute": WEIGHTS["attribute"] * p if c["a"] else 0.0,
                     "bestseller": WEIGHTS["bestseller"] * p if "bestseller" in sources else 0.0}
            score = sum(terms.values())
            if score <= 0 and "bestseller" not in sources:
                continue
            source = max(SOURCES, key=lambda s: (terms[s], -SOURCES.index(s))) if score > 0 else "bestseller"
            if source == "rule" and not c["rules"]:
                source = "bestseller"
            scored.append((-score, SOURCES.index(source), sku, source, c))
        scored.sort(key=lambda t: (t[0], t[1], t[2]))
        out = []
        for rank, (neg, _, sku, source, c) in enumerate(scored[:k], start=1):
            out.append({"rank": rank, "item": sku, "name": self.names.get(sku, sku), "score": round(-neg, 6),
                        "source": source, "reason": self._reason(source, sku, c, in_store, n_hist),
                        "rules": [self._rule_dict(r) for r in c["rules"][:3]],
                        "bundle": self._bundle(sku, in_basket, store)})
        return out

    def _group_ranked(self, group, in_store, store):
        key = ("group", group, store if in_store else None)
        hit = self._store_best.get(key)
        if hit is None:
            share = self.pop[("store", store) if in_store else None][1]
            hit = sorted(self.group_members.get(group, ()), key=lambda s: (-share.get(s, 0.0), s))
            self._store_best[key] = hit
        return hit

    def _display(self, label) -> str:
        return self.names.get(label, label) if self.level == "sku" else label

    def _reason(self, source, sku, c, in_store, n_hist) -> str:
        if source == "rule":
            r = c["rules"][0]
            with_ = " and ".join(self._display(x) for x in r.antecedent)
            text = (f"bought together in {_floor_percent(r.count, r.antecedent_count)} of receipts with {with_} "
                    f"({r.count:,} of {r.antecedent_count:,})")
            if self.level != "sku":
                text = f"{r.item} " + text + f"; best seller among {r.item}" + (" in this store" if in_store else "")
            return text
        if source == "history":
            n = round(c["h"] * n_hist)
            return f"bought before on {n} of {n_hist} visits"
        if source == "attribute":
            kind, value = c["a"]
            return f"same {kind}: {value}"
        return "best seller in this store" if in_store else "best seller"

    def _rule_dict(self, r: _Rule) -> dict:
        return {"antecedents": list(r.antecedent), "consequents": list(r.consequents), "count": r.count,
                "antecedent_count": r.antecedent_count, "confidence": round(r.confidence, 6),
                "lift": round(r.lift, 6)}

    def _bundle(self, sku, in_basket, store):
        best = None
        for offer in self.bundles_of.get(sku, ()):
            if not (offer["items"] & in_basket):
                continue
            if offer["store"] not in (None, "all", "*") and store is not None and offer["store"] != store:
                continue
            key = (offer["recommended"], offer["saving"] or 0.0)
            if best is None or key > best[0]:
                best = (key, offer)
        if best is None:
            return None
        offer = best[1]
        return {k: offer[k] for k in ("bundle_id", "bundle_price", "regular_price", "saving", "reason_en",
                                      "reason_zh")}


def suggest(run_dir, basket, k: int = 5, customer=None, store=None, catalog=None, lines=None) -> dict:
    """Suggestions for one basket, as the JSON-ready dict of ``recommender suggest``.

    Parameters
    ----------
    run_dir : path or Run
        The run folder.
    basket : str or iterable of str
        SKUs; a string is split on commas.
    k, customer, store, catalog, lines
        See :meth:`Recommender.suggest` and :meth:`Recommender.from_run`.

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
    rec = Recommender.from_run(run_dir, catalog=catalog, lines=lines)
    return {"basket": items, "suggestions": rec.suggest(items, k=k, customer=customer, store=store)}
