"""What each launched bundle did: attach-rate uplift, takers and margin, beside what was projected.

In: clean receipt ``lines``, a launch record (:mod:`recommender.launch`) and,
for bundles counted at a catalog level, the catalog. Out: a dict
``{"launch": ..., "bundles": [...], "portfolio": ...}``.

Per bundle, the attach rate (anchor tickets holding the whole bundle / anchor
tickets, counted at the level the till applied the promotion) is compared
test against control stores, before against after, with the store-level
difference-in-differences of :mod:`recommender.uplift` (each store one pre and
one post value; Welch t on the store changes, so the interval is as wide as
6 + 6 stores allow), for the realised effect (:func:`attach_did`; coverage in
``bench/sim_launches.py``). From the
attach uplift ``u`` and the test stores' post-launch anchor tickets ``A``
(``a`` of them holding the set)::

    takers                 = u * A                    (tickets that completed the set because of the offer)
    take rate              = takers / (A * (1 - (a/A - u)))   (share of the would-be gap tickets)
    incremental units      = takers * add-on units a taker adds
    incremental sales      = takers * add-on revenue - (a - takers) * saving
    incremental margin     = takers * added margin  - a * discount cost

each also per store-week, with the interval carried through (all are
increasing in ``u``). The projection made at launch sits beside each figure
in the same units. The launch as a whole is measured on ATV and UPT
(:func:`recommender.uplift.measure_uplift`) with the minimum detectable effect
stated at launch time.

A mix & match ("any 2 LUNCH BAG for £3", :mod:`recommender.mix_match`) is
measured the same way with its own attach rate: family tickets (any member)
holding 2+ units of the family in any mix / family tickets; a taker adds one
unit (its price and margin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.mix_match import MIX_MATCH
from recommender.tickets import line_values
from recommender.uplift import NotEnoughData, did_estimate, measure_uplift, store_period_metrics

__all__ = ["measure_launch", "measure_bundle", "attach_did", "post_days"]


def post_days(launch: dict, lines: pd.DataFrame) -> int:
    """Days of the post window: launch ``from`` to ``to`` (inclusive), or to the last day in the data."""
    start = pd.Timestamp(launch["from"])
    last = pd.to_datetime(lines["timestamp"]).max().normalize()
    end = min(pd.Timestamp(launch["to"]), last) if launch.get("to") else last
    return max(int((end - start).days) + 1, 0)


def _missing_addon_units(lines, bundle, stores, start, catalog) -> float:
    """Mean number of add-ons a gap ticket lacks (test stores, before the launch): what a taker adds."""
    addons = list(bundle["addons"])
    if len(addons) == 1:
        return 1.0
    level = bundle.get("level", "sku")
    sel = (pd.to_datetime(lines["timestamp"]) < start) & lines["store_id"].astype("string").isin(stores).fillna(False)
    part = lines[sel.to_numpy(dtype=bool)]
    if part.empty:
        return float(len(addons))
    vals = pd.Series(line_values(part, catalog if level != "sku" else None, level), index=part.index).astype(str)
    frame = pd.DataFrame({"r": part["receipt_id"].astype(str).to_numpy(), "v": vals.to_numpy()}).drop_duplicates()
    has = frame.assign(one=1).pivot_table(index="r", columns="v", values="one", aggfunc="max", fill_value=0)
    anchor = has.reindex(columns=[str(a) for a in bundle["anchor"]], fill_value=0).max(axis=1) > 0
    lack = 1 - has.reindex(columns=[str(a) for a in addons], fill_value=0)
    n_lack = lack[anchor].sum(axis=1)
    gap = n_lack[n_lack > 0]
    return float(gap.mean()) if len(gap) else float(len(addons))


def attach_did(pre_t, post_t, post_tickets_t, pre_c, post_c, confidence: float = 0.95) -> dict:
    """Store-level DiD of an attach rate with an interval for the launch's realised effect.

    The plain Welch interval of :func:`recommender.uplift.did_estimate` is for
    the *expected* effect: its test-group variance includes the binomial
    noise of which gap tickets happened to take. The quantity a launch asks
    about -- how many more anchor tickets completed the set in these stores,
    in this period -- is realised, so that part of the noise is not error.
    It is estimated per test store as q(1 - q) * gap / anchor^2 (q the
    measured take rate, gap the would-be gap tickets) and taken off the test
    stores' variance of changes (never below a quarter of it), less the part
    that stays because the realised effect weighs stores by their anchor
    tickets and the estimate weighs them equally. Without the
    adjustment the intervals over-cover (97.5% for a 95% claim in
    ``bench/sim_launches.py``).

    >>> r = attach_did([.2, .25, .22], [.5, .6, .55], [100, 120, 90], [.21, .24, .2], [.22, .23, .21])
    >>> round(r["estimate"], 4), bool(r["ci_low"] < r["estimate"] < r["ci_high"])
    (0.3233, True)
    """
    from scipy import stats

    xt, yt, nt_post = (np.asarray(v, dtype="float64") for v in (pre_t, post_t, post_tickets_t))
    xc, yc = np.asarray(pre_c, dtype="float64"), np.asarray(post_c, dtype="float64")
    n_t, n_c = len(xt), len(xc)
    if n_t < 2 or n_c < 2:
        raise NotEnoughData(f"{n_t} test and {n_c} control store(s): at least 2 of each are needed for an interval",
                            hint="add stores")
    dt_, dc = yt - xt, yc - xc
    est = float(dt_.mean() - dc.mean())
    A, a = nt_post.sum(), (yt * nt_post).sum()
    takers = max(est, 0.0) * A
    q = takers / (A - (a - takers)) if A - (a - takers) > 0 else 0.0
    gap = nt_post * np.clip(1 - yt + max(est, 0.0), 0, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        take_var = np.where(nt_post > 0, q * (1 - q) * gap / nt_post ** 2, 0.0)
    raw = dt_.var(ddof=1)
    # the realised effect is takers / anchor tickets over all test stores (ticket-weighted), the estimate
    # an unweighted store mean: the take noise that remains is sum((1/n - w_s)^2 var_s), w_s = A_s / A
    w = nt_post / A if A > 0 else np.full(n_t, 1.0 / n_t)
    remove = float(take_var.mean()) - n_t * float((((1.0 / n_t) - w) ** 2 * take_var).sum())
    var_t = max(raw - remove, 0.25 * raw)
    # the adjusted variance keeps the raw one's sampling noise around a smaller mean: fewer effective
    # degrees of freedom (Satterthwaite), else the interval under-covers
    df_t = (n_t - 1) * (var_t / raw) ** 2 if raw > 0 else n_t - 1.0
    vt, vc = var_t / n_t, dc.var(ddof=1) / n_c
    se = float(np.sqrt(vt + vc))
    with np.errstate(invalid="ignore", divide="ignore"):
        df = float((vt + vc) ** 2 / (vt ** 2 / max(df_t, 1.0) + vc ** 2 / (n_c - 1)))
    tq = float(stats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else 0.0
    return {"estimate": est, "se": se, "df": df, "ci_low": est - tq * se, "ci_high": est + tq * se, "p_value": p}


def measure_bundle(lines: pd.DataFrame, launch: dict, bundle: dict, *, catalog: pd.DataFrame | None = None,
                   confidence: float = 0.95, days: int | None = None) -> dict:
    """Measure one launched bundle (see the module docstring); ``days`` is the post window."""
    stores, control = list(launch["stores"]), list(launch.get("control_stores") or [])
    start = pd.Timestamp(launch["from"])
    days = post_days(launch, lines) if days is None else days
    level = bundle.get("level", "sku")
    if level != "sku" and catalog is None:
        raise InputError(f"bundle {bundle.get('name')!r} is counted at {level} level: a catalog is needed",
                         hint="--catalog PATH")
    anchor = [str(a) for a in bundle["anchor"]]
    items = anchor + [str(a) for a in bundle["addons"]]
    family = bundle.get("discount_type") == MIX_MATCH
    # a mix & match ("any 2 of a family") is taken by a family ticket with 2+ units of it in any mix, not by one
    # holding every member: its attach rate is that share of the family tickets (recommender.tickets.family_flags)
    spec = {"anchor": items, "items": items, "level": level, "min_units": 2} if family else \
        {"anchor": anchor, "items": items, "level": level}
    panel = store_period_metrics(lines, "attach", start, post_days=days, bundle=spec, catalog=catalog,
                                 stores=stores + control).set_index("store_id")
    panel = panel.dropna(subset=["pre", "post"])
    t = panel.loc[[s for s in stores if s in panel.index]]
    c = panel.loc[[s for s in control if s in panel.index]]
    warnings = []
    left_out = sorted(set(stores + control) - set(panel.index))
    if left_out:
        warnings.append(f"store(s) without anchor tickets before or after the launch left out: {left_out}")
    out = {"name": bundle.get("name"), "bundle_id": bundle.get("bundle_id"), "items": items, "level": level,
           "department": bundle.get("department"), "n_test_stores": len(t), "n_control_stores": len(c)}
    proj = bundle.get("projection") or {}
    weeks = days / 7.0
    store_weeks = max(len(stores), 1) * weeks
    try:
        r = attach_did(t["pre"], t["post"], t["post_tickets"], c["pre"], c["post"], confidence=confidence) \
            if len(c) else did_estimate(t["pre"], t["post"], confidence=confidence)
    except NotEnoughData as exc:
        out.update({"attach_uplift": None, "ci_low": None, "ci_high": None, "warnings": warnings + [str(exc)]})
        return out
    if not len(c):
        warnings.append("no control stores: pre/post in the test stores only (trends are credited to the launch)")
    u, lo, hi = r["estimate"], r["ci_low"], r["ci_high"]
    A = float(t["post_tickets"].sum())
    a = float((t["post"] * t["post_tickets"]).sum())  # test-store post anchor tickets holding the set
    # a mix & match taker adds a second unit of the family (one add-on's price and margin)
    addon_units = 1.0 if family else _missing_addon_units(lines, bundle, stores, start, catalog)
    comps = bundle.get("components") or []
    addon_skus = set()
    revenue = 0.0
    for comp in comps:
        if comp.get("role") == "addon":
            addon_skus.add(comp.get("sku"))
            revenue += float(comp.get("unit_price", 0.0)) * float(comp.get("quantity", 1))
    n_addons = 1 if family else max(len(bundle["addons"]), 1)
    revenue *= addon_units / n_addons
    margin_per_taker = float(bundle.get("added_margin") or 0.0) * addon_units / n_addons
    saving = float(bundle.get("saving") or 0.0)
    cost = float(bundle.get("discount_cost", saving) or 0.0)

    def figures(uplift):
        takers = uplift * A
        gap = A - (a - takers)
        return {"takers": takers, "take_rate": takers / gap if gap > 0 else None,
                "units": takers * addon_units,
                "sales": takers * revenue - (a - takers) * saving,
                "margin": takers * margin_per_taker - a * cost}

    mid, low, high = figures(u), figures(lo), figures(hi)
    per = (lambda v: None if v is None else v / store_weeks if store_weeks else None)
    exp_sw = proj.get("takers_per_store_week")
    expected_takers = exp_sw * store_weeks if exp_sw is not None else None
    exp_margin = proj.get("incremental_margin_per_store_week")
    exp_units = None if exp_sw is None else exp_sw * addon_units
    exp_sales = None
    if exp_sw is not None and proj.get("set_tickets_per_store_week") is not None:
        exp_sales = exp_sw * revenue - proj["set_tickets_per_store_week"] * saving
    out.update({
        "attach_uplift": u, "ci_low": lo, "ci_high": hi, "p_value": r["p_value"], "se": r["se"], "df": r["df"],
        "confidence": confidence, "expected_attach_uplift": proj.get("expected_attach_uplift"),
        "attach_rate_before_test": float((t["pre"] * t["pre_tickets"]).sum() / max(t["pre_tickets"].sum(), 1)),
        "attach_rate_after_test": a / A if A else None,
        "anchor_tickets": int(A), "weeks": weeks, "store_weeks": store_weeks,
        "takers": mid["takers"], "takers_ci_low": low["takers"], "takers_ci_high": high["takers"],
        "expected_takers": expected_takers,
        "take_rate": mid["take_rate"], "take_rate_ci_low": low["take_rate"], "take_rate_ci_high": high["take_rate"],
        "expected_take_rate": proj.get("take_rate"),
        "takers_per_store_week": per(mid["takers"]), "expected_takers_per_store_week": exp_sw,
        "incremental_units": per(mid["units"]), "incremental_units_ci": [per(low["units"]), per(high["units"])],
        "expected_incremental_units": exp_units,
        "incremental_sales": per(mid["sales"]), "incremental_sales_ci": [per(low["sales"]), per(high["sales"])],
        "expected_incremental_sales": exp_sales,
        "incremental_margin": per(mid["margin"]), "incremental_margin_ci": [per(low["margin"]), per(high["margin"])],
        "expected_incremental_margin": exp_margin,
        "saving_pct": bundle.get("saving_pct"), "units": "takers: tickets over the launch in all test stores; "
        "incremental units, sales and margin: per store-week",
        "warnings": warnings,
    })
    return out


def measure_launch(lines: pd.DataFrame, launch: dict, *, catalog: pd.DataFrame | None = None,
                   confidence: float = 0.95) -> dict:
    """Measure every bundle of ``launch`` and the launch as a whole (ATV, UPT).

    Returns
    -------
    dict
        ``launch`` (id, name, dates, stores), ``bundles`` (one dict per bundle:
        name, bundle_id, items, attach_uplift, ci_low, ci_high,
        expected_attach_uplift, takers, expected_takers, incremental_margin,
        expected_incremental_margin and more) and ``portfolio`` (atv and upt
        measurements, the minimum detectable effect stated at launch, the
        summed incremental margin per store-week against the projection).
    """
    for col in ("store_id", "timestamp"):
        if col not in lines:
            raise InputError(f"measuring a launch needs a {col} column in the receipts")
    days = post_days(launch, lines)
    if days <= 0:
        raise InputError(f"the receipts end before the launch started ({launch['from']})",
                         hint="measure with receipts that cover the launch")
    bundles = [measure_bundle(lines, launch, b, catalog=catalog, confidence=confidence, days=days)
               for b in launch["bundles"]]
    control = list(launch.get("control_stores") or []) or None
    portfolio: dict = {"post_days": days, "minimum_detectable_effect": launch.get("minimum_detectable_effect")}
    for metric in ("atv", "upt"):
        try:
            m = measure_uplift(lines, launch["from"], launch["stores"], control, metric=metric, post_days=days,
                               confidence=confidence)
            portfolio[metric] = {k: m[k] for k in ("estimate", "estimate_pct", "ci_low", "ci_high", "p_value",
                                                   "design", "n_test_stores", "n_control_stores", "warnings")}
        except NotEnoughData as exc:
            portfolio[metric] = {"estimate": None, "warnings": [str(exc)]}
    got = [b.get("incremental_margin") for b in bundles]
    exp = [b.get("expected_incremental_margin") for b in bundles]
    portfolio["incremental_margin"] = float(np.nansum([g for g in got if g is not None])) if any(
        g is not None for g in got) else None
    portfolio["expected_incremental_margin"] = float(sum(e for e in exp if e is not None)) if any(
        e is not None for e in exp) else None
    portfolio["takers"] = float(sum(b["takers"] for b in bundles if b.get("takers") is not None))
    portfolio["expected_takers"] = float(sum(b["expected_takers"] for b in bundles
                                             if b.get("expected_takers") is not None))
    head = {k: launch.get(k) for k in ("launch_id", "name", "promotion_id", "from", "to", "stores", "control_stores")}
    return {"launch": head, "bundles": bundles, "portfolio": portfolio}
