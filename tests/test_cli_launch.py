"""`recommender launch`: a launch record from a run's bundles, stored beside the decisions, measured by id."""

from __future__ import annotations

import json

import pytest

from recommender.launch import list_launches


@pytest.mark.slow
def test_launch_from_run_then_measure_by_id(demo_data, demo_run, cli, tmp_path):
    import shutil

    from recommender.runs import read_run

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    assert cli("bundles", run).returncode == 0
    table = read_run(run).tables["bundles"]
    rec = table[table["recommended"].astype(bool)]
    ids = list(rec.drop_duplicates("level_items")["bundle_id"].head(2))
    db = tmp_path / "decisions.sqlite"
    out = tmp_path / "launch.json"
    res = cli("launch", run, "--bundles", ",".join(ids), "--stores", "S01,S04,S05", "--from", "2025-10-01",
              "--to", "2025-11-30", "--name", "autumn test", "--db", db, "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)
    assert [r["launch_id"] for r in list_launches(db)] == [record["launch_id"]]
    assert json.loads(out.read_text(encoding="utf-8"))["launch_id"] == record["launch_id"]
    # no control stores given: the matching proposes as many as there are test stores, none of them test
    assert len(record["control_stores"]) == 3 and not set(record["control_stores"]) & {"S01", "S04", "S05"}
    assert len(record["bundles"]) == 2
    for b in record["bundles"]:
        assert b["level"] == "sku" and b["items"][0] == b["anchor"][0]
        p = b["projection"]
        assert p["takers_per_store_week"] == pytest.approx(p["take_rate"] * p["gap_tickets_per_store_week"])
    # launching an offer that is not recommended by id needs a reason (as approving it would), kept in the record
    loser = table[~table["recommended"].astype(bool)].iloc[0]["bundle_id"]
    args = ("launch", run, "--bundles", loser, "--stores", "S02", "--from", "2025-10-01", "--to", "2025-11-30",
            "--db", db, "--json")
    res = cli(*args)
    assert res.returncode == 2 and "--reason" in res.stderr and "Traceback" not in res.stderr
    assert len(list_launches(db)) == 1
    res = cli(*args, "--reason", "test a deeper saving", "--name", "by reason")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["reason"] == "test a deeper saving"
    res = cli("measure", demo_data / "receipts.csv", "--launch", record["launch_id"], "--db", db, "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["launch"]["launch_id"] == record["launch_id"] and len(got["bundles"]) == 2


def test_launch_needs_bundles_and_stores(demo_run, cli, tmp_path):
    res = cli("launch", demo_run, "--stores", "S01", "--from", "2025-10-01", "--db", tmp_path / "d.sqlite")
    assert res.returncode == 2 and "--bundles" in res.stderr
    res = cli("launch", demo_run, "--approved", "--stores", "S01", "--from", "2025-10-01", "--db",
              tmp_path / "d.sqlite")
    assert res.returncode == 2 and "approved" in res.stderr and "Traceback" not in res.stderr
