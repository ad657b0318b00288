"""Where one ``recommender serve`` request's CPU goes: uvicorn alone, the app around ``suggest``, ``suggest``.

Run: ``.venv/bin/python bench/bench_serve_overhead.py RUN_DIR [--requests N]``, e.g. on the Online Retail run
of ``bench/bench_serve.py``.

One process loads the run once and serves it with uvicorn (httptools, uvloop, one worker) in its main thread;
the load generator of ``bench_serve.py`` (a separate process, 8 keep-alive connections, ``POST /suggest`` with
real receipts of the run's input, ``k=5``) sends ``N`` requests after a warm-up. What is reported is the CPU
time (user + system) of the serving process over the level, divided by the requests, for:

1. **the app**: ``create_app(RUN_DIR)`` as ``recommender serve`` runs it;
2. **the app without suggest**: the same app object, its recommender replaced by one that hands back answers
   the real one gave before (300 of them), so what remains is HTTP, Starlette, parsing, the log line and JSON;
3. **bare uvicorn**: an ASGI function that reads the body and sends one of those answers as stored bytes.

and the CPU time of encoding those answers with the standard library's ``json`` (as Starlette's
``JSONResponse`` does) and with ``orjson`` (as the app does). The machine may be shared: the load average is
printed; CPU time moves much less with it than wall time does. Results go to bench/results/serve_overhead.txt.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_report import RESULTS, Report, load_average  # noqa: E402
from bench_serve import baskets_from, free_port  # noqa: E402


class Canned:
    """Stands in for the recommender: hands back stored suggestion lists in turn."""

    def __init__(self, answers: list[list[dict]]):
        self.answers, self.i = answers, 0

    def suggest(self, items, k=5, customer=None, store=None, rank_by="score"):
        self.i += 1
        return self.answers[self.i % len(self.answers)]


def serve_cpu(app, bodies_path: str, requests: int, lifespan: str = "auto") -> dict:
    """CPU ms of this process per request while the bench_serve client sends ``requests`` to ``app``."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False,
                                           log_level="warning", lifespan=lifespan))
    out: dict = {}
    client = [sys.executable, str(ROOT / "bench" / "bench_serve.py"), "--client", str(port), bodies_path]

    def drive():
        try:
            while not server.started:
                time.sleep(0.05)
            subprocess.run(client + ["4", "500", "30"], check=True, capture_output=True)  # warm-up
            cpu = time.process_time()
            done = subprocess.run(client + ["8", str(requests), "120"], check=True, capture_output=True, text=True)
            out["cpu"] = time.process_time() - cpu
            out["client"] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            server.should_exit = True

    threading.Thread(target=drive, daemon=True).start()
    server.run()
    r = out["client"]
    return {"ms": out["cpu"] / r["requests"] * 1000, "requests": r["requests"], "errors": r["errors"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--receipts")
    ap.add_argument("--requests", type=int, default=6000, help="requests per measurement (default 6,000)")
    args = ap.parse_args(argv)
    import orjson

    from recommender.serve import create_app

    say = Report()

    log_file = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    logging.basicConfig(level=logging.INFO, stream=log_file,  # the app's log line per request, as in serve
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    baskets, alone = baskets_from(args.run_dir, args.receipts)
    bodies = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    bodies.write("".join(json.dumps({"basket": b, "k": 5}) + "\n" for b in baskets))
    bodies.close()
    app = create_app(args.run_dir, args.receipts)
    holder = app.state.holder
    real = holder.state
    answers = [real["rec"].suggest(b, k=5) for b in baskets[:300]]
    stored = [orjson.dumps({"basket": b, "suggestions": a}) for b, a in zip(baskets, answers)]
    try:
        say(f"recommender serve, CPU per request in one worker: {args.run_dir}, python "
            f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.requests:,} POST /suggest per row "
            f"(8 keep-alive connections, real baskets of mean {np.mean([len(b) for b in baskets]):.1f} SKUs, k=5; "
            f"answers of mean {np.mean([len(s) for s in stored]):,.0f} bytes)")
        say(f"load average before: {load_average()}")
        full = serve_cpu(app, bodies.name, args.requests)
        holder.state = {**real, "rec": Canned(answers)}
        without = serve_cpu(app, bodies.name, args.requests)
        holder.state = real

        async def bare(scope, receive, send):
            if scope["type"] != "http":
                return
            more = True
            while more:
                more = (await receive()).get("more_body", False)
            bare.i = getattr(bare, "i", 0) + 1
            body = stored[bare.i % len(stored)]
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        bare_row = serve_cpu(bare, bodies.name, args.requests, lifespan="off")
        say(f"{'served by':<62} {'requests':>9} {'errors':>7} {'CPU ms/request':>15}")
        for name, row in [("the app (as recommender serve runs it)", full),
                          ("the app without suggest (stored answers)", without),
                          ("bare uvicorn: read the body, send stored bytes", bare_row)]:
            say(f"{name:<62} {row['requests']:>9,} {row['errors']:>7} {row['ms']:>15.3f}")
        say(f"suggest alone (in-process, the same baskets, CPU time per call): mean {alone['mean']:.3f} ms, "
            f"p50 {alone['p50']:.3f} ms")
        say(f"so per request: suggest ~{full['ms'] - without['ms']:.3f} ms, the app around it (Starlette, parsing, "
            f"log line, JSON) ~{without['ms'] - bare_row['ms']:.3f} ms, uvicorn + HTTP ~{bare_row['ms']:.3f} ms")
        docs = [{"basket": b, "suggestions": a} for b, a in zip(baskets, answers)] * 10
        for name, encode in [("json (Starlette's JSONResponse)", lambda d: json.dumps(
                d, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")),
                             ("orjson (the app)", orjson.dumps)]:
            cpu = time.process_time()
            for d in docs:
                encode(d)
            say(f"encoding one answer, {name}: {(time.process_time() - cpu) / len(docs) * 1e6:.1f} us CPU")
        say(f"load average after: {load_average()}")
    finally:
        Path(bodies.name).unlink(missing_ok=True)
        log_file.close()
        Path(log_file.name).unlink(missing_ok=True)
    say.write(RESULTS / "serve_overhead.txt")


if __name__ == "__main__":
    main()
