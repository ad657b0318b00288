"""Load benchmark of ``recommender serve``: throughput and p50/p99 latency at 16 and 64 concurrent clients.

Run: ``.venv/bin/python bench/bench_serve.py RUN_DIR [--receipts PATH] [--requests N] [--seconds S]
[--workers W]``, e.g. on the Online Retail run::

    recommender mine ../shared/datasets/online_retail.csv.gz --out /tmp/or_run --min-count 20 --max-len 2 \\
        --min-confidence 0.01
    recommender blend /tmp/or_run
    .venv/bin/python bench/bench_serve.py /tmp/or_run

Loopback only: the server listens on 127.0.0.1 on a free port and is stopped at
the end. Each level sends at most ``--requests`` requests or runs at most
``--seconds`` seconds, whichever ends first, after 100 warm-up requests.

Clients: ``c`` threads in this process, each with its own keep-alive
connection, each sending ``POST /suggest`` with a basket drawn from real
receipts of the run's input (their SKUs, at most 50) and ``k=5``. Latency is
measured by the client from sending the request to reading the whole answer,
so it includes queueing when ``c`` exceeds what the server handles at once.
Every answer is checked: status 200 and 5 suggestions, else it counts as an
error. Results go to bench/results/serve.txt.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def baskets_from(run_dir, receipts, n=2000, seed=0) -> list[list[str]]:
    from recommender.cli import _run_inputs

    _run, lines, _cat = _run_inputs(run_dir, receipts, None)
    groups = lines.groupby("receipt_id")["sku"].agg(lambda s: list(dict.fromkeys(s.astype(str))))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(groups), size=min(n, len(groups)), replace=False)
    return [groups.iloc[i][:50] for i in pick]


def level(port, baskets, clients, max_requests, max_seconds):
    latencies, errors, lock = [], [], threading.Lock()
    sent = [0]
    end = time.perf_counter() + max_seconds

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        j = i
        while time.perf_counter() < end:
            with lock:
                if sent[0] >= max_requests:
                    break
                sent[0] += 1
            body = json.dumps({"basket": baskets[j % len(baskets)], "k": 5})
            j += clients
            t = time.perf_counter()
            try:
                conn.request("POST", "/suggest", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and len(json.loads(data)["suggestions"]) == 5
            except Exception as exc:  # counted, never hidden
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                data = repr(exc).encode()
            ms = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(ms)
                if not ok:
                    errors.append(data[:200])
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat = np.asarray(latencies)
    return {"clients": clients, "requests": len(lat), "seconds": wall, "throughput": len(lat) / wall,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
            "errors": len(errors), "first_error": errors[0] if errors else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--receipts")
    ap.add_argument("--requests", type=int, default=4000, help="most requests per level (default 4,000)")
    ap.add_argument("--seconds", type=float, default=60.0, help="longest time per level (default 60 s)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", default="16,64")
    args = ap.parse_args(argv)

    out: list[str] = []

    def say(text=""):
        print(text, flush=True)
        out.append(text)

    port = free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_serve_{port}.log"
    log = open(log_path, "w")
    cmd = [sys.executable, "-m", "recommender", "serve", args.run_dir, "--port", str(port), "--workers",
           str(args.workers)] + (["--receipts", args.receipts] if args.receipts else [])
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        t = time.perf_counter()
        baskets = baskets_from(args.run_dir, args.receipts)
        health = None
        while time.perf_counter() - t < 600:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                if resp.status == 200:
                    health = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.5)
        if health is None:
            raise SystemExit("the server did not start")
        say(f"recommender serve load benchmark: {args.run_dir}, {args.workers} worker(s), python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs")
        say(f"run: {health['n_items']:,} items, {health['n_rules']:,} rules, blend {health['blend']}; "
            f"ready {time.perf_counter() - t:.0f} s after start (loading receipts and the run)")
        say(f"baskets: {len(baskets):,} real receipts of the run's input, mean {np.mean([len(b) for b in baskets]):.1f} "
            f"SKUs (at most 50), POST /suggest k=5, keep-alive, loopback")
        say("CPU: 2 cores shared by the server, these client threads and 6 other developers' jobs running at the "
            "same time; the figures are a floor, not the machine's capacity.")
        level(port, baskets, 4, 100, 30)  # warm-up
        say(f"{'clients':>8} {'requests':>9} {'seconds':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'errors':>7}")
        inside = []
        for c in [int(x) for x in args.clients.split(",")]:
            log.flush()
            start = log_path.stat().st_size
            r = level(port, baskets, c, args.requests, args.seconds)
            time.sleep(0.5)
            with open(log_path, encoding="utf-8", errors="replace") as f:
                f.seek(start)
                ms = [float(m.group(1)) for m in re.finditer(r"POST /suggest 200 .*? ([0-9.]+)ms", f.read())]
            inside.append((c, ms))
            say(f"{r['clients']:>8} {r['requests']:>9,} {r['seconds']:>8.1f} {r['throughput']:>8.0f} {r['p50']:>8.1f} "
                f"{r['p99']:>8.1f} {r['max']:>8.1f} {r['errors']:>7}")
            if r["first_error"]:
                say(f"   first error: {r['first_error']!r}")
        say("time inside the app per request (the server's own log line: parse, suggest, JSON), without queueing:")
        for c, ms in inside:
            if ms:
                say(f"{c:>8} clients: p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms "
                    f"over {len(ms):,} requests")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "serve.txt").write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
