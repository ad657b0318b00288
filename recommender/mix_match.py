"""Mix & match offers for variant families: "any 2 LUNCH BAG for £3.00" / "LUNCH BAG任选2件 £3.00".

In: the variant pairs the candidate gate removed
(:func:`recommender.bundles.variant_gate` keeps them in
``attrs["variant_pairs"]``), the clean receipt lines, per-SKU regular price,
unit cost and usability (:func:`recommender.bundles.eligible_skus`), catalog
rows and the pricing policy. Out: offer rows in the bundles table's columns
with ``discount_type = "mix_match"``.

Colours and designs of one product bought together are an assortment, not a
cross-sell (the variants gate drops them), yet "any two for a price" is the
offer such an assortment invites. How it is made:

1. **Family.** Variant pairs joined into groups (connected pairs). The offer
   runs at one price point: the regular price most members share (ties: the
   lower), so that any two units cost and save the same; members at another
   price are left out, and so are members without the product phrase most
   members share (:func:`one_product`: pairs chain "JUMBO BAG ..." to
   "JUMBO STORAGE BAG ..."). A family needs 2+ members at its price point
   that the store sold in the counting period (else there is nothing to mix).
2. **Counts per store** (the bundles' counting window): gap tickets ``G``,
   receipts holding exactly one unit of the family (a taker adds a second),
   and set tickets ``S``, receipts already holding two or more units (they
   would buy two anyway: each of them is paid the discount for nothing).
3. **Price.** :func:`recommender.pricing.price_bundle` on two units at the
   price point, each at the highest unit cost among the members (the margin
   floor holds for any two), with the added margin ``M`` of one more unit, for
   each of :data:`FAMILY_TYPES` the policy allows; the best by
   (recommended, expected profit). Same guardrails as every offer: margin
   floor, break-even, largest and smallest saving.

The family's name is the product phrase its names share
(:func:`recommender.variants.family_name`); the copy and the evidence line say
it in English and Chinese, in the shop's currency
(:func:`recommender.reasons.reasons_for`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from recommender.variants import family_name

__all__ = ["MIX_MATCH", "FAMILY_TYPES", "variant_families", "price_point", "one_product", "mix_match_offers"]

#: The offer type (``discount_type``) of a mix & match row.
MIX_MATCH = "mix_match"
#: Pricing types tried for "any 2 for X" (their economics are the same; the grids differ).
FAMILY_TYPES = ("set_price", "amount_off", "percent_off")


def variant_families(pairs) -> list[list[str]]:
    """Variant pairs joined into families (connected pairs), each sorted, largest first.

    >>> variant_families([("a", "b"), ("c", "b"), ("x", "y")])
    [['a', 'b', 'c'], ['x', 'y']]
    """
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(str(a)), find(str(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))


def price_point(members, price) -> tuple[float | None, list[str]]:
    """The regular price most members share (ties: the lower) and the members at it.

    >>> price_point(["a", "b", "c"], {"a": 1.65, "b": 1.65, "c": 2.1})
    (1.65, ['a', 'b'])
    """
    at: dict = {}
    for m in members:
        p = price.get(m)
        if p is not None and math.isfinite(float(p)) and float(p) > 0:
            at.setdefault(round(float(p), 2), []).append(m)
    if not at:
        return None, []
    p = min(at, key=lambda v: (-len(at[v]), v))
    return p, sorted(at[p])


def one_product(members, names, vocabulary=None) -> list[str]:
    """The members that hold the family's product phrase: the one most members' names hold (ties: the longer,
    then the one in more names of the file). Variant pairs chain ("JUMBO BAG ..." -- "JUMBO STORAGE BAG ..."),
    so a family may hold more than one product; "any 2" is offered on one. Without a vocabulary, or with no
    product phrase, the members as they are.

    >>> from recommender.variants import Vocabulary
    >>> names = {"a": "JUMBO BAG RED", "b": "JUMBO BAG OWL", "c": "JUMBO STORAGE BAG SUKI", "d": "JUMBO BAG TOYS"}
    >>> one_product(list(names), names, Vocabulary(list(names.values()), [2.08] * 4))
    ['a', 'b', 'd']
    """
    from recommender.variants import _ngrams, name_tokens

    if vocabulary is None or len(members) < 2:
        return list(members)
    holders: dict = {}
    for m in members:
        toks = name_tokens(names.get(m))
        for n in range(2, len(toks) + 1):
            for g in _ngrams(toks, n):
                holders.setdefault(g, set()).add(m)
    phrases = [g for g, hs in holders.items() if len(hs) >= 2 and vocabulary.is_product_phrase(g)]
    if not phrases:
        return list(members)
    best = max(phrases, key=lambda g: (len(holders[g]), len(g), vocabulary.items(g), g))
    return [m for m in members if m in holders[best]]


def mix_match_offers(pairs, lines, info, rows_by_sku, policy, *, level="sku", weeks=8, currency=None,
                     stores=None, store_tickets=None, excluded=(), vocabulary=None) -> tuple[list[dict], dict]:
    """Mix & match offer rows (one per family and store) and a summary of what was found.

    ``info`` is :func:`recommender.bundles.eligible_skus` (``price``,
    ``unit_cost``, ``margin``, ``usable``); ``stores`` / ``store_tickets``
    the bundles' stores (in their order) and receipts per store, so the rows
    rank with the other offers. Returns rows with the bundles' fields and the
    private ``_key`` (recommended, expected profit) they are sorted by.
    """
    from recommender.bundles import _NO_STORE, _name, _offers_json, _window, bundle_id
    from recommender.pricing import price_bundle
    from recommender.reasons import reasons_for

    excluded = {str(s) for s in excluded}
    families = variant_families(pairs)
    summary = {"families": len(families), "offers": 0, "no_price_point": 0, "too_few_sold": 0,
               "no_gap_tickets": 0}
    if not families:
        return [], summary
    spark = type(lines).__module__.startswith("pyspark")
    if spark:  # a run read by Spark: the family counts are Spark aggregations (stores come from the bundles)
        from recommender.spark.bundle_counts import _window as spark_window

        _, start, end = spark_window(lines, weeks)
        stores = list(stores)
    else:
        mask, start, end = _window(lines["timestamp"], weeks)
        period = lines.loc[mask]
        receipt_store = period.groupby("receipt_id", sort=False)["store_id"].first()
        store_of = {r: (None if pd.isna(s) else str(s)) for r, s in receipt_store.items()}
        stores = list(stores) if stores is not None else sorted({s for s in store_of.values()},
                                                               key=lambda s: ("" if s is None else "\x01" + s))
    if store_tickets is None:
        counts = pd.Series(list(store_of.values()), dtype=object).fillna(_NO_STORE).value_counts()
        store_tickets = [int(counts.get(_NO_STORE if s is None else s, 0)) for s in stores]
    price = {s: float(v) for s, v in info["price"].items() if pd.notna(v)}
    usable = {s for s, ok in info["usable"].items() if bool(ok)} - excluded
    allowed = [t for t in FAMILY_TYPES if t in tuple(getattr(policy, "discount_types", FAMILY_TYPES))]
    out = []
    priced = []
    for family in families:
        p, members = price_point([m for m in family if m in usable], price)
        members = one_product(members, {m: _name(rows_by_sku.get(m, {"sku": m}), "en") for m in members},
                              vocabulary)
        if p is None or len(members) < 2:
            summary["no_price_point"] += 1
            continue
        priced.append((p, members))
    if spark:
        from recommender.spark.bundle_counts import family_counts

        counted = family_counts(lines, [m for _, m in priced], stores, weeks)
    for fi, (p, members) in enumerate(priced):
        if not spark:
            part = period[period["sku"].astype(str).isin(members)]
            part_store = np.array([store_of.get(r) for r in part["receipt_id"]], dtype=object)
        cost = max(float(info.at[m, "unit_cost"]) for m in members)
        for si, store in enumerate(stores):
            if spark:
                sold, (G, S) = counted[(fi, si)]
            else:
                here = part[np.array([x == store for x in part_store], dtype=bool)]
                sold = here.groupby(here["sku"].astype(str))["quantity"].sum()
                sold = sold[sold > 0]
            if len(sold) < 2:
                summary["too_few_sold"] += 1
                continue
            if not spark:
                units = here.groupby("receipt_id")["quantity"].sum()
                G, S = int((units == 1).sum()), int((units >= 2).sum())
            if G == 0 or not allowed:
                summary["no_gap_tickets"] += 1
                continue
            # best sellers first (ties: the SKU code), then the family's other members at the price point
            order = sorted(sold.index, key=lambda s: (-float(sold[s]), s))
            skus = order + [m for m in members if m not in order]
            rows = [rows_by_sku.get(s, {"sku": s}) for s in skus]
            dept = rows[0].get("department")
            two = [{"sku": skus[k], "price": p, "unit_cost": cost, "role": "anchor" if k == 0 else "addon",
                    "department": dept} for k in (0, 1)]
            margin = p - cost
            decisions = [price_bundle(two, G, S, policy, discount_type=t, added_margin=margin) for t in allowed]
            best = max(decisions, key=lambda d: (bool(d.recommended), float(d.expected_profit), -float(d.saving)))
            d = dataclasses.replace(best, discount_type=MIX_MATCH, label=f"any 2 for {best.bundle_price:.2f}")
            why = reasons_for(rows, d, currency=currency, vocabulary=vocabulary)
            q = d.expected_take_rate
            n_tickets = max(int(store_tickets[si]), 1)
            atv, upt = [], []
            for qq in (0.5 * q, min(1.0, 1.5 * q)):
                atv.append((qq * G * (p - d.saving) - S * d.saving) / n_tickets)
                upt.append(qq * G / n_tickets)
            flat = d.to_row()
            pct = 100 * S // max(G + S, 1)
            fam_en = family_name([_name(r, "en") for r in rows], vocabulary)
            fam_zh = family_name([_name(r, "zh") for r in rows], vocabulary)
            evidence_en = (f"{pct}% of receipts with {fam_en} already hold 2 or more" if pct >= 1 else
                           f"under 1% of receipts with {fam_en} already hold 2 or more")
            evidence_zh = f"含{fam_zh}的小票中{pct if pct >= 1 else '不到1'}%已有2件及以上"
            out.append({
                "bundle_id": bundle_id(tuple(members) + (MIX_MATCH,), store, level), "store": store,
                "level": level, "items": tuple(skus), "level_items": tuple(skus),
                "names": tuple(_name(r, "en") for r in rows), "names_zh": tuple(_name(r, "zh") for r in rows),
                "anchor": skus[0], "anchor_label": skus[0], "addons": tuple(skus[1:]),
                "regular_price": d.regular_price, "bundle_price": d.bundle_price, "discount_type": MIX_MATCH,
                "discount_label": d.label, "saving": d.saving, "discount_pct": d.discount_pct,
                "binding_constraint": d.binding_constraint, "expected_profit": d.expected_profit,
                "break_even_take_rate": d.break_even_take_rate, "expected_take_rate": q,
                "recommended": bool(d.recommended), "reason_not_recommended": d.reason_not_recommended, **why,
                "evidence_en": evidence_en, "evidence_zh": evidence_zh,
                "gap_tickets": G, "set_tickets": S, "anchor_tickets": G + S, "store_tickets": int(store_tickets[si]),
                "added_margin": float(margin), "count": S, "antecedent_count": G + S,
                "confidence": S / (G + S), "lift": math.nan, "p_value": math.nan, "q_value": math.nan,
                "substitute_warning": None, "substitute_margin_loss": 0.0,
                "expected_atv_uplift_low": min(atv), "expected_atv_uplift_high": max(atv),
                "expected_upt_uplift_low": min(upt), "expected_upt_uplift_high": max(upt),
                "gift_sku": None, "components": flat["components"], "guardrails": flat["guardrails"],
                "offers": _offers_json([dataclasses.replace(x, discount_type=MIX_MATCH) for x in decisions]),
                "period_start": None if start is None else str(start),
                "period_end": None if end is None else str(end),
                "gift_name": None, "gift_name_zh": None, "gift_value": None,
                "cost_source": "assumed" if any(r.get("cost_source") == "assumed" for r in rows) else "catalog",
                "currency": currency, "_key": (bool(d.recommended), float(d.expected_profit)),
            })
            summary["offers"] += 1
    return out, summary
