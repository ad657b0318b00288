"""Which candidate gate? Bundles at several minimum lifts and size-adjusted lifts on four data shapes.

Run: python bench/bundle_gate.py [--out bench/results/bundle_gate.csv]

Shapes: the demo shop (subcategory level, planted associations known), Online
Retail (../shared/datasets, skipped when absent), a small shop of 600 receipts
(shirt -> tie at 35% attach, the tie never alone: lift 2.5) and a Chinese GBK
export with names as items and no catalog (planted pairs at lifts 1.6 to 2.4).
Each shape is mined once, then bundles are built at each minimum lift (with
the default size-adjusted gate) and at each minimum size-adjusted lift (with
minimum lift 1), significance (the run's FDR) as the gate either way; size
lift 0 keeps the size-adjusted significance test only. Printed per shape and
setting:
candidates, offers, recommended offers, planted pairs found among the
candidates (recall) and the share of candidates holding a planted pair
(precision, where the truth is known; also among the recommended offers and
the top 5 per store), offers holding a suspected fee, and, for the 15 best
recommended offers of the first store, how many pair two best sellers (the
10% most frequent of the run's frequent items) and their median size-adjusted
lift.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recommender.bundles import MIN_SIZE_LIFT, build_bundles  # noqa: E402
from recommender.catalog import load_catalog  # noqa: E402
from recommender.pipeline import MiningParams, mine_to_folder  # noqa: E402
from recommender.receipts import LoadOptions, load_receipts  # noqa: E402
from recommender.runs import read_run  # noqa: E402

LIFTS = (1.0, 1.5, 2.0, 2.5, 3.0)
SIZE_LIFTS = (0.0, 1.25, 1.5, 2.0, 2.5)


def small_shop(path: Path, seed=7) -> set:
    """600 receipts in 8 weeks: shirt on 40%, a tie on 35% of shirt receipts and never alone (lift 2.5)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-03-01")
    others = ["socks", "belt", "scarf", "jeans", "cap", "gloves"]
    rows = []
    for r in range(600):
        items = []
        if rng.random() < 0.4:
            items.append("shirt")
            if rng.random() < 0.35:
                items.append("tie")
        items += [o for o in others if rng.random() < 0.2]
        if not items:
            items = [others[r % len(others)]]
        ts = start + pd.Timedelta(minutes=int(rng.integers(0, 8 * 7 * 24 * 60)))
        prices = {"shirt": 40.0, "tie": 20.0, "socks": 5.0, "belt": 25.0, "scarf": 15.0, "jeans": 50.0, "cap": 12.0,
                  "gloves": 10.0}
        rows += [{"receipt": f"R{r:04d}", "time": ts, "item": i, "price": prices[i]} for i in items]
    pd.DataFrame(rows).to_csv(path, index=False)
    return {frozenset(("shirt", "tie"))}


def chinese_export(path: Path, seed=11) -> set:
    """A GBK till export: 小票号, 销售时间, 商品名称, 数量, 单价; planted pairs at lifts about 1.6-2.4, plus 运费."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-05-01")
    names = {"牛奶": 6.5, "面包": 8.0, "鸡蛋": 12.0, "苹果": 9.9, "香蕉": 5.5, "酸奶": 7.0, "饼干": 10.0, "矿泉水": 2.0,
             "薯片": 6.0, "可乐": 3.5, "纸巾": 9.0, "洗发水": 39.0, "牙膏": 15.0, "牙刷": 8.0, "大米": 45.0, "食用油": 59.0}
    pairs = [("牛奶", "面包", 0.45), ("牙膏", "牙刷", 0.40), ("薯片", "可乐", 0.35), ("大米", "食用油", 0.30)]
    base = 0.12
    rows = []
    for r in range(4000):
        items = {n for n in names if rng.random() < base}
        for a, b, p in pairs:
            if a in items and rng.random() < p:
                items.add(b)
        if rng.random() < 0.05:
            items.add("运费")
        if not items:
            items = {"矿泉水"}
        ts = start + pd.Timedelta(minutes=int(rng.integers(0, 8 * 7 * 24 * 60)))
        for n in sorted(items):
            rows.append({"小票号": f"{r:06d}", "销售时间": ts, "商品名称": n, "数量": 1,
                         "单价": 10.0 if n == "运费" else names[n]})
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    return {frozenset((a, b)) for a, b, _ in pairs}


def demo(folder: Path):
    from recommender.demo import generate_demo

    generate_demo(folder)
    truth = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    planted = set()
    for b in truth["bundles"]:
        items = [b["anchor"], *b["addons"]]
        planted |= {frozenset((x, y)) for i, x in enumerate(items) for y in items[i + 1:]}
    for a in truth["associations"]:
        planted |= {frozenset((x, y)) for x in a["antecedent"] for y in a["consequent"]}
    return planted


def measure(name, receipts_path, catalog, params, planted, work: Path, rows: list, opts=None):
    receipts = load_receipts(receipts_path, opts or LoadOptions())
    cat = load_catalog(catalog) if catalog else None
    _, run_dir = mine_to_folder(receipts, work / name, cat, params)
    run = read_run(run_dir)
    fees = set(run.items.loc[run.items["suspected_non_product"].astype(bool), "sku"].astype(str))
    singles = run.itemsets[run.itemsets["items"].map(len) == 1]
    top_sellers = {t[0] for t in singles.nlargest(max(1, len(singles) // 10), "count")["items"]}
    settings = [(lift, MIN_SIZE_LIFT) for lift in LIFTS] + [(1.0, x) for x in SIZE_LIFTS if x != MIN_SIZE_LIFT]
    for lift, size_lift in settings:
        b = build_bundles(run, receipts.lines, cat, min_lift=lift, min_size_lift=size_lift)
        s = b.attrs["summary"]
        from recommender.bundles import candidate_itemsets, size_gate, trip_gate

        cands = candidate_itemsets(run, min_lift=lift, exclude=fees if params.level == "sku" else ())
        cands = size_gate(trip_gate(cands, receipts.lines, cat, params.level), receipts.lines, cat, params.level,
                          min_size_lift=size_lift)
        sets = [frozenset(t) for t in cands["level_items"]]
        hit = [any(frozenset(p) <= c for p in planted) for c in sets] if planted is not None else []
        found = {p for p in (planted or ()) if any(p <= c for c in sets)}
        rec = b[b["recommended"].astype(bool)] if len(b) else b
        top = rec[rec["rank"] <= 5] if len(rec) else rec

        def share(frame):
            if planted is None or not len(frame):
                return None
            return round(float(np.mean([any(p <= frozenset(t) for p in planted) for t in frame["level_items"]])), 3)
        first = rec[(rec["store"].astype(str) == str(rec["store"].iloc[0])).to_numpy()
                    | (rec["store"].isna() & pd.isna(rec["store"].iloc[0])).to_numpy()] if len(rec) else rec
        best = first.sort_values("rank").head(15)
        rows.append({"shape": name, "min_lift": lift, "min_size_lift": size_lift, "candidates": s["candidates"],
                     "offers": len(b),
                     "recommended": len(rec),
                     "planted_found": f"{len(found)}/{len(planted)}" if planted is not None else "",
                     "precision": round(float(np.mean(hit)), 3) if hit else None,
                     "precision_recommended": share(rec), "precision_top5": share(top),
                     "offers_with_fee": int(sum(bool(set(t) & fees) for t in b["items"])) if len(b) else 0,
                     "top15_best_seller_pairs": int(sum(len(set(t) & top_sellers) >= 2 for t in best["level_items"])),
                     "top15_median_size_lift": round(float(best["size_adjusted_lift"].median()), 2) if len(best)
                     else None})
        print(rows[-1], flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "bundle_gate.csv"))
    args = ap.parse_args(argv)
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        planted = demo(work / "demo")
        measure("demo (subcategory)", work / "demo" / "receipts.csv", work / "demo" / "catalog.csv",
                MiningParams(level="subcategory", min_support=0.002), planted, work, rows)
        retail = ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz"
        if retail.exists():
            measure("online retail", retail, None, MiningParams(min_support=0.01), None, work, rows)
        planted = small_shop(work / "small.csv")
        measure("small shop", work / "small.csv", None, MiningParams(min_count=10), planted, work, rows)
        planted = chinese_export(work / "zh.csv")
        measure("chinese export", work / "zh.csv", None, MiningParams(min_support=0.01), planted, work, rows)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
