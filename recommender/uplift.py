"""Did the launch lift the ticket? Store-level difference-in-differences.

In: clean receipt ``lines`` (receipt_id, sku, quantity, line_amount, timestamp,
store_id), a launch date, test stores and (preferably) control stores. Out: a
dict with the estimated change of a ticket metric (ATV, UPT or the attach rate
of a bundle), a 95% interval and a p-value, plus the counts behind them.

Why store level: tickets of one store share its staff, shelf and weather, so
they are not independent draws. The honest unit of analysis is the store: each
store gives one pre value and one post value, and the interval comes from the
spread of those store-level changes (Welch t, valid in small samples) or from
re-randomising which stores were "test" (randomisation inference). With 6 test
and 6 control stores that is 12 numbers, and the intervals are as wide as 12
numbers allow. Fewer than 2 stores per group raises :class:`NotEnoughData`
rather than printing an interval nobody should believe.

CUPED here is the ANCOVA form of difference-in-differences: instead of
``post - pre`` (slope 1 on the pre value) each store's outcome is
``post - theta * (pre - mean(pre))`` with ``theta`` the within-group regression
slope of post on pre, re-estimated for every re-randomisation. When pre and
post are correlated but the slope is not 1 (e.g. noisy pre values), this
removes more noise than plain differencing; when theta is 1 it *is* plain DiD.
"""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pandas as pd
from scipy import stats

from recommender.errors import InputError
from recommender.tickets import bundle_flags, family_flags, receipt_table

METRICS = ("atv", "upt", "attach")
METHODS = ("welch", "permutation")
MIN_TICKETS = 30


class NotEnoughData(InputError, ValueError):
    """Too few stores or tickets for an honest interval.

    >>> str(NotEnoughData("1 test store", hint="add stores"))
    '1 test store (add stores)'
    """

    def __init__(self, message, hint=None):
        super().__init__(message, hint=hint)


# ---------------------------------------------------------------- store panel

def _store_list(stores, name) -> list[str]:
    if stores is None:
        return []
    if isinstance(stores, str):
        stores = [stores]
    out = [str(s) for s in stores]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} lists a store twice")
    return out


def _windows(ts: pd.Series, launch: pd.Timestamp, pre_days, post_days):
    pre = ts < launch
    post = ts >= launch
    if pre_days is not None:
        pre &= ts >= launch - pd.Timedelta(days=pre_days)
    if post_days is not None:
        post &= ts < launch + pd.Timedelta(days=post_days)
    return pre.to_numpy(dtype=bool), post.to_numpy(dtype=bool)


def _bundle_parts(bundle):
    """Accept (anchor_items, bundle_items) or {"anchor": ..., "items": ..., "level": ...}."""
    if bundle is None:
        raise ValueError("metric 'attach' needs bundle=(anchor_items, bundle_items)")
    if isinstance(bundle, dict):
        return bundle["anchor"], bundle["items"], bundle.get("level", "sku")
    anchor, items = bundle
    return anchor, items, "sku"


def _attach_flags(lines, bundle, catalog):
    """Per receipt: is it a ticket of the offer (has_anchor) and did it take it (has_bundle)."""
    anchor, items, level = _bundle_parts(bundle)
    if isinstance(bundle, dict) and bundle.get("min_units"):  # a mix & match: 2+ units of the family
        return family_flags(lines, items, min_units=bundle["min_units"], level=level, catalog=catalog)
    return bundle_flags(lines, anchor, items, level=level, catalog=catalog)


def _ticket_values(lines: pd.DataFrame, metric, bundle, catalog, store_ids=None) -> pd.DataFrame:
    """One row per ticket with a value of ``metric``: store_id, timestamp, value (stores and dates known)."""
    if store_ids is not None:
        lines = lines[lines["store_id"].astype("string").isin(store_ids).fillna(False).to_numpy(dtype=bool)]
    tickets = receipt_table(lines)
    if metric == "attach":
        flags = _attach_flags(lines, bundle, catalog)
        keep = flags["has_anchor"].to_numpy()
        tickets = tickets[keep]
        value = (flags["has_bundle"].to_numpy()[keep]).astype("float64")
    elif metric == "atv":
        keep = tickets["amount"].notna().to_numpy()
        tickets = tickets[keep]
        value = tickets["amount"].to_numpy(dtype="float64")
    elif metric == "upt":
        value = tickets["units"].to_numpy(dtype="float64")
    else:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    keep = tickets["store_id"].notna().to_numpy() & tickets["timestamp"].notna().to_numpy()
    return pd.DataFrame({"store_id": tickets["store_id"].to_numpy()[keep],
                         "timestamp": tickets["timestamp"].to_numpy()[keep], "value": value[keep]})


def _panel_sums(lines, metric, launch, pre_days, post_days, bundle, winsorize, store_ids, catalog):
    """Per period ("pre", "post") and store: the exact sum and number of ticket values; and the winsorising cap.

    Returns ``({"pre": frame, "post": frame}, cap)``, each frame store_id, sum, size (any order). Spark lines are
    counted by :func:`recommender.spark.counts.panel_sums`.
    """
    from recommender.tickets import _is_spark

    if _is_spark(lines):
        from recommender.spark.counts import panel_sums

        return panel_sums(lines, metric, launch, pre_days, post_days, bundle, winsorize, store_ids, catalog)
    from recommender.sums import group_sum

    tickets = _ticket_values(lines, metric, bundle, catalog, store_ids)
    value = tickets["value"].to_numpy(dtype="float64")
    pre, post = _windows(tickets["timestamp"], launch, pre_days, post_days)
    cap = None
    if winsorize is not None and metric != "attach" and pre.any():
        cap = float(np.quantile(value[pre], 1.0 - winsorize))
        value = np.minimum(value, cap)
    out = {}
    for flag, mask in (("pre", pre), ("post", post)):
        codes, stores = pd.factorize(pd.Series(tickets["store_id"].to_numpy()[mask], dtype=object), sort=True)
        out[flag] = pd.DataFrame({"store_id": np.asarray(stores, dtype=object),
                                  "sum": group_sum(codes, value[mask], len(stores)),
                                  "size": np.bincount(codes, minlength=len(stores))})
    return out, cap


def store_period_metrics(lines: pd.DataFrame, metric: str = "atv", launch=None, pre_days=None, post_days=None,
                         bundle=None, winsorize=None, *, stores=None, catalog=None) -> pd.DataFrame:
    """Return one row per store with its pre and post value of ``metric``.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines with store_id and timestamp.
    metric : {"atv", "upt", "attach"}
        Average ticket value (sales / tickets with a known amount), units per
        ticket, or the bundle's attach rate (anchor tickets holding the whole
        bundle / anchor tickets).
    launch : date-like
        First day of the post period.
    pre_days, post_days : int, optional
        Window lengths; default: all data before / from the launch.
    bundle : (anchor_items, bundle_items) or dict, optional
        For ``metric="attach"``; a dict may give ``level`` (with ``catalog``) and
        ``min_units`` (a mix & match: family tickets holding that many units of
        ``items``, :func:`recommender.tickets.family_flags`).
    winsorize : float, optional
        Cap each ticket's value (or units) at the ``1 - winsorize`` quantile of
        the pooled pre-period tickets of the stores analysed, so that a few
        bulk orders do not decide the result. Not used for ``attach``.
    stores : iterable of str, optional
        Only these stores (the cap is computed on them).
    catalog : DataFrame, optional
        For a bundle at a catalog level.

    Returns
    -------
    DataFrame
        Columns store_id, pre, post, change (= post - pre), pre_tickets,
        post_tickets (tickets behind each value: anchor tickets for
        ``attach``). ``attrs["cap"]`` holds the winsorising cap (or None).

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "2", "3", "4"], "sku": ["a"] * 4,
    ...     "quantity": [1.0, 1.0, 2.0, 1.0], "line_amount": [10.0, 20.0, 30.0, 50.0],
    ...     "store_id": ["s1"] * 4,
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01", "2024-02-02"])})
    >>> store_period_metrics(lines, "atv", launch="2024-02-01").to_dict("records")
    [{'store_id': 's1', 'pre': 15.0, 'post': 40.0, 'change': 25.0, 'pre_tickets': 2, 'post_tickets': 2}]
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if launch is None:
        raise ValueError("a launch date is needed")
    if winsorize is not None and not 0 < winsorize < 0.5:
        raise ValueError("winsorize is the share of tickets to cap, e.g. 0.01; it must be in (0, 0.5)")
    for col in ("store_id", "timestamp"):
        if col not in lines.columns:
            raise InputError(f"measuring uplift needs a {col} column in the receipts")
    launch = pd.Timestamp(launch)
    store_ids = _store_list(stores, "stores") or None
    sums, cap = _panel_sums(lines, metric, launch, pre_days, post_days, bundle, winsorize, store_ids, catalog)
    rows = []
    for flag in ("pre", "post"):
        part = sums[flag]
        part = pd.DataFrame({flag: part["sum"].to_numpy(dtype="float64") / part["size"].to_numpy(dtype="float64"),
                             f"{flag}_tickets": part["size"].to_numpy(dtype=np.int64)},
                            index=pd.Index(part["store_id"].tolist(), dtype=object, name="store_id"))
        rows.append(part.sort_index())
    out = rows[0].join(rows[1], how="outer")
    out.index.name = "store_id"
    out = out.reset_index()
    for flag in ("pre", "post"):
        out[f"{flag}_tickets"] = out[f"{flag}_tickets"].fillna(0).astype(np.int64)
    out["change"] = out["post"] - out["pre"]
    out = out[["store_id", "pre", "post", "change", "pre_tickets", "post_tickets"]]
    out["store_id"] = out["store_id"].astype(object)
    out.attrs["cap"] = cap
    out.attrs["metric"] = metric
    return out


# ---------------------------------------------------------------- statistics

def _welch(yt, yc, confidence):
    nt, nc = yt.shape[1], yc.shape[1]
    vt, vc = yt.var(axis=1, ddof=1) / nt, yc.var(axis=1, ddof=1) / nc
    est = yt.mean(axis=1) - yc.mean(axis=1)
    se = np.sqrt(vt + vc)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (vt + vc) ** 2 / (vt ** 2 / (nt - 1) + vc ** 2 / (nc - 1))
        tq = stats.t.ppf(0.5 + confidence / 2, df)
        p = 2 * stats.t.sf(np.abs(est / se), df)
    return est, se, df, est - tq * se, est + tq * se, p


def _ancova_welch(xt, yt, xc, yc, theta, confidence):
    """Welch-type interval for the CUPED (ANCOVA) contrast.

    The contrast is mean_t(y - theta x) - mean_c(y - theta x). Its variance has
    the groups' residual variances (inflated by (n-2)/(n-3) for the estimated
    slope) plus the slope's own uncertainty times the pre-period imbalance
    squared; one degree of freedom goes to theta. Without the last two terms
    the interval undercovers at 6+6 stores (see bench/eval_uplift.py).
    """
    nt, nc = xt.shape[1], xc.shape[1]
    n = nt + nc
    th = theta[:, None]
    et = (yt - yt.mean(axis=1, keepdims=True)) - th * (xt - xt.mean(axis=1, keepdims=True))
    ec = (yc - yc.mean(axis=1, keepdims=True)) - th * (xc - xc.mean(axis=1, keepdims=True))
    inflate = (n - 2) / max(n - 3, 1)
    vt = (et ** 2).sum(axis=1) / (nt - 1) * inflate / nt
    vc = (ec ** 2).sum(axis=1) / (nc - 1) * inflate / nc
    sxx = (((xt - xt.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
           + ((xc - xc.mean(axis=1, keepdims=True)) ** 2).sum(axis=1))
    dx = xt.mean(axis=1) - xc.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v_theta = ((et ** 2).sum(axis=1) + (ec ** 2).sum(axis=1)) / max(n - 3, 1) / sxx
        est = (yt.mean(axis=1) - yc.mean(axis=1)) - theta * dx
        se = np.sqrt(vt + vc + dx ** 2 * v_theta)
        df = (vt + vc) ** 2 / (vt ** 2 / (nt - 1) + vc ** 2 / (nc - 1)) - 1
        df = np.maximum(df, 1.0)
        tq = stats.t.ppf(0.5 + confidence / 2, df)
        p = 2 * stats.t.sf(np.abs(est / se), df)
    return est, se, df, est - tq * se, est + tq * se, p


def _paired(d, confidence):
    n = d.shape[1]
    est = d.mean(axis=1)
    se = d.std(axis=1, ddof=1) / np.sqrt(n)
    df = np.full(d.shape[0], n - 1.0)
    tq = stats.t.ppf(0.5 + confidence / 2, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * stats.t.sf(np.abs(est / se), df)
    return est, se, df, est - tq * se, est + tq * se, p


def _theta(pre, post, groups):
    """Within-group slope of post on pre, for every assignment at once.

    ``groups`` is (R, n) bool (True = test); pre/post are (B, n). Returns (B, R).
    """
    a = groups.T.astype("float64")            # (n, R)
    b = 1.0 - a
    nt, nc = a.sum(axis=0), b.sum(axis=0)     # (R,)
    sx_t, sx_c = pre @ a, pre @ b
    sy_t, sy_c = post @ a, post @ b
    sxy_t, sxy_c = (pre * post) @ a, (pre * post) @ b
    sxx_t, sxx_c = (pre * pre) @ a, (pre * pre) @ b
    cov = sxy_t - sx_t * sy_t / nt + sxy_c - sx_c * sy_c / nc
    var = sxx_t - sx_t ** 2 / nt + sxx_c - sx_c ** 2 / nc
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, cov / var, 0.0)


def _contrast(groups):
    a = groups.astype("float64")
    return (a / a.sum(axis=1, keepdims=True) - (1 - a) / (1 - a).sum(axis=1, keepdims=True)).T   # (n, R)


def _stat(pre, post, groups, cuped, affine=True):
    """Test-minus-control difference of store outcomes for each assignment, (B, R).

    Without CUPED the outcome is post - pre (the DiD); with CUPED it is
    post - theta * pre, theta re-estimated within the assignment's groups.
    Both are linear in ``post`` (plus an affine pre term), which is what makes
    the interval inversion below exact and cheap.
    """
    c = _contrast(groups)
    if cuped:
        return post @ c - _theta(pre, post, groups) * (pre @ c)
    return post @ c - (pre @ c if affine else 0.0)


def _assignments(n_t, n, n_resamples, rng):
    """Test/control assignments: all of them if few enough, else a random sample.

    Row 0 is the observed assignment (the first ``n_t`` stores are test).
    """
    total = comb(n, n_t)
    if total <= n_resamples:
        rows = np.zeros((total, n), dtype=bool)
        for i, combo in enumerate(itertools.combinations(range(n), n_t)):
            rows[i, list(combo)] = True
        return rows, True
    ranks = rng.random((n_resamples, n)).argsort(axis=1).argsort(axis=1)
    rows = np.vstack([np.arange(n) < n_t, ranks < n_t])
    return rows, False


def _signs(n, n_resamples, rng):
    if 2 ** n <= n_resamples:
        grid = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return grid, True
    return np.vstack([np.ones(n), rng.choice((1.0, -1.0), size=(n_resamples, n))]), False


def _invert(S, K, s_obs, k_obs, alpha, scale):
    """Randomisation p-value at 0 and interval {delta: p(delta) > alpha}.

    Under "the effect is delta" every statistic moves linearly:
    S_a(delta) = S_a - delta * K_a, so p(delta) is computed exactly for any
    delta and the interval ends are found by bisection.
    """
    # the reference set always holds the observed assignment (row 0 or part of the
    # full enumeration), so a sampled p-value is (1 + #as extreme) / (1 + R)
    def pval(delta):
        obs = np.abs(s_obs - delta * k_obs)
        null = np.abs(S - delta[:, None] * K)
        ge = (null >= obs[:, None] * (1 - 1e-10) - 1e-12).sum(axis=1)
        return ge / S.shape[1]

    est = s_obs / k_obs
    p0 = pval(np.zeros_like(est))
    ends = []
    for sign in (-1.0, 1.0):
        span = np.maximum(scale, 1e-12 * (1 + np.abs(est)))
        for _ in range(40):   # widen until the far end is rejected
            far = est + sign * span
            open_ = pval(far) > alpha
            if not open_.any():
                break
            span = np.where(open_, span * 2, span)
        else:
            raise NotEnoughData("too few stores: the randomisation test cannot reach "
                                f"{alpha:.0%} significance at any effect size",
                                hint="add stores or use method='welch'")
        inner, outer = est.copy(), est + sign * span
        for _ in range(60):
            mid = (inner + outer) / 2
            keep = pval(mid) > alpha
            inner = np.where(keep, mid, inner)
            outer = np.where(keep, outer, mid)
        ends.append((inner + outer) / 2)
    return p0, ends[0], ends[1]


def did_estimate(pre_test, post_test, pre_control=None, post_control=None, *, method: str = "welch",
                 cuped: bool = False, confidence: float = 0.95, n_resamples: int = 4999, seed=0) -> dict:
    """Difference-in-differences on store-level values (or pre/post without controls).

    Parameters
    ----------
    pre_test, post_test : array-like, shape (n_test,) or (B, n_test)
        Each test store's value before and after the launch. 2-D input runs B
        independent analyses at once (used by the simulation benchmark).
    pre_control, post_control : array-like, optional
        Same for control stores. Without them the design is pre/post in the
        test stores (paired t, or sign-flip randomisation).
    method : {"welch", "permutation"}
        ``welch``: Welch t on the store-level changes (DiD), or for CUPED a
        Welch-type ANCOVA interval (theta's uncertainty included, one
        degree of freedom less). ``permutation``:
        randomisation inference over which stores are test (sign flips of the
        changes without controls): exact enumeration when the number of
        assignments is at most ``n_resamples``, else a random sample; the
        interval inverts the test (all effects not rejected at 1 - confidence).
    cuped : bool
        ANCOVA adjustment on the pre value (see module docstring).

    Returns
    -------
    dict
        estimate, se (Welch only, else the Welch se for reference), df,
        ci_low, ci_high, p_value, theta (CUPED) and design.

    Examples
    --------
    >>> r = did_estimate([10, 12, 11, 13], [11, 13.5, 12, 14.2], [9, 14, 10, 12], [9.2, 14.1, 10.3, 12.2])
    >>> round(r["estimate"], 3), r["design"], bool(r["ci_low"] < r["estimate"] < r["ci_high"])
    (0.975, 'did', True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    single = np.ndim(pre_test) == 1
    as2d = (lambda a: np.atleast_2d(np.asarray(a, dtype="float64")))
    xt, yt = as2d(pre_test), as2d(post_test)
    if xt.shape != yt.shape:
        raise ValueError("pre_test and post_test differ in shape")
    rng = np.random.default_rng(seed)
    alpha = 1 - confidence
    n_t = xt.shape[1]
    out: dict = {}
    if pre_control is None:
        if n_t < 2:
            raise NotEnoughData(f"{n_t} test store(s): at least 2 are needed for an interval")
        d = yt - xt
        est, se, df, lo, hi, p = _paired(d, confidence)
        out.update(design="pre_post", theta=None)
        if method == "permutation":
            signs, exact = _signs(n_t, n_resamples, rng)
            S = d @ signs.T / n_t
            K = np.broadcast_to(signs.sum(axis=1) / n_t, S.shape)
            p, lo, hi = _invert(S, K, est, np.ones_like(est), alpha, 10 * se + 1e-9)
    else:
        xc, yc = as2d(pre_control), as2d(post_control)
        if xc.shape != yc.shape or xc.shape[0] != xt.shape[0]:
            raise ValueError("pre_control and post_control differ in shape")
        n_c = xc.shape[1]
        if n_t < 2 or n_c < 2:
            raise NotEnoughData(f"{n_t} test and {n_c} control store(s): at least 2 of each are needed "
                                "for an interval", hint="add stores, or measure pre/post without controls")
        pre, post = np.hstack([xt, xc]), np.hstack([yt, yc])
        observed = (np.arange(n_t + n_c) < n_t)[None, :]
        theta = None
        if cuped:
            theta = _theta(pre, post, observed)[:, 0]
            est, se, df, lo, hi, p = _ancova_welch(xt, yt, xc, yc, theta, confidence)
        else:
            est, se, df, lo, hi, p = _welch(yt - xt, yc - xc, confidence)
        out.update(design="did", theta=theta if theta is None or not single else float(theta[0]))
        if method == "permutation":
            groups, exact = _assignments(n_t, n_t + n_c, n_resamples, rng)
            S = _stat(pre, post, groups, cuped)
            treat = np.broadcast_to(observed.astype("float64"), pre.shape)
            K = _stat(pre, treat, groups, cuped, affine=False)
            p, lo, hi = _invert(S, K, S[:, 0], K[:, 0], alpha, 10 * se + 1e-9)
            if exact:
                out["n_assignments"] = len(groups)
            else:
                out["n_assignments"] = len(groups) - 1
    out.update(estimate=est, se=se, df=df, ci_low=lo, ci_high=hi, p_value=p, method=method,
               cuped=cuped, confidence=confidence)
    if single:
        for k in ("estimate", "se", "df", "ci_low", "ci_high", "p_value"):
            out[k] = float(np.asarray(out[k])[0])
    return out


# ---------------------------------------------------------------- the measurement

def measure_uplift(lines: pd.DataFrame, launch, test_stores, control_stores=None, metric: str = "atv",
                   pre_days=None, post_days=None, bundle=None, winsorize=None, cuped: bool = False,
                   method: str = "welch", n_resamples: int = 4999, seed=0, *, confidence: float = 0.95,
                   min_tickets: int = MIN_TICKETS, catalog=None) -> dict:
    """Measure the change of a ticket metric in test stores after a launch.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines with store_id, timestamp (and line_amount for ATV).
    launch : date-like
        First day of the post period.
    test_stores, control_stores : iterable of str
        Stores with and without the launch. Without control stores the design
        is pre/post in the test stores, which credits the launch with any
        common trend (season, prices): a warning says so.
    metric : {"atv", "upt", "attach"}
    pre_days, post_days, bundle, winsorize
        See :func:`store_period_metrics`.
    cuped : bool
        ANCOVA adjustment on each store's pre value (needs control stores).
    method : {"welch", "permutation"}
        See :func:`did_estimate`.
    min_tickets : int
        Stores with fewer tickets in either period are left out (with a
        warning): their values are mostly noise.

    Returns
    -------
    dict
        metric, design ("did" or "pre_post"), method, cuped, estimate (absolute:
        currency for ATV, units for UPT, share for attach), estimate_pct
        (= estimate / test stores' mean pre value * 100), ci_low, ci_high
        (and ci_low_pct, ci_high_pct), p_value, confidence, n_test_stores,
        n_control_stores, n_tickets, pre_mean_test, winsorize_cap, theta,
        stores (the store panel as records), warnings (list of str).

    Raises
    ------
    NotEnoughData
        Fewer than 2 usable stores in a group.

    Examples
    --------
    Four stores, 40 tickets each before and after 1 March; tickets in S1 and S2
    are worth 5 more after it:

    >>> rng = np.random.default_rng(0)
    >>> n = 4 * 80
    >>> store = np.repeat(["S1", "S2", "S3", "S4"], 80)
    >>> day = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.tile(np.arange(-40, 40), 4), unit="D")
    >>> value = 50 + rng.normal(0, 5, n) + 5 * (np.isin(store, ["S1", "S2"]) & (day >= "2024-03-01"))
    >>> lines = pd.DataFrame({"receipt_id": [f"r{i}" for i in range(n)], "sku": "x", "quantity": 1.0,
    ...                       "line_amount": value, "timestamp": day, "store_id": store})
    >>> r = measure_uplift(lines, "2024-03-01", ["S1", "S2"], ["S3", "S4"])
    >>> r["design"], r["n_test_stores"], r["n_tickets"], bool(r["ci_low"] < 5 < r["ci_high"])
    ('did', 2, 320, True)
    >>> r["warnings"]
    ['only 2+2 stores: the interval is honest but wide']
    """
    test = _store_list(test_stores, "test_stores")
    control = _store_list(control_stores, "control_stores")
    if set(test) & set(control):
        raise ValueError(f"stores in both groups: {sorted(set(test) & set(control))}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    warnings: list[str] = []
    panel = store_period_metrics(lines, metric, launch, pre_days, post_days, bundle, winsorize,
                                 stores=test + control, catalog=catalog)
    by_store = panel.set_index("store_id")
    usable = {}
    for name, group in (("test", test), ("control", control)):
        ok = []
        for s in group:
            if s not in by_store.index:
                warnings.append(f"{name} store {s} has no tickets in the data; left out")
                continue
            row = by_store.loc[s]
            if min(row["pre_tickets"], row["post_tickets"]) < min_tickets:
                warnings.append(f"{name} store {s} has {row['pre_tickets']} pre and {row['post_tickets']} post "
                                f"tickets (< {min_tickets}); left out")
                continue
            ok.append(s)
        usable[name] = ok
    n_t, n_c = len(usable["test"]), len(usable["control"])
    if n_t < 2:
        raise NotEnoughData(f"only {n_t} test store(s) with at least {min_tickets} tickets before and after "
                            "the launch; at least 2 are needed", hint="add test stores or widen the windows")
    if control and n_c < 2:
        raise NotEnoughData(f"only {n_c} control store(s) with at least {min_tickets} tickets before and after "
                            "the launch; at least 2 are needed", hint="add control stores or drop them for a "
                            "(weaker) pre/post comparison")
    t_rows = by_store.loc[usable["test"]]
    c_rows = by_store.loc[usable["control"]] if n_c else None
    if n_c == 0:
        warnings.append("no control stores: pre/post in the test stores only, the weaker design (it credits the "
                        "launch with any change common to all stores, such as season or price moves)")
        if cuped:
            warnings.append("cuped needs control stores; ignored")
            cuped = False
        result = did_estimate(t_rows["pre"], t_rows["post"], method=method, confidence=confidence,
                              n_resamples=n_resamples, seed=seed)
    else:
        result = did_estimate(t_rows["pre"], t_rows["post"], c_rows["pre"], c_rows["post"], method=method,
                              cuped=cuped, confidence=confidence, n_resamples=n_resamples, seed=seed)
    if n_t + n_c < 8:
        warnings.append(f"only {n_t}+{n_c} stores: the interval is honest but wide")
    if winsorize is not None and metric == "attach":
        warnings.append("winsorize does not apply to the attach rate; ignored")
    pre_mean = float(t_rows["pre"].mean())
    used = pd.concat([t_rows, c_rows]) if n_c else t_rows
    pct = (lambda v: 100.0 * v / pre_mean if pre_mean else float("nan"))
    return {
        "metric": metric, "design": result["design"], "method": method, "cuped": cuped,
        "estimate": result["estimate"], "estimate_pct": pct(result["estimate"]),
        "ci_low": result["ci_low"], "ci_high": result["ci_high"],
        "ci_low_pct": pct(result["ci_low"]), "ci_high_pct": pct(result["ci_high"]),
        "p_value": result["p_value"], "confidence": confidence, "se": result["se"], "df": float(result["df"]),
        "theta": None if result.get("theta") is None else float(result["theta"]),
        "n_test_stores": n_t, "n_control_stores": n_c,
        "n_tickets": int(used["pre_tickets"].sum() + used["post_tickets"].sum()),
        "pre_mean_test": pre_mean, "winsorize_cap": panel.attrs.get("cap"), "winsorize": winsorize,
        "launch": str(pd.Timestamp(launch).date()),
        "stores": [{"store_id": str(sid), "group": "test" if i < n_t else "control", "pre": float(row["pre"]),
                    "post": float(row["post"]), "change": float(row["change"]),
                    "pre_tickets": int(row["pre_tickets"]), "post_tickets": int(row["post_tickets"])}
                   for i, (sid, row) in enumerate(used.iterrows())],
        "warnings": warnings,
    }


# ---------------------------------------------------------------- design helpers

def _weekly(lines, metric, bundle=None, catalog=None, before=None):
    """Per store and week (Monday): numerator and denominator sums of the metric."""
    sums, days = _weekly_sums(lines, metric, bundle, catalog, before)
    num = pd.Series(sums["num"].to_numpy(dtype="float64"),
                    index=pd.MultiIndex.from_arrays([pd.Index(sums["store_id"].tolist(), dtype=object),
                                                     pd.DatetimeIndex(sums["week"])], names=["store_id", "week"]))
    den = pd.Series(sums["den"].to_numpy(dtype="float64"), index=num.index)
    num = num.sort_index().unstack("week", fill_value=0.0)
    den = den.sort_index().unstack("week", fill_value=0.0)
    # days with data in each week (all stores together), to tell partial weeks
    num.attrs["days"] = days.reindex(num.columns, fill_value=0)
    return num, den


def _weekly_sums(lines, metric, bundle=None, catalog=None, before=None):
    """Per (store, week): the exact sum (num) and number (den) of ticket values; per week: days with tickets.

    Spark lines are counted by :func:`recommender.spark.counts.weekly_sums`.
    """
    from recommender.tickets import _is_spark

    if _is_spark(lines):
        from recommender.spark.counts import weekly_sums

        return weekly_sums(lines, metric, bundle, catalog, before)
    from recommender.sums import group_sum

    tickets = _ticket_values(lines, metric, bundle, catalog)
    if before is not None:
        tickets = tickets[(tickets["timestamp"] < pd.Timestamp(before)).to_numpy(dtype=bool)]
    day = tickets["timestamp"].dt.normalize()
    week = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    keys = pd.MultiIndex.from_arrays([pd.Index(tickets["store_id"].to_numpy(), dtype=object),
                                      pd.DatetimeIndex(week)])
    codes, uniq = pd.factorize(keys)
    sums = pd.DataFrame({"store_id": uniq.get_level_values(0).to_numpy(dtype=object),
                         "week": uniq.get_level_values(1).to_numpy(),
                         "num": group_sum(codes, tickets["value"].to_numpy(dtype="float64"), len(uniq)),
                         "den": np.bincount(codes, minlength=len(uniq))})
    days = pd.Series(day.to_numpy()).groupby(week.to_numpy()).nunique()
    return sums, days


def match_control_stores(lines: pd.DataFrame, test_stores, launch, n=None, metric: str = "atv", *,
                         candidates=None, bundle=None, catalog=None) -> pd.DataFrame:
    """Propose control stores that looked like the test stores before the launch.

    Each store's weekly pre-launch series of ``metric`` gives a level (mean of
    the weekly values) and a trend (least-squares slope per week); both are
    standardised over all stores considered, and the distance is Euclidean on
    the two. Stores are then paired by optimal assignment without reuse
    (Hungarian algorithm); with ``n`` above the number of test stores, each
    test store gets several controls.

    Parameters
    ----------
    test_stores : iterable of str
    launch : date-like
        Only weeks before it are used.
    n : int, optional
        Number of control stores to propose (default: one per test store).
    candidates : iterable of str, optional
        Stores allowed as controls (default: every other store in the data).

    Returns
    -------
    DataFrame
        test_store, control_store, distance, test_level, control_level,
        test_slope, control_slope; sorted by distance.

    Examples
    --------
    >>> day = pd.date_range("2024-01-01", periods=28, freq="D")
    >>> level = {"T": 10.0, "A": 30.0, "B": 11.0, "C": 50.0}
    >>> lines = pd.DataFrame([(f"{s}{i}", "x", 1.0, v, d, s) for s, v in level.items()
    ...                       for i, d in enumerate(day)],
    ...     columns=["receipt_id", "sku", "quantity", "line_amount", "timestamp", "store_id"])
    >>> match_control_stores(lines, ["T"], launch="2024-01-29")[["test_store", "control_store"]].values.tolist()
    [['T', 'B']]
    """
    from scipy.optimize import linear_sum_assignment

    test = _store_list(test_stores, "test_stores")
    num, den = _weekly(lines, metric, bundle=bundle, catalog=catalog, before=launch)
    with np.errstate(invalid="ignore", divide="ignore"):
        weekly = (num / den).where(den > 0)
    missing = [s for s in test if s not in weekly.index]
    if missing:
        raise NotEnoughData(f"test store(s) without pre-launch tickets: {missing}")
    pool = [s for s in weekly.index if s not in test]
    if candidates is not None:
        allowed = set(_store_list(candidates, "candidates"))
        pool = [s for s in pool if s in allowed]
    n = len(test) if n is None else int(n)
    if n < 1 or len(pool) < n:
        raise NotEnoughData(f"{len(pool)} candidate control store(s) with pre-launch data; {n} wanted")
    t = np.arange(weekly.shape[1], dtype="float64")
    level = weekly.mean(axis=1)
    mask = weekly.notna().to_numpy()
    vals = np.nan_to_num(weekly.to_numpy())
    cnt = mask.sum(axis=1)
    tm = (mask * t).sum(axis=1) / np.maximum(cnt, 1)
    tc = (t[None, :] - tm[:, None]) * mask
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (tc * (vals - level.to_numpy()[:, None]) * mask).sum(axis=1) / (tc ** 2).sum(axis=1)
    slope = pd.Series(np.nan_to_num(slope), index=weekly.index)
    stores = test + pool
    feats = np.column_stack([level[stores].to_numpy(), slope[stores].to_numpy()])
    sd = feats.std(axis=0)
    z = (feats - feats.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    zt, zc = z[:len(test)], z[len(test):]
    cost = np.sqrt(((zt[:, None, :] - zc[None, :, :]) ** 2).sum(axis=2))
    rounds = -(-n // len(test))
    # each test store repeated ``rounds`` times; rectangular problems assign min(rows, cols)
    rows_idx, cols_idx = linear_sum_assignment(np.tile(cost, (rounds, 1)))
    pairs = sorted(zip(cost[rows_idx % len(test), cols_idx], rows_idx % len(test), cols_idx))[:n]
    return pd.DataFrame([{"test_store": test[i], "control_store": pool[j], "distance": float(d),
                          "test_level": float(level[test[i]]), "control_level": float(level[pool[j]]),
                          "test_slope": float(slope[test[i]]), "control_slope": float(slope[pool[j]])}
                         for d, i, j in pairs])


def minimum_detectable_effect(lines: pd.DataFrame, test_stores, control_stores, weeks: int, alpha: float = 0.05,
                              power: float = 0.8, metric: str = "atv", *, launch=None, bundle=None,
                              catalog=None) -> dict:
    """Smallest true effect the store-level DiD would detect with the given power.

    The spread of store-level changes is measured on history: every run of
    ``2 * weeks`` consecutive weeks (before ``launch`` if given) is split into
    a pseudo pre and pseudo post window of ``weeks`` each, and the pooled
    within-group variance of the pre->post changes is averaged over the runs.
    Then ``MDE = (t_{1-alpha/2, df} + t_{power, df}) * sd * sqrt(1/n_t + 1/n_c)``
    with ``df = n_t + n_c - 2`` (without control stores: ``sd / sqrt(n_t)``,
    ``df = n_t - 1``).

    Returns
    -------
    dict
        metric, weeks, mde (absolute), mde_pct (% of the test stores' mean),
        sd_change, pre_mean, n_test_stores, n_control_stores, n_windows, df,
        alpha, power.

    Notes
    -----
    It assumes the launch period varies like history does; a launch window
    with its own store-specific shocks (a refit, a local event) needs a
    larger effect than this.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> day = np.tile(pd.date_range("2024-01-01", periods=56, freq="D"), 4)
    >>> store = np.repeat(["S1", "S2", "S3", "S4"], 56 * 30)
    >>> day = np.repeat(day, 30)
    >>> lines = pd.DataFrame({"receipt_id": [f"r{i}" for i in range(len(day))], "sku": "x", "quantity": 1.0,
    ...     "line_amount": rng.gamma(4.0, 15.0, len(day)), "timestamp": day, "store_id": store})
    >>> m = minimum_detectable_effect(lines, ["S1", "S2"], ["S3", "S4"], weeks=2)
    >>> m["n_windows"], m["df"], bool(0 < m["mde_pct"] < 100)
    (5, 2, True)
    """
    test = _store_list(test_stores, "test_stores")
    control = _store_list(control_stores, "control_stores")
    weeks = int(weeks)
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    num, den = _weekly(lines, metric, bundle=bundle, catalog=catalog, before=launch)
    stores = test + control
    absent = [s for s in stores if s not in num.index]
    if absent:
        raise NotEnoughData(f"store(s) without history: {absent}")
    if len(test) < 2 or (control and len(control) < 2):
        raise NotEnoughData("at least 2 test and 2 control stores are needed")
    # complete weeks only: an export rarely starts on a Monday
    days = num.attrs["days"]
    cols = [c for c in num.columns if days[c] == 7]
    N, D = num.loc[stores, cols].to_numpy(), den.loc[stores, cols].to_numpy()
    n_weeks = N.shape[1]
    if n_weeks < 2 * weeks:
        raise NotEnoughData(f"{n_weeks} complete week(s) of history; {2 * weeks} needed for windows of "
                            f"{weeks} week(s)")
    cn = np.hstack([np.zeros((len(stores), 1)), N.cumsum(axis=1)])
    cd = np.hstack([np.zeros((len(stores), 1)), D.cumsum(axis=1)])
    starts = np.arange(n_weeks - 2 * weeks + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pre = (cn[:, starts + weeks] - cn[:, starts]) / (cd[:, starts + weeks] - cd[:, starts])
        post = (cn[:, starts + 2 * weeks] - cn[:, starts + weeks]) / (cd[:, starts + 2 * weeks] - cd[:, starts + weeks])
    change = post - pre                                 # (stores, windows)
    nt, nc = len(test), len(control)
    var_t = np.nanvar(change[:nt], axis=0, ddof=1)
    if nc:
        var_c = np.nanvar(change[nt:], axis=0, ddof=1)
        pooled = ((nt - 1) * var_t + (nc - 1) * var_c) / (nt + nc - 2)
        df = nt + nc - 2
        factor = np.sqrt(1 / nt + 1 / nc)
    else:
        pooled, df, factor = var_t, nt - 1, np.sqrt(1 / nt)
    sd = float(np.sqrt(np.nanmean(pooled)))
    mde = (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        pre_mean = float(N[:nt].sum() / D[:nt].sum())
    return {"metric": metric, "weeks": weeks, "mde": float(mde), "mde_pct": 100.0 * float(mde) / pre_mean,
            "sd_change": sd, "pre_mean": pre_mean, "n_test_stores": nt, "n_control_stores": nc,
            "n_windows": int(len(starts)), "df": int(df), "alpha": alpha, "power": power}


def expected_vs_actual(expected: dict, measured: dict) -> dict:
    """Put the bundle step's projection next to what was measured.

    Parameters
    ----------
    expected : dict
        Projected figures, e.g. ``{"take_rate": 0.08, "atv_uplift": 1.2,
        "atv_uplift_pct": 2.0}`` (pct in percent).
    measured : dict
        Measured figures with the same keys; a :func:`measure_uplift` result
        may be given as is (its estimate becomes ``<metric>_uplift`` and
        ``<metric>_uplift_pct``, with the interval), or under any key.

    Returns
    -------
    dict
        ``table`` (DataFrame: quantity, expected, measured, ci_low, ci_high,
        ratio = measured / expected, expected_inside_ci) and ``recalibration``:
        measured / expected take rate (multiply future take-rate projections by
        it), or None when either is missing.

    Examples
    --------
    >>> out = expected_vs_actual({"take_rate": 0.10, "atv_uplift": 2.0},
    ...                          {"take_rate": 0.05, "metric": "atv", "estimate": 1.0, "ci_low": 0.2,
    ...                           "ci_high": 1.8, "estimate_pct": 1.5, "ci_low_pct": 0.3, "ci_high_pct": 2.7})
    >>> out["recalibration"]
    0.5
    >>> out["table"].set_index("quantity").loc["atv_uplift", "expected_inside_ci"]
    False
    """
    flat: dict = {}
    intervals: dict = {}

    def absorb(d):
        if "metric" in d and "estimate" in d:
            m = d["metric"]
            flat[f"{m}_uplift"] = d["estimate"]
            intervals[f"{m}_uplift"] = (d.get("ci_low"), d.get("ci_high"))
            if "estimate_pct" in d:
                flat[f"{m}_uplift_pct"] = d["estimate_pct"]
                intervals[f"{m}_uplift_pct"] = (d.get("ci_low_pct"), d.get("ci_high_pct"))
        for k, v in d.items():
            if isinstance(v, dict):
                absorb(v)
            elif isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and k not in (
                    "estimate", "estimate_pct", "ci_low", "ci_high", "ci_low_pct", "ci_high_pct"):
                flat.setdefault(k, float(v))

    absorb(measured)
    rows = []
    for key, exp in expected.items():
        if not isinstance(exp, (int, float, np.floating)) or key not in flat:
            continue
        lo, hi = intervals.get(key, (None, None))
        got = float(flat[key])
        rows.append({"quantity": key, "expected": float(exp), "measured": got, "ci_low": lo, "ci_high": hi,
                     "ratio": got / exp if exp else float("nan"),
                     "expected_inside_ci": (lo <= exp <= hi) if lo is not None and hi is not None else None})
    table = pd.DataFrame(rows, columns=["quantity", "expected", "measured", "ci_low", "ci_high", "ratio",
                                        "expected_inside_ci"])
    recal = None
    if expected.get("take_rate") and "take_rate" in flat:
        recal = float(flat["take_rate"]) / float(expected["take_rate"])
    return {"table": table, "recalibration": recal}


# ---------------------------------------------------------------- shops without stores

def before_after(lines: pd.DataFrame, launch, metric: str = "atv", *, confidence: float = 0.95,
                 min_weeks: int = 2) -> dict:
    """Weekly ``metric`` after a launch against before it, all tickets together: the design left to a shop
    with one store (or no store column), where no store can serve as a control.

    Each calendar week is one value (tickets of a week are not independent draws,
    weeks are closer to it); the interval is Welch's on the weekly means. It is
    the weaker design: it credits the launch with anything else that changed
    (season, prices, traffic), and the result says so in ``warnings``.

    Returns
    -------
    dict
        metric, design ("before_after"), estimate, estimate_pct, ci_low, ci_high, ci_low_pct, ci_high_pct,
        p_value, confidence, n_weeks_pre, n_weeks_post, n_tickets, pre_mean, warnings.

    Raises
    ------
    NotEnoughData
        Fewer than ``min_weeks`` weeks with tickets on either side of the launch.

    Examples
    --------
    >>> days = pd.date_range("2025-01-06", periods=56, freq="D")
    >>> lines = pd.DataFrame({"receipt_id": [str(i) for i in range(56)], "sku": "a", "quantity": 1.0,
    ...                       "line_amount": [10.0 if d < pd.Timestamp("2025-02-03") else 12.0 for d in days],
    ...                       "timestamp": days})
    >>> r = before_after(lines, "2025-02-03")
    >>> r["design"], r["estimate"], r["n_weeks_pre"], r["n_weeks_post"]
    ('before_after', 2.0, 4, 4)
    """
    from recommender.tickets import store_totals

    if metric not in ("atv", "upt"):
        raise InputError(f"metric must be atv or upt for a before/after comparison, not {metric!r}")
    launch = pd.Timestamp(launch)
    dated = lines[lines["timestamp"].notna()]
    pre = store_totals(dated[dated["timestamp"] < launch], by="week") if len(dated) else None
    post = store_totals(dated[dated["timestamp"] >= launch], by="week") if len(dated) else None
    n_pre, n_post = (0 if f is None else len(f) for f in (pre, post))
    if min(n_pre, n_post) < min_weeks:
        raise NotEnoughData(f"{n_pre} week(s) with tickets before the launch and {n_post} after; at least "
                            f"{min_weeks} are needed on each side", hint="move the launch date")
    a, b = pre[metric].to_numpy(float), post[metric].to_numpy(float)
    diff = float(b.mean() - a.mean())
    var = a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)
    if var > 0:
        se = np.sqrt(var)
        df = var ** 2 / ((a.var(ddof=1) / len(a)) ** 2 / (len(a) - 1) + (b.var(ddof=1) / len(b)) ** 2 / (len(b) - 1))
        half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
        p = float(2 * stats.t.sf(abs(diff) / se, df))
    else:
        half, p = 0.0, (1.0 if diff == 0 else 0.0)
    pre_mean = float(a.mean())
    pct = (lambda v: 100.0 * v / pre_mean if pre_mean else float("nan"))
    return {"metric": metric, "design": "before_after", "estimate": diff, "estimate_pct": pct(diff),
            "ci_low": diff - half, "ci_high": diff + half, "ci_low_pct": pct(diff - half),
            "ci_high_pct": pct(diff + half), "p_value": p, "confidence": confidence, "n_weeks_pre": int(n_pre),
            "n_weeks_post": int(n_post), "n_tickets": int(pre["tickets"].sum() + post["tickets"].sum()),
            "pre_mean": pre_mean,
            "warnings": ["before/after without control stores is the weaker design: it credits the launch with "
                         "anything else that changed at the same time (season, prices, traffic)"]}
