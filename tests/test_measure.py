"""Per-bundle measurement of a launch: attach uplift with intervals, takers, margin, beside the projection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.catalog import load_catalog
from recommender.launch import read_launch
from recommender.measure import measure_launch
from recommender.receipts import load_receipts

JSON_KEYS = {"name", "bundle_id", "items", "attach_uplift", "ci_low", "ci_high", "expected_attach_uplift", "takers",
             "expected_takers", "incremental_margin"}


@pytest.fixture(scope="module")
def measured(demo_data):
    lines = load_receipts(demo_data / "receipts.csv").lines
    catalog = load_catalog(demo_data / "catalog.csv")
    launch = read_launch(demo_data / "launch.json")
    truth = json.loads((demo_data / "ground_truth.json").read_text(encoding="utf-8"))
    return lines, catalog, launch, truth, measure_launch(lines, launch, catalog=catalog)


def test_intervals_cover_the_true_attach_uplift(measured):
    *_, truth, res = measured
    covered = [b["ci_low"] <= t["true_attach_uplift"] <= b["ci_high"] for b, t in zip(res["bundles"], truth["bundles"])]
    assert len(covered) == 5
    assert sum(covered) >= 4, [(b["name"], b["ci_low"], b["ci_high"]) for b in res["bundles"]]


def test_estimate_is_the_store_level_did_of_an_independent_count(measured):
    lines, catalog, launch, truth, res = measured
    sub = lines["sku"].map(catalog.set_index("sku")["subcategory"])
    b = launch["bundles"][2]  # cold relief kit
    per = pd.DataFrame({"r": lines["receipt_id"], "v": sub, "store": lines["store_id"],
                        "post": lines["timestamp"] >= launch["from"]})
    tick = per.groupby("r").agg(store=("store", "first"), post=("post", "first"), v=("v", lambda x: set(x)))
    tick["anchor"] = tick["v"].map(lambda s: b["anchor"][0] in set(s))
    tick["full"] = tick["v"].map(lambda s: {*b["anchor"], *b["addons"]} <= set(s))
    rate = tick[tick["anchor"]].groupby(["store", "post"])["full"].mean().unstack()
    change = rate[True] - rate[False]
    did = change[launch["stores"]].mean() - change[launch["control_stores"]].mean()
    got = res["bundles"][2]
    assert got["attach_uplift"] == pytest.approx(did, abs=1e-12)
    anchors_post = tick[tick["anchor"] & tick["post"] & tick["store"].isin(launch["stores"])]
    assert got["anchor_tickets"] == len(anchors_post)
    assert got["takers"] == pytest.approx(did * len(anchors_post))
    assert got["ci_low"] < got["attach_uplift"] < got["ci_high"]
    assert got["takers_ci_low"] < got["takers"] < got["takers_ci_high"]


def test_projection_sits_beside_each_figure_in_the_same_units(measured):
    _, _, launch, _, res = measured
    for b, lb in zip(res["bundles"], launch["bundles"]):
        assert JSON_KEYS <= set(b)
        p = lb["projection"]
        assert b["expected_takers"] == pytest.approx(p["takers_per_store_week"] * b["store_weeks"])
        assert b["expected_incremental_margin"] == pytest.approx(p["incremental_margin_per_store_week"])
        assert b["expected_attach_uplift"] == pytest.approx(p["expected_attach_uplift"])
        assert b["takers_per_store_week"] == pytest.approx(b["takers"] / b["store_weeks"])
    port = res["portfolio"]
    assert port["atv"]["estimate"] is not None and port["upt"]["estimate"] is not None
    assert port["minimum_detectable_effect"] == launch["minimum_detectable_effect"]
    assert port["takers"] == pytest.approx(sum(b["takers"] for b in res["bundles"]))


def test_cli_measure_json_keys(demo_data, cli):
    res = cli("measure", demo_data / "receipts.csv", "--launch", demo_data / "launch.json", "--catalog",
              demo_data / "catalog.csv", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {"launch", "bundles", "portfolio"}
    assert all(JSON_KEYS <= set(b) for b in out["bundles"])
    text = cli("measure", demo_data / "receipts.csv", "--launch", demo_data / "launch.json", "--catalog",
               demo_data / "catalog.csv")
    assert text.returncode == 0 and "shirt + tie" in text.stdout and "MDE" in text.stdout


def test_cli_measure_without_catalog_says_so(demo_data, cli):
    res = cli("measure", demo_data / "receipts.csv", "--launch", demo_data / "launch.json")
    assert res.returncode == 2 and "--catalog" in res.stderr and "Traceback" not in res.stderr


def test_too_few_stores_is_not_an_interval(measured):
    lines, catalog, launch, _, _ = measured
    one = dict(launch, stores=launch["stores"][:1], control_stores=launch["control_stores"][:1])
    res = measure_launch(lines, one, catalog=catalog)
    assert all(b["ci_low"] is None and b["warnings"] for b in res["bundles"])


def test_attach_did_is_welch_when_nobody_takes_and_narrower_when_takers_add_noise():
    from recommender.measure import attach_did
    from recommender.uplift import did_estimate

    pre_t, pre_c, post_c = [.20, .25, .22, .3], [.21, .24, .20, .26], [.22, .23, .21, .27]
    flat = [.21, .24, .23, .29]
    a, b = attach_did(pre_t, flat, [100, 120, 90, 80], pre_c, post_c), did_estimate(pre_t, flat, pre_c, post_c)
    if a["estimate"] <= 0:  # no takers estimated: nothing to take off, the plain Welch interval
        assert (a["ci_low"], a["ci_high"]) == pytest.approx((b["ci_low"], b["ci_high"]))
    up = [.5, .6, .55, .62]
    a, b = attach_did(pre_t, up, [100, 120, 90, 80], pre_c, post_c), did_estimate(pre_t, up, pre_c, post_c)
    assert a["estimate"] == pytest.approx(b["estimate"])
    assert a["se"] <= b["se"]
