"""Approving an offer that is not recommended needs a reason: CLI, decisions DB, exports, dashboard."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pandas as pd
import pytest

from recommender import decisions


def _run_with_bundles(demo_run, tmp_path):
    from recommender.runs import read_run, write_run

    run_dir = tmp_path / "run"
    shutil.copytree(demo_run, run_dir)
    run = read_run(run_dir)
    bundles = pd.DataFrame({
        "bundle_id": ["good", "loser"], "store": ["S01", "S01"], "items": [("1", "2"), ("3", "4")],
        "level_items": [("shirt", "tie"), ("a", "b")], "names": [("shirt", "tie"), ("a", "b")],
        "names_zh": [("衬衫", "领带"), ("a", "b")], "regular_price": [80.0, 50.0], "bundle_price": [72.0, 45.0],
        "saving": [8.0, 5.0], "discount_type": ["percent_off", "percent_off"], "reason_en": ["x", "y"],
        "reason_zh": ["x", "y"], "recommended": [True, False], "expected_profit": [120.0, -1079.0],
        "gap_tickets": [100, 50]})
    manifest = {k: v for k, v in run.manifest.items() if k not in ("files", "tables")}
    write_run(run.path, itemsets_df=run.itemsets, rules_df=run.rules, substitutes_df=run.substitutes,
              manifest=manifest, extra_tables={**run.tables, "bundles": bundles})
    return run_dir


def test_cli_approval_of_a_losing_offer_needs_a_reason_kept_and_exported(demo_run, cli, tmp_path):
    run = _run_with_bundles(demo_run, tmp_path)
    db = tmp_path / "d.sqlite"
    res = cli("approve", run, "--bundles", "good", "--db", db)
    assert res.returncode == 0, res.stderr
    res = cli("approve", run, "--bundles", "loser", "--db", db)
    assert res.returncode == 2 and "--reason" in res.stderr and "not recommended" in res.stderr
    assert "Traceback" not in res.stderr
    assert decisions.history(db, "loser").empty  # nothing written without the reason
    res = cli("approve", run, "--bundles", "loser", "--db", db, "--reason", "clearance of old stock", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["decisions"] == [{"bundle_id": "loser", "status": "approved",
                                                    "reason": "clearance of old stock"}]
    hist = decisions.history(db)
    assert hist.set_index("bundle_id").loc["loser", "reason"] == "clearance of old stock"
    assert pd.isna(hist.set_index("bundle_id").loc["good", "reason"])  # a recommended offer keeps no reason
    out = tmp_path / "staff.csv"
    res = cli("export", run, "--approved-only", "--format", "csv", "--out", out, "--db", db)
    assert res.returncode == 0, res.stderr
    staff = pd.read_csv(out, encoding="utf-8-sig")
    col = "Approved although not recommended, because"
    assert staff.set_index("Bundle").loc["loser", col] == "clearance of old stock"
    assert staff.set_index("Bundle")[col].isna().loc["good"]


def test_record_refuses_an_approval_without_its_reason(tmp_path):
    db = tmp_path / "d.sqlite"
    needs = decisions.reason_needed({"recommended": False, "expected_profit": -5.0})
    with pytest.raises(decisions.ReasonRequired):
        decisions.record(db, "b", items=["x"], action="approve", user="ann", needs_reason=needs, reason="  ")
    r = decisions.record(db, "b", items=["x"], action="approve", user="ann", needs_reason=needs, reason="test")
    assert r["reason"] == "test"
    # rejecting needs no reason
    decisions.record(db, "b", items=["x"], action="reject", user="ann", needs_reason=needs)
    assert decisions.reason_needed({"recommended": True, "expected_profit": -1.0}).startswith("its expected profit")
    assert decisions.reason_needed({"recommended": True, "expected_profit": 1.0}) is None
    # breaking even is not losing; an unknown profit is no loss either
    assert decisions.reason_needed({"recommended": True, "expected_profit": 0.0}) is None
    assert decisions.reason_needed({"recommended": True, "expected_profit": float("nan")}) is None
    # a flag read back from CSV is text
    assert decisions.reason_needed({"recommended": "False", "expected_profit": 5.0}) == "the offer is not recommended"
    assert decisions.reason_needed({"recommended": "True", "expected_profit": 5.0}) is None


def test_cli_judges_the_offer_as_edited_and_keeps_the_reason_only_where_needed(demo_run, cli, tmp_path):
    run = _run_with_bundles(demo_run, tmp_path)
    db = tmp_path / "d.sqlite"
    # the merchandiser's edit turned the recommended offer into a losing one: approving it now needs a reason
    decisions.record(db, "good", items=["1", "2"], action="edit", user="ann",
                     edits={"bundle_price": 50.0, "expected_profit": -30.0})
    res = cli("approve", run, "--bundles", "good", "--db", db)
    assert res.returncode == 2 and "expected profit is negative (-30.00)" in res.stderr
    res = cli("approve", run, "--bundles", "good,loser", "--db", db, "--reason", "launch week", "--json")
    assert res.returncode == 0, res.stderr
    assert [d["reason"] for d in json.loads(res.stdout)["decisions"]] == ["launch week", "launch week"]
    # one reason for a batch is kept only on the offers that needed it
    db2 = tmp_path / "d2.sqlite"
    res = cli("approve", run, "--bundles", "good,loser", "--db", db2, "--reason", "clearance", "--json")
    assert [d["reason"] for d in json.loads(res.stdout)["decisions"]] == [None, "clearance"]


def test_a_database_from_before_reasons_gains_the_column(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript("""CREATE TABLE decision_history (id INTEGER PRIMARY KEY AUTOINCREMENT, bundle_id TEXT NOT NULL,
        items TEXT NOT NULL, store TEXT, action TEXT NOT NULL, status TEXT NOT NULL, user TEXT NOT NULL, role TEXT,
        at TEXT NOT NULL, run TEXT, note TEXT, changes TEXT NOT NULL, fields TEXT NOT NULL);
        INSERT INTO decision_history (bundle_id, items, action, status, user, at, changes, fields)
        VALUES ('old', '["x"]', 'approve', 'approved', 'ann', '2025-01-01', '{}', '{}');""")
    con.commit()
    con.close()
    decisions.record(db, "new", items=["y"], action="approve", user="bo", reason="why not")
    hist = decisions.history(db)
    assert hist["bundle_id"].tolist() == ["old", "new"]
    assert pd.isna(hist["reason"].iloc[0]) and hist["reason"].iloc[1] == "why not"
