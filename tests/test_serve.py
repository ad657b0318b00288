"""`recommender serve`: a real uvicorn process on 127.0.0.1, concurrent good and bad requests."""

from __future__ import annotations

import collections
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from recommender.pipeline import MiningParams, mine
from recommender.runs import write_run
from recommender.serve import reuse_port_supported
from recommender.suggest import Recommender, suggest

ROOT = Path(__file__).resolve().parents[1]


def _lines():
    rows = []
    for r in range(400):
        items = ["milk", "bread"] if r % 2 else ["milk", "jam"]
        if r % 3 == 0:
            items.append("butter")
        if r % 5 == 0:
            items.append("tea")
        rows += [(f"R{r:04d}", s, "S1" if r % 4 else "S2", f"C{r % 37}") for s in items]
    return pd.DataFrame(rows, columns=["receipt_id", "sku", "store_id", "customer_id"])


def _write(folder: Path, lines: pd.DataFrame, bundles: pd.DataFrame | None = None) -> Path:
    receipts = folder.parent / f"{folder.name}_receipts.csv"
    lines.to_csv(receipts, index=False)
    result = mine(lines, params=MiningParams(min_count=5, min_confidence=0.05))
    manifest = {**result.manifest, "input": {"path": str(receipts)}}
    return write_run(folder, itemsets_df=result.itemsets, rules_df=result.rules, substitutes_df=result.substitutes,
                     manifest=manifest, extra_tables={"bundles": bundles} if bundles is not None else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port, path, body=None, method=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _wait_healthy(port: int, log_path) -> None:
    """Poll /health until the server answers (at most about a minute); fail with its log otherwise."""
    for _ in range(300):
        try:
            if _call(port, "/health")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail("the server did not start: " + Path(log_path).read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    lines = _lines()
    bundles = pd.DataFrame({"bundle_id": ["B1", "B2"], "items": [("milk", "bread"), ("milk", "jam")],
                            "store": ["S1", None], "regular_price": [5.0, 6.0], "bundle_price": [4.5, 5.5],
                            "saving": [0.5, 0.5], "reason_en": ["breakfast", "sweet"], "reason_zh": ["早餐", "甜"],
                            "recommended": [True, True]})
    run = _write(folder / "run", lines, bundles)
    db = folder / "decisions.sqlite"
    from recommender.decisions import record

    record(db, "B1", items=["milk", "bread"], store="S1", action="approve", user="ann")
    port = _free_port()
    log = open(folder / "server.log", "w")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "recommender", "serve", str(run), "--port", str(port),
                             "--db", str(db)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port, folder / "server.log")
        yield {"port": port, "run": run, "lines": lines, "folder": folder, "log": folder / "server.log"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_good_and_bad_requests_at_once_get_the_right_answers_and_status_codes(server):
    port, run, lines = server["port"], server["run"], server["lines"]
    # Each good request with the answer of the library call behind `suggest --json` (same run, same receipts).
    asks = [(["milk"], 3, None, None, "score"), (["milk", "bread"], 5, "S1", None, "score"),
            (["jam"], 4, "S2", "C7", "score"), (["milk", "tea"], 2, None, None, "margin"),
            (["butter", "nosuchsku"], 5, "S9", "C1", "margin")]
    expected, good = [], []
    for basket, k, store, customer, rank_by in asks:
        want = suggest(run, basket, k=k, customer=customer, store=store, lines=lines, rank_by=rank_by)
        query = f"basket={','.join(basket)}&k={k}" + (f"&store={store}" if store else "") + (
            f"&customer={customer}" if customer else "") + (f"&rank_by={rank_by}" if rank_by != "score" else "")
        body = {"basket": basket, "k": k, "store": store, "customer": customer, "rank_by": rank_by}
        good += [("GET", f"/suggest?{query}", None, None)] * 4 + [("POST", "/suggest", body, None)] * 4
        expected += [want] * 8
    bad = [("GET", "/suggest?basket=milk&k=zero", None, None, 422),
           ("GET", "/suggest?basket=milk&k=0", None, None, 422),
           ("GET", "/suggest?basket=milk&k=1000", None, None, 422),
           ("GET", "/suggest?basket=", None, None, 422),
           ("GET", "/suggest", None, None, 422),
           ("GET", "/suggest?basket=milk&colour=red", None, None, 422),
           ("GET", "/suggest?basket=" + ",".join(f"x{i}" for i in range(600)), None, None, 413),
           ("POST", "/suggest", None, b"{not json", 400),
           ("POST", "/suggest", None, b"\xff\xfe", 400),
           ("POST", "/suggest", [1, 2], None, 422),
           ("POST", "/suggest", {"basket": "milk", "k": 2.5}, None, 422),
           ("POST", "/suggest", {"basket": [{"sku": "milk"}]}, None, 422),
           ("POST", "/suggest", {"basket": []}, None, 422),
           ("POST", "/suggest", {"basket": ["milk"], "rank_by": "luck"}, None, 422),
           ("POST", "/suggest", None, b"{" + b" " * 70_000 + b"}", 413),
           ("GET", "/nowhere", None, None, 404),
           ("DELETE", "/suggest", None, None, 405)]
    jobs = [(m, p, b, r, 200, i) for i, (m, p, b, r) in enumerate(good)] + [j + (None,) for j in bad * 3]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda j: (j, _call(port, j[1], body=j[2], method=j[0], raw=j[3])), jobs))
    assert len({json.dumps(e, sort_keys=True) for e in expected}) == len(asks)  # five different answers
    for (method, path, body, raw, want, i), (status, payload) in results:
        assert status == want, (method, path[:60], status, payload)
        if want == 200:
            assert payload == expected[i], (method, path)
        else:
            assert isinstance(payload.get("error"), str) and payload["error"]


def test_health_bundles_and_no_customer_id_in_logs(server):
    port = server["port"]
    status, health = _call(port, "/health")
    assert status == 200 and health["status"] == "ok" and health["n_rules"] > 0
    status, offers = _call(port, "/bundles?store=S1")
    assert status == 200 and [b["bundle_id"] for b in offers["bundles"]] == ["B1"]
    assert _call(port, "/bundles?store=S2")[1]["bundles"] == []  # B1 is S1's; B2 was never approved
    status, out = _call(port, "/suggest?basket=milk&k=2&customer=C7")
    assert status == 200 and "C7" not in json.dumps(out)
    time.sleep(0.3)
    log = server["log"].read_text()
    assert "GET /suggest 200" in log and "C7" not in log


def test_the_run_is_reloaded_when_its_folder_changes(server):
    port, folder = server["port"], server["folder"]
    before = _call(port, "/health")[1]
    lines = server["lines"]
    more = pd.concat([lines, pd.DataFrame([(f"N{i}", s, "S1", None) for i in range(200) for s in ("milk", "honey")],
                                          columns=lines.columns)])
    _write(server["run"], more)
    for _ in range(150):
        time.sleep(0.2)
        health = _call(port, "/health")[1]
        if health["reloads"] > before["reloads"]:
            break
    else:
        pytest.fail("no reload")
    status, out = _call(port, "/suggest?basket=milk&k=5")
    assert status == 200 and "honey" in [s["item"] for s in out["suggestions"]]
    # Answers match a recommender built directly from the new run.
    direct = Recommender.from_run(server["run"], lines=more)
    assert out["suggestions"] == direct.suggest(["milk"], k=5)


def test_several_workers_answer_and_log_and_share_the_connections(tmp_path):
    run = _write(tmp_path / "run", _lines())
    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "recommender", "serve", str(run), "--port", str(port),
                                 "--workers", "2"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(port, log_path)
            for _ in range(300):  # /health answered by one worker: wait until both have loaded the run
                if log_path.read_text().count("Application startup complete") >= 2:
                    break
                time.sleep(0.2)
            with ThreadPoolExecutor(8) as pool:
                got = list(pool.map(lambda _: _call(port, "/suggest?basket=milk&k=2"), range(16)))
            assert all(status == 200 and len(out["suggestions"]) == 2 for status, out in got)
            # One new connection per request: with a socket per worker (SO_REUSEPORT) the kernel spreads them,
            # so 40 connections all landing on one worker has odds of 2 in 2**40.
            got = [_call(port, "/suggest?basket=jam&k=1") for _ in range(40)]
            assert all(status == 200 for status, _out in got)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log_path.read_text()
    assert text.count("GET /suggest 200") == 56
    pids = collections.Counter(re.findall(r" (\d+) recommender\.serve INFO GET /suggest 200 items=1 k=1 ", text))
    assert sum(pids.values()) == 40
    if reuse_port_supported():
        assert len(pids) == 2, pids
        assert "each with its own listening socket" in text
    assert proc.returncode is not None and "Traceback" not in text


@pytest.mark.skipif(not reuse_port_supported(), reason="one socket per worker needs SO_REUSEPORT (Linux)")
def test_several_workers_refuse_a_port_in_use(tmp_path):
    run = _write(tmp_path / "run", _lines())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "recommender", "serve", str(run), "--port", str(port),
                              "--workers", "2"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
