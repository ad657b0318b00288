"""Bundle pricing: guardrails hold, the chosen discount is the best on the grid, the binding
constraint is the one that binds, and the economics rank bundles by what they add."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recommender.errors import InputError
from recommender.reasons import reasons_for
from recommender.policy import (DEFAULT_CURVES, Policy, ResponseCurve, calibration_factor, load_policy,
                                policy_from_flags)
from recommender.pricing import (BINDING_CONSTRAINTS, best_offer, break_even_take_rate, price_bundle,
                                 split_amount)

ROOT = Path(__file__).resolve().parents[1]
GRID_TYPES = ("percent_off", "set_price", "amount_off", "addon_discount")
ALL_TYPES = GRID_TYPES + ("cheapest_free", "gift")
DEPTS = ("apparel", "pharmacy", "grocery", "toys", None)


@st.composite
def bundles(draw):
    n = draw(st.integers(2, 4))
    items = []
    for i in range(n):
        price_c = draw(st.integers(50, 50_000))
        cost_c = draw(st.integers(0, int(price_c * 0.95)))
        items.append({"sku": f"s{i}", "price": price_c / 100, "unit_cost": cost_c / 100,
                      "role": "anchor" if i == 0 else "addon", "department": draw(st.sampled_from(DEPTS)),
                      "quantity": draw(st.sampled_from([1, 1, 1, 2]))})
    return items


policies = st.builds(
    Policy,
    min_margin=st.floats(0.0, 0.6),
    max_discount_pct=st.floats(0.05, 0.95),
    min_saving_pct=st.one_of(st.just(0.0), st.just(0.05), st.floats(0.0, 0.2)),
    grid_step=st.sampled_from([0.01, 0.02, 0.05, 0.1]),
    amount_step=st.sampled_from([0.5, 1.0, 5.0]),
)
gifts = st.builds(lambda p, r: {"sku": "gift", "price": p / 100, "unit_cost": round(p * r) / 100},
                  st.integers(50, 3000), st.floats(0.0, 1.0))
counts = st.integers(0, 5000)
losses = st.sampled_from([0.0, 0.0, 0.5, 3.0])


def _cents(x):
    return int(math.floor(x * 100 + 0.5 + 1e-7))


def _totals(items, gift=None):
    regular = sum(_cents(it["price"]) * it["quantity"] for it in items) / 100
    cost = sum(it["unit_cost"] * it["quantity"] for it in items)
    margin = sum((_cents(it["price"]) / 100 - it["unit_cost"]) * it["quantity"] for it in items if it["role"] == "addon")
    if gift is not None:
        cost += gift["unit_cost"]
    return regular, cost, margin


def _strictest(policy, items):
    depts = {it["department"] for it in items}
    return (max(policy.for_department(d).min_margin for d in depts),
            min(policy.for_department(d).max_discount_pct for d in depts))


def _floor_cents(items, policy):
    """Smallest saving (cents) a discount-type offer may give: the strictest min_saving_pct of the regular price."""
    regular_c = sum(_cents(it["price"]) * it["quantity"] for it in items)
    pct = max(policy.for_department(it["department"]).min_saving_pct for it in items)
    return math.ceil(pct * regular_c - 1e-6)


def _profit(items, policy, gap, sets, loss, saving, cost_per_taker):
    """E[profit] from the issue's formula, written out independently of the module."""
    regular, _, margin = _totals(items)
    c = policy.curve_for(items[0]["department"])
    q = c.q0 + (c.q_max - c.q0) * (1 - np.exp(-c.k * np.asarray(saving) / regular))
    return q * gap * (margin - cost_per_taker - loss) - cost_per_taker * sets


def _feasible(items, policy, loss, saving_c):
    regular, cost, margin = _totals(items)
    mm, mx = _strictest(policy, items)
    price = regular - saving_c / 100
    return ((price + 1e-9 >= cost / (1 - mm)) & (saving_c / 100 <= margin - loss + 1e-9)
            & (saving_c / 100 <= mx * regular + 1e-9) & (saving_c > 0) & (price > 0)
            & (saving_c >= _floor_cents(items, policy)))


# --------------------------------------------------------------------------- guardrails


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), counts, counts, policies, losses, gifts, st.sampled_from(ALL_TYPES))
def test_guardrails_always_hold(items, gap, sets, policy, loss, gift, kind):
    d = price_bundle(items, gap, sets, policy, loss, gift, discount_type=kind)
    regular, cost, margin = _totals(items, gift if kind == "gift" else None)
    mm, mx = _strictest(policy, items)
    assert d.binding_constraint in BINDING_CONSTRAINTS
    assert d.regular_price == pytest.approx(regular)
    if d.recommended:
        assert d.bundle_price + 1e-9 >= cost / (1 - mm)
        assert d.discount_cost <= margin - loss + 1e-9
        assert d.saving <= mx * regular + 1e-9
        # every type, a gift included (its shelf value is the saving), gives at least the noticeable saving
        assert _cents(d.saving) >= _floor_cents(items, policy)
        assert d.expected_profit > 0
        assert all(g["holds"] for g in d.guardrails.values())
    else:
        assert d.binding_constraint == "no_profitable_discount" and d.reason_not_recommended
    # the till charges exactly the bundle price
    assert sum(_cents(c["promotion_price"]) for c in d.components) == _cents(d.bundle_price)
    assert all(c["promotion_price"] >= 0 for c in d.components)


@settings(max_examples=150, deadline=None)
@given(bundles(), counts, policies, losses, st.sampled_from(ALL_TYPES), gifts)
def test_zero_gap_bundles_are_not_recommended(items, sets, policy, loss, kind, gift):
    d = price_bundle(items, 0, sets, policy, loss, gift, discount_type=kind)
    assert not d.recommended
    assert d.binding_constraint == "no_profitable_discount"


# --------------------------------------------------------------------------- optimum on the grid


def _grid_cents(kind, items, policy):
    """The grid of savings each type can express, built from the policy directly."""
    regular_c = sum(_cents(it["price"]) * it["quantity"] for it in items)
    pol = policy.for_department(items[0]["department"])
    if kind == "percent_off":
        steps = np.arange(1, int(round(1 / pol.grid_step)) + 1) * pol.grid_step
        return np.floor(steps * regular_c + 0.5).astype(int)
    step = _cents(pol.amount_step)
    if kind == "amount_off":
        return np.arange(step, regular_c, step)
    if kind == "set_price":
        return regular_c - np.arange(step, regular_c, step)
    raise ValueError(kind)


@settings(max_examples=200, deadline=None)
@given(bundles(), st.integers(1, 5000), counts, policies, losses, st.sampled_from(("percent_off", "amount_off",
                                                                                    "set_price")))
def test_chosen_discount_maximises_profit_on_the_grid(items, gap, sets, policy, loss, kind):
    d = price_bundle(items, gap, sets, policy, loss, discount_type=kind)
    regular_c = sum(_cents(it["price"]) * it["quantity"] for it in items)
    every_cent = np.arange(1, regular_c)
    ok = _feasible(items, policy, loss, every_cent)
    grid = _grid_cents(kind, items, policy)
    grid = grid[_feasible(items, policy, loss, grid)]
    if ok.any():
        # the guardrail limits are candidates too: the largest allowed saving, and the min_saving floor
        grid = np.append(grid, every_cent[ok].max())
        if _floor_cents(items, policy) > 0:
            grid = np.append(grid, every_cent[ok].min())
    profits = _profit(items, policy, gap, sets, loss, grid / 100, grid / 100) if len(grid) else np.zeros(0)
    if len(grid) and profits.max() > 1e-9:
        assert d.recommended
        assert _cents(d.saving) in set(grid.tolist())
        assert d.expected_profit == pytest.approx(profits.max(), rel=1e-9, abs=1e-9)
        assert d.expected_profit == pytest.approx(
            float(_profit(items, policy, gap, sets, loss, d.saving, d.saving)), rel=1e-9, abs=1e-9)
    else:
        assert not d.recommended


@st.composite
def thin_anchor_bundles(draw):
    """A low-margin anchor with rich add-ons: where the min-margin guardrail tends to bind."""
    items = draw(bundles())
    for i, it in enumerate(items):
        share = draw(st.floats(0.6, 0.9) if i == 0 else st.floats(0.0, 0.3))
        items[i] = {**it, "unit_cost": round(it["price"] * share, 2)}
    return items


@settings(max_examples=200, deadline=None)
@given(st.one_of(bundles(), thin_anchor_bundles()), st.integers(1, 5000), counts, policies, losses,
       st.sampled_from(GRID_TYPES))
def test_binding_constraint_is_the_one_that_binds(items, gap, sets, policy, loss, kind):
    d = price_bundle(items, gap, sets, policy, loss, discount_type=kind)
    assume(d.recommended)
    g = d.guardrails
    on_limit = {n for n in g if g[n]["value"] == g[n]["limit"]}
    relaxed = replace(policy, min_margin=0.0 if "min_margin" in on_limit else policy.min_margin,
                      max_discount_pct=1.0 if "max_discount" in on_limit else policy.max_discount_pct,
                      min_saving_pct=0.0 if "min_saving" in on_limit else policy.min_saving_pct,
                      departments={})
    loose = price_bundle(items, gap, sets, relaxed, loss, discount_type=kind)
    if d.binding_constraint == "min_saving":
        # the saving sits on the floor, and a smaller saving would earn more
        assert "min_saving" in on_limit and _cents(d.saving) == _floor_cents(items, policy) > 0
        assert loose.expected_profit > d.expected_profit
    elif d.binding_constraint in ("min_margin", "max_discount"):
        # the price sits on that limit, and relaxing it would earn more
        assert d.binding_constraint in on_limit
        assert loose.expected_profit > d.expected_profit
        if d.binding_constraint == "min_margin":
            assert d.bundle_price == g["min_margin"]["limit"]
        else:
            assert d.saving == g["max_discount"]["limit"]
    else:
        assert d.binding_constraint == "optimum"  # no price ending in this policy
        # break-even never binds a profitable offer: at that limit each taker earns nothing
        if on_limit <= {"min_margin", "max_discount", "min_saving"}:
            assert loose.expected_profit <= d.expected_profit * (1 + 1e-9) + 1e-9


def test_min_margin_binds_a_thin_anchor():
    items = [{"sku": "coat", "price": 100, "unit_cost": 70, "department": "apparel"},
             {"sku": "scarf", "price": 50, "unit_cost": 5, "department": "apparel"}]
    policy = Policy(min_margin=0.45, max_discount_pct=0.5)
    d = price_bundle(items, 5000, 10, policy)
    assert d.binding_constraint == "min_margin"
    assert d.bundle_price == 136.37 == d.guardrails["min_margin"]["limit"]  # 75 / (1 - 0.45), up to the cent
    assert price_bundle(items, 5000, 10, replace(policy, min_margin=0.3)).expected_profit > d.expected_profit


# --------------------------------------------------------------------------- min_saving


# A ¥112.80 pair most customers already buy together: with no floor the best offer is a saving
# nobody notices.
NOTICE = [{"sku": "kettle", "price": 80.8, "unit_cost": 40, "department": "grocery", "role": "anchor",
           "quantity": 1},
          {"sku": "descaler", "price": 32, "unit_cost": 14, "department": "grocery", "role": "addon", "quantity": 1}]
NO_FLOOR = Policy(min_saving_pct=0.0)


@pytest.mark.parametrize("kind", ["percent_off", "set_price", "amount_off", "addon_discount"])
@pytest.mark.parametrize("sets", [60, 100, 150, 200])
def test_an_unnoticeable_optimum_ends_on_min_saving_or_is_not_recommended(kind, sets):
    gap = 1000
    floor_c = math.ceil(0.05 * 11280)  # 5% of 112.80, up to the cent
    tiny = price_bundle(NOTICE, gap, sets, NO_FLOOR, discount_type=kind)
    assert tiny.recommended and 0 < _cents(tiny.saving) < floor_c  # the case the guardrail is for
    d = price_bundle(NOTICE, gap, sets, discount_type=kind)  # default policy: 5%
    assert d.guardrails["min_saving"]["limit"] == floor_c / 100
    at_floor = float(_profit(NOTICE, NO_FLOOR, gap, sets, 0.0, floor_c / 100, floor_c / 100))
    if at_floor > 1e-9:
        # profit falls as the saving grows past the tiny optimum, so the best allowed saving is the floor
        assert d.recommended and d.binding_constraint == "min_saving"
        assert _cents(d.saving) == floor_c and d.expected_profit == pytest.approx(at_floor)
        assert d.expected_profit < tiny.expected_profit
    else:
        assert not d.recommended and d.binding_constraint == "no_profitable_discount"
        assert d.reason_not_recommended == "the smallest noticeable saving (5%) costs more than it earns"
    # both branches are exercised by the parameters
    if sets == 60:
        assert at_floor > 1e-9
    if sets == 200:
        assert at_floor <= 1e-9


@settings(max_examples=150, deadline=None)
@given(bundles(), st.integers(1, 5000), counts, policies, losses, st.sampled_from(GRID_TYPES))
def test_min_saving_zero_is_the_old_search(items, gap, sets, policy, loss, kind):
    # The search before min_saving existed: the type's grid (d > 0) plus the largest saving the
    # caps allow, first maximum wins.
    policy = replace(policy, min_saving_pct=0.0)
    d = price_bundle(items, gap, sets, policy, loss, discount_type=kind)
    assert d.guardrails["min_saving"]["limit"] == 0 and d.guardrails["min_saving"]["holds"]
    assert d.binding_constraint != "min_saving"
    if kind == "addon_discount":
        return  # its grid depends on the add-on chosen; the invariants above still hold
    regular_c = sum(_cents(it["price"]) * it["quantity"] for it in items)
    every_cent = np.arange(1, regular_c)
    ok = _feasible(items, policy, loss, every_cent)
    grid = _grid_cents(kind, items, policy)
    grid = grid[_feasible(items, policy, loss, grid)]
    if ok.any():
        grid = np.append(grid, every_cent[ok].max())
    grid = np.unique(grid)
    if not len(grid):
        assert not d.recommended
        return
    profits = _profit(items, policy, gap, sets, loss, grid / 100, grid / 100)
    old = int(grid[int(np.argmax(profits))])
    if profits.max() > 1e-9:
        assert d.recommended and _cents(d.saving) == old
    else:
        assert not d.recommended


def test_min_saving_floor_applies_to_cheapest_free_and_to_a_gift():
    items = [{"sku": "cold", "price": 95, "unit_cost": 30, "department": "pharmacy"},
             {"sku": "tissue", "price": 3, "unit_cost": 0.5, "department": "pharmacy"},
             {"sku": "lozenge", "price": 10, "unit_cost": 2, "department": "pharmacy"}]
    gift = {"sku": "bag", "price": 2, "unit_cost": 0.2}  # under 2% of the set's 108
    free = price_bundle(items, 1000, 10, NO_FLOOR, discount_type="cheapest_free")
    assert free.recommended and free.saving == 3.0  # under 3% of 108: below a 5% floor
    free = price_bundle(items, 1000, 10, discount_type="cheapest_free")
    assert not free.recommended and "smallest noticeable saving (5%)" in free.reason_not_recommended
    # a gift worth under 2% of the set is held to the same 5% floor as a discount (was exempt)
    g = price_bundle(items, 1000, 10, gift=gift, discount_type="gift")
    assert not g.recommended and "worth less than the smallest noticeable saving" in g.reason_not_recommended
    assert g.guardrails["min_saving"]["limit"] == 5.4 and not g.guardrails["min_saving"]["holds"]
    assert g.expected_takers == 0 and g.expected_profit == 0
    g = price_bundle(items, 1000, 10, NO_FLOOR, gift=gift, discount_type="gift")
    assert g.recommended and g.saving == 2.0 and g.guardrails["min_saving"]["holds"]
    # an add-on too cheap to carry a 5% saving of the set cannot be the discounted item
    addon = price_bundle(items, 1000, 10, discount_type="addon_discount")
    assert not addon.recommended and "price of tissue" in addon.reason_not_recommended


def test_min_saving_above_the_cap_rules_discounts_out():
    items = [{"sku": "a", "price": 30, "unit_cost": 12}, {"sku": "b", "price": 20, "unit_cost": 4}]
    policy = Policy(min_saving_pct=0.2, max_discount_pct=0.1)
    for kind in GRID_TYPES:
        d = price_bundle(items, 800, 50, policy, discount_type=kind)
        assert not d.recommended and d.saving == 0
        assert "smallest noticeable saving (20%)" in d.reason_not_recommended


def test_strictest_min_saving_of_a_mixed_bundle_applies():
    policy = Policy(departments={"apparel": {"min_saving_pct": 0.1}})
    items = [{"sku": "a", "price": 60, "unit_cost": 20, "department": "grocery"},
             {"sku": "b", "price": 40, "unit_cost": 10, "department": "apparel"}]
    assert price_bundle(items, 1000, 200, policy).guardrails["min_saving"]["limit"] == 10.0
    assert price_bundle(items[:1] + [{**items[1], "department": "grocery"}], 1000, 200,
                        policy).guardrails["min_saving"]["limit"] == 5.0


@settings(max_examples=150, deadline=None)
@given(bundles(), st.integers(1, 5000), counts, policies, st.sampled_from(GRID_TYPES),
       st.sampled_from([".9", "whole", ".99", "9"]))
def test_price_endings_keep_the_guardrails(items, gap, sets, policy, kind, ending):
    ended = price_bundle(items, gap, sets, replace(policy, price_ending=ending), discount_type=kind)
    plain = price_bundle(items, gap, sets, policy, discount_type=kind)
    assert ended.recommended == plain.recommended
    if not ended.recommended:
        return
    assert all(g["holds"] for g in ended.guardrails.values())
    mod, rem = {".9": (100, 90), ".99": (100, 99), "whole": (100, 0), "9": (1000, 900)}[ending]
    if ended.binding_constraint == "price_ending":
        assert _cents(ended.bundle_price) % mod == rem
        assert ended.bundle_price != plain.bundle_price
    else:
        assert ended.bundle_price == plain.bundle_price


def test_price_ending_rounds_down_when_allowed_and_up_when_not():
    items = [{"sku": "a", "price": 60, "unit_cost": 10, "department": "x"},
             {"sku": "b", "price": 40, "unit_cost": 10, "department": "x"}]
    # a flat curve beyond a token discount: the optimum is the smallest saving
    flat = Policy(curves={"default": ResponseCurve(0.1, 0.1, 1.0)}, price_ending=".9", min_saving_pct=0.0)
    d = price_bundle(items, 1000, 10, flat)
    assert d.bundle_price == 98.9 and d.binding_constraint == "price_ending"  # 99.00 rounded down
    # a 1% cap: 98.90 would break it, so round up to 99.90
    capped = replace(flat, max_discount_pct=0.01)
    d = price_bundle(items, 1000, 10, capped)
    assert d.bundle_price == 99.9 and d.guardrails["max_discount"]["holds"]


# --------------------------------------------------------------------------- economics


def test_pair_already_bought_together_ranks_below_a_rarer_pair_with_a_gap():
    items = [{"sku": "a", "price": 30, "unit_cost": 12, "department": "grocery"},
             {"sku": "b", "price": 20, "unit_cost": 8, "department": "grocery"}]
    anchor_tickets = 1000
    common = {"set": 800, "gap": 200}  # confidence a->b = 0.8
    rare = {"set": 100, "gap": 900}  # confidence a->b = 0.1
    assert common["set"] / anchor_tickets > rare["set"] / anchor_tickets
    best_common = best_offer(items, common["gap"], common["set"]).best
    best_rare = best_offer(items, rare["gap"], rare["set"]).best
    assert best_rare.recommended
    assert best_rare.expected_profit > best_common.expected_profit


def test_customers_who_already_buy_the_set_make_discounts_unprofitable():
    items = [{"sku": "a", "price": 30, "unit_cost": 12}, {"sku": "b", "price": 20, "unit_cost": 8}]
    offer = best_offer(items, gap_tickets=5, set_tickets=5000, policy=Policy(till_offers=False))
    d = offer.best
    assert not d.recommended and "till_addon" not in [x.discount_type for x in offer.decisions]
    assert d.binding_constraint == "no_profitable_discount"
    assert "already buy the set" in d.reason_not_recommended


def test_till_offer_when_set_buyers_sink_every_shelf_offer():
    # the small shop: 35% of shirt buyers already take the tie; a shelf discount is paid to all of them
    items = [{"sku": "shirt", "price": 40, "unit_cost": 26}, {"sku": "tie", "price": 20, "unit_cost": 13}]
    G, S, M = 147, 104, 7.0
    offer = best_offer(items, gap_tickets=G, set_tickets=S)
    shelf = [d for d in offer.decisions if d.discount_type != "till_addon"]
    assert shelf and not any(d.recommended for d in shelf)
    best = offer.best
    assert best.discount_type == "till_addon" and best.recommended and best.discounted_sku == "tie"
    assert best.set_tickets == S and best.gap_tickets == G

    def profit(saving):  # the default curve, no takers below the 5% noticeable saving, no set ticket paid
        d = saving / 60.0
        q = 0.0 if d < 0.05 - 1e-12 else 0.02 + (0.15 - 0.02) * (1 - math.exp(-7.0 * d))
        return q * G * (M - saving)

    assert best.expected_profit == pytest.approx(profit(best.saving), rel=1e-9)
    assert best.expected_profit > 0
    # the best point of the add-on's 1% grid between the 5% floor (3.00) and the break-even (7.00)
    grid = [c / 100 for c in range(300, 701) if c % 20 == 0] + [3.0]
    assert best.expected_profit >= max(profit(x) for x in grid) - 1e-9
    # the shelf version of the same saving loses money: each of the S set tickets is paid it
    assert profit(best.saving) - best.saving * S < 0
    assert best_offer(items, G, S, policy=Policy(till_offers=False)).best.recommended is False
    why = reasons_for([{"sku": "shirt", "name": "shirt", "name_zh": "衬衫"},
                       {"sku": "tie", "name": "tie", "name_zh": "领带"}], best, currency="GBP")
    assert why["reason_en"].startswith("At the till: add tie to your shirt") and why["reason_zh"].startswith("结账加购")


def test_break_even_take_rate_zeroes_the_profit():
    items = [{"sku": "a", "price": 30, "unit_cost": 12}, {"sku": "b", "price": 20, "unit_cost": 8}]
    d = price_bundle(items, 700, 300)
    q = d.break_even_take_rate
    assert 0 < q < 1
    margin = 20 - 8
    assert q * 700 * (margin - d.discount_cost) - d.discount_cost * 300 == pytest.approx(0, abs=1e-9)
    assert break_even_take_rate(10, 5.0, 6.0, 3) == math.inf
    assert break_even_take_rate(10, 5.0, 1.0, 0) == 0.0


def test_addon_discount_goes_on_the_highest_margin_share_addon():
    items = [{"sku": "shirt", "price": 50, "unit_cost": 20},
             {"sku": "tie", "price": 30, "unit_cost": 9},  # 70% margin
             {"sku": "socks", "price": 10, "unit_cost": 5}]  # 50% margin
    d = price_bundle(items, 1000, 10, discount_type="addon_discount")
    assert d.discounted_sku == "tie"
    comp = {c["sku"]: c["promotion_price"] for c in d.components}
    assert comp["shirt"] == 50 and comp["socks"] == 10 and comp["tie"] == pytest.approx(30 - d.saving)


def test_gift_costs_its_cost_and_is_worth_its_price():
    items = [{"sku": "cold", "price": 25, "unit_cost": 10, "department": "pharmacy"},
             {"sku": "tissue", "price": 8, "unit_cost": 3, "department": "pharmacy"}]
    gift = {"sku": "bag", "price": 6, "unit_cost": 0.5}
    d = price_bundle(items, 1000, 100, gift=gift, discount_type="gift")
    assert d.recommended
    assert (d.saving, d.discount_cost, d.bundle_price) == (6.0, 0.5, 33.0)
    curve = DEFAULT_CURVES["pharmacy"]
    assert d.expected_take_rate == pytest.approx(curve.take_rate(6 / 33))
    assert d.expected_profit == pytest.approx(curve.take_rate(6 / 33) * 1000 * (5 - 0.5) - 0.5 * 100)
    assert [c["promotion_price"] for c in d.components] == [25.0, 8.0, 0.0]
    # an expensive gift breaks the break-even guardrail
    pricey = price_bundle(items, 1000, 100, gift={"sku": "bag", "price": 9, "unit_cost": 6}, discount_type="gift")
    assert not pricey.recommended and "break even" in pricey.reason_not_recommended


def test_best_offer_returns_every_type_best_first():
    items = [{"sku": "a", "price": 30, "unit_cost": 12}, {"sku": "b", "price": 20, "unit_cost": 4}]
    offer = best_offer(items, 800, 50, gift={"sku": "g", "price": 3, "unit_cost": 0.4})
    assert {d.discount_type for d in offer.decisions} == set(ALL_TYPES)
    assert offer.best is offer.decisions[0]
    assert offer.best.expected_profit == max(d.expected_profit for d in offer.decisions if d.recommended)
    no_gift = best_offer(items, 800, 50)
    assert "gift" not in {d.discount_type for d in no_gift.decisions}
    best, decisions = no_gift
    assert best is no_gift.best and decisions == no_gift.decisions


def test_to_row_is_flat_and_round_trips_components():
    items = [{"sku": "a", "price": 30, "unit_cost": 12}, {"sku": "b", "price": 20, "unit_cost": 4}]
    d = price_bundle(items, 800, 50)
    row = d.to_row()
    assert all(not isinstance(v, (dict, list, tuple)) for v in row.values())
    assert tuple(json.loads(row["components"])) == d.components
    assert json.loads(row["guardrails"]) == d.guardrails


def test_missing_cost_is_an_input_error():
    with pytest.raises(InputError, match="unit_cost"):
        price_bundle([{"sku": "a", "price": 3, "unit_cost": float("nan")}, {"sku": "b", "price": 2,
                                                                             "unit_cost": 1}], 10, 1)


@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**5), min_size=1, max_size=6))
def test_split_amount_sums_exactly(total_c, weights_c):
    parts = split_amount(total_c / 100, [w / 100 for w in weights_c])
    assert sum(_cents(p) for p in parts) == total_c
    assert all(p >= 0 for p in parts)


# --------------------------------------------------------------------------- curves and policy


@given(st.floats(0, 0.5), st.floats(0, 0.5), st.floats(0.1, 30), st.floats(0, 1), st.floats(0, 1))
def test_take_rate_rises_from_q0_towards_q_max(a, b, k, d1, d2):
    c = ResponseCurve(min(a, b), max(a, b), k)
    lo, hi = sorted((d1, d2))
    assert c.q0 <= c.take_rate(lo) <= c.take_rate(hi) <= c.q_max + 1e-12
    assert c.take_rate(0) == pytest.approx(c.q0)


def test_calibration_scales_the_curve():
    assert calibration_factor([(30, 40.0), (10, 20.0)]) == pytest.approx(40 / 60)
    c = DEFAULT_CURVES["apparel"].scaled(0.5)
    assert c.take_rate(0.2) == pytest.approx(0.5 * DEFAULT_CURVES["apparel"].take_rate(0.2))
    p = Policy(calibration=0.5)
    assert p.curve_for("apparel").q_max == pytest.approx(DEFAULT_CURVES["apparel"].q_max / 2)


def test_example_policy_file_loads_with_overrides():
    p = load_policy(ROOT / "data" / "policy.example.toml")
    assert p.min_margin == 0.25 and p.price_ending is None
    assert p.min_saving_pct == 0.05 == Policy().min_saving_pct  # the documented default
    assert p.for_department("Apparel").min_margin == 0.30
    assert p.for_department("apparel").price_ending == "whole"
    assert p.for_department("menswear").price_ending == "whole"  # alias
    assert p.for_department("pharmacy").max_discount_pct == 0.20
    assert p.curve_for("grocery") == ResponseCurve(0.01, 0.12, 10.0, threshold=0.05)
    assert p.for_department("grocery").discount_types == ("percent_off", "amount_off", "cheapest_free")
    # the strictest margin of a mixed bundle's departments applies
    items = [{"sku": "a", "price": 10, "unit_cost": 7.4, "department": "grocery"},
             {"sku": "b", "price": 10, "unit_cost": 0.5, "department": "apparel"}]
    d = price_bundle(items, 1000, 0, p)
    assert d.guardrails["min_margin"]["limit"] == pytest.approx(math.ceil(7.9 / 0.7 * 100) / 100)


def test_bad_policy_files_are_input_errors(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("min_margn = 0.2\n")
    with pytest.raises(InputError, match="min_margn"):
        load_policy(bad)
    bad.write_text("min_margin = 2\n")
    with pytest.raises(InputError, match="min_margin"):
        load_policy(bad)
    bad.write_text("[departments.apparel]\nq0 = 0.5\nq_max = 0.1\n")
    with pytest.raises(InputError, match="q0"):
        load_policy(bad)
    bad.write_text("min_margin = \n")
    with pytest.raises(InputError, match="TOML"):
        load_policy(bad)
    with pytest.raises(InputError, match="not found"):
        load_policy(tmp_path / "missing.toml")


def test_policy_from_flags():
    p = policy_from_flags(min_margin=0.3, max_discount=0.2, discount_types="percent_off, gift",
                          price_ending="none")
    assert (p.min_margin, p.max_discount_pct, p.discount_types, p.price_ending) == (
        0.3, 0.2, ("percent_off", "gift"), None)
    with pytest.raises(InputError):
        policy_from_flags(discount_types="bogus")


def test_min_saving_from_toml_and_flags(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("min_saving_pct = 0.03\n[departments.grocery]\nmin_saving_pct = 0.1\n"
                 "[departments.toys]\nq0 = 0.01\n")
    p = load_policy(f)
    assert p.min_saving_pct == 0.03
    assert p.for_department("food").min_saving_pct == 0.1  # alias of grocery
    assert p.for_department("toys").min_saving_pct == 0.03
    items = [{"sku": "a", "price": 60, "unit_cost": 20, "department": "grocery"},
             {"sku": "b", "price": 40, "unit_cost": 10, "department": "grocery"}]
    assert price_bundle(items, 1000, 0, p).guardrails["min_saving"]["limit"] == 10.0
    for bad in ("min_saving_pct = 1.5\n", "min_saving_pct = -0.01\n", 'min_saving_pct = "5%"\n',
                "[departments.grocery]\nmin_saving_pct = 2\n"):
        f.write_text(bad)
        with pytest.raises(InputError, match="min_saving_pct"):
            load_policy(f)
    assert policy_from_flags(min_saving=0.08).min_saving_pct == 0.08
    assert policy_from_flags(p, min_saving=0).min_saving_pct == 0.0
    assert policy_from_flags(p).min_saving_pct == 0.03  # not given: kept
    with pytest.raises(InputError, match="min_saving_pct"):
        policy_from_flags(min_saving=1.2)


# --------------------------------------------------------------------------- zero response below a noticeable saving


@given(st.floats(0, 0.5), st.floats(0, 0.5), st.floats(0.1, 30), st.floats(0.001, 0.3), st.floats(0, 1))
def test_no_takers_below_the_noticeable_saving(a, b, k, threshold, d):
    c = ResponseCurve(min(a, b), max(a, b), k, threshold=threshold)
    raw = ResponseCurve(min(a, b), max(a, b), k)
    expected = 0.0 if d < threshold else raw.take_rate(d)
    assert c.take_rate(d) == pytest.approx(expected)
    assert c.scaled(2.0).threshold == threshold  # calibration keeps the threshold


def test_policy_curves_give_no_takers_below_min_saving():
    p = Policy(departments={"apparel": {"min_saving_pct": 0.08}})
    assert p.curve_for("apparel").take_rate(0.079) == 0.0
    assert p.curve_for("apparel").take_rate(0.08) == pytest.approx(DEFAULT_CURVES["apparel"].take_rate(0.08))
    assert p.curve_for("grocery").take_rate(0.049) == 0.0 < p.curve_for("grocery").take_rate(0.05)
    assert Policy(min_saving_pct=0.0).curve_for("grocery").take_rate(0.001) > 0


def test_an_unnoticed_saving_earns_nothing_so_it_is_never_the_best_price():
    # With no floor on the search a 1% saving would be priced with the curve's q0; with a 5% noticeable
    # saving every saving under 5% wins no taker, so only set tickets are paid: the expected profit is
    # negative there, and the optimum is at or above the threshold.
    items = [{"sku": "a", "price": 60, "unit_cost": 20, "department": "grocery"},
             {"sku": "b", "price": 40, "unit_cost": 10, "department": "grocery"}]
    noticed = Policy(min_saving_pct=0.05)
    setup_curve = noticed.curve_for("grocery")
    assert setup_curve.take_rate(0.04) == 0.0
    d = price_bundle(items, 1000, 50, noticed)
    assert d.discount_pct >= 0.05 - 1e-9 and d.expected_take_rate == pytest.approx(setup_curve.take_rate(d.discount_pct))
    # a gift worth 4% of the set: zero takers, so it is never recommended
    gift = {"sku": "g", "price": 4, "unit_cost": 0.5}
    g = price_bundle(items, 1000, 0, noticed, gift=gift, discount_type="gift")
    assert not g.recommended and g.expected_takers == 0


def test_till_offers_policy_key(tmp_path):
    from recommender.policy import policy_to_mapping

    path = tmp_path / "p.toml"
    path.write_text("till_offers = false\n", encoding="utf-8")
    p = load_policy(path)
    assert p.till_offers is False and policy_to_mapping(p)["till_offers"] is False
    items = [{"sku": "shirt", "price": 40, "unit_cost": 26}, {"sku": "tie", "price": 20, "unit_cost": 13}]
    assert [d.discount_type for d in best_offer(items, 147, 104, p).decisions if d.discount_type == "till_addon"] == []
    path.write_text('till_offers = "yes"\n', encoding="utf-8")
    with pytest.raises(InputError, match="till_offers"):
        load_policy(path)
