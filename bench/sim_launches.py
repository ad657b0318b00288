"""Simulated bundle launches: do per-bundle intervals cover, and does calibration help the next launch?

For each simulated pair of launches in one department (6+6 or 20+20 stores):

* a true take-rate curve in the policy's family, drawn at random and not a
  multiple of the default (q0 ~ U(0.05, 0.40), q_max = q0 + U(0.2, 0.5), k ~ U(4, 16));
* stores that differ in traffic (anchor tickets per week 12 x lognormal(0, 0.5))
  and in their baseline attach rate (logit-normal, store sd 0.4 around a
  bundle's level), a common seasonal shift of every attach rate between pre
  and post (logit N(0, 0.25)), and store x period noise (logit N(0, 0.08));
* launch 1: three bundles with savings d ~ U(0.05, 0.20) run in the test
  stores for 8 weeks after 20 weeks of history; a gap ticket (anchor without
  the add-on) takes with probability q(d) and then completes the set;
* per bundle, the store-level difference-in-differences of the attach rate
  and its 95% interval for the realised effect
  (:func:`recommender.measure.attach_did`, what ``recommender measure`` uses); the truth is the realised
  causal change of the attach rate among the test stores' post-launch anchor
  tickets (takers / anchor tickets), as in the demo's ``true_attach_uplift``;
* the measured take rates (as :mod:`recommender.measure` derives them) go to
  :func:`recommender.calibrate.calibrate`; launch 2, three new bundles at new
  savings in new test stores, is projected with the default and with the
  calibrated policy (take rate x gap tickets per store-week of the 8 weeks
  before it x store-weeks), against the takers it really had.

Run: ``python bench/sim_launches.py [--launches 300]`` from the repository
root; writes ``bench/results/launches.txt``. Not part of CI. Vectorised at
the level of counts (binomial draws per store, period and bundle), so 300
launches x 2 designs take seconds, not hours.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recommender.calibrate import calibrate  # noqa: E402
from recommender.policy import Policy, ResponseCurve  # noqa: E402
from recommender.measure import attach_did  # noqa: E402

PRE_WEEKS, POST_WEEKS, N_BUNDLES = 20, 8, 3
DEPT = "apparel"


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def simulate_launch(rng, n_t, n_c, curve: ResponseCurve, savings):
    """One launch of ``len(savings)`` bundles; returns per bundle the measurement and the truth."""
    n = n_t + n_c
    traffic = 12.0 * rng.lognormal(0, 0.5, n)               # anchor tickets per store-week
    out = []
    for d in savings:
        level = rng.uniform(-2.5, -0.5)                     # bundle's baseline attach logit
        store = level + rng.normal(0, 0.4, n)
        season = rng.normal(0, 0.25)
        a_pre = _expit(store + rng.normal(0, 0.08, n))
        a_post = _expit(store + season + rng.normal(0, 0.08, n))
        A_pre = rng.poisson(traffic * PRE_WEEKS)
        A_post = rng.poisson(traffic * POST_WEEKS)
        S_pre = rng.binomial(A_pre, a_pre)
        S_cf = rng.binomial(A_post, a_post)                 # sets without the offer
        q = float(curve.take_rate(d))
        takers = np.zeros(n, np.int64)
        takers[:n_t] = rng.binomial(A_post[:n_t] - S_cf[:n_t], q)
        S_post = S_cf + takers
        pre, post = S_pre / A_pre, S_post / A_post
        r = attach_did(pre[:n_t], post[:n_t], A_post[:n_t], pre[n_t:], post[n_t:])
        A, a = A_post[:n_t].sum(), S_post[:n_t].sum()
        truth = takers[:n_t].sum() / A

        def take(u):
            t = u * A
            return t / (A - (a - t))

        gap_pre_week = (A_pre[:n_t] - S_pre[:n_t]).sum() / (n_t * PRE_WEEKS)
        out.append({"department": DEPT, "saving_pct": float(d), "confidence": 0.95,
                    "attach_uplift": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                    "true_attach_uplift": float(truth), "take_rate": take(r["estimate"]),
                    "take_rate_ci_low": take(r["ci_low"]), "take_rate_ci_high": take(r["ci_high"]),
                    "true_take_rate": q, "gap_per_store_week_before": float(gap_pre_week),
                    "actual_takers": int(takers[:n_t].sum()), "store_weeks": n_t * POST_WEEKS})
    return out


def run(n_launches: int, designs, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    prior = Policy()
    rows = []
    for n_t, n_c in designs:
        cover, widths, err_prior, err_cal, rel_prior, rel_cal = [], [], [], [], [], []
        t0 = time.perf_counter()
        for i in range(n_launches):
            q0 = rng.uniform(0.05, 0.40)
            curve = ResponseCurve(q0, min(1.0, q0 + rng.uniform(0.2, 0.5)), rng.uniform(4, 16))
            first = simulate_launch(rng, n_t, n_c, curve, rng.uniform(0.05, 0.20, N_BUNDLES))
            for b in first:
                cover.append(b["ci_low"] <= b["true_attach_uplift"] <= b["ci_high"])
                widths.append(b["ci_high"] - b["ci_low"])
            measured = [{"launch": {"launch_id": f"sim-{i}", "name": "sim", "from": "2025-01-01", "to": ""},
                         "bundles": [dict(b, name=f"b{j}") for j, b in enumerate(first)]}]
            try:
                calibrated = calibrate(measured, prior, measured_at="sim")
            except Exception:  # no measurable take rate at all: the prior stands
                calibrated = prior
            second = simulate_launch(rng, n_t, n_c, curve, rng.uniform(0.05, 0.20, N_BUNDLES))
            for b in second:
                base = b["gap_per_store_week_before"] * b["store_weeks"]
                proj_prior = prior.curve_for(DEPT).take_rate(b["saving_pct"]) * base
                proj_cal = calibrated.curve_for(DEPT).take_rate(b["saving_pct"]) * base
                actual = b["actual_takers"]
                err_prior.append(abs(proj_prior - actual))
                err_cal.append(abs(proj_cal - actual))
                if actual > 0:
                    rel_prior.append(abs(proj_prior - actual) / actual)
                    rel_cal.append(abs(proj_cal - actual) / actual)
        rows.append({"design": f"{n_t}+{n_c}", "launches": n_launches, "intervals": len(cover),
                     "coverage": float(np.mean(cover)), "mean_width": float(np.mean(widths)),
                     "mae_takers_uncalibrated": float(np.median(err_prior)),
                     "mae_takers_calibrated": float(np.median(err_cal)),
                     "median_rel_error_uncalibrated": float(np.median(rel_prior)),
                     "median_rel_error_calibrated": float(np.median(rel_cal)),
                     "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--launches", type=int, default=300, help="simulated launch pairs per design (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "launches.txt"))
    args = ap.parse_args(argv)
    rows = run(args.launches, [(6, 6), (20, 20)], seed=args.seed)
    head = (f"{'design':<8}{'launches':>9}{'intervals':>10}{'coverage':>10}{'width':>8}"
            f"{'MedAE takers: default':>23}{'calibrated':>12}{'median rel. err: default':>26}{'calibrated':>12}"
            f"{'seconds':>9}")
    lines = [f"python bench/sim_launches.py --launches {args.launches} --seed {args.seed}", "", head]
    for r in rows:
        lines.append(f"{r['design']:<8}{r['launches']:>9}{r['intervals']:>10}{r['coverage']:>10.3f}"
                     f"{r['mean_width']:>8.3f}{r['mae_takers_uncalibrated']:>23.1f}{r['mae_takers_calibrated']:>12.1f}"
                     f"{r['median_rel_error_uncalibrated']:>26.3f}{r['median_rel_error_calibrated']:>12.3f}"
                     f"{r['seconds']:>9}")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
