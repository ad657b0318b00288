"""Fault injection: SIGKILL at random points of mine, bundles and approvals; a full disk; two sessions deciding
the same bundle at once. Afterwards there is never a half run folder, the database is consistent and no committed
decision is lost; a full disk gives a clear error and keeps the last good run.

Kill points are drawn from a seeded generator over the measured length of an undisturbed run, so every CI run
kills at different stages (reading, mining, writing) but reproducibly; nothing is asserted about time."""

from __future__ import annotations

import json
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recommender import decisions
from recommender.runs import read_run
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
KILLS = 5


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from recommender.demo import generate_demo

    out = tmp_path_factory.mktemp("shop")
    generate_demo(out, n_receipts=6000)
    return out


def mine_args(shop, out):
    return ["mine", shop / "receipts.csv", "--catalog", shop / "catalog.csv", "--level", "subcategory",
            "--min-support", "0.004", "--out", out]


def popen(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "recommender", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def assert_whole_run(folder: Path, manifests: set) -> None:
    """The folder is a complete run that some finished writer wrote (read back in full)."""
    run = read_run(folder)
    assert len(run.rules) > 0 and len(run.itemsets) > 0
    described = run.manifest.get("tables", {})
    for name in described:
        assert name in run.tables or name in ("itemsets", "rules", "substitutes"), name
    manifests.add((folder / "manifest.json").read_text())


def assert_no_half_folder(parent: Path, name: str) -> None:
    visible = sorted(p.name for p in parent.iterdir() if not p.name.startswith("."))
    assert visible == [name], visible


def timed(args) -> float:
    t0 = time.monotonic()
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    return time.monotonic() - t0


def kill_at_random_points(args, duration, check, seed):
    rng = random.Random(seed)
    for _ in range(KILLS):
        proc = popen(*args)
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        check()


def test_sigkill_during_mine_never_leaves_a_half_run_folder(shop, tmp_path):
    out = tmp_path / "runs" / "r"
    duration = timed(mine_args(shop, out))
    manifests = set()
    assert_whole_run(out, manifests)

    def check():
        assert_whole_run(out, manifests)
        assert_no_half_folder(out.parent, "r")

    kill_at_random_points(mine_args(shop, out), duration, check, seed=16)
    assert timed(mine_args(shop, out)) >= 0  # a later run succeeds and sweeps what killed runs left
    assert not [p.name for p in out.parent.iterdir() if p.name != "r"]


def test_sigkill_during_bundles_never_leaves_a_half_run_folder(shop, tmp_path):
    out = tmp_path / "runs" / "r"
    assert run_cli(*mine_args(shop, out)).returncode == 0
    args = ["bundles", out, "--catalog", shop / "catalog.csv"]
    res = run_cli(*args)
    if res.returncode != 0:  # older CLIs find the catalog in the manifest
        args = ["bundles", out]
    duration = timed(args)
    manifests = set()

    def check():
        assert_whole_run(out, manifests)
        assert "bundles" in read_run(out).tables  # the bundles of the earlier run stay until new ones replace them
        assert_no_half_folder(out.parent, "r")

    check()
    kill_at_random_points(args, duration, check, seed=1616)


APPROVER = """
import sys
from recommender import decisions
db, start = sys.argv[1], int(sys.argv[2])
for i in range(start, start + 100000):
    bid = "b%d" % (i % 7)
    action = ("approve", "reject", "edit")[i % 3]
    row = decisions.record(db, bid, items=["a%d" % (i % 7), "tie"], store="S1", action=action, user="ann",
                           role="merchandiser", edits={"bundle_price": float(i)} if action == "edit" else None,
                           note="n%d" % i)
    print(i, flush=True)   # printed only after the transaction committed
"""


def test_sigkill_during_approvals_loses_no_committed_decision(tmp_path):
    db = tmp_path / "decisions.sqlite"
    decisions.init_db(db)
    rng = random.Random(20)
    committed = []
    start = 0
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-c", APPROVER, str(db), str(start)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # the writer is under way
        assert first.strip()
        time.sleep(rng.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait(timeout=60)
        done = [int(x) for x in (first + rest).split()]
        committed += done
        start = done[-1] + 10_000  # notes of different writers never collide
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            con.close()
        hist = decisions.history(db)
        notes = set(hist["note"])
        assert {f"n{i}" for i in committed} <= notes  # every decision acknowledged is in the history
        # the current state of each bundle is its newest row, whatever the kill interrupted
        cur = decisions.current(db).set_index("bundle_id")
        newest = hist.sort_values("id").groupby("bundle_id").tail(1).set_index("bundle_id")
        assert cur["id"].to_dict() == newest["id"].to_dict()


def test_full_disk_gives_a_clear_error_and_keeps_the_last_good_run(shop, tmp_path):
    out = tmp_path / "runs" / "r"
    assert run_cli(*mine_args(shop, out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    biggest = max(len(b) for b in before.values())
    limit = max(biggest // 4, 4096)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    for args in (mine_args(shop, out), ["bundles", out]):
        res = subprocess.run([sys.executable, "-m", "recommender", *map(str, args)], cwd=ROOT, capture_output=True,
                             text=True, timeout=600, preexec_fn=small_files)
        assert res.returncode == 2, res.stderr
        assert "disk is full" in res.stderr and "previous output is kept" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and "internal error" not in res.stderr
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the last good run, untouched
        assert [p.name for p in out.parent.iterdir()] == ["r"]  # and no temporary folder left behind


def test_two_sessions_deciding_the_same_bundle_both_land_and_the_last_wins(tmp_path):
    db = tmp_path / "decisions.sqlite"
    rounds = 25
    barrier = threading.Barrier(2)
    errors = []

    def session(user, action):
        try:
            for r in range(rounds):
                barrier.wait()
                decisions.record(db, "B1", items=["shirt", "tie"], store="S1", action=action, user=user,
                                 role="merchandiser",
                                 edits={"bundle_price": 60.0 + r} if action == "edit" else None,
                                 original={"bundle_price": 70.0}, note=f"{user}-{r}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=("ann", "approve")),
               threading.Thread(target=session, args=("bob", "edit"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    hist = decisions.history(db, "B1").sort_values("id")
    assert len(hist) == 2 * rounds  # both sessions' decisions, every round
    assert set(hist["note"]) == {f"{u}-{r}" for u in ("ann", "bob") for r in range(rounds)}
    # each row's "old" value is the value the previous row left: no update was lost in the race
    prices = []
    for row in hist.itertuples():
        changes = row.changes if isinstance(row.changes, dict) else json.loads(row.changes)
        change = changes.get("bundle_price")
        if change:
            if prices:
                assert change[0] == prices[-1]
            prices.append(change[1])
    assert len(prices) == rounds
    # the last one wins, visibly: the current state is the newest row, with its author
    cur = decisions.current(db).set_index("bundle_id").loc["B1"]
    last = hist.iloc[-1]
    assert cur["id"] == last["id"] and cur["user"] == last["user"] and cur["status"] == last["status"]
    shown = decisions.apply_decisions(
        __import__("pandas").DataFrame({"bundle_id": ["B1"], "bundle_price": [70.0]}), decisions.current(db))
    assert shown.loc[0, "decided_by"] == last["user"]
    assert shown.loc[0, "bundle_price"] == prices[-1]
