"""Learn the take rate from measured launches: a new policy whose curves match what customers did.

In: per-bundle measurements (:func:`recommender.measure.measure_launch`) of one
or more launches and the policy they were projected with (the prior). Out: a
new :class:`~recommender.policy.Policy` -- the prior with each launched
department's response curve refitted -- and the ``[[sources]]`` record of how
(launch ids, dates, the measured take rates, the factor and the curve per
department). :func:`write_policy` stores it as TOML for ``bundles --policy``.

Per department, on the log scale::

    l_i  = log(measured take rate_i / prior take rate at the bundle's own saving)
    w_i  = 1 / var(l_i)                      (from the bundle's interval, delta method)
    m    = sum(w_i l_i) / (sum(w_i) + 1 / prior_sd**2)

``m`` is the department's log-factor, pooled over its bundles and shrunk
toward 0 (the prior) by a normal prior with sd ``prior_sd`` (default log 3: a
factor of 3 either way is one prior standard deviation). A noisy launch moves
the curve little; a precise one moves it most of the way. The curve stays in
the policy's family: q0 and q_max are scaled by one factor ``f`` (each capped
at 1), with ``f`` chosen so that the weighted mean log take rate over the
department's bundles moves by ``m``. Because of the cap the factor can exceed
``exp(m)``: a department that takes far more than assumed gets q_max = 1 and a
higher floor q0.

Departments without a launched bundle keep the prior's curve.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats

from recommender.errors import InputError
from recommender.policy import Policy, ResponseCurve, policy_to_mapping

PRIOR_SD = math.log(3.0)


def _log_ratio(b: dict, prior: Policy):
    q = b.get("take_rate")
    lo, hi = b.get("take_rate_ci_low"), b.get("take_rate_ci_high")
    d = b.get("saving_pct")
    if q is None or d is None or lo is None or hi is None or not q > 0:
        return None
    q_prior = prior.curve_for(b.get("department")).take_rate(float(d))
    if not q_prior > 0:
        return None
    z = float(stats.norm.ppf(0.5 + float(b.get("confidence") or 0.95) / 2))
    se = max((hi - lo) / (2 * z), 1e-6)
    var = (se / q) ** 2
    return math.log(min(q, 1.0) / q_prior), var, q_prior


def _fit_factor(curve: ResponseCurve, ds, ws, target: float) -> float:
    """``f`` with sum(w * log q_f(d)) / sum(w) - same at f=1 == target (bisection on log f)."""
    ds, ws = np.asarray(ds, float), np.asarray(ws, float)
    base = float(np.sum(ws * np.log(curve.take_rate(ds))) / ws.sum())

    def gap(logf):
        c = curve.scaled(math.exp(logf))
        return float(np.sum(ws * np.log(np.maximum(c.take_rate(ds), 1e-12))) / ws.sum()) - base - target

    lo, hi = math.log(1e-3), math.log(1.0 / max(min(curve.q0, curve.q_max) or curve.q_max, 1e-6))
    if gap(hi) < 0:
        return math.exp(hi)
    if gap(lo) > 0:
        return math.exp(lo)
    for _ in range(80):
        mid = (lo + hi) / 2
        if gap(mid) < 0:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def calibrate(measurements, prior: Policy | None = None, *, prior_sd: float = PRIOR_SD,
              measured_at: str | None = None) -> Policy:
    """Return ``prior`` with the launched departments' curves refitted to ``measurements``.

    Parameters
    ----------
    measurements : list of dict
        :func:`recommender.measure.measure_launch` results (one per launch);
        each bundle needs department, saving_pct, take_rate and its interval.
    prior : Policy
        The policy the launches were projected with (default: the defaults).
    prior_sd : float
        Prior sd of a department's log-factor.

    Examples
    --------
    >>> m = {"launch": {"launch_id": "L-1", "name": "x", "from": "2025-01-01", "to": None},
    ...      "bundles": [{"name": "a", "department": "apparel", "saving_pct": 0.1, "take_rate": 0.45,
    ...                   "take_rate_ci_low": 0.40, "take_rate_ci_high": 0.50}]}
    >>> p = calibrate([m])
    >>> round(float(p.curve_for("apparel").take_rate(0.1)), 2), p.curve_for("grocery") == Policy().curve_for("grocery")
    (0.45, True)
    """
    prior = prior or Policy()
    if prior_sd <= 0:
        raise ValueError("prior_sd must be > 0")
    by_dept: dict = {}
    skipped = []
    for m in measurements:
        for b in m["bundles"]:
            dept = prior.department(b.get("department"))
            lr = _log_ratio(b, prior)
            if lr is None:
                skipped.append(b.get("name"))
                continue
            by_dept.setdefault(dept, []).append((b, m["launch"], *lr))
    if not by_dept:
        raise InputError("no bundle with a measured take rate to calibrate from",
                         hint="the launch's bundles need a positive attach uplift with an interval")
    curves = dict(prior.curves)
    departments = {k: dict(v) for k, v in prior.departments.items()}
    fits = {}
    for dept, rows in sorted(by_dept.items()):
        ls = np.array([r[2] for r in rows])
        ws = 1.0 / np.array([r[3] for r in rows])
        m_log = float(np.sum(ws * ls) / (ws.sum() + 1.0 / prior_sd ** 2))
        shrink = float(1.0 / prior_sd ** 2 / (ws.sum() + 1.0 / prior_sd ** 2))
        # the prior curve without the department's calibration factor; the fit replaces both
        base = prior.curves.get(dept, prior.curves["default"])
        old_factor = prior.for_department(dept).calibration
        scaled = base.scaled(old_factor) if old_factor != 1 else base
        ds = [float(r[0]["saving_pct"]) for r in rows]
        f = _fit_factor(scaled, ds, ws, m_log)
        new = scaled.scaled(f)
        curves[dept] = new
        if "calibration" in departments.get(dept, {}):
            departments[dept].pop("calibration")
            if not departments[dept]:
                departments.pop(dept)
        fits[dept] = {"factor": float(f * old_factor), "log_factor_pooled": m_log, "shrinkage_to_prior": shrink,
                      "prior_curve": {"q0": scaled.q0, "q_max": scaled.q_max, "k": scaled.k},
                      "curve": {"q0": new.q0, "q_max": new.q_max, "k": new.k},
                      "bundles": [{"launch_id": r[1].get("launch_id"), "name": r[0].get("name"),
                                   "saving_pct": float(r[0]["saving_pct"]), "measured_take_rate": float(r[0]["take_rate"]),
                                   "prior_take_rate": float(r[4]),
                                   "calibrated_take_rate": float(new.take_rate(float(r[0]["saving_pct"])))}
                                  for r in rows]}
    launches = [{"launch_id": m["launch"].get("launch_id"), "name": m["launch"].get("name"),
                 "from": m["launch"].get("from"), "to": m["launch"].get("to") or ""} for m in measurements]
    source = {"kind": "calibration", "measured_at": measured_at or dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "prior": prior.source or "default curves", "prior_sd": prior_sd,
        "launches": launches, "departments": fits}
    if skipped:
        source["skipped_bundles"] = [str(s) for s in skipped]
    return replace(prior, curves=curves, departments=departments, sources=(*prior.sources, source), source=None)


def write_policy(policy: Policy, path) -> Path:
    """Write ``policy`` as TOML (atomically) for ``bundles --policy``; return the path."""
    import tomli_w

    from recommender.atomic import atomic_write_text

    text = ("# Pricing policy written by `recommender calibrate`: curves refitted from measured launches.\n"
            "# [[sources]] says which launches, when, and the fit per department.\n")
    text += tomli_w.dumps(_toml_safe(policy_to_mapping(policy)))
    return atomic_write_text(Path(path), text)


def _toml_safe(x):
    """TOML has no null: drop None values (a missing key reads back as the default)."""
    if isinstance(x, dict):
        return {str(k): _toml_safe(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):
        return [_toml_safe(v) for v in x if v is not None]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x
