"""End-to-end scale benchmark: receipts file -> lines -> baskets -> itemsets -> rules.

Synthetic till exports of 1M, 5M and 10M lines (long-tailed 20,000-SKU
catalogue, ~8.5 lines per receipt, ~1% cancellations; see :mod:`bench.synth`)
are written once to /tmp as CSV and Parquet. Each run is a fresh subprocess:
chunked loading (:func:`recommender.ingest.load_receipts_chunked`) then
:func:`recommender.pipeline.mine` at SKU level with the embedded engine
(``fast``) or Spark local (``spark``, ``local[*]``). Reported: wall time of each
stage and in total (Spark's session start-up shown apart and included in the
total), and peak resident memory -- the child's ``ru_maxrss`` plus, for Spark,
the JVM's peak (``VmHWM``, read before it stops).

With the embedded engine the run goes on to bundles: a synthetic catalog
(8 departments, 800 subcategories, cost 60% of price) is built, ``mine`` also
finds substitutes, and :func:`recommender.bundles.build_bundles` prices offers
per store (``--no-bundles`` stops at rules). Spark runs stop at rules: the
stages after mining do not depend on the engine. ``sparkfull`` is the whole
pipeline on Spark (:mod:`recommender.spark`: Spark reads and cleans the file,
builds baskets and mines them with SON) with the driver heap capped
(``--driver-memory``, 1g): its ``load`` is Spark's, its peak is python + JVM.

Usage::

    .venv/bin/python bench/bench_scale.py                    # the full table (tens of minutes)
    .venv/bin/python bench/bench_scale.py --sizes 1M --engines fast --formats csv

The table is printed and written to bench/results/scale.txt (full run only,
unless --out is given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/tmp/recommender_scale")
SIZES = {"1M": 1_000_000, "5M": 5_000_000, "10M": 10_000_000}


def ensure_files(label: str) -> dict:
    stem = DATA / f"lines_{label}"
    paths = {"csv": stem.with_suffix(".csv"), "parquet": stem.with_suffix(".parquet")}
    if not all(p.exists() for p in paths.values()):
        code = ("import sys; sys.path.insert(0, 'bench'); from pathlib import Path; "
                "from synth import synthetic_lines, write_files; "
                f"write_files(synthetic_lines({SIZES[label]}), Path({str(stem)!r}))")
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return paths


def _family() -> set:
    """This process and its descendants (the Spark JVMs and Python workers), from /proc."""
    me = os.getpid()
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    family, grew = {me}, True
    while grew:
        new = {p for p, pp in parents.items() if pp in family and p not in family}
        family |= new
        grew = bool(new)
    return family


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its living descendants (the machine is shared: wall
    time depends on the neighbours, CPU time much less)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _family():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _jvm_peak_bytes() -> int:
    """Peak RSS of this process's descendants (the Spark JVM), from /proc."""
    me = os.getpid()
    family = _family()
    peak = 0
    for pid in family - {me}:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak += int(line.split()[1]) * 1024
        except OSError:
            pass
    return peak


def child(engine: str, path: str, min_support: float, bundles: bool = True) -> dict:
    """One end-to-end run in this (fresh) process."""
    import resource

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    t_start = time.perf_counter()
    out = {"engine": engine, "path": path}
    if engine == "sparkfull":
        return child_spark_full(path, min_support, t_start, out)
    if engine == "spark":
        import recommender.mining.spark as spark  # registers the engine

        t = time.perf_counter()
        spark.get_session()
        out["spark_start"] = time.perf_counter() - t
    from recommender.ingest import load_receipts_chunked
    from recommender.pipeline import MiningParams, mine

    t = time.perf_counter()
    receipts = load_receipts_chunked(path)
    out["load"] = time.perf_counter() - t
    out["lines"] = receipts.accounting.rows_used
    out["receipts"] = receipts.accounting.n_receipts
    catalog = None
    if bundles:
        from recommender.catalog import clean_catalog
        from synth import synthetic_catalog

        t = time.perf_counter()
        catalog = clean_catalog(synthetic_catalog(prices=receipts.lines.groupby("sku")["unit_price"].first()))
        out["catalog"] = time.perf_counter() - t
    res = mine(receipts.lines, catalog, params=MiningParams(level="sku", min_support=min_support, engine=engine,
                                                           min_confidence=0.1))
    out.update(res.manifest["timings_seconds"])
    if bundles:
        from recommender.bundles import build_bundles
        from recommender.runs import Run

        run = Run(itemsets=res.itemsets, rules=res.rules, substitutes=res.substitutes, manifest=res.manifest,
                  path=Path(path).parent)
        t = time.perf_counter()
        offers = build_bundles(run, receipts.lines, catalog)
        out["bundles"] = time.perf_counter() - t
        out["bundles_n"] = len(offers)
    out["total"] = time.perf_counter() - t_start
    out["itemsets_n"] = res.manifest["n_itemsets"]
    out["rules_n"] = res.manifest["n_rules"]
    out["min_count"] = res.manifest["parameters"]["min_count_used"]
    out["peak_python"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["peak_jvm"] = _jvm_peak_bytes() if engine == "spark" else 0
    out["digest"] = _digest(res)
    out["cpu"] = _cpu_seconds()
    if engine == "spark":
        spark.stop_session()
    return out


def _digest(res) -> str:
    """sha256 of the itemsets (items, count) and rules (every column, floats to 17 digits): equal runs, equal digests."""
    import hashlib

    h = hashlib.sha256(res.itemsets[["items", "count"]].to_csv(index=False).encode())
    h.update(res.rules.to_csv(index=False, float_format="%.17g").encode())
    return h.hexdigest()[:12]


def child_spark_full(path: str, min_support: float, t_start: float, out: dict) -> dict:
    """The whole pipeline on Spark (issue #15): read, clean, baskets, SON itemsets and rules in the cluster.

    The driver heap is ``RECOMMENDER_SPARK_DRIVER_MEMORY`` (``--driver-memory``, 1g by default): in local
    mode it is the whole JVM, executors included, so a run that finishes proves the driver held no lines.
    """
    import resource

    import recommender.mining.spark as spark
    from recommender.pipeline import MiningParams
    from recommender.spark.load import load_receipts_spark
    from recommender.spark.pipeline import mine_spark

    conf = json.loads(os.environ.get("BENCH_SPARK_CONF", "{}"))
    if conf:
        spark.configure(master=os.environ.get(spark.MASTER_ENV), **conf)
    t = time.perf_counter()
    session = spark.get_session()
    out["spark_start"] = time.perf_counter() - t
    t = time.perf_counter()
    receipts = load_receipts_spark(path, spark=session)
    out["load"] = time.perf_counter() - t
    out["lines"] = receipts.accounting.rows_used
    out["receipts"] = receipts.accounting.n_receipts
    res = mine_spark(receipts, None, MiningParams(level="sku", min_support=min_support, min_confidence=0.1))
    out.update(res.manifest["timings_seconds"])
    out["total"] = time.perf_counter() - t_start
    out["itemsets_n"] = res.manifest["n_itemsets"]
    out["rules_n"] = res.manifest["n_rules"]
    out["min_count"] = res.manifest["parameters"]["min_count_used"]
    out["peak_python"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["peak_jvm"] = _jvm_peak_bytes()
    out["digest"] = _digest(res)
    out["cpu"] = _cpu_seconds()
    spark.stop_session()
    return out


def measure(engine: str, path: Path, min_support: float, timeout: float, bundles: bool,
            driver_memory: str = "6g") -> dict:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", RECOMMENDER_SPARK_DRIVER_MEMORY=driver_memory,
               RECOMMENDER_SPARK_MASTER=os.environ.get("RECOMMENDER_SPARK_MASTER", "local[2]"))
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", engine, str(path), str(min_support),
                           str(int(bundles))],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "path": str(path), "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"engine": engine, "path": str(path), "error": proc.stderr.strip().splitlines()[-1:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process"] = time.perf_counter() - t
    out["load1"] = os.getloadavg()[0]
    return out


def fmt_row(label: str, fmt: str, r: dict) -> str:
    if "error" in r:
        return f"{label:>4} {fmt:8} {r['engine']:6} {r['error']}"
    peak = (r["peak_python"] + r["peak_jvm"]) / 2**30
    return (f"{label:>4} {fmt:8} {r['engine']:6} {r['lines']:>11,} {r['receipts']:>10,} {r['min_count']:>6,} "
            f"{r['itemsets_n']:>9,} {r['rules_n']:>9,} {r.get('spark_start', 0):7.1f} {r['load']:7.1f} "
            f"{r['baskets']:7.1f} {r['itemsets']:8.1f} {r['rules']:7.1f} {r.get('substitutes', 0):6.1f} "
            f"{r.get('bundles', 0):7.1f} {r.get('bundles_n', 0):7,} {r['total']:7.1f} {peak:7.2f} "
            f"{r.get('digest', '-'):>12} {r.get('cpu', 0):7.1f} {r.get('load1', 0):5.1f}")


HEADER = (f"{'size':>4} {'format':8} {'engine':6} {'lines used':>11} {'receipts':>10} {'min_n':>6} "
          f"{'itemsets':>9} {'rules':>9} {'spark':>7} {'load':>7} {'baskets':>7} {'itemsets':>8} {'rules':>7} "
          f"{'subst':>6} {'bundles':>7} {'offers':>7} {'total':>7} {'peak GB':>7} {'result sha':>12} {'cpu s':>7} "
          f"{'load1':>5}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", nargs=4, metavar=("ENGINE", "PATH", "MIN_SUPPORT", "BUNDLES"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1M,5M,10M")
    ap.add_argument("--engines", default="fast,spark",
                    help="fast, spark (pandas load + FPGrowth), sparkfull (the whole pipeline on Spark)")
    ap.add_argument("--driver-memory", default="1g", help="Spark driver heap for sparkfull runs (default 1g)")
    ap.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                    help="Spark settings for sparkfull runs, e.g. spark.executor.memory=3g with "
                         "RECOMMENDER_SPARK_MASTER=local-cluster[1,2,4096] (executors in their own JVM)")
    ap.add_argument("--formats", default="csv,parquet")
    ap.add_argument("--min-support", type=float, default=0.001)
    ap.add_argument("--spark-max", default="5M", help="largest size run with Spark")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--no-bundles", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        engine, path, ms, bundles = args.child
        print(json.dumps(child(engine, path, float(ms), bundles == "1")))
        return 0
    os.environ["BENCH_SPARK_CONF"] = json.dumps(dict(kv.split("=", 1) for kv in args.spark_conf))
    sizes = args.sizes.split(",")
    full = args.sizes == "1M,5M,10M" and args.engines == "fast,spark"
    out_path = args.out or (ROOT / "bench" / "results" / "scale.txt" if full else None)
    lines = [f"# bench_scale: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"min_support {args.min_support} at SKU level, time in seconds (wall), peak = python + JVM RSS, "
             "cpu s = user+sys CPU seconds of the run's processes (python, JVMs, workers), "
             "load1 = load average after it",
             HEADER]
    print("\n".join(lines), flush=True)
    for label in sizes:
        paths = ensure_files(label)
        for engine in args.engines.split(","):
            if engine == "spark" and SIZES[label] > SIZES[args.spark_max]:
                continue
            for fmt in args.formats.split(","):
                if engine == "spark" and fmt != "csv":
                    continue  # the engine differs only after loading; Parquet loading is shown with fast
                r = measure(engine, paths[fmt], args.min_support, args.timeout,
                            bundles=engine == "fast" and not args.no_bundles,
                            driver_memory=args.driver_memory if engine == "sparkfull" else "6g")
                row = fmt_row(label, fmt, r)
                print(row, flush=True)
                lines.append(row)
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
