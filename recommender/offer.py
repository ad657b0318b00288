"""One offer, one story: a re-priced offer gets its copy from the same record as its price.

In: one row of a bundles table (as :func:`recommender.bundles.build_bundles`
writes it, decisions applied or not), the new
:class:`~recommender.pricing.PriceDecision` after a merchandiser changed its
type, cap or margin, and optionally the catalog (for names, departments and the
gift). Out: every field such an edit changes together, as one dict for
:func:`recommender.decisions.record`: price, saving, type, label, components
(the till lines), guardrails, recommendation, and the English and Chinese
reason lines written again for the new offer.

The shelf card, the staff CSV and XLSX and the till file are all written by
:mod:`recommender.export` from these same fields, so a gift bundle switched to a
percent-off can no longer keep "free Family first-aid pouch" on its card while
the till file has no gift line. A merchandiser who writes their own copy keeps
it: :func:`offer_edits` with ``own_copy`` stores their text and marks it
``copy_edited``.
"""

from __future__ import annotations

import json

__all__ = ["item_rows", "offer_edits", "PRICE_FIELDS"]

#: Fields of a bundle row that follow from its PriceDecision.
PRICE_FIELDS = ("bundle_price", "saving", "discount_type", "discount_pct", "expected_profit", "expected_take_rate",
                "break_even_take_rate", "binding_constraint", "recommended", "reason_not_recommended")


def _text(v):
    return v if isinstance(v, str) and v.strip() else None


def _seq(v) -> list:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return [v]
    return list(v) if v is not None else []


def item_rows(bundle, catalog=None) -> list[dict]:
    """The bundle's items as rows for :func:`recommender.reasons.reasons_for` (catalog rows when there is one,
    else the names the bundle carries).

    >>> item_rows({"items": ("a", "b"), "names": ("Tea", "Cup"), "names_zh": ("茶", "杯")})
    [{'sku': 'a', 'name': 'Tea', 'name_zh': '茶'}, {'sku': 'b', 'name': 'Cup', 'name_zh': '杯'}]
    """
    skus = [str(s) for s in _seq(bundle.get("items"))]
    names, names_zh = _seq(bundle.get("names")), _seq(bundle.get("names_zh"))
    by_sku = {}
    if catalog is not None and "sku" in catalog.columns:
        part = catalog[catalog["sku"].astype(str).isin(skus)]
        by_sku = {str(r["sku"]): {k: v for k, v in r.items() if v is not None and v == v}
                  for r in part.to_dict("records")}
    rows = []
    for k, sku in enumerate(skus):
        row = {"sku": sku, "name": names[k] if k < len(names) else sku,
               "name_zh": names_zh[k] if k < len(names_zh) else None}
        row.update(by_sku.get(sku, {}))
        rows.append({key: v for key, v in row.items() if v is not None})
    return rows


def _discounted_name(bundle, decision, catalog=None, gift=None):
    """The name of the item the offer gives away or discounts (the gift's name for a gift), else None."""
    sku = decision.discounted_sku
    if sku is None:
        return None
    if decision.discount_type == "gift":
        name = _text((gift or {}).get("name"))
        if name:
            return name
    for row in item_rows(bundle, catalog):
        if row["sku"] == str(sku) and _text(row.get("name")):
            return row["name"]
    if catalog is not None and "sku" in catalog.columns and "name" in catalog.columns:
        hit = catalog.loc[catalog["sku"].astype(str) == str(sku), "name"]
        if len(hit) and _text(hit.iloc[0]):
            return hit.iloc[0]
    return None


def offer_edits(bundle, decision, *, catalog=None, gift=None, own_copy=None, vocabulary=None) -> dict:
    """The fields an edit of ``bundle``'s offer changes, all from ``decision``: price, till lines and copy.

    Parameters
    ----------
    bundle : mapping
        One bundles-table row (``items``, ``names``, ``names_zh``; ``currency`` and ``season`` if known).
    decision : PriceDecision
        The offer after the edit.
    catalog : DataFrame, optional
        For names, departments and needs of the items (the reason type).
    gift : mapping, optional
        The gift's row (``name``, ``name_zh``) when ``decision`` is a gift.
    own_copy : dict, optional
        ``{"reason_en": ..., "reason_zh": ...}`` written by the merchandiser: kept as written, and the
        result says ``copy_edited``.
    vocabulary : recommender.variants.Vocabulary, optional
        The file's names and prices, as :func:`recommender.bundles.build_bundles` used them: a shared
        product noun is no theme in the copy.

    Examples
    --------
    >>> from recommender.pricing import price_bundle
    >>> from recommender.policy import Policy
    >>> items = [{"sku": "a", "price": 60.0, "unit_cost": 30.0, "role": "anchor"},
    ...          {"sku": "b", "price": 20.0, "unit_cost": 8.0, "role": "addon"}]
    >>> d = price_bundle(items, 200, 50, Policy(), discount_type="percent_off")
    >>> row = {"items": ("a", "b"), "names": ("Tea", "Cup"), "reason_en": "free bag with Tea"}
    >>> e = offer_edits(row, d)
    >>> e["discount_type"], "free" in e["reason_en"], e["copy_edited"], e["bundle_price"] == d.bundle_price
    ('percent_off', False, False, True)
    >>> offer_edits(row, d, own_copy={"reason_en": "Our pick"})["reason_en"]
    'Our pick'
    """
    from recommender.pricing import named_label
    from recommender.reasons import reasons_for

    flat = decision.to_row()
    out = {k: flat[k] for k in PRICE_FIELDS if k in flat}
    out["discount_label"] = named_label(decision, _discounted_name(bundle, decision, catalog, gift))
    out["components"] = list(decision.components)
    out["guardrails"] = decision.guardrails
    extra = {}
    currency = bundle.get("currency")
    if isinstance(currency, str) and currency:
        extra["currency"] = currency
    season = bundle.get("season")
    copy = reasons_for(item_rows(bundle, catalog), decision, season=season if isinstance(season, str) else None,
                       gift=dict(gift) if gift is not None and decision.discount_type == "gift" else None,
                       vocabulary=vocabulary, **extra)
    out.update(copy)
    own = {k: v for k, v in (own_copy or {}).items() if k in ("reason_en", "reason_zh") and _text(v)}
    out.update(own)
    out["copy_edited"] = bool(own)
    return out


def discount_cost(bundle, unit_costs=None) -> float:
    """What one redeeming ticket costs the shop: the saving, or for a gift the gift's unit cost.

    A gift is worth its shelf price to the customer (the ``saving``) but costs the shop what it paid for it;
    profit on screen must use the cost. The gift's cost comes from ``unit_costs`` (SKU -> unit cost), else
    from the gift offer the run priced (``offers``), else the saving.

    >>> row = {"discount_type": "gift", "saving": 5.0,
    ...        "components": [{"sku": "a", "role": "anchor", "quantity": 1}, {"sku": "g", "role": "gift", "quantity": 1}],
    ...        "offers": [{"discount_type": "gift", "discount_cost": 1.2}]}
    >>> discount_cost(row), discount_cost(row, {"g": 1.5}), discount_cost({**row, "discount_type": "percent_off"})
    (1.2, 1.5, 5.0)
    """
    if str(bundle.get("discount_type")) != "gift":
        return float(bundle["saving"])
    comps = _seq(bundle.get("components"))
    gift = next((x for x in comps if isinstance(x, dict) and x.get("role") == "gift"), None)
    if gift is not None and unit_costs is not None:
        cost = unit_costs.get(str(gift["sku"]))
        try:
            cost = float(cost)
        except (TypeError, ValueError):
            cost = float("nan")
        if cost == cost and cost >= 0:
            return cost * int(gift.get("quantity") or 1)
    for o in _seq(bundle.get("offers")):
        if isinstance(o, dict) and o.get("discount_type") == "gift" and o.get("discount_cost") is not None:
            return float(o["discount_cost"])
    return float(bundle["saving"])
