"""Benchmark the mining engines side by side on the same baskets.

Engines: ours (``recommender.mining``, engine "fast"), mlxtend FP-growth on a
sparse boolean DataFrame (the reference) and Borgelt's pyfim FP-growth (if
installed). Each engine runs in a fresh subprocess so that its peak memory
(ru_maxrss) is its own; the dataset is built once and handed over as a .npz.
Times exclude start-up: when the fast engine's rule sends the problem to numba
(column ``path``; small problems are mined by numpy alone and never import
it), numba's compile/cache load is measured by a warm-up call and reported
separately; mlxtend's DataFrame encoding and pyfim's list of
transactions are timed apart from the mining ("prep").

Usage::

    .venv/bin/python bench/bench_mining.py            # everything (minutes)
    .venv/bin/python bench/bench_mining.py --quick    # small datasets only

The table is printed and written to bench/results/mining.txt (full run only,
unless --out is given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_report import Report  # noqa: E402


# --------------------------------------------------------------------------- datasets

def online_retail() -> sp.csr_array:
    """UCI Online Retail invoices x StockCode (cancellations and returns dropped)."""
    import pandas as pd

    df = pd.read_csv(RETAIL, usecols=["InvoiceNo", "StockCode", "Quantity"],
                     dtype={"InvoiceNo": str, "StockCode": str})
    df = df[~df["InvoiceNo"].str.startswith("C") & (df["Quantity"] > 0)]
    r, _ = pd.factorize(df["InvoiceNo"])
    c, _ = pd.factorize(df["StockCode"])
    return _csr(r, c, int(r.max()) + 1, int(c.max()) + 1)


def synthetic(n_receipts: int, n_items: int, mean_size: float, seed: int = 0) -> sp.csr_array:
    """Long-tailed catalogue (Zipf-like popularity) with co-purchased groups.

    Basket sizes are geometric; every receipt draws independent items by
    popularity, and 40% also contain part of one of 2,000 "missions" (small
    groups of items bought together), which makes frequent pairs and triples.
    """
    rng = np.random.default_rng(seed)
    pop = 1.0 / (np.arange(n_items) + 20.0) ** 1.05
    pop /= pop.sum()
    perm = rng.permutation(n_items)  # popularity unrelated to column order
    sizes = rng.geometric(1.0 / mean_size, n_receipts)
    rows = np.repeat(np.arange(n_receipts), sizes)
    cols = perm[rng.choice(n_items, size=rows.size, p=pop)]
    n_missions = 2000
    missions = perm[rng.choice(n_items, size=(n_missions, 5), p=pop)]
    mission_pop = 1.0 / (np.arange(n_missions) + 5.0)
    mission_pop /= mission_pop.sum()
    has = np.flatnonzero(rng.random(n_receipts) < 0.4)
    which = rng.choice(n_missions, size=has.size, p=mission_pop)
    take = rng.random((has.size, 5)) < 0.6
    m_rows = np.repeat(has, 5).reshape(-1, 5)[take]
    m_cols = missions[which][take]
    return _csr(np.concatenate([rows, m_rows]), np.concatenate([cols, m_cols]), n_receipts, n_items)


def _csr(rows, cols, n_rows, n_cols) -> sp.csr_array:
    m = sp.coo_array((np.ones(len(rows), bool), (rows, cols)), shape=(n_rows, n_cols)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    m.data[:] = True
    return m


# --------------------------------------------------------------------------- one engine, in a child

def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_engine(engine: str, path: str, min_count: int) -> dict:
    """Mine the matrix at ``path`` with ``engine``; called in a fresh subprocess."""
    import resource

    m = sp.load_npz(path).tocsr()
    out = {"engine": engine}
    if engine == "ours":
        import pandas  # noqa: F401  (start-up, not mining: the engine's result is a DataFrame, and pandas is
        # imported lazily since the basket-per-line path does without it; numba's start-up is timed apart too)

        from recommender.mining import frequent_itemsets
        from recommender.mining.small import plan

        if plan(m, min_count) is None:  # the engine's own rule: numba will be used
            from recommender.mining.fast import warm_up

            t = time.perf_counter()
            warm_up()  # numba: compile or load the cached machine code
            out["startup"] = time.perf_counter() - t
        t, c = time.perf_counter(), _cpu()
        df = frequent_itemsets(m, min_count, engine="fast")
        out["mine"], out["cpu"] = time.perf_counter() - t, _cpu() - c
        out["path"] = "numba" if "numba" in sys.modules else "numpy"
        out["prep"] = 0.0
        result = df
    elif engine == "mlxtend":
        from mlxtend.frequent_patterns import fpgrowth

        from recommender.mining.reference import encode_sparse

        t = time.perf_counter()
        frame = encode_sparse(m)
        out["prep"] = time.perf_counter() - t
        t, c = time.perf_counter(), _cpu()
        found = fpgrowth(frame, min_support=(min_count - 0.5) / m.shape[0])
        out["mine"], out["cpu"] = time.perf_counter() - t, _cpu() - c
        counts = np.rint(found["support"].to_numpy() * m.shape[0]).astype(np.int64)
        result = {"items": [tuple(sorted(s)) for s in found["itemsets"]], "count": counts}
    elif engine == "pyfim":
        import fim

        t = time.perf_counter()
        tracts = [m.indices[m.indptr[i]:m.indptr[i + 1]].tolist() for i in range(m.shape[0])]
        out["prep"] = time.perf_counter() - t
        t, c = time.perf_counter(), _cpu()
        found = fim.fpgrowth(tracts, target="s", supp=-min_count, zmin=1, report="a")
        out["mine"], out["cpu"] = time.perf_counter() - t, _cpu() - c
        result = {"items": [tuple(sorted(s)) for s, _ in found], "count": [c for _, c in found]}
    else:
        raise ValueError(engine)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pairs = sorted(zip(result["items"], (int(c) for c in result["count"])))
    out["n_itemsets"] = len(pairs)
    out["digest"] = hash(tuple(pairs)) & 0xFFFFFFFFFFFF
    return out


def measure(engine: str, path: str, min_count: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, path, str(min_count)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                             env={**os.environ, "PYTHONHASHSEED": "0"})
    except subprocess.TimeoutExpired:
        return {"engine": engine, "skipped": f"over {timeout:.0f}s"}
    if res.returncode != 0:
        return {"engine": engine, "skipped": "failed: " + res.stderr.strip().splitlines()[-1][:80]}
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- table

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small datasets only (about a minute)")
    ap.add_argument("--out", help="also write the table here (default: bench/results/mining.txt on a full run)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        engine, path, min_count = args.child
        print(json.dumps(run_engine(engine, path, int(min_count))))
        return 0

    from recommender.mining import min_count_for

    try:
        import fim  # noqa: F401
        engines = ["ours", "mlxtend", "pyfim"]
    except ImportError:
        engines = ["ours", "mlxtend"]
    # (name, builder, [(min_support, engines to skip with the reason)])
    cases = []
    if RETAIL.exists():
        # 0.0025: long itemsets (up to 12 items) from near-identical wholesale invoices; 0.002: over six
        # million itemsets (up to 15 items), the low-support row
        cases.append(("online_retail_sku", online_retail, [
            (0.02, {}), (0.01, {}), (0.005, {}), (0.0025, {}),
            (0.002, {"mlxtend": "skipped: 6.2 million itemsets; at 0.0025 (677k) it already takes a minute "
                                "and 750 MB"})]
                      if not args.quick else [(0.02, {}), (0.01, {})]))
    cases.append(("synthetic_88k_16k", lambda: synthetic(88_000, 16_000, 10.0, seed=1), [(0.001, {})]))
    if not args.quick:
        cases.append(("synthetic_100k_20k", lambda: synthetic(100_000, 20_000, 8.0, seed=2), [(0.0005, {})]))
        cases.append(("synthetic_1M_20k", lambda: synthetic(1_000_000, 20_000, 8.0, seed=3),
                      [(0.0005, {"mlxtend": "skipped: at 10x the receipts of its 100k run (about 2 GB there) it "
                                  "would need about 20 GB of this 23 GB machine and several minutes"})]))
    emit = Report()

    emit(f"# mining benchmark  {time.strftime('%Y-%m-%d %H:%M')}  python {platform.python_version()}  "
         f"{os.cpu_count()} cpu  {platform.machine()}")
    emit("# *_s = wall seconds of the mining call, *_cpu = its CPU seconds (ours: CSR in, sorted DataFrame "
         "out; prep = input conversion, timed apart); *_MB = ru_maxrss of the engine's own process; "
         "speed ratios use CPU seconds (the machine is shared); path = numpy (small problems, numba never "
         "imported) or numba")
    head = (f"{'dataset':<18} {'receipts':>9} {'items':>6} {'min_sup':>7} {'min_cnt':>7} {'itemsets':>9} "
            f"{'ours_s':>6} {'ours_cpu':>8} {'mlx_s':>7} {'mlx_cpu':>7} {'mlx_prep':>8} "
            f"{'fim_s':>6} {'fim_cpu':>7} {'fim_prep':>8} "
            f"{'ours_MB':>7} {'mlx_MB':>6} {'fim_MB':>6} {'mlx/ours':>8} {'ours/fim':>8} {'MB_ours/mlx':>11} "
            f"{'numba_start':>11} {'path':>5}")
    emit(head)
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build, levels in cases:
            matrix = build()
            path = os.path.join(tmp, name + ".npz")
            sp.save_npz(path, matrix, compressed=False)
            for min_support, skip in levels:
                mc = min_count_for(min_support, matrix.shape[0])
                res = {}
                for engine in engines:
                    if engine in skip:
                        res[engine] = {"skipped": skip[engine]}
                        notes.append(f"{name} @ {min_support}: {engine} {skip[engine]}")
                        continue
                    res[engine] = measure(engine, path, mc, timeout=300 if engine == "mlxtend" else 600)
                    if "skipped" in res[engine]:
                        notes.append(f"{name} @ {min_support}: {engine} {res[engine]['skipped']}")
                ran = [r for r in res.values() if "skipped" not in r]
                counts = {(r["n_itemsets"], r["digest"]) for r in ran}
                if len(counts) != 1:
                    raise SystemExit(f"ENGINES DISAGREE on {name} @ {min_support}: " +
                                     ", ".join(f"{e}={r.get('n_itemsets')}" for e, r in res.items()))
                o, x, f = res["ours"], res.get("mlxtend", {}), res.get("pyfim", {})

                def g(r, key, fmt):
                    return format(r[key], fmt) if key in r else "-"

                ratio = lambda a, b, key: (f"{a[key] / b[key]:.2f}x" if key in a and key in b and b[key] > 0
                                           else "-")
                emit(f"{name:<18} {matrix.shape[0]:>9,} {matrix.shape[1]:>6,} {min_support:>7} {mc:>7} "
                     f"{o['n_itemsets']:>9,} {g(o, 'mine', '6.2f')} {g(o, 'cpu', '8.2f')} "
                     f"{g(x, 'mine', '7.2f'):>7} {g(x, 'cpu', '7.2f'):>7} {g(x, 'prep', '8.2f'):>8} "
                     f"{g(f, 'mine', '6.2f'):>6} {g(f, 'cpu', '7.2f'):>7} {g(f, 'prep', '8.2f'):>8} "
                     f"{g(o, 'peak_mb', '7.0f')} {g(x, 'peak_mb', '6.0f'):>6} {g(f, 'peak_mb', '6.0f'):>6} "
                     f"{ratio(x, o, 'cpu'):>8} {ratio(o, f, 'cpu'):>8} "
                     f"{(format(o['peak_mb'] / x['peak_mb'], '.2f') if 'peak_mb' in x else '-'):>11} "
                     f"{g(o, 'startup', '11.2f'):>11} {o.get('path', '-'):>5}")
    for n in notes:
        emit("# " + n)
    emit("# all engines that ran agree on every itemset and count (checked per row)")
    out = args.out or (None if args.quick else str(ROOT / "bench" / "results" / "mining.txt"))
    if out:
        emit.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
