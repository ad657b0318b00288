"""Launch records: projection at launch, storage beside the decisions, JSON export, clean windows."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.launch import (exclude_launches, list_launches, make_launch, project_bundle, promoted_mask,
                                read_launch, store_launch, write_launch_json)
from recommender.policy import Policy


def _lines(seed=0, n=600):
    rng = np.random.default_rng(seed)
    rows = []
    days = pd.date_range("2025-01-01", "2025-03-31", freq="D")
    for r in range(n):
        store = f"S{r % 4 + 1}"
        ts = days[rng.integers(len(days))]
        items = ["shirt"] if rng.random() < 0.5 else ["jeans"]
        if items == ["shirt"] and rng.random() < 0.3:
            items.append("tie")
        if rng.random() < 0.2:
            items.append("socks")
        rows += [(f"r{r}", s, 1.0, 10.0, ts, store) for s in items]
    return pd.DataFrame(rows, columns=["receipt_id", "sku", "quantity", "line_amount", "timestamp", "store_id"])


BUNDLE = {"bundle_id": "b1", "name": "shirt + tie", "department": "apparel", "level": "sku", "anchor": ["shirt"],
          "addons": ["tie"], "components": [], "regular_price": 300.0, "bundle_price": 270.0, "saving": 30.0,
          "saving_pct": 0.1, "discount_cost": 30.0, "added_margin": 60.0}


def test_projection_matches_an_independent_count():
    lines = _lines()
    start, stores, weeks = "2025-03-01", ["S1", "S2"], 4
    p = project_bundle(lines, BUNDLE, stores, start, weeks=weeks)
    win = lines[(lines["timestamp"] < start) & (lines["timestamp"] >= pd.Timestamp(start) - pd.Timedelta(weeks=weeks))
                & lines["store_id"].isin(stores)]
    per = win.groupby("receipt_id")["sku"].agg(set)
    anchor = per.map(lambda s: "shirt" in s)
    full = per.map(lambda s: {"shirt", "tie"} <= s)
    store_weeks = len(stores) * weeks
    assert p["gap_tickets_per_store_week"] == pytest.approx((anchor & ~full).sum() / store_weeks)
    assert p["set_tickets_per_store_week"] == pytest.approx(full.sum() / store_weeks)
    q = Policy().curve_for("apparel").take_rate(0.1)
    assert p["take_rate"] == pytest.approx(q)
    takers = q * (anchor & ~full).sum() / store_weeks
    assert p["takers_per_store_week"] == pytest.approx(takers)
    assert p["incremental_margin_per_store_week"] == pytest.approx(takers * (60 - 30) - full.sum() / store_weeks * 30)
    assert p["expected_attach_uplift"] == pytest.approx(q * (anchor & ~full).sum() / anchor.sum())


def test_promoted_store_periods_of_known_launches_are_left_out():
    lines = _lines()
    known = [{"stores": ["S1"], "from": "2025-02-15", "to": "2025-02-28"}]
    mask = promoted_mask(lines, known)
    expected = (lines["store_id"] == "S1") & (lines["timestamp"] >= "2025-02-15") & (lines["timestamp"] < "2025-03-01")
    assert mask.tolist() == expected.tolist()
    assert exclude_launches(lines, known).attrs["excluded_lines"] == int(expected.sum())
    p_clean = project_bundle(lines, BUNDLE, ["S1"], "2025-03-01", weeks=2, known_launches=known)
    assert p_clean["anchor_tickets_per_store_week"] == 0.0  # the whole window was promoted


def test_launch_is_stored_beside_decisions_and_exported_as_json(tmp_path):
    lines = _lines()
    rec = make_launch([BUNDLE], ["S1", "S2"], ["S3", "S4"], "2025-03-01", "2025-03-31", name="spring", lines=lines,
                      created_at="2025-03-01T00:00:00+00:00")
    assert rec["launch_id"].startswith("L-") and rec["promotion_id"]
    assert rec["bundles"][0]["projection"]["take_rate"] > 0
    db = tmp_path / "decisions.sqlite"
    assert store_launch(db, rec) == rec["launch_id"]
    assert store_launch(db, rec) == rec["launch_id"]  # same record twice: fine
    assert list_launches(db) == [rec]
    assert read_launch(rec["launch_id"], db) == rec
    path = write_launch_json(rec, tmp_path / "launch.json")
    assert read_launch(path) == rec == json.loads(path.read_text(encoding="utf-8"))
    other = dict(rec, stores=["S1"])
    with pytest.raises(InputError):
        store_launch(db, other)  # same id, other content: refused
    with sqlite3.connect(db) as con:  # a launch is a record: no silent change
        with pytest.raises(sqlite3.DatabaseError):
            con.execute("UPDATE launches SET name = 'x'")


@pytest.mark.parametrize("kwargs,msg", [
    ({"stores": []}, "test store"),
    ({"control_stores": ["S1"]}, "both test and control"),
    ({"start": "not a date"}, "not a date"),
    ({"end": "2025-01-01"}, "before"),
])
def test_bad_launches_are_refused_with_a_clear_message(kwargs, msg):
    args = {"stores": ["S1", "S2"], "control_stores": ["S3"], "start": "2025-03-01", "end": None}
    args.update(kwargs)
    with pytest.raises(InputError, match=msg):
        make_launch([BUNDLE], args["stores"], args["control_stores"], args["start"], args["end"])


def test_a_bad_launch_file_names_itself(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="x.json"):
        read_launch(p)
    p.write_text('{"launch_id": "L"}', encoding="utf-8")
    with pytest.raises(InputError, match="lacks"):
        read_launch(p)


def test_till_file_carries_the_promotion_id_and_sums_to_the_bundle_prices(tmp_path, cli):
    from recommender.demo import generate_demo

    paths = generate_demo(tmp_path / "demo", n_receipts=2_000)
    rec = read_launch(paths["launch"])
    out = tmp_path / "till.csv"
    res = cli("export", tmp_path, "--format", "pos", "--launch", paths["launch"], "--out", out)
    assert res.returncode == 0, res.stderr
    till = pd.read_csv(out, encoding="utf-8-sig", dtype={"sku": str, "store": str})
    assert set(till["promotion_id"]) == {rec["promotion_id"]}
    assert set(till["store"]) == set(rec["stores"])
    assert (till["valid_from"] == rec["from"]).all()
    sums = till.groupby(["store", "bundle_id"])["promotion_price"].sum().round(2)
    price = {b["bundle_id"]: b["bundle_price"] for b in rec["bundles"]}
    assert all(abs(v - price[bid]) < 0.005 for (_, bid), v in sums.items())
    assert len(sums) == len(rec["stores"]) * len(rec["bundles"])


def test_a_launched_gift_costs_the_gift_unit_cost_not_nothing_nor_its_shelf_price():
    import json
    from types import SimpleNamespace

    import pandas as pd

    from recommender.launch import bundles_from_run

    comps = [{"sku": "a", "role": "anchor", "quantity": 1, "unit_price": 40.0, "promotion_price": 40.0},
             {"sku": "b", "role": "addon", "quantity": 1, "unit_price": 20.0, "promotion_price": 20.0},
             {"sku": "g", "role": "gift", "quantity": 2, "unit_price": 6.0, "promotion_price": 0.0}]
    row = {"bundle_id": "x", "items": ("a", "b"), "gap_tickets": 100, "components": json.dumps(comps),
           "addons": ("b",), "added_margin": 9.0, "discount_type": "gift", "names": ("A", "B"), "anchor": "a",
           "regular_price": 60.0, "bundle_price": 60.0, "saving": 12.0, "gift_sku": "g",
           "offers": json.dumps([{"discount_type": "gift", "discount_cost": 3.0}])}
    run = SimpleNamespace(tables={"bundles": pd.DataFrame([row])}, path=None)
    catalog = pd.DataFrame({"sku": ["a", "b", "g"], "department": ["x"] * 3, "unit_cost": [20.0, 11.0, 1.25]})
    assert bundles_from_run(run, ["x"], catalog=catalog)[0]["discount_cost"] == 2.5  # 2 gifts at 1.25
    assert bundles_from_run(run, ["x"])[0]["discount_cost"] == 3.0  # no catalog: the cost the run priced with
