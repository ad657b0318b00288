"""Price a bundle so that it gives a reason to buy and still earns money ("销").

In: the bundle's items (sku, unit price, unit cost, role, department), two
counts for one store and period, and a :class:`~recommender.policy.Policy`.
Out: a :class:`PriceDecision` -- the discount, the bundle price, how it splits
across the components for a till, the expected incremental profit, every
guardrail with its limit, and which one (if any) set the price.

Economics
---------
Counts are the truth:

* ``G`` gap tickets: the anchor was bought and at least one add-on was missing.
  A ticket that *takes* the offer adds the add-ons, earning their margin ``M``
  (sum of ``(price - unit_cost) * quantity`` over the add-ons, or the
  ``added_margin`` the caller measured) minus the discount.
* ``S`` set tickets: they already buy the whole set; every one of them gets the
  discount for nothing in return.
* ``L`` substitute margin loss, per taker: margin of the substitutes a taker no
  longer buys.

With ``c`` the discount's cost to the store per redeeming ticket (the saving
itself, or the gift's unit cost for a gift with purchase) and ``q`` the take
rate given by the department's :class:`~recommender.policy.ResponseCurve` at
``d_pct`` = saving / regular price::

    E[profit] = q(d_pct) * G * (M - c - L) - c * S

The break-even take rate is the ``q`` at which this is zero for the chosen
discount: ``c * S / (G * (M - c - L))``.

Search and guardrails
---------------------
Each discount type defines a grid of savings (percent grids step
``grid_step``; amount and set-price grids step ``amount_step``); the offer is
the grid point with the highest expected profit (the smaller saving on a tie)
among those within every guardrail, where the guardrail limit itself is also a
candidate so that a binding guardrail is met exactly:

* ``min_margin``: bundle price >= total cost / (1 - min_margin);
* ``break_even``: cost per taker <= M - L (a taker must not lose money);
* ``max_discount``: saving <= max_discount_pct * regular price;
* ``min_saving``: saving >= min_saving_pct * regular price (default 5%) for
  every type -- the grid starts there, and the floor itself is a candidate. A
  gift is held to the same floor with its shelf value as the saving (what the
  customer perceives) while the shop pays its unit cost. A saving customers do
  not notice wins nobody: the response curve is 0 below ``min_saving_pct``
  (:attr:`~recommender.policy.ResponseCurve.threshold`), so such an offer could
  only give money away to set tickets (and "save 0.45 on 112.80" looks absurd
  on a shelf card).

A guardrail is reported as ``binding_constraint`` only when the offer sits on
its limit and removing it would raise the expected profit (for ``min_saving``:
if customers noticed the smaller saving, i.e. on the curve without its
threshold); otherwise the offer is the ``"optimum"``. A price ending (``".9"``, ``"whole"`` ...) then rounds the
bundle price down to the ending if every guardrail still holds and the profit
stays positive, else up (``"price_ending"`` when it moved the price). When no
saving earns money, ``recommended`` is False, ``binding_constraint`` is
``"no_profitable_discount"`` and ``reason_not_recommended`` says why (e.g. "the
smallest noticeable saving (5%) costs more than it earns" when only a saving
below ``min_saving_pct`` would have paid).

For a bundle across departments the response curve, discount types and price
ending come from the anchor's department; ``min_margin``,
``max_discount_pct`` and ``min_saving_pct`` are the strictest over the bundle's
departments.

Discount types: ``percent_off`` / ``amount_off`` / ``set_price`` on the whole
set (same economics, different grids and wording); ``addon_discount``: a
percent off the add-on with the highest margin % (then the higher margin
amount, then the SKU), the add-on whose discount the margin best absorbs;
``cheapest_free``: one unit of the cheapest item free; ``gift``: a low-cost item
at 100% off, costing the shop its unit cost (``discount_cost``, the cost in the
profit, the margin floor and break-even) and worth its shelf price to the
customer (the saving on the response curve and against ``min_saving`` and
``max_discount``).

Money is handled in whole cents so that component prices sum exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from recommender.errors import InputError
from recommender.policy import (DEFAULT_CURVES, DISCOUNT_TYPES, PRICE_ENDINGS, Policy, ResponseCurve,
                                calibration_factor, load_policy, policy_from_flags)

__all__ = ["PriceDecision", "Offer", "TILL_TYPE", "price_bundle", "best_offer", "split_amount", "expected_profit",
           "named_label",
           "break_even_take_rate", "ResponseCurve", "Policy", "DEFAULT_CURVES", "DISCOUNT_TYPES",
           "load_policy", "policy_from_flags", "calibration_factor", "BINDING_CONSTRAINTS", "GUARDRAILS"]

#: Values of :attr:`PriceDecision.binding_constraint`.
BINDING_CONSTRAINTS = ("optimum", "min_margin", "break_even", "max_discount", "min_saving", "price_ending",
                       "no_profitable_discount")
#: Guardrails, in the order reported when several bind at once.
GUARDRAILS = ("min_margin", "break_even", "max_discount", "min_saving")
# The guardrails that cap the saving (min_saving is a floor on it).
_CAPS = ("min_margin", "break_even", "max_discount")
_GRID_TYPES = ("percent_off", "set_price", "amount_off", "addon_discount")
#: An add-on offered at the till, only to baskets holding the anchor without it (see :func:`best_offer`).
TILL_TYPE = "till_addon"
_EPS = 1e-9


@dataclass(frozen=True)
class PriceDecision:
    """How to price one bundle, and why.

    Money is in currency units rounded to cents; shares are fractions.

    Attributes
    ----------
    discount_type : str
        One of :data:`~recommender.policy.DISCOUNT_TYPES`.
    regular_price, bundle_price : float
        Sum of the items' regular prices, and what the customer pays for them
        (a gift is on top, free).
    saving, discount_amount : float
        What the customer saves (for a gift: its price). The same number.
    discount_pct : float
        ``saving / regular_price``, the ``d_pct`` of the response curve.
    discount_cost : float
        What one redeeming ticket costs the store (the saving, or the gift's cost).
    expected_take_rate, expected_takers, expected_profit : float
        q(d_pct), q * G, and E[profit] for the period.
    break_even_take_rate : float
        Take rate at which E[profit] = 0 (``inf`` when no take rate breaks even).
    binding_constraint : str
        One of :data:`BINDING_CONSTRAINTS`.
    recommended : bool
        Whether to run the offer; ``reason_not_recommended`` says why not.
        When False the money fields describe the least-bad candidate looked at
        (or no discount at all when none was feasible).
    guardrails : dict
        ``name -> {"limit", "value", "holds", "kind", "text"}`` for
        :data:`GUARDRAILS`; ``kind`` "min" means value >= limit is required.
        min_margin bounds ``bundle_price``, break_even ``discount_cost``,
        max_discount and min_saving ``saving`` (for a gift: its shelf value).
    components : tuple of dict
        One per item (gift included): sku, role, quantity, unit_price,
        regular_amount, promotion_price. ``promotion_price`` is what the till
        charges for that line (``quantity`` units) inside the bundle; they sum
        exactly to ``bundle_price``.
    discounted_sku : str or None
        The add-on discounted, the free item or the gift.
    label : str
        Short English description, e.g. ``"15% off the set"``.
    """

    discount_type: str
    regular_price: float
    bundle_price: float
    saving: float
    discount_amount: float
    discount_pct: float
    discount_cost: float
    expected_take_rate: float
    expected_takers: float
    expected_profit: float
    break_even_take_rate: float
    binding_constraint: str
    recommended: bool
    reason_not_recommended: str | None
    guardrails: dict
    components: tuple
    discounted_sku: str | None
    label: str
    gap_tickets: int
    set_tickets: int
    added_margin: float
    substitute_margin_loss: float
    price_ending: str | None = None
    notes: tuple = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """A plain dict (nested components and guardrails), e.g. for JSON."""
        return asdict(self)

    def to_row(self) -> dict:
        """A flat dict for one row of ``bundles.csv``: components, guardrails and notes as JSON text.

        :func:`recommender.export.export_bundles` reads ``components`` back from this JSON.
        """
        row = asdict(self)
        for key in ("components", "guardrails", "notes"):
            row[key] = json.dumps(row[key], ensure_ascii=False, sort_keys=key == "guardrails")
        return row


@dataclass(frozen=True)
class Offer:
    """The best :class:`PriceDecision` over the allowed discount types, and all of them (best first).

    Unpacks as ``best, decisions = best_offer(...)``.
    """

    best: PriceDecision
    decisions: tuple

    def __iter__(self):
        return iter((self.best, self.decisions))


def expected_profit(take_rate, gap_tickets, added_margin, discount_cost, set_tickets, substitute_margin_loss=0.0):
    """E[profit] = q * G * (M - c - L) - c * S (scalars or numpy arrays).

    >>> expected_profit(0.1, 200, 10.0, 2.0, 50)
    60.0
    """
    return take_rate * gap_tickets * (added_margin - discount_cost - substitute_margin_loss) - discount_cost * set_tickets


def break_even_take_rate(gap_tickets, added_margin, discount_cost, set_tickets, substitute_margin_loss=0.0) -> float:
    """Take rate at which the expected profit is zero (``inf`` if none; 0 if there is nothing to lose).

    >>> break_even_take_rate(200, 10.0, 2.0, 50)
    0.0625
    """
    per_taker = added_margin - discount_cost - substitute_margin_loss
    loss = discount_cost * set_tickets
    if loss <= 0 and per_taker >= 0:
        return 0.0
    if gap_tickets <= 0 or per_taker <= 0:
        return math.inf
    return loss / (gap_tickets * per_taker)


def split_amount(total: float, amounts) -> list:
    """Split ``total`` across lines in proportion to ``amounts``, to the cent, summing exactly.

    Largest-remainder rounding in cents (ties to the earlier line).

    >>> split_amount(10.0, [1.0, 1.0, 1.0])
    [3.34, 3.33, 3.33]
    >>> sum(split_amount(99.99, [12.5, 7.25, 30.0])) == 99.99
    True
    """
    cents = _split_cents(_cents(total), [_cents(a) for a in amounts])
    return [c / 100 for c in cents]


def _split_cents(total_c: int, weights_c) -> list:
    weights = np.asarray(weights_c, dtype="float64")
    if len(weights) == 0:
        raise ValueError("nothing to split")
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    exact = total_c * weights / weights.sum()
    base = np.floor(exact).astype(np.int64)
    rest = int(total_c - base.sum())
    order = sorted(range(len(base)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return [int(v) for v in base]


def _cents(x) -> int:
    # Decimal-free half-up rounding: the tiny nudge keeps 2.675 (stored as 2.67499...) at 268.
    return int(math.floor(float(x) * 100 + 0.5 + 1e-7))


def _money(c) -> float:
    return round(float(c) / 100, 2)


# --------------------------------------------------------------------------- inputs


def _number(value, what, sku):
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise InputError(f"{what} of SKU {sku!r} is missing or not a number ({value!r})",
                         hint="give every bundle item a price and a unit_cost in the catalog")
    return v


def _clean_row(it, role) -> dict:
    sku = str(it["sku"])
    price = _number(it.get("price"), "price", sku)
    cost = _number(it.get("unit_cost"), "unit_cost", sku)
    if price <= 0 or cost < 0:
        raise InputError(f"SKU {sku!r}: price must be > 0 and unit_cost >= 0 (got {price}, {cost})")
    if role not in ("anchor", "addon", "gift"):
        raise ValueError(f"role must be 'anchor' or 'addon', not {role!r}")
    qty = int(it.get("quantity", 1) or 1)
    if qty < 1:
        raise ValueError(f"quantity of SKU {sku!r} must be >= 1")
    return {"sku": sku, "price_c": _cents(price), "cost": cost, "role": role, "quantity": qty,
            "department": it.get("department")}


def _clean_items(items) -> list:
    rows = [_clean_row(it, it.get("role") or ("anchor" if i == 0 else "addon")) for i, it in enumerate(items)]
    if not any(r["role"] == "anchor" for r in rows) or not any(r["role"] == "addon" for r in rows):
        raise ValueError("a bundle needs at least one anchor and one add-on")
    if len({r["sku"] for r in rows}) != len(rows):
        raise ValueError("a bundle lists each SKU once (use quantity for several units)")
    return rows


def _bundle_policy(policy: Policy, rows):
    anchor_dept = next(r["department"] for r in rows if r["role"] == "anchor")
    depts = {r["department"] for r in rows}
    per = [policy.for_department(d) for d in depts]
    base = policy.for_department(anchor_dept)
    min_saving = max(p.min_saving_pct for p in per)
    # the strictest department's noticeable saving is the bundle's: below it the offer wins nobody
    return (base, policy.curve_for(anchor_dept).noticed_from(min_saving), max(p.min_margin for p in per),
            min(p.max_discount_pct for p in per), min_saving)


@dataclass(frozen=True)
class _Setup:
    rows: list
    p_c: int  # regular price of the paid items, cents
    cost: float
    margin: float  # M
    loss: float  # L
    gap: int
    sets: int
    policy: Policy
    curve: ResponseCurve
    min_margin: float
    max_pct: float
    min_pct: float = 0.0

    @property
    def floor_c(self) -> int:
        """Smallest saving (cents) a discount-type offer may give."""
        return max(0, math.ceil(self.min_pct * self.p_c - 1e-6))

    def profit(self, saving_c, cost_c):
        q = self.curve.take_rate(np.asarray(saving_c, dtype="float64") / self.p_c)
        return expected_profit(q, self.gap, self.margin, np.asarray(cost_c, dtype="float64") / 100, self.sets,
                               self.loss)


# --------------------------------------------------------------------------- grids


def _addon_to_discount(rows) -> dict:
    addons = [r for r in rows if r["role"] == "addon"]
    return max(addons, key=lambda r: ((r["price_c"] / 100 - r["cost"]) / (r["price_c"] / 100),
                                      (r["price_c"] / 100 - r["cost"]) * r["quantity"], [-ord(ch) for ch in r["sku"]]))


def _grid(kind: str, setup: _Setup, limit_c: int, floor_c: int = 0) -> np.ndarray:
    """Savings in cents that the type can express, max(floor_c, 1) <= d <= limit_c, plus both limits."""
    pol = setup.policy
    lo = max(int(floor_c), 1)
    if limit_c < lo:
        return np.zeros(0, dtype=np.int64)
    if kind in ("percent_off", "addon_discount"):
        base_c = setup.p_c if kind == "percent_off" else _line_c(_addon_to_discount(setup.rows))
        n = int(math.floor(1.0 / pol.grid_step + 1e-9))
        d = np.floor(np.arange(1, n + 1) * pol.grid_step * base_c + 0.5).astype(np.int64)
    elif kind == "amount_off":
        step = max(1, _cents(pol.amount_step))
        d = np.arange(step, limit_c + 1, step, dtype=np.int64)
    elif kind == "set_price":
        step = max(1, _cents(pol.amount_step))
        lowest = -(-(setup.p_c - limit_c) // step) * step  # first multiple of step at or above the floor
        prices = np.arange(max(lowest, step), setup.p_c, step, dtype=np.int64)
        d = setup.p_c - prices
    else:
        raise ValueError(kind)
    d = d[(d >= lo) & (d <= limit_c)]
    # The limits are candidates so that a binding guardrail is met exactly.
    return np.unique(np.append(d, [limit_c, floor_c] if floor_c > 0 else [limit_c]))


def _line_c(row) -> int:
    return row["price_c"] * row["quantity"]


def _structural_max(kind: str, setup: _Setup) -> int:
    if kind == "addon_discount":
        return _line_c(_addon_to_discount(setup.rows))
    return setup.p_c - 1  # the bundle must cost something


def _limits(setup: _Setup) -> dict:
    """Largest saving (cents) each guardrail allows, for types where saving == cost."""
    min_price_c = math.ceil(setup.cost * 100 / (1 - setup.min_margin) - 1e-6)
    return {
        "min_margin": setup.p_c - min_price_c,
        "break_even": math.floor((setup.margin - setup.loss) * 100 + 1e-6),
        "max_discount": math.floor(setup.max_pct * setup.p_c + 1e-6),
    }


def _best_on_grid(kind, setup, limit_c, floor_c=0):
    grid = _grid(kind, setup, limit_c, floor_c)
    if len(grid) == 0:
        return None, -math.inf
    e = setup.profit(grid, grid)
    i = int(np.argmax(e))  # first maximum: the smaller saving on a tie
    return int(grid[i]), float(e[i])


# --------------------------------------------------------------------------- endings


def _round_to_ending(price_c: int, ending: str, up: bool) -> int:
    mod, rem = PRICE_ENDINGS[ending]
    down = price_c - ((price_c - rem) % mod)
    if up and down != price_c:
        return down + mod
    return down


# --------------------------------------------------------------------------- decisions


def _guardrails(setup, bundle_c, cost_c, saving_c, extra_cost=0.0, gift=False) -> dict:
    min_price_c = math.ceil((setup.cost + extra_cost) * 100 / (1 - setup.min_margin) - 1e-6)
    be_c = math.floor((setup.margin - setup.loss) * 100 + 1e-6)
    max_c = math.floor(setup.max_pct * setup.p_c + 1e-6)
    floor_c = setup.floor_c
    floor_text = (f"gift's shelf value >= {_share(setup.min_pct)} of the regular price" if gift
                  else f"saving >= {_share(setup.min_pct)} of the regular price")
    return {
        "min_margin": {"limit": _money(min_price_c), "value": _money(bundle_c), "holds": bundle_c >= min_price_c,
                       "kind": "min", "text": f"bundle price >= cost / (1 - {setup.min_margin:.0%})"},
        "break_even": {"limit": _money(be_c), "value": _money(cost_c), "holds": cost_c <= be_c, "kind": "max",
                       "text": "discount cost per taker <= margin the taker adds"},
        "max_discount": {"limit": _money(max_c), "value": _money(saving_c), "holds": saving_c <= max_c,
                         "kind": "max", "text": f"saving <= {setup.max_pct:.0%} of the regular price"},
        "min_saving": {"limit": _money(floor_c), "value": _money(saving_c), "holds": saving_c >= floor_c,
                       "kind": "min", "text": floor_text},
    }


def _share(x: float) -> str:
    return f"{round(x * 100, 2):g}%"


def _components(kind, setup, saving_c, discounted, gift_row):
    rows = setup.rows
    regular = [_line_c(r) for r in rows]
    if kind in ("percent_off", "set_price", "amount_off"):
        promo = _split_cents(setup.p_c - saving_c, regular)
    else:
        promo = list(regular)
        if kind in ("addon_discount", "cheapest_free"):
            i = next(j for j, r in enumerate(rows) if r["sku"] == discounted)
            promo[i] -= saving_c
    out = [{"sku": r["sku"], "role": r["role"], "quantity": r["quantity"], "unit_price": _money(r["price_c"]),
            "regular_amount": _money(reg), "promotion_price": _money(p)}
           for r, reg, p in zip(rows, regular, promo)]
    if gift_row is not None:
        out.append({"sku": gift_row["sku"], "role": "gift", "quantity": gift_row["quantity"],
                    "unit_price": _money(gift_row["price_c"]), "regular_amount": _money(_line_c(gift_row)),
                    "promotion_price": 0.0})
    return tuple(out)


def _label(kind, setup, saving_c, bundle_c, discounted):
    if kind == "percent_off":
        return f"{_pct_text(saving_c / setup.p_c)} off the set"
    if kind == "set_price":
        return f"set price {_money(bundle_c):.2f}"
    if kind == "amount_off":
        return f"{_money(saving_c):.2f} off the set"
    if kind == "addon_discount":
        row = next(r for r in setup.rows if r["sku"] == discounted)
        return f"{_pct_text(saving_c / _line_c(row))} off {discounted}"
    if kind == "cheapest_free":
        return f"{discounted} free"
    return f"free {discounted}"


def named_label(decision: PriceDecision, name) -> str:
    """The offer's label with the discounted item, free item or gift called by ``name`` instead of its SKU.

    >>> items = [{"sku": "a", "price": 20, "unit_cost": 8}, {"sku": "b", "price": 10, "unit_cost": 4}]
    >>> d = price_bundle(items, 500, 5, gift={"sku": "000140", "price": 3, "unit_cost": 0.5},
    ...                  discount_type="gift")
    >>> d.label, named_label(d, "First-aid pouch")
    ('free 000140', 'free First-aid pouch')
    >>> named_label(price_bundle(items, 500, 400, discount_type="till_addon"), "Cup")
    '21% off Cup at the till, for baskets without it'
    """
    sku = decision.discounted_sku
    if not sku or not isinstance(name, str) or not name.strip() or not decision.label.count(sku):
        return decision.label
    kind, name = decision.discount_type, name.strip()
    if kind == "gift":
        return f"free {name}"
    if kind == "cheapest_free":
        return f"{name} free"
    if kind == "addon_discount" and decision.label.endswith(f" off {sku}"):
        return decision.label[: -len(sku)] + name
    if kind == TILL_TYPE and f" off {sku} at the till" in decision.label:
        return decision.label.replace(f" off {sku} at the till", f" off {name} at the till", 1)
    return decision.label


def _pct_text(share: float) -> str:
    # Rounded down to a tenth of a percent: a label never overstates the saving.
    tenths = math.floor(share * 1000 + 1e-6)
    return f"{tenths // 10}%" if tenths % 10 == 0 else f"{tenths / 10:.1f}%"


def _decision(kind, setup, saving_c, cost_c, binding, recommended, reason, discounted=None, gift_row=None,
              notes=()):
    bundle_c = setup.p_c - (0 if kind == "gift" else saving_c)
    extra = gift_row["cost"] * gift_row["quantity"] if gift_row is not None else 0.0
    if saving_c == 0:
        q = takers = profit = 0.0
    else:
        q = float(setup.curve.take_rate(saving_c / setup.p_c))
        takers = q * setup.gap
        profit = float(setup.profit(saving_c, cost_c))
    return PriceDecision(
        discount_type=kind, regular_price=_money(setup.p_c), bundle_price=_money(bundle_c),
        saving=_money(saving_c), discount_amount=_money(saving_c), discount_pct=saving_c / setup.p_c,
        discount_cost=_money(cost_c) if kind != "gift" else round(extra, 2), expected_take_rate=q,
        expected_takers=takers, expected_profit=profit,
        break_even_take_rate=break_even_take_rate(setup.gap, setup.margin, cost_c / 100, setup.sets, setup.loss),
        binding_constraint=binding, recommended=recommended, reason_not_recommended=reason,
        guardrails=_guardrails(setup, bundle_c, cost_c, saving_c, extra_cost=extra, gift=kind == "gift"),
        components=_components(kind, setup, saving_c, discounted, gift_row), discounted_sku=discounted,
        label=_label(kind, setup, saving_c, bundle_c, discounted), gap_tickets=setup.gap, set_tickets=setup.sets,
        added_margin=setup.margin, substitute_margin_loss=setup.loss, price_ending=setup.policy.price_ending,
        notes=tuple(notes))


def _why_not(setup, guard_name=None) -> str:
    if setup.gap == 0:
        return "no gap tickets: every receipt with the anchor already holds the add-ons (or none has the anchor)"
    if setup.margin - setup.loss <= 0:
        return "the add-ons earn no margin (after substitutes) to pay for a discount"
    if guard_name is not None:
        return f"the {guard_name.replace('_', ' ')} guardrail rules this discount out"
    if setup.sets > 0:
        return "customers already buy the set: any discount costs more than it earns"
    return "no discount earns more than it costs"


def _too_small(setup) -> str:
    return f"the smallest noticeable saving ({_share(setup.min_pct)}) costs more than it earns"


def price_bundle(items, gap_tickets: int, set_tickets: int, policy: Policy | None = None,
                 substitute_margin_loss: float = 0.0, gift: dict | None = None, *,
                 discount_type: str = "percent_off", added_margin: float | None = None) -> PriceDecision:
    """Price one bundle with one discount type (see the module docstring for the economics).

    Parameters
    ----------
    items : list of dict
        ``sku``, ``price`` (regular unit price), ``unit_cost``, ``role``
        ("anchor" or "addon"; default: first item anchor, others add-ons),
        ``department``, optional ``quantity`` (default 1).
    gap_tickets, set_tickets : int
        G and S for the store and period.
    policy : Policy, optional
        Guardrails and response curves (default :class:`~recommender.policy.Policy`).
    substitute_margin_loss : float
        L, margin lost on substitutes per taker.
    gift : dict, optional
        ``sku``, ``price``, ``unit_cost`` (optional ``quantity``) of the free
        item; required for ``discount_type="gift"``.
    discount_type : str
        One of :data:`~recommender.policy.DISCOUNT_TYPES`.
    added_margin : float, optional
        M measured from the gap tickets (e.g. the mean margin of the add-ons
        they lack); default: the add-ons' full margin.

    Returns
    -------
    PriceDecision

    Raises
    ------
    InputError
        An item has no usable price or unit cost.

    Examples
    --------
    >>> items = [{"sku": "shirt", "price": 50, "unit_cost": 20, "role": "anchor", "department": "apparel"},
    ...          {"sku": "tie", "price": 30, "unit_cost": 9, "role": "addon", "department": "apparel"}]
    >>> d = price_bundle(items, gap_tickets=400, set_tickets=20)
    >>> d.recommended, d.binding_constraint, d.label, d.bundle_price
    (True, 'optimum', '8% off the set', 73.6)
    >>> round(sum(c["promotion_price"] for c in d.components), 2) == d.bundle_price
    True
    """
    policy = policy or Policy()
    if discount_type not in DISCOUNT_TYPES and discount_type != TILL_TYPE:
        raise ValueError(f"discount_type must be one of {', '.join(DISCOUNT_TYPES + (TILL_TYPE,))}, "
                         f"not {discount_type!r}")
    gap, sets = int(gap_tickets), int(set_tickets)
    if gap < 0 or sets < 0:
        raise ValueError("gap_tickets and set_tickets are counts (>= 0)")
    loss = float(substitute_margin_loss)
    if not math.isfinite(loss) or loss < 0:
        raise ValueError("substitute_margin_loss must be a finite amount >= 0")
    rows = _clean_items(items)
    base, curve, min_margin, max_pct, min_pct = _bundle_policy(policy, rows)
    margin = (sum((r["price_c"] / 100 - r["cost"]) * r["quantity"] for r in rows if r["role"] == "addon")
              if added_margin is None else float(added_margin))
    setup = _Setup(rows=rows, p_c=sum(_line_c(r) for r in rows), cost=sum(r["cost"] * r["quantity"] for r in rows),
                   margin=margin, loss=loss, gap=gap, sets=sets, policy=base, curve=curve, min_margin=min_margin,
                   max_pct=max_pct, min_pct=min_pct)
    if discount_type == "gift":
        return _price_gift(setup, gift)
    if discount_type == "cheapest_free":
        return _price_cheapest_free(setup)
    if discount_type == TILL_TYPE:
        return _price_till(setup)
    return _price_on_grid(discount_type, setup)


def _price_till(setup) -> PriceDecision:
    """A percent off the add-on, offered at the till only to baskets holding the anchor without it.

    The tickets that already hold the set never see the offer, so they are not
    paid a discount: E[profit] = q G (M - c - L). Same grid, floors and
    guardrails as ``addon_discount``.
    """
    d = _price_on_grid("addon_discount", replace(setup, sets=0))
    return replace(d, discount_type=TILL_TYPE, set_tickets=setup.sets,
                   label=f"{d.label} at the till, for baskets without it",
                   notes=d.notes + (f"offered only to baskets with the anchor and without {d.discounted_sku}: "
                                    f"the {setup.sets} set ticket(s) are not given the discount",))


def _price_on_grid(kind, setup) -> PriceDecision:
    limits = _limits(setup)
    guard = min(limits.values())
    structural = _structural_max(kind, setup)
    limit_c = min(guard, structural)
    floor_c = setup.floor_c
    discounted = _addon_to_discount(setup.rows)["sku"] if kind == "addon_discount" else None
    best_c, best_e = _best_on_grid(kind, setup, limit_c, floor_c)
    if best_c is None:
        tight = next(n for n in _CAPS if limits[n] == guard) if guard <= structural else None
        if limit_c > 0 and setup.gap > 0 and setup.margin - setup.loss > 0:
            # Some saving is allowed, just none as large as the floor.
            what = f"the {tight.replace('_', ' ')} guardrail" if tight else f"the price of {discounted}"
            reason = f"the smallest noticeable saving ({_share(setup.min_pct)}) is more than {what} allows"
        else:
            reason = _why_not(setup, tight)
        return _decision(kind, setup, 0, 0, "no_profitable_discount", False, reason, discounted)
    # What a saving under the floor would earn if customers noticed it: says whether the floor binds.
    heard = replace(setup, curve=setup.curve.noticed_from(0.0))
    if best_e <= _EPS:
        _, below_e = _best_on_grid(kind, heard, min(limit_c, floor_c - 1)) if floor_c > 1 else (None, -math.inf)
        reason = _too_small(setup) if below_e > _EPS else _why_not(setup)
        return _decision(kind, setup, best_c, best_c, "no_profitable_discount", False, reason, discounted)
    binding = "optimum"
    if best_c == limit_c and guard <= structural:
        tied = [n for n in _CAPS if limits[n] == guard]
        relaxed = min([v for n, v in limits.items() if n not in tied] + [structural])
        _, relaxed_e = _best_on_grid(kind, setup, relaxed, floor_c)
        if relaxed_e > best_e + _EPS * max(1.0, abs(best_e)):
            binding = tied[0]
    if binding == "optimum" and best_c == floor_c:
        _, relaxed_e = _best_on_grid(kind, heard, limit_c)
        if relaxed_e > best_e + _EPS * max(1.0, abs(best_e)):
            binding = "min_saving"
    notes = []
    ending = setup.policy.price_ending
    if ending:
        best_c, moved, note = _apply_ending(setup, best_c, limit_c, ending)
        if moved:
            binding = "price_ending"
        if note:
            notes.append(note)
    return _decision(kind, setup, best_c, best_c, binding, True, None, discounted, notes=notes)


def _apply_ending(setup, saving_c, limit_c, ending):
    price_c = setup.p_c - saving_c
    down = _round_to_ending(price_c, ending, up=False)
    if down == price_c:
        return saving_c, False, None
    if down > 0 and setup.p_c - down <= limit_c and float(setup.profit(setup.p_c - down, setup.p_c - down)) > _EPS:
        return setup.p_c - down, True, None
    up = _round_to_ending(price_c, ending, up=True)
    # Rounding up shrinks the saving: it must stay noticeable.
    if (up < setup.p_c and setup.p_c - up >= setup.floor_c
            and float(setup.profit(setup.p_c - up, setup.p_c - up)) > _EPS):
        return setup.p_c - up, True, None
    return saving_c, False, f"price ending {ending!r} skipped: no rounded price keeps the guardrails and a profit"


def _price_cheapest_free(setup) -> PriceDecision:
    row = min(setup.rows, key=lambda r: (r["price_c"], r["sku"]))
    saving_c = row["price_c"]
    limits = _limits(setup)
    broken = [n for n in _CAPS if saving_c > limits[n]]
    if broken or saving_c >= setup.p_c:
        return _decision("cheapest_free", setup, 0, 0, "no_profitable_discount", False,
                         _why_not(setup, broken[0] if broken else "min_margin"), row["sku"])
    if saving_c < setup.floor_c:
        return _decision("cheapest_free", setup, 0, 0, "no_profitable_discount", False,
                         f"one free {row['sku']} saves less than the smallest noticeable saving "
                         f"({_share(setup.min_pct)})", row["sku"])
    e = float(setup.profit(saving_c, saving_c))
    if e <= _EPS:
        return _decision("cheapest_free", setup, saving_c, saving_c, "no_profitable_discount", False,
                         _why_not(setup), row["sku"])
    return _decision("cheapest_free", setup, saving_c, saving_c, "optimum", True, None, row["sku"])


def _price_gift(setup, gift) -> PriceDecision:
    if gift is None:
        raise ValueError("discount_type='gift' needs a gift item (sku, price, unit_cost)")
    g = _clean_row(gift, "gift")
    if g["sku"] in {r["sku"] for r in setup.rows}:
        raise ValueError("the gift must not be one of the bundle's items")
    value_c = _line_c(g)
    cost = g["cost"] * g["quantity"]
    cost_c = cost * 100  # float cents: the gift's cost need not be whole cents
    guard = _guardrails(setup, setup.p_c, cost_c, value_c, extra_cost=cost, gift=True)
    broken = [n for n in _CAPS if not guard[n]["holds"]]
    if broken:
        return _decision("gift", setup, 0, 0, "no_profitable_discount", False, _why_not(setup, broken[0]),
                         g["sku"], gift_row=g)
    if value_c < setup.floor_c:
        # the same floor as a discount: a gift worth less than a noticeable saving wins nobody
        return _decision("gift", setup, 0, 0, "no_profitable_discount", False,
                         f"the free {g['sku']} is worth less than the smallest noticeable saving "
                         f"({_share(setup.min_pct)} of the set)", g["sku"], gift_row=g)
    e = float(setup.profit(value_c, cost_c))
    ok = e > _EPS
    return _decision("gift", setup, value_c, cost_c, "optimum" if ok else "no_profitable_discount", ok,
                     None if ok else _why_not(setup), g["sku"], gift_row=g)


def best_offer(items, gap_tickets: int, set_tickets: int, policy: Policy | None = None,
               substitute_margin_loss: float = 0.0, gift: dict | None = None, *,
               added_margin: float | None = None) -> Offer:
    """Price the bundle with every allowed discount type and pick the best.

    The best is the recommended decision with the highest expected profit (the
    earlier type in the policy's ``discount_types`` on a tie); when none is
    recommended, the least-bad one that could be priced at all. ``gift`` is
    skipped when no gift is given.

    A shelf offer is given to every ticket with the set, including the ``S``
    that already buy it; when that makes every type lose money (35% of shirt
    buyers already take the tie: each discount is paid to them for nothing),
    and the policy's ``till_offers`` allows it, the add-on is offered at the
    till to baskets holding the anchor without it (:data:`TILL_TYPE`,
    E[profit] = q G (M - c - L)), which then comes first when it earns money.
    It is a fallback, not a competitor: a shelf offer reaches every anchor
    buyer and needs no till prompt, so it is preferred whenever it pays.

    >>> shop = [{"sku": "shirt", "price": 40, "unit_cost": 26}, {"sku": "tie", "price": 20, "unit_cost": 13}]
    >>> o = best_offer(shop, gap_tickets=150, set_tickets=100)
    >>> o.best.discount_type, o.best.recommended, o.best.set_tickets, o.decisions[1].recommended
    ('till_addon', True, 100, False)

    Examples
    --------
    >>> items = [{"sku": "a", "price": 20, "unit_cost": 8, "department": "grocery"},
    ...          {"sku": "b", "price": 10, "unit_cost": 4, "department": "grocery"}]
    >>> offer = best_offer(items, 500, 50)
    >>> offer.best.recommended, offer.best is offer.decisions[0]
    (True, True)
    >>> all(offer.best.expected_profit >= d.expected_profit for d in offer.decisions if d.recommended)
    True
    """
    policy = policy or Policy()
    rows = _clean_items(items)
    base, *_ = _bundle_policy(policy, rows)
    types = [t for t in base.discount_types if t != "gift" or gift is not None]
    if not types:
        raise ValueError("the policy allows no discount type usable here (gift needs a gift item)")
    decisions = [price_bundle(items, gap_tickets, set_tickets, policy, substitute_margin_loss, gift,
                              discount_type=t, added_margin=added_margin) for t in types]
    # Among offers that are not recommended, one that was priced (and lost money) explains more
    # than one that no guardrail allowed at all.
    order = sorted(range(len(decisions)), key=lambda i: (not decisions[i].recommended, decisions[i].saving == 0,
                                                         -decisions[i].expected_profit, i))
    ranked = tuple(decisions[i] for i in order)
    if not ranked[0].recommended and base.till_offers and int(set_tickets) > 0 and int(gap_tickets) > 0:
        # A shelf offer is paid to every ticket that already holds the set; when that sinks it, the add-on can
        # still be offered at the till to the baskets that lack it.
        till = price_bundle(items, gap_tickets, set_tickets, policy, substitute_margin_loss,
                            discount_type=TILL_TYPE, added_margin=added_margin)
        ranked = (till, *ranked) if till.recommended else (*ranked, till)
    return Offer(best=ranked[0], decisions=ranked)
