"""Whole process, start to finish: `recommender mine` vs a plain mlxtend script.

    .venv/bin/python bench/bench_process.py [--receipts 88000] [--items 16000] [--min-support 0.001]

Both read the same long CSV (one row per receipt line), mine frequent itemsets at
the same support, derive rules at confidence 0.1 and write them. Each runs in a
fresh process; wall time includes interpreter start-up and imports, peak memory
is the process's ru_maxrss. The target: ours within 0.15x of mlxtend's wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_mining import synthetic  # noqa: E402

MLXTEND_SCRIPT = textwrap.dedent("""
    import sys
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    path, min_support, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    lines = pd.read_csv(path, dtype=str)
    baskets = lines.groupby("receipt_id")["sku"].apply(lambda s: sorted(set(s))).tolist()
    te = TransactionEncoder()
    onehot = te.fit(baskets).transform(baskets, sparse=True)
    frame = pd.DataFrame.sparse.from_spmatrix(onehot, columns=te.columns_).astype(pd.SparseDtype(bool, False))
    itemsets = fpgrowth(frame, min_support=min_support, use_colnames=True)
    rules = association_rules(itemsets, num_itemsets=len(baskets), metric="confidence", min_threshold=0.1)
    rules.to_csv(out, index=False)
    print(len(itemsets), len(rules))
""")


def run(cmd) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--receipts", type=int, default=88_000)
    ap.add_argument("--items", type=int, default=16_000)
    ap.add_argument("--mean-size", type=float, default=8.0)
    ap.add_argument("--min-support", type=float, default=0.001)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-process-"))
    m = synthetic(args.receipts, args.items, args.mean_size, seed=1).tocoo()
    csv = tmp / "receipts.csv"
    pd.DataFrame({"receipt_id": np.char.add("R", m.row.astype(str)),
                  "sku": np.char.add("I", m.col.astype(str))}).to_csv(csv, index=False)
    script = tmp / "plain_mlxtend.py"
    script.write_text(MLXTEND_SCRIPT)
    py = sys.executable
    # Warm the numba cache first, as any second run of the product would find it.
    run([py, "-m", "recommender", "mine", str(csv), "--min-support", str(args.min_support), "--out",
         str(tmp / "warm"), "--json"])
    ours = run([py, "-m", "recommender", "mine", str(csv), "--min-support", str(args.min_support),
                "--out", str(tmp / "run"), "--json"])
    ref = run([py, str(script), str(csv), str(args.min_support), str(tmp / "mlxtend_rules.csv")])
    import json

    summary = json.loads(ours[2])
    print(f"# whole process on {args.receipts:,} synthetic receipts, {args.items:,} items, "
          f"min_support {args.min_support}; {os.cpu_count()} cpu")
    print(f"{'process':<28}{'wall_s':>8}{'peak_MB':>9}  output")
    print(f"{'recommender mine':<28}{ours[0]:>8.2f}{ours[1]:>9.0f}  {summary['n_itemsets']:,} itemsets, "
          f"{summary['n_rules']:,} rules (+ Fisher, CMH, substitutes, CSV + Parquet)")
    n_sets, n_rules = ref[2].split()
    print(f"{'plain mlxtend script':<28}{ref[0]:>8.2f}{ref[1]:>9.0f}  {int(n_sets):,} itemsets, {int(n_rules):,} rules")
    print(f"ratio ours / mlxtend: wall {ours[0] / ref[0]:.3f}x, memory {ours[1] / ref[1]:.2f}x (target wall <= 0.15x)")
    assert summary["n_itemsets"] == int(n_sets), "the two processes found different itemsets"


if __name__ == "__main__":
    main()
