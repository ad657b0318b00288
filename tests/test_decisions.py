"""Decision log: append-only history, current state per stable bundle id, concurrency, roles."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading

import pandas as pd
import pytest

from recommender import decisions as dec


def test_approval_records_who_and_what_changed(tmp_path):
    db = tmp_path / "d.sqlite"
    dec.record(db, "b1", items=["shirt", "tie"], store="S01", action="edit", user="ann",
               edits={"bundle_price": 68.0}, original={"bundle_price": 70.0})
    row = dec.record(db, "b1", items=["shirt", "tie"], store="S01", action="approve", user="bob",
                     edits={"bundle_price": 65.0})
    assert row["status"] == "approved" and row["user"] == "bob"
    assert row["changes"] == {"status": ["pending", "approved"], "bundle_price": [68.0, 65.0]}
    hist = dec.history(db, "b1")
    assert hist["user"].tolist() == ["ann", "bob"]
    assert hist["changes"].iloc[0] == {"bundle_price": [70.0, 68.0]}
    cur = dec.current(db)
    assert len(cur) == 1 and cur.loc[0, "fields"] == {"bundle_price": 65.0}


def test_history_is_append_only(tmp_path):
    db = tmp_path / "d.sqlite"
    dec.record(db, "b1", items=["a"], action="approve", user="ann")
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE decision_history SET user = 'eve'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM decision_history")
    con.close()
    assert dec.history(db)["user"].tolist() == ["ann"]
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_staff_and_analyst_cannot_write(tmp_path):
    db = tmp_path / "d.sqlite"
    for role in ("staff", "analyst"):
        with pytest.raises(dec.NotAllowed):
            dec.record(db, "b1", items=["a"], action="approve", user="sam", role=role)
        with pytest.raises(dec.NotAllowed):
            dec.record(db, "b1", items=["a"], action="edit", user="sam", role=role, edits={"saving": 1.0})
    assert dec.history(db).empty


def test_decisions_follow_the_bundle_id_not_the_row(tmp_path):
    db = tmp_path / "d.sqlite"
    dec.record(db, "id-b", items=["b"], action="approve", user="ann", edits={"reason_en": "Better"})
    dec.record(db, "id-c", items=["c"], action="reject", user="ann")
    # a later run: rows in another order, one new bundle
    run2 = pd.DataFrame({"bundle_id": ["id-new", "id-c", "id-b"], "reason_en": ["n", "c", "b"]})
    out = dec.apply_decisions(run2, dec.current(db)).set_index("bundle_id")
    assert out.loc["id-b", "status"] == "approved" and out.loc["id-b", "reason_en"] == "Better"
    assert out.loc["id-b", "decided_by"] == "ann"
    assert out.loc["id-c", "status"] == "rejected" and not out.loc["id-c", "approved"]
    assert out.loc["id-new", "status"] == "pending" and out.loc["id-new", "reason_en"] == "n"


def test_reset_returns_to_pending_and_drops_edits(tmp_path):
    db = tmp_path / "d.sqlite"
    dec.record(db, "b", items=["b"], action="approve", user="ann", edits={"saving": 3.0}, original={"saving": 5.0})
    row = dec.record(db, "b", items=["b"], action="reset", user="ann", original={"saving": 5.0})
    assert row["status"] == "pending" and row["fields"] == {}
    assert row["changes"]["saving"] == [3.0, 5.0]


def test_unknown_field_or_action_refused(tmp_path):
    with pytest.raises(ValueError):
        dec.record(tmp_path / "d.sqlite", "b", items=["b"], action="approve", user="a", edits={"items": ["x"]})
    with pytest.raises(ValueError):
        dec.record(tmp_path / "d.sqlite", "b", items=["b"], action="delete", user="a")


def _writer(db, who, n):
    for i in range(n):
        dec.record(db, f"b{i % 3}", items=[f"i{i % 3}"], action="edit", user=who,
                   edits={"reason_en": f"{who}-{i}"})


def test_two_threads_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "d.sqlite"
    dec.init_db(db)
    threads = [threading.Thread(target=_writer, args=(db, who, 40)) for who in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hist = dec.history(db)
    assert len(hist) == 80
    assert sorted(hist["fields"].map(lambda f: f["reason_en"])) == sorted(
        [f"{w}-{i}" for w in ("ann", "bob") for i in range(40)])
    # each row's "old" value is exactly the previous row's "new" for that bundle: nothing overwritten unseen
    for _, rows in hist.groupby("bundle_id"):
        changes = rows["changes"].tolist()
        for before, after in zip(changes, changes[1:]):
            assert after["reason_en"][0] == before["reason_en"][1]


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "d.sqlite"
    dec.init_db(db)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), who, 25)) for who in ("ann", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    hist = dec.history(db)
    assert len(hist) == 50 and sorted(hist["user"].value_counts().tolist()) == [25, 25]
