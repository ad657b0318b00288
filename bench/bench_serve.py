"""Load benchmark of ``recommender serve``: throughput and p50/p99 latency at 16 and 64 concurrent clients.

Run: ``.venv/bin/python bench/bench_serve.py RUN_DIR [--receipts PATH] [--workers W] [--requests N]
[--seconds S] [--clients 16,64]``, e.g. on the Online Retail run::

    recommender mine ../shared/datasets/online_retail.csv.gz --out /tmp/or_run --min-count 20 --max-len 2 \\
        --min-confidence 0.01
    recommender blend /tmp/or_run
    .venv/bin/python bench/bench_serve.py /tmp/or_run --workers 2

Loopback only: the server listens on 127.0.0.1 on a free port and is stopped at
the end.

The load generator is one separate process (``--client``, started by this
script) running asyncio with aiohttp: exactly ``c`` coroutines, each with its
own keep-alive connection, each sending ``POST /suggest`` with a basket drawn
from real receipts of the run's input (their SKUs, at most 50) and ``k=5``,
then the next as soon as the answer is read (closed loop). Bodies are encoded
before the clock starts, so the client spends little CPU per request; it still
shares the machine's cores with the server. Each level sends at most
``--requests`` requests or runs at most ``--seconds`` seconds, whichever ends
first, after a warm-up. Latency is measured by the client from sending the
request to reading the whole answer, so it includes queueing when ``c``
exceeds what the workers handle at once. Every answer is checked: status 200
and 5 suggestions, else it counts as an error.

The machine is usually shared: the 1-minute load average is printed before and
after each level, with the time inside the app (the server's own log line), the
CPU seconds per request of the server's workers and of the load generator, and
the CPU time of ``suggest`` alone on the same baskets in this process. CPU time
moves much less with the neighbours than wall time does. Results go to
bench/results/serve.txt; the whole run takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_report import RESULTS, Report, load_average  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def baskets_from(run_dir, receipts, n=2000, seed=0) -> tuple[list[list[str]], dict]:
    """Real baskets of the run's input, and the CPU time of ``suggest`` alone on them (in this process)."""
    from recommender.cli import _run_inputs
    from recommender.suggest import Recommender, suggest

    run, lines, catalog = _run_inputs(run_dir, receipts, None)
    groups = lines.groupby("receipt_id")["sku"].agg(lambda s: list(dict.fromkeys(s.astype(str))))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(groups), size=min(n, len(groups)), replace=False)
    baskets = [groups.iloc[i][:50] for i in pick]
    rec = Recommender.from_run(run, catalog=catalog, lines=lines)
    for b in baskets[:100]:
        suggest(None, b, k=5, recommender=rec)
    cpu = []
    for b in baskets:
        t = time.thread_time()
        suggest(None, b, k=5, recommender=rec)
        cpu.append((time.thread_time() - t) * 1000)
    return baskets, {"p50": float(np.percentile(cpu, 50)), "p99": float(np.percentile(cpu, 99)),
                     "mean": float(np.mean(cpu))}


# ---------------------------------------------------------------------- the client process
async def _level(port: int, bodies: list[bytes], clients: int, max_requests: int, max_seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    url = f"http://127.0.0.1:{port}/suggest"
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        end = time.perf_counter() + max_seconds

        async def one_client(i: int):
            nonlocal sent
            j = i
            while time.perf_counter() < end and sent < max_requests:
                sent += 1
                body = bodies[j % len(bodies)]
                j += clients
                t = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        data = await resp.read()
                        ok = resp.status == 200 and len(json.loads(data)["suggestions"]) == 5
                except Exception as exc:  # counted, never hidden
                    ok, data = False, repr(exc).encode()
                latencies.append((time.perf_counter() - t) * 1000)
                if not ok:
                    errors.append(data[:200].decode("utf-8", "replace"))

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.asarray(latencies)
    return {"clients": clients, "requests": len(lat), "seconds": wall, "throughput": len(lat) / wall,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
            "errors": len(errors), "first_error": errors[0] if errors else None}


def client_main(port: int, bodies_path: str, clients: int, max_requests: int, max_seconds: float) -> None:
    """Run one level and print its figures as one JSON line (the ``--client`` mode)."""
    bodies = [line.encode() for line in Path(bodies_path).read_text(encoding="utf-8").splitlines()]
    cpu = time.process_time()
    result = asyncio.run(_level(port, bodies, clients, max_requests, max_seconds))
    result["client_cpu"] = time.process_time() - cpu
    print(json.dumps(result), flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children that are still running (the uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def run_level(port, bodies_path, clients, max_requests, max_seconds) -> dict:
    """One level in a fresh client process, so the client never shares this process's interpreter lock."""
    out = subprocess.run([sys.executable, __file__, "--client", str(port), bodies_path, str(clients),
                          str(max_requests), str(max_seconds)], capture_output=True, text=True, check=True,
                         timeout=max_seconds + 120)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- the driver
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--receipts")
    ap.add_argument("--requests", type=int, default=20_000, help="most requests per level (default 20,000)")
    ap.add_argument("--seconds", type=float, default=20.0, help="longest time per level (default 20 s)")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (default 2, one per core)")
    ap.add_argument("--clients", default="16,64")
    args = ap.parse_args(argv)

    say = Report()

    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"bench_serve_{port}.log"
    log = open(log_path, "w")
    cmd = [sys.executable, "-m", "recommender", "serve", args.run_dir, "--port", str(port), "--workers",
           str(args.workers)] + (["--receipts", args.receipts] if args.receipts else [])
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    bodies_file = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    try:
        t = time.perf_counter()
        baskets, alone = baskets_from(args.run_dir, args.receipts)
        for b in baskets:
            bodies_file.write(json.dumps({"basket": b, "k": 5}) + "\n")
        bodies_file.close()
        health = None
        while time.perf_counter() - t < 600 and server.poll() is None:
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
            raise SystemExit("the server did not start: " + log_path.read_text(errors="replace")[-2000:])
        ready = time.perf_counter() - t
        # With several workers /health answered by one does not mean all have loaded: wait for every "started".
        while log_path.read_text(errors="replace").count("Application startup complete") < args.workers:
            time.sleep(0.5)
        ready = time.perf_counter() - t
        say(f"recommender serve load benchmark: {args.run_dir}, {args.workers} worker(s), python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs")
        say(f"run: {health['n_items']:,} items, {health['n_rules']:,} rules, blend {health['blend']}; "
            f"ready {ready:.0f} s after start (loading receipts and the run)")
        say(f"baskets: {len(baskets):,} real receipts of the run's input, mean "
            f"{np.mean([len(b) for b in baskets]):.1f} SKUs (at most 50), POST /suggest k=5, keep-alive, loopback")
        say("client: one separate asyncio process (aiohttp), closed loop, exactly c connections; it shares the "
            f"{os.cpu_count()} cores with the server and with whatever else runs on the machine (see load average)")
        say(f"suggest alone (in-process, the same baskets, CPU time per call): p50 {alone['p50']:.2f} ms, p99 "
            f"{alone['p99']:.2f} ms, mean {alone['mean']:.2f} ms")
        run_level(port, bodies_file.name, 4, 500, 10)  # warm-up: every worker answers, caches fill
        say(f"{'clients':>8} {'requests':>9} {'seconds':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'errors':>7} {'load avg before/after':>22}")
        inside, cpu = [], []
        for c in [int(x) for x in args.clients.split(",")]:
            log.flush()
            start = log_path.stat().st_size
            before, server_cpu = os.getloadavg()[0], cpu_seconds(server.pid)
            r = run_level(port, bodies_file.name, c, args.requests, args.seconds)
            after, server_cpu = os.getloadavg()[0], cpu_seconds(server.pid) - server_cpu
            cpu.append((c, server_cpu / r["requests"] * 1000, r["client_cpu"] / r["requests"] * 1000))
            time.sleep(0.5)
            with open(log_path, encoding="utf-8", errors="replace") as f:
                f.seek(start)
                hits = re.findall(r" (\d+) recommender\.serve INFO POST /suggest 200 .*? ([0-9.]+)ms", f.read())
            ms = [float(m) for _pid, m in hits]
            per_worker = sorted(collections.Counter(pid for pid, _m in hits).values(), reverse=True)
            inside.append((c, ms, per_worker))
            say(f"{r['clients']:>8} {r['requests']:>9,} {r['seconds']:>8.1f} {r['throughput']:>8.0f} {r['p50']:>8.1f} "
                f"{r['p99']:>8.1f} {r['max']:>8.1f} {r['errors']:>7} {before:>11.2f} / {after:<8.2f}")
            if r["first_error"]:
                say(f"   first error: {r['first_error']!r}")
        say("time inside the app per request (the server's own log line: parse, suggest, JSON), without queueing:")
        for c, ms, per_worker in inside:
            if ms:
                say(f"{c:>8} clients: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms "
                    f"over {len(ms):,} requests; requests per worker {' / '.join(f'{n:,}' for n in per_worker)}")
        say("CPU per request (user + system seconds over the level / requests; what the neighbours do changes "
            "it little):")
        for c, server_ms, client_ms in cpu:
            say(f"{c:>8} clients: server {server_ms:.2f} ms (all workers), load generator {client_ms:.2f} ms")
        say(f"load average (1, 5, 15 min) at the end: {load_average()}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        Path(bodies_file.name).unlink(missing_ok=True)
    say.write(RESULTS / "serve.txt")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, path, clients, max_requests, max_seconds = sys.argv[2:7]
        client_main(int(port), path, int(clients), int(max_requests), float(max_seconds))
    else:
        main()
