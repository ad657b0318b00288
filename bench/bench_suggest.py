"""Basket suggestions: offline hit rate@5 of the blend and every baseline, and latency.

Data: the demo shop, Online Retail (skipped when ../shared/datasets/online_retail.csv.gz
is absent) and a generated grocery export in Kaggle's "Groceries dataset" layout
(``bench/groceries.py``: Member_number, Date, itemDescription; a basket is one
member on one day; weak associations).

Run: ``.venv/bin/python bench/bench_suggest.py`` (about 15 minutes on 2 shared
cores). Prints a table and writes it to bench/results/suggest.txt.

Evaluation: :func:`recommender.evaluate.evaluate` with its defaults -- train on
everything before the last 30 days, hide one random SKU (seed 0) of every test
receipt with two or more SKUs, mine the training receipts at SKU level with
min_count = max(10, 0.1% of training receipts), pair rules (max_len=2),
min_confidence 0.01. The blend's weights and the EASE^R λ are learned on the
last 30 days of the training receipts (never on the test period).

Latency: the recommender is built once from a run mined on the training
receipts; then ``suggest(basket, k=5, store, customer)`` is timed for 1,000 test
baskets (the receipts' own stores and customers) and the median and 99th
percentile reported.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recommender.catalog import load_catalog  # noqa: E402
from recommender.demo import generate_demo  # noqa: E402
from recommender.evaluate import _test_cases, evaluate, split_by_time  # noqa: E402
from recommender.pipeline import MiningParams, mine  # noqa: E402
from recommender.receipts import load_receipts  # noqa: E402
from recommender.suggest import PRIOR_RECEIPTS, PRIOR_VISITS, WEIGHTS, Recommender  # noqa: E402
from recommender.blend import Blend, attach  # noqa: E402
from recommender.receipts import LoadOptions  # noqa: E402
from bench_report import RESULTS, Report  # noqa: E402
from groceries import groceries_export  # noqa: E402

ONLINE_RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz"
#: Postage, fees, manual adjustments, samples and gift vouchers in Online Retail are not products.
OR_NON_PRODUCTS = r"(?i)(POST|DOT|M|C2|D|S|BANK CHARGES|AMAZONFEE|CRUK|PADS|B|gift_.*|DCGS.*)"


def latency(lines, catalog, blend, n=1000, seed=0):
    train, test, _ = split_by_time(lines, 30)
    n_train = train["receipt_id"].nunique()
    t = time.perf_counter()
    result = mine(train, catalog, MiningParams(min_count=max(10, -(-n_train // 1000)), min_confidence=0.01,
                                               max_len=2))
    t_mine = time.perf_counter() - t
    t = time.perf_counter()
    rec = attach(Recommender.from_run(result, catalog=catalog, lines=train), train, blend)
    t_load = time.perf_counter() - t
    cases = _test_cases(test, seed)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(cases), size=min(n, len(cases)), replace=False)
    rec.suggest(cases[pick[0]][0], k=5)  # warm-up
    times = []
    for i in pick:
        basket, hidden, store, customer = cases[i]
        basket = basket + [hidden]  # the whole receipt as the basket in progress
        t = time.perf_counter()
        rec.suggest(basket, k=5, customer=customer, store=store)
        times.append((time.perf_counter() - t) * 1000)
    times = np.asarray(times)
    sizes = np.asarray([len(cases[i][0]) + 1 for i in pick])
    return {"rules": len(result.rules), "mine_s": t_mine, "load_s": t_load, "n": len(times),
            "median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)),
            "max_ms": float(times.max()), "mean_basket": float(sizes.mean())}


def main():
    say = Report()

    say("Basket suggestions: hit rate@5 (one hidden item per test receipt), precision@5, coverage, latency")
    say(f"python {platform.python_version()}, {platform.machine()}; fixed weights {WEIGHTS} (used when none is "
        f"learned), prior receipts {PRIOR_RECEIPTS}, prior visits {PRIOR_VISITS}")
    say("CPU: 2 cores shared with other jobs while this ran; the hit rates do not depend on it, the times do.")
    datasets = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_demo(Path(tmp) / "demo")
        datasets.append(("demo (50,000 receipts, 12 stores)", load_receipts(paths["receipts"]).lines,
                         load_catalog(paths["catalog"]),
                         "generate_demo(tmp); load_receipts(receipts.csv); evaluate(lines, catalog)"))
    if ONLINE_RETAIL.exists():
        lines = load_receipts(ONLINE_RETAIL, non_product_pattern=OR_NON_PRODUCTS).lines
        datasets.append(("Online Retail (UCI)", lines, None,
                         f"load_receipts(online_retail.csv.gz, non_product_pattern={OR_NON_PRODUCTS!r}); "
                         "evaluate(lines)"))
    else:
        say("Online Retail: skipped (../shared/datasets/online_retail.csv.gz not found)")
    with tempfile.TemporaryDirectory() as tmp:
        path = groceries_export(Path(tmp) / "groceries.csv")
        opts = LoadOptions(mapping={"receipt_id": "Member_number+Date", "customer_id": "Member_number",
                                    "timestamp": "Date", "sku": "itemDescription"}, dayfirst=True)
        datasets.append(("grocery export, Kaggle Groceries layout (generated, weak associations)",
                         load_receipts(path, opts).lines, None,
                         "groceries_export(tmp, seed 0); load_receipts(--map receipt_id=Member_number+Date "
                         "--map customer_id=Member_number --dayfirst); evaluate(lines)"))
    for name, lines, catalog, how in datasets:
        say()
        say(f"== {name}")
        say(f"   {how}")
        t = time.perf_counter()
        table = evaluate(lines, catalog, test_days=30, k=5, seed=0)
        a = table.attrs
        say(f"   split at {a['cutoff']}: {a['n_train_receipts']:,} training receipts, {a['n_test_receipts']:,} "
            f"test receipts with >= 2 SKUs; min_count {a['min_count']}, {a['n_rules']:,} rules; "
            f"{time.perf_counter() - t:.0f} s")
        say(f"   {'method':<13} {'hit@5':>7} {'prec@5':>7} {'coverage':>9} {'full lists':>10} {'hits':>6} "
            f"{'margin@5':>9}")
        for row in table.itertuples():
            say(f"   {row.method:<13} {row.hit_rate:7.3f} {row.precision:7.4f} {row.coverage:9.3f} "
                f"{row.full_lists:10.3f} {row.hits:6d} {row.margin_at_k:9.4f}")
        rate = table.set_index("method")["hit_rate"]
        base = ["rules", "bestsellers", "ease", "itemknn"]
        say(f"   blend >= every baseline: {all(rate['blend'] >= rate[m] for m in base)}; "
            f"blend / best sellers = {rate['blend'] / rate['bestsellers']:.2f}x")
        weights = ", ".join(f"{s} {w:g}" for s, w in a["weights"].items() if w > 0) or "fixed"
        val = a["validation"].get("hit_rate", {})
        say(f"   learned on {a['validation'].get('n_cases', 0):,} validation baskets: weights {weights}; "
            f"EASE^R lambda {a['ease_lambda']}; validation hit@5 "
            + ", ".join(f"{s} {v:.3f}" for s, v in val.items()))
        say(f"   margin@5 = unit margin of the hidden item when suggested, per test basket; margin = "
            f"{a['margin_basis']}")
        lat = latency(lines, catalog, Blend(a["weights"] or None, a["ease_lambda"]))
        say(f"   latency over {lat['n']:,} test baskets (mean {lat['mean_basket']:.1f} SKUs), {lat['rules']:,} rules "
            f"(mined in {lat['mine_s']:.1f} s, loaded with EASE^R and item-kNN in {lat['load_s']:.1f} s): "
            f"median {lat['median_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.2f} ms")
    say.write(RESULTS / "suggest.txt")


if __name__ == "__main__":
    main()
