"""Safe uploads and the per-user active dataset (recommender/workspace.py)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from recommender import workspace as ws


def test_same_name_from_two_users_never_overwrites(tmp_path):
    db = tmp_path / "db.sqlite"
    a = ws.store_upload(tmp_path, db, "ann", "receipts.csv", io.BytesIO(b"a\n1\n"))
    b = ws.store_upload(tmp_path, db, "bob", "receipts.csv", io.BytesIO(b"a\n2\n"))
    assert a != b and a.read_bytes() == b"a\n1\n" and b.read_bytes() == b"a\n2\n"
    # the same user sending a new version of the same name gets a new path: the old one is never rewritten
    a2 = ws.store_upload(tmp_path, db, "ann", "receipts.csv", io.BytesIO(b"a\n3\n"))
    assert a2 != a and a.read_bytes() == b"a\n1\n"
    # the same content again is the same file
    assert ws.store_upload(tmp_path, db, "ann", "receipts.csv", io.BytesIO(b"a\n1\n")) == a
    assert [u["path"] for u in ws.list_uploads(db, "bob")] == [str(b)]
    assert not list(a.parent.parent.glob(".upload-*"))  # no temporary file left behind


def test_quota_frees_unused_uploads_then_refuses(tmp_path):
    db = tmp_path / "db.sqlite"
    mb = 1 << 20
    old = ws.store_upload(tmp_path, db, "ann", "old.csv", io.BytesIO(b"x" * mb), quota_mb=2.5)
    used = ws.store_upload(tmp_path, db, "ann", "used.csv", io.BytesIO(b"y" * mb), quota_mb=2.5)
    ws.set_active(db, "ann", label="used.csv", receipts=str(used))
    new = ws.store_upload(tmp_path, db, "ann", "new.csv", io.BytesIO(b"z" * mb), quota_mb=2.5)
    assert not old.exists() and used.exists() and new.exists()  # the unused one made room
    ws.set_active(db, "ann", receipts=str(new), catalog=str(used))
    with pytest.raises(ws.UploadTooLarge, match="quota"):
        ws.store_upload(tmp_path, db, "ann", "more.csv", io.BytesIO(b"w" * mb), quota_mb=2.5)
    with pytest.raises(ws.UploadTooLarge):
        ws.store_upload(tmp_path, db, "ann", "huge.csv", io.BytesIO(b"w" * 3 * mb), quota_mb=2.5)
    assert used.exists() and new.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(("more", "huge", ".upload-"))]


def test_cleanup_keeps_active_data_and_run_inputs(tmp_path):
    db = tmp_path / "db.sqlite"
    files = {n: ws.store_upload(tmp_path, db, "ann", f"{n}.csv", io.BytesIO(n.encode())) for n in ("a", "b", "c")}
    ws.set_active(db, "ann", label="a.csv", receipts=str(files["a"]))
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"input": {"path": str(files["b"])}}))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)
    removed = ws.cleanup(tmp_path, db, now=later)
    assert removed == [str(files["c"])]
    assert files["a"].exists() and files["b"].exists() and not files["c"].exists()
    assert ws.cleanup(tmp_path, db) == []  # nothing old enough


def test_active_dataset_round_trip_and_chinese_run_names(tmp_path):
    db = tmp_path / "db.sqlite"
    assert ws.get_active(db, "ann") is None
    ws.set_active(db, "ann", label="门店小票.csv", receipts="/x/门店小票.csv", mapping={"name": "商品名称"})
    ws.set_active(db, "ann", run="门店小票-sku")
    act = ws.get_active(db, "ann")
    assert (act.label, act.mapping, act.run) == ("门店小票.csv", {"name": "商品名称"}, "门店小票-sku")
    assert ws.get_active(db, "bob") is None
    assert ws.run_name_for(act.label, "sku") == "门店小票-sku"
    assert ws.safe_name("a/../../b c?.csv") == "b-c-.csv"
