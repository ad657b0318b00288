"""Calibration: per-department curves refitted from measured launches, shrunk toward the prior."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from recommender.calibrate import calibrate, write_policy
from recommender.demo import true_take_rate
from recommender.policy import Policy, load_policy


def _m(dept, d, q, half, lid="L-1"):
    return {"launch": {"launch_id": lid, "name": "x", "from": "2025-01-01", "to": "2025-02-01"},
            "bundles": [{"name": f"{dept} {d}", "department": dept, "saving_pct": d, "take_rate": q,
                         "take_rate_ci_low": q - half, "take_rate_ci_high": q + half, "confidence": 0.95}]}


def test_a_precise_launch_moves_the_curve_to_the_measurement_and_a_noisy_one_less():
    prior = Policy()
    precise = calibrate([_m("apparel", 0.1, 0.40, 0.02)], prior).curve_for("apparel").take_rate(0.1)
    noisy = calibrate([_m("apparel", 0.1, 0.40, 0.35)], prior).curve_for("apparel").take_rate(0.1)
    before = prior.curve_for("apparel").take_rate(0.1)
    assert precise == pytest.approx(0.40, rel=0.02)
    assert before < noisy < precise


def test_shrinkage_is_the_normal_posterior_on_the_log_factor():
    prior = Policy()
    q, half, d = 0.30, 0.06, 0.1
    p = calibrate([_m("grocery", d, q, half)], prior, prior_sd=0.5)
    fit = p.sources[-1]["departments"]["grocery"]
    se = 2 * half / (2 * 1.959963984540054)
    w = 1 / (se / q) ** 2
    l = math.log(q / prior.curve_for("grocery").take_rate(d))
    assert fit["log_factor_pooled"] == pytest.approx(w * l / (w + 1 / 0.25))
    assert fit["shrinkage_to_prior"] == pytest.approx((1 / 0.25) / (w + 1 / 0.25))
    # one bundle: the fitted curve moves its take rate by exactly the pooled log factor
    moved = math.log(p.curve_for("grocery").take_rate(d) / prior.curve_for("grocery").take_rate(d))
    assert moved == pytest.approx(fit["log_factor_pooled"], abs=1e-6)


def test_departments_without_a_launch_keep_the_prior_and_the_file_reads_back(tmp_path):
    p = calibrate([_m("apparel", 0.1, 0.40, 0.02)], Policy())
    assert p.curve_for("pharmacy") == Policy().curve_for("pharmacy")
    path = write_policy(p, tmp_path / "policy.toml")
    back = load_policy(path)
    assert back.curves == p.curves
    assert back.sources[-1]["launches"][0]["launch_id"] == "L-1"
    assert back.sources[-1]["departments"]["apparel"]["curve"]["q_max"] == p.curves["apparel"].q_max
    assert back.source == str(path)


def test_nothing_to_calibrate_is_a_clear_error():
    from recommender.errors import InputError

    with pytest.raises(InputError, match="no bundle"):
        calibrate([{"launch": {"launch_id": "L"}, "bundles": [{"name": "a", "take_rate": None}]}])


def _within(bundles: pd.DataFrame, catalog: pd.DataFrame, depts) -> pd.Series:
    rec = bundles[bundles["recommended"].astype(bool)].copy()
    rec["dept"] = rec["anchor"].map(catalog.set_index("sku")["department"])
    rec = rec[rec["dept"].isin(depts)]
    true = [true_take_rate(d, x) for d, x in zip(rec["dept"], rec["discount_pct"])]
    return rec["expected_take_rate"] / pd.Series(true, index=rec.index)


@pytest.mark.slow
def test_after_calibrating_on_the_demo_launch_projections_are_within_x15_of_the_truth(demo_data, demo_run, cli,
                                                                                      tmp_path):
    import shutil

    from recommender.runs import read_run

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    catalog = pd.read_csv(demo_data / "catalog.csv", dtype={"sku": str})
    launch = json.loads((demo_data / "launch.json").read_text(encoding="utf-8"))
    depts = sorted({b["department"] for b in launch["bundles"]})
    assert cli("bundles", run).returncode == 0
    before = _within(read_run(run).tables["bundles"], catalog, depts)
    policy = tmp_path / "calibrated.toml"
    res = cli("calibrate", demo_data / "receipts.csv", "--launch", demo_data / "launch.json", "--catalog",
              demo_data / "catalog.csv", "--out", policy)
    assert res.returncode == 0, res.stderr
    assert load_policy(policy).sources[-1]["launches"][0]["launch_id"] == launch["launch_id"]
    res = cli("bundles", run, "--policy", policy)
    assert res.returncode == 0, res.stderr
    after_run = read_run(run)
    after = _within(after_run.tables["bundles"], catalog, depts)
    ok_before = ((before <= 1.5) & (before >= 1 / 1.5)).mean()
    ok_after = ((after <= 1.5) & (after >= 1 / 1.5)).mean()
    assert len(after) > 0 and ok_after >= 0.8 > ok_before
    print(f"within x1.5 of the true curve: before {ok_before:.0%} (median ratio {before.median():.3f}), "
          f"after {ok_after:.0%} (median ratio {after.median():.3f})")
    # the run's manifest names the policy it used, and where that policy's curves came from
    params = after_run.manifest["bundles"]["parameters"]["policy"]
    assert params["source"] == str(policy) and params["sources"][-1]["launches"][0]["launch_id"] == launch["launch_id"]


def test_interval_level_a_rate_above_one_and_skipped_bundles():
    from statistics import NormalDist

    prior = Policy()
    q_prior = prior.curve_for("grocery").take_rate(0.1)
    # a 90% interval: its half-width is 1.645 standard errors, not 1.96
    m = _m("grocery", 0.1, 0.30, 0.06)
    m["bundles"][0]["confidence"] = 0.90
    # a measured take rate above 1 (noise on few takers) counts as 1; a bundle without a measurement is listed
    m["bundles"].append({**m["bundles"][0], "name": "over", "department": "apparel", "take_rate": 1.2,
                         "take_rate_ci_low": 1.0, "take_rate_ci_high": 1.4})
    m["bundles"].append({"name": "unmeasured", "department": "apparel", "saving_pct": 0.1, "take_rate": None})
    fit = calibrate([m], prior, prior_sd=0.5).sources[-1]
    se = 0.06 / NormalDist().inv_cdf(0.95)
    w = (0.30 / se) ** 2
    assert fit["departments"]["grocery"]["log_factor_pooled"] == pytest.approx(
        w * math.log(0.30 / q_prior) / (w + 4.0))
    w_over = (1.2 / (0.2 / NormalDist().inv_cdf(0.95))) ** 2  # the weight keeps the measured 1.2 and its interval
    l_over = math.log(1.0 / prior.curve_for("apparel").take_rate(0.1))
    assert fit["departments"]["apparel"]["log_factor_pooled"] == pytest.approx(w_over * l_over / (w_over + 4.0))
    assert fit["skipped_bundles"] == ["unmeasured"]


def test_recalibrating_replaces_the_departments_earlier_factor():
    # the prior already doubles apparel's curve; a precise launch at 40% decides the curve, and the reported
    # factor is the whole factor on the default curve (not the change on top of the earlier one)
    prior = Policy(departments={"apparel": {"calibration": 2.0}})
    p = calibrate([_m("apparel", 0.1, 0.40, 0.002)], prior, prior_sd=1e3)
    assert p.curve_for("apparel").take_rate(0.1) == pytest.approx(0.40, rel=1e-4)
    fit = p.sources[-1]["departments"]["apparel"]
    assert fit["factor"] == pytest.approx(0.40 / Policy().curve_for("apparel").take_rate(0.1), rel=1e-4)
    assert "calibration" not in p.departments.get("apparel", {})
    assert p.curve_for("pharmacy") == prior.curve_for("pharmacy")
