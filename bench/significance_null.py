"""How many rules each significance test keeps, on real receipts and on randomised copies.

    .venv/bin/python bench/significance_null.py [PATH] [--min-support 0.01]

Real: the receipts as they are. Permuted: each item's receipts redrawn at random
(frequencies kept, associations destroyed). Swapped: a curveball swap that also
keeps every receipt's size. Plain Fisher + BH calls rules significant on the
swapped copy because big baskets contain everything; the basket-size-stratified
CMH test should not.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recommender.baskets import build_baskets
from recommender.mining import frequent_itemsets, min_count_for
from recommender.randomise import permute_items, swap_randomise
from recommender.receipts import load_receipts
from recommender.rules import association_rules

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", nargs="?", default=str(ROOT.parent / "shared/datasets/online_retail.csv.gz"))
    ap.add_argument("--min-support", type=float, nargs="+", default=[0.01, 0.005])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    baskets = build_baskets(load_receipts(args.path).lines)
    print(f"{Path(args.path).name}: {baskets.n_receipts:,} receipts, {baskets.n_items:,} items")
    print(f"{'copy':<10}{'min_support':>12}{'rules':>9}{'Fisher+BH':>11}{'CMH+BH':>9}{'seconds':>9}")
    copies = {"real": baskets, "permuted": permute_items(baskets, seed=args.seed),
              "swapped": swap_randomise(baskets, seed=args.seed)}
    for support in args.min_support:
        min_count = min_count_for(support, baskets.n_receipts)
        for name, b in copies.items():
            t = time.perf_counter()
            rules = association_rules(frequent_itemsets(b.matrix, min_count), b, min_confidence=0.0)
            fisher = int((rules["q_value"] <= 0.05).sum())
            cmh = int((rules["q_value_cmh"] <= 0.05).sum())
            print(f"{name:<10}{support:>12g}{len(rules):>9,}{fisher:>11,}{cmh:>9,}{time.perf_counter() - t:>9.2f}")


if __name__ == "__main__":
    main()
