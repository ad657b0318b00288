"""Offline evaluation of basket suggestions: hide one item, see whether it comes back.

In: clean receipt lines with timestamps (and optionally the catalog). Out: a
DataFrame with one row per method -- ``blend`` (the :mod:`recommender.suggest`
blend, its weights learned by :mod:`recommender.blend` on a validation period
inside the training data), ``rules`` (rules alone), ``bestsellers`` (the
store's best sellers), ``ease`` (EASE^R, λ chosen on that validation period),
``itemknn`` (cosine item-kNN) and ``blend_margin`` (the blend ranked by
expected margin) -- and hit rate@k, precision@k, two coverages and the margin
of the hits per test receipt.

Protocol
--------
1. Split receipts by time: a receipt's time is its first line's; the test set
   is the last ``test_days`` days (or the last calendar month with
   ``test_days="last month"``), training is everything before.
2. Mine the training receipts with :func:`recommender.pipeline.mine` and build a
   :class:`recommender.suggest.Recommender` from the result and the *training*
   lines only (best sellers, value tiers and customer history never see the
   test period).
3. In each test receipt with two or more distinct SKUs, hide one SKU chosen at
   random (``seed``); the rest is the basket, with the receipt's store and
   customer.
4. Every row follows the same product rules (never basket items, substitutes
   of basket items, durables the customer already bought or suspected
   non-products), so rows differ only in how they rank.
5. ``hit_rate`` = share of test receipts whose hidden SKU is among the ``k``
   suggestions; ``precision`` = hits / (k x receipts) (one hidden item, so at
   most 1/k); ``coverage`` = distinct SKUs ever suggested / distinct SKUs sold
   in training; ``full_lists`` = share of test receipts that got ``k``
   suggestions; ``margin_at_k`` = unit margin of the hidden item when it was
   suggested, averaged over test receipts (the margin the list earns per
   basket if a suggested item that the shopper wanted is bought).

Support: unless given, ``min_count`` = max(10, 0.1% of training receipts),
pair rules (``max_len=2``) and ``min_confidence`` 0.01 -- low enough that
pair rules reach the long tail of a large catalog (Online Retail: 18 of
17,585 receipts, about 470,000 rules), high enough that each rule rests on ten
or more receipts. Longer antecedents at that support multiply the itemsets
tenfold on Online Retail (2.7 million at length 3) for little gain on the
hidden-item task; pass ``max_len=3`` to include them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["evaluate", "split_by_time", "METHODS"]

#: Rows of the evaluation and the sources each uses (None: the learned blend).
METHODS = {"blend": None, "rules": ("rule",), "bestsellers": ("bestseller",), "ease": ("ease",),
           "itemknn": ("itemknn",)}


def split_by_time(lines: pd.DataFrame, test_days=30) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Return (train lines, test lines, cutoff): test receipts start at or after ``cutoff``.

    ``test_days`` is a number of days before the last receipt, or ``"last month"``
    (the last calendar month with receipts).

    >>> lines = pd.DataFrame({"receipt_id": ["1", "2", "3"], "sku": ["a", "b", "c"],
    ...                       "timestamp": pd.to_datetime(["2025-01-05", "2025-02-10", "2025-03-02"])})
    >>> train, test, cutoff = split_by_time(lines, "last month")
    >>> list(train["receipt_id"]), list(test["receipt_id"]), str(cutoff.date())
    (['1', '2'], ['3'], '2025-03-01')
    """
    if "timestamp" not in lines.columns or lines["timestamp"].isna().all():
        raise ValueError("evaluation needs receipt timestamps to split by time")
    start = lines.groupby("receipt_id", sort=False)["timestamp"].transform("min")
    last = start.max()
    if isinstance(test_days, str):
        if test_days.strip().lower().replace("-", " ").replace("_", " ") != "last month":
            raise ValueError(f"test_days must be a number of days or 'last month', not {test_days!r}")
        cutoff = pd.Timestamp(year=last.year, month=last.month, day=1)
    else:
        if not test_days > 0:
            raise ValueError(f"test_days must be positive, not {test_days}")
        cutoff = last - pd.Timedelta(days=float(test_days))
    is_test = (start >= cutoff).to_numpy()
    known = start.notna().to_numpy()
    return lines[known & ~is_test], lines[known & is_test], cutoff


def _test_cases(test: pd.DataFrame, seed: int):
    """One case per test receipt with >= 2 distinct SKUs: (basket, hidden SKU, store, customer)."""
    cols = ["receipt_id", "sku"] + [c for c in ("store_id", "customer_id") if c in test.columns]
    pairs = test[cols].drop_duplicates(["receipt_id", "sku"]).sort_values(["receipt_id", "sku"], kind="stable")
    rng = np.random.default_rng(seed)
    cases = []
    for rid, grp in pairs.groupby("receipt_id", sort=True):
        skus = grp["sku"].astype(str).tolist()
        if len(skus) < 2:
            continue
        hidden = int(rng.integers(len(skus)))
        store = grp["store_id"].iloc[0] if "store_id" in grp.columns else None
        customer = grp["customer_id"].iloc[0] if "customer_id" in grp.columns else None
        cases.append((skus[:hidden] + skus[hidden + 1:], skus[hidden],
                      None if pd.isna(store) else str(store), None if pd.isna(customer) else str(customer)))
    return cases


def evaluate(lines: pd.DataFrame, catalog: pd.DataFrame | None = None, *, test_days=30, k: int = 5,
             min_support: float | None = None, min_count: int | None = None, level: str = "sku", seed: int = 0,
             max_len: int | None = 2, min_confidence: float = 0.01, progress=None) -> pd.DataFrame:
    """Hit rate@k of the blend and of each baseline on a time split (see the module docstring).

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines with ``timestamp``.
    catalog : DataFrame, optional
        Needed when ``level`` is above SKU; enables attribute and consumable logic.
    test_days : int or "last month"
        Size of the test period at the end of the data.
    k : int
        Length of each suggestion list.
    min_support, min_count : optional
        Mining threshold on the training receipts (see the module docstring for the default).
    level : str
        Level the rules are mined at; suggestions and hits are always SKUs.
    seed : int
        Which item is hidden in each test receipt.
    max_len, min_confidence
        Passed to :class:`recommender.pipeline.MiningParams`.
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    DataFrame
        One row per method: ``method``, ``hit_rate``, ``precision``, ``coverage``,
        ``full_lists``, ``hits``, ``n_test``, ``k``, ``margin_at_k``; ``.attrs`` records the
        split, the threshold used, the training size, the learned weights and λ.

    Examples
    --------
    >>> rows = [(f"{d}{i}", s, f"2025-0{1 + (d == 9)}-1{d}") for d in range(10) for i in range(3)
    ...         for s in ("a", "b")]
    >>> lines = pd.DataFrame(rows, columns=["receipt_id", "sku", "timestamp"])
    >>> lines["timestamp"] = pd.to_datetime(lines["timestamp"])
    >>> evaluate(lines, test_days="last month", k=1, min_count=2)[["method", "hit_rate"]].values.tolist()
    [['blend', 1.0], ['rules', 1.0], ['bestsellers', 1.0], ['ease', 1.0], ['itemknn', 1.0], ['blend_margin', 1.0]]
    """
    from recommender.blend import attach, learn_blend
    from recommender.mining import min_count_for
    from recommender.pipeline import MiningParams, mine
    from recommender.suggest import Recommender

    say = progress or (lambda done, total, message: None)
    train, test, cutoff = split_by_time(lines, test_days)
    n_train = int(train["receipt_id"].nunique())
    if n_train == 0 or test.empty:
        raise ValueError("the time split leaves no training or no test receipts")
    if min_count is None:
        min_count = (min_count_for(min_support, n_train) if min_support is not None
                     else max(10, math.ceil(0.001 * n_train)))
    # The validation period is the last test_days of the training lines; its own mining threshold
    # follows the same rule on the fitting part's size.
    fit_n = int(split_by_time(train, test_days)[0]["receipt_id"].nunique()) if n_train > 1 else 0
    val_params = MiningParams(level=level, min_count=(min_count_for(min_support, max(fit_n, 1)) if min_support
                                                      is not None else max(10, math.ceil(0.001 * fit_n))),
                              min_confidence=min_confidence, max_len=max_len)
    say(0, 4, "learning the blend on a validation period inside the training data")
    blend = learn_blend(train, catalog, val_params, val_days=test_days, k=k, seed=seed)
    say(1, 4, f"mining {n_train:,} training receipts (min count {min_count})")
    result = mine(train, catalog, MiningParams(level=level, min_count=int(min_count), min_confidence=min_confidence,
                                               max_len=max_len))
    rec = Recommender.from_run(result, catalog=catalog, lines=train)
    attach(rec, train, blend)
    cases = _test_cases(test, seed)
    n_sold = int(train["sku"].nunique())
    runs = [(name, sources, "score") for name, sources in METHODS.items()
            if sources is None or all(s not in ("ease", "itemknn") or s in rec.similarity for s in sources)]
    runs.append(("blend_margin", None, "margin"))
    rows = []
    for m, (name, sources, rank_by) in enumerate(runs):
        say(2 + 2 * m / len(runs), 4, f"{name}: suggesting for {len(cases):,} test baskets")
        hits = full = 0
        margin = 0.0
        seen: set = set()
        for basket, hidden, store, customer in cases:
            got = [s["item"] for s in rec.suggest(basket, k=k, customer=customer, store=store, sources=sources,
                                                  rank_by=rank_by)]
            if hidden in got:
                hits += 1
                code = rec.code.get(hidden)
                margin += float(rec.unit_margin[code]) if code is not None else 0.0
            full += len(got) == k
            seen.update(got)
        n = len(cases)
        rows.append({"method": name, "hit_rate": hits / n if n else float("nan"),
                     "precision": hits / (k * n) if n else float("nan"),
                     "coverage": len(seen) / n_sold if n_sold else float("nan"),
                     "full_lists": full / n if n else float("nan"), "hits": hits, "n_test": n, "k": k,
                     "margin_at_k": margin / n if n else float("nan")})
    say(4, 4, "done")
    out = pd.DataFrame(rows)
    out.attrs.update({"cutoff": str(cutoff), "n_train_receipts": n_train, "n_test_receipts": len(cases),
                      "min_count": int(min_count), "level": level, "n_rules": int(len(result.rules)),
                      "test_days": test_days, "seed": seed, "max_len": max_len, "min_confidence": min_confidence,
                      "ease_lambda": blend.ease_lambda, "weights": blend.weights or {}, "joined": blend.joined,
                      "validation": blend.validation, "margin_basis": rec.margin_basis})
    return out
